"""A profile as Model Explorer overlays: one node-data file per measure, and the viewer to show them in.

Google's Model Explorer (``ai-edge-model-explorer``, an optional extra; tested with 0.1.34) draws a .tflite as
a graph and colours its nodes from "node data" files. Its flatbuffer adapter (``builtin_tflite_flatbuffer``)
gives every operator the id ``str(operator index)`` in the main subgraph, the TFLite node index every profile
row carries (constants, graph inputs and outputs get the ids after the last operator). Its MLIR adapter numbers
nodes differently, so the viewer is always told to use the flatbuffer adapter.

A node-data file is Model Explorer's ``GraphNodeData`` (``model_explorer/node_data_builder.py``) as plain JSON,
written here without the package::

    {"name": "...", "results": {"0": {"value": 11.3}, "1": {"value": 0.4}, ...},
     "gradient": [{"stop": 0, "bgColor": "#ffffff"}, {"stop": 1, "bgColor": "#d7301f"}]}

The single-graph form (``results`` at the top) is applied to whichever graph the viewer shows, so it does not
depend on the graph id the adapter picks (the subgraph's name, or the signature key when that is empty).
Values are numbers; a node without a value is left out. The gradient runs from the smallest value (stop 0) to
the largest (stop 1); ``thresholds`` (``[{"value": 10, "bgColor": ...}, ...]``, ascending) colour a node by the
first band whose value is at least its own.

The overlays (``overlays``): ``latency.TARGET`` (µs per node, for every target with per-node rows: host,
host-builtin, the simulated arrays, imported phone and microcontroller profiles), ``energy.TARGET`` (MAC units
per node, where a target has an energy figure: the simulated arrays), ``memory`` (activation bytes alive during
each node, the memory profile's ``live_bytes``), and, when the int8 export report beside the .tflite has
``layer_errors``: ``quant_error`` (each op's output SNR in dB against the float file, coloured in fixed bands:
low is bad) and ``quant_rank`` (the report's rank of each op by the noise it adds, 1 the worst, in red).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import threading
import time
from typing import Callable

from converters.errors import ProfileError
from converters.files import write_atomic
from converters.profiling.report import Profile

PACKAGE = "ai-edge-model-explorer"
VERSION = "0.1.34"  # the version the node ids and routes were checked against
INSTALL = f"pip install {PACKAGE}=={VERSION}"
ADAPTER = "builtin_tflite_flatbuffer"  # node id = TFLite operator index
HOST = "127.0.0.1"

HOT = [{"stop": 0, "bgColor": "#ffffff"}, {"stop": 0.5, "bgColor": "#fc9272"}, {"stop": 1, "bgColor": "#cb181d"}]
COLD = [{"stop": 0, "bgColor": "#cb181d"}, {"stop": 0.5, "bgColor": "#fc9272"}, {"stop": 1, "bgColor": "#ffffff"}]
# SNR has a meaning of its own, so fixed bands rather than a gradient between the file's extremes (an op computed
# exactly reports 200 dB, which would wash every other op out): <= 10 dB, <= 20, <= 30, <= 40; above 40 uncoloured.
SNR_BANDS = [{"value": 10, "bgColor": "#cb181d"}, {"value": 20, "bgColor": "#fb6a4a"},
             {"value": 30, "bgColor": "#fcae91"}, {"value": 40, "bgColor": "#fee5d9"}]


def node_data(name: str, values: dict[int, float], gradient: list[dict] = HOT,
              thresholds: list[dict] | None = None) -> dict:
    """One ``GraphNodeData`` as a JSON-ready dict: ``values`` keyed by TFLite node index, coloured along
    ``gradient`` or, when given, by ``thresholds`` (the first band whose ``value`` is >= the node's)."""
    colours = {"thresholds": [dict(t) for t in thresholds]} if thresholds else {"gradient": [dict(g) for g in gradient]}
    return {"name": name, "results": {str(i): {"value": _number(v)} for i, v in sorted(values.items())}, **colours}


def _number(v: float) -> float | int:
    return v if isinstance(v, int) else round(float(v), 6)


def _per_node(rows, value) -> dict[int, float]:
    """Sum ``value(row)`` per node index (an imported profile may split a node over rows); rows of no single
    node (index -1) and rows without a value are left out."""
    out: dict[int, float] = {}
    for row in rows:
        v = value(row)
        if row.index >= 0 and v is not None and math.isfinite(v):
            out[row.index] = out.get(row.index, 0.0) + v
    return out


def _energy(row) -> float | None:
    energy = row.extra.get("energy") if isinstance(row.extra, dict) else None
    if isinstance(energy, dict):
        energy = energy.get("total")
    return float(energy) if isinstance(energy, (int, float)) and not isinstance(energy, bool) else None


def overlays(profile: Profile | dict, report: dict | None = None) -> dict[str, dict]:
    """``{measure: node data}`` for ``profile`` (a ``Profile`` or the dict of ``NAME.profile.json``) and the
    export ``report`` (the dict of ``NAME.report.json``, or None); measures as in the module docstring."""
    if isinstance(profile, dict):
        profile = Profile.from_dict(profile)
    out: dict[str, dict] = {}
    for t in profile.targets:
        latency = _per_node(t.layers, lambda row: row.time_us)
        if latency:
            out[f"latency.{t.target}"] = node_data(f"latency on {t.target} (µs per node, {t.kind})", latency)
        energy = _per_node(t.layers, _energy)
        if energy:
            out[f"energy.{t.target}"] = node_data(f"energy on {t.target} (MAC units per node, {t.kind})", energy)
    live = (profile.memory or {}).get("live_bytes")
    if live:
        out["memory"] = node_data("activation bytes alive during each node (tensor lifetimes)",
                                  {i: int(b) for i, b in enumerate(live)})
    snr, rank = layer_errors(report, profile)
    if snr:
        out["quant_error"] = node_data("int8 quantization error: SNR in dB of each op's output against the float "
                                       "model (low is bad)", snr, thresholds=SNR_BANDS)
    if rank:
        out["quant_rank"] = node_data("int8 quantization error: rank of each op by the noise it adds (1 is the "
                                      "worst)", rank, COLD)
    return out


def layer_errors(report: dict | None, profile: Profile) -> tuple[dict[int, float], dict[int, int]]:
    """``({node index: SNR dB}, {node index: rank})`` from an export report's ``layer_errors`` (entries
    ``{"node", "op", "layer", "snr_db", "rank", ...}``; an unmeasured ``snr_db`` or an unranked op is null and
    left out), checked against ``profile``: a report whose nodes or ops are not this file's is refused."""
    entries = (report or {}).get("layer_errors")
    if not entries:
        return {}, {}
    if not isinstance(entries, list):
        raise ProfileError(f"the export report's layer_errors is a {type(entries).__name__}, not a list",
                           "export the .tflite again so that its report describes it.", param="report")
    ops = {row.index: row.op for t in profile.targets for row in t.layers if row.index >= 0}
    nodes = len((profile.memory or {}).get("live_bytes") or []) or (max(ops) + 1 if ops else 0)
    snrs, ranks = {}, {}
    for entry in entries:
        node, snr, rank = ((entry.get("node"), entry.get("snr_db"), entry.get("rank")) if isinstance(entry, dict)
                           else (None, None, None))
        if not _index(node, nodes) or not (snr is None or _real(snr)) or not (rank is None or _index(rank)):
            raise ProfileError(f"the export report's layer_errors entry {entry!r} names no node of {profile.model} "
                               f"({nodes} nodes), or its snr_db or rank is not a number",
                               "export the .tflite again so that its report describes it.", param="report")
        op = str(entry.get("op", ""))
        if node in ops and op and op.upper() != ops[node].upper():
            raise ProfileError(f"the export report says node {node} of {profile.model} is {op}, the file has "
                               f"{ops[node]}: the report is not this file's",
                               "export the .tflite again so that its report describes it.", param="report")
        if snr is not None and math.isfinite(snr):
            snrs[node] = float(snr)
        if rank is not None:
            ranks[node] = rank
    return snrs, ranks


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _index(v, below: int | None = None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v and (below is None or v < below)


def report_beside(tflite_path: str) -> dict | None:
    """The export report ``NAME.report.json`` beside ``NAME.tflite``, or None when there is none."""
    path = os.path.splitext(tflite_path)[0] + ".report.json"
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ProfileError(f"{path} is not a readable export report ({type(err).__name__})",
                           "export the .tflite again, or move the report away.", param="report") from None
    if not isinstance(report, dict):
        raise ProfileError(f"{path} is not an export report (not a JSON object)",
                           "export the .tflite again, or move the report away.", param="report")
    return report


def file_name(base: str, measure: str) -> str:
    """``NAME.MEASURE.json`` with the characters a target name may bring (``device:pixel 7``) made safe."""
    return f"{base}.{re.sub(r'[^A-Za-z0-9._-]+', '-', measure)}.json"


def write(data: dict[str, dict], out_dir: str, base: str) -> list[str]:
    """Write each overlay of ``data`` (from ``overlays``) as ``out_dir/base.MEASURE.json``; returns the paths."""
    paths, seen = [], set()
    for measure, content in data.items():
        name = file_name(base, measure)
        while name in seen:  # two targets whose names differ only in unsafe characters
            name = name[:-len(".json")] + "_.json"
        seen.add(name)
        paths.append(os.path.join(out_dir, name))
        write_atomic(paths[-1], json.dumps(content, indent=1, ensure_ascii=False) + "\n")
    return paths


# --- the viewer ----------------------------------------------------------------------------------------------------

def _viewer():
    """Model Explorer's server and config modules, or a ProfileError naming the install command."""
    try:
        from model_explorer import server
        from model_explorer.config import ModelExplorerConfig
    except ImportError:
        raise ProfileError("Model Explorer is not installed, so the viewer cannot start (the node-data files "
                           "need no package)", INSTALL) from None
    return server, ModelExplorerConfig


def check_viewer() -> None:
    """Raise the ProfileError of ``serve`` now if the package is missing (before minutes of profiling)."""
    _viewer()


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port(port: int, host: str = HOST) -> None:
    """A ProfileError unless ``port`` is a port number that nothing on ``host`` listens on."""
    if not 0 < port < 65536:
        raise ProfileError(f"port {port} is not a TCP port number", "choose one from 1 to 65535.", param="port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise ProfileError(f"port {port} on {host} is taken ({err.strerror})",
                               "choose another port, or none to take a free one.", param="port") from None


def _listening(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def serve(model_path: str, node_data_paths: list[str], *, port: int | None = None, host: str = HOST,
          ready: Callable[[str], None] | None = None, startup_s: float = 60.0) -> None:
    """Start Model Explorer on ``host:port`` (a free port when None) with the .tflite at ``model_path`` (through
    the flatbuffer adapter) and the node-data files, and block until Ctrl-C. ``ready(url)`` is called, from
    another thread, once the server accepts connections; the URL opens the model with the overlays loaded.

    The package's own console messages are silenced while it runs (``ready`` is called with ``sys.stdout``
    redirected: write to a stream held from before the call). Its check for a newer release on PyPI and GitHub
    is turned off: the viewer works offline and says nothing to the network.
    """
    server, ModelExplorerConfig = _viewer()
    port = port or free_port(host)
    check_port(port, host)
    config = ModelExplorerConfig()
    config.add_model_from_path(model_path, adapterId=ADAPTER)
    for path in node_data_paths:
        config.add_node_data_from_path(path)
    url = f"http://{host}:{port}/?data={config.to_url_param_value()}"
    if hasattr(server, "_check_new_version"):  # 0.1.34 asks PyPI and GitHub at start and on every page load
        server._check_new_version = lambda print_msg=True: {"version": "", "runningVersion": "", "releaseUrl": "",
                                                              "desktopAppUrl": ""}
    announced = threading.Event()

    def announce():
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            if _listening(host, port):
                announced.set()
                if ready:
                    ready(url)
                return
            time.sleep(0.1)

    threading.Thread(target=announce, daemon=True).start()
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        try:
            server.start(host=host, port=port, config=config, no_open_in_browser=True, skip_health_check=True)
        except KeyboardInterrupt:  # before the package's own Ctrl-C handler is in place
            return
        except SystemExit:  # the package exits when the port is taken between the check and the start
            raise ProfileError(f"port {port} on {host} is taken", "choose another port, or none to take a free one.",
                               param="port") from None
    if not announced.is_set():
        raise ProfileError(f"Model Explorer did not start on {host}:{port}", "choose another port.", param="port")
