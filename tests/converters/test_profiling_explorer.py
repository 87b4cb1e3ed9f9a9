"""Model Explorer overlays of a profile: the node-data files, their node ids, and the viewer serving them."""

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest

import squeezekit
from converters import graph, tflite
from converters.errors import ProfileError
from converters.profiling import explorer
from converters.profiling.report import LayerTime, Profile, TargetProfile

pytestmark = pytest.mark.xdist_group("profiling_explorer")  # one worker converts the model once


def _row(index, op, time_us, **extra):
    return LayerTime(index, op, f"layer{index}", 0, time_us, extra)


def _profile():
    host = TargetProfile("host", "measured", {}, [_row(0, "CONV_2D", 10.0), _row(1, "ADD", 2.5),
                                                 _row(2, "SOFTMAX", 0.5)])
    phone = TargetProfile("device:pixel 7", "imported", {}, [_row(0, "CONV_2D", 3.0), _row(1, "ADD", 1.0),
                                                             _row(1, "ADD", 0.5), _row(-1, "Copy", 9.0)])
    accel = TargetProfile("accel-8x8", "simulated", {}, [
        _row(0, "CONV_2D", 31.0, energy={"alu": 1.0, "total": 700.0}), _row(1, "ADD", 0.1, energy={"total": 5.0}),
        _row(2, "SOFTMAX", 0.0, energy={"total": 1.0})])
    micro = TargetProfile("tflm", "micro", {"arena_bytes": 1000}, [])  # no per-node rows: no overlay
    return Profile("m.tflite", 1000, 10, 100, {"live_bytes": [300, 200, 20]}, [host, phone, accel, micro])


LAYER_ERRORS = [{"node": 0, "op": "CONV_2D", "layer": "layer0", "snr_db": 18.5, "rank": 2},
                {"node": 1, "op": "ADD", "layer": "layer1", "snr_db": 31.25, "rank": 1},
                {"node": 2, "op": "SOFTMAX", "layer": "layer2", "snr_db": None, "rank": None}]


def test_one_overlay_per_measure_keyed_by_node_index(tmp_path):
    data = explorer.overlays(_profile().to_dict(), {"layer_errors": LAYER_ERRORS})
    assert list(data) == ["latency.host", "latency.device:pixel 7", "latency.accel-8x8", "energy.accel-8x8",
                          "memory", "quant_error", "quant_rank"]
    values = {k: {node: r["value"] for node, r in v["results"].items()} for k, v in data.items()}
    assert values["latency.host"] == {"0": 10.0, "1": 2.5, "2": 0.5}
    assert values["latency.device:pixel 7"] == {"0": 3.0, "1": 1.5}  # rows of one node summed, -1 left out
    assert values["energy.accel-8x8"] == {"0": 700.0, "1": 5.0, "2": 1.0}
    assert values["memory"] == {"0": 300, "1": 200, "2": 20}
    assert values["quant_error"] == {"0": 18.5, "1": 31.25}  # the unmeasured layer has no value
    assert values["quant_rank"] == {"0": 2, "1": 1}
    # The worst end is red: the largest latency (stop 1), the first rank (stop 0), the lowest SNR band.
    red = data["latency.host"]["gradient"][-1]["bgColor"]
    assert data["quant_rank"]["gradient"][0]["bgColor"] == red
    bands = data["quant_error"]["thresholds"]
    assert "gradient" not in data["quant_error"] and bands[0]["bgColor"] == red
    assert [b["value"] for b in bands] == sorted(b["value"] for b in bands)
    paths = explorer.write(data, str(tmp_path / "out"), "m")
    assert [os.path.basename(p) for p in paths] == [
        "m.latency.host.json", "m.latency.device-pixel-7.json", "m.latency.accel-8x8.json",
        "m.energy.accel-8x8.json", "m.memory.json", "m.quant_error.json", "m.quant_rank.json"]
    assert all(json.loads(open(p).read()) == data[k] for p, k in zip(paths, data))
    assert explorer.overlays(_profile()).keys() == data.keys() - {"quant_error", "quant_rank"}  # no report


def test_the_files_are_model_explorers_own_schema():
    # What the package's GraphNodeData writes from the same content: every key of ours is one of its fields.
    from model_explorer import node_data_builder as ndb

    for content in explorer.overlays(_profile(), {"layer_errors": LAYER_ERRORS}).values():
        built = ndb.GraphNodeData(results={k: ndb.NodeDataResult(**r) for k, r in content["results"].items()},
                                  name=content["name"],
                                  gradient=[ndb.GradientItem(**g) for g in content.get("gradient", [])],
                                  thresholds=[ndb.ThresholdItem(**t) for t in content.get("thresholds", [])])
        theirs = json.loads(built.to_json_string())
        assert {k: theirs[k] for k in content} == content


@pytest.mark.parametrize("entry", [{"node": 7, "op": "ADD", "snr_db": 1.0},  # no such node
                                   {"node": 1, "op": "CONV_2D", "snr_db": 1.0},  # another file's op
                                   {"node": "1", "op": "ADD", "snr_db": 1.0},
                                   {"node": 1, "op": "ADD", "snr_db": "high"}, {"node": 1, "op": "ADD", "rank": 0.5},
                                   "node 1", None])
def test_a_report_that_is_not_this_files_is_refused(entry):
    with pytest.raises(ProfileError) as err:
        explorer.overlays(_profile(), {"layer_errors": [entry] if entry else {"node": 1}})
    assert err.value.param == "report" and "\n" not in str(err.value)


def test_report_beside_the_tflite(tmp_path):
    model = tmp_path / "m_int8.tflite"
    assert explorer.report_beside(str(model)) is None
    (tmp_path / "m_int8.report.json").write_text('{"layer_errors": []}')
    assert explorer.report_beside(str(model)) == {"layer_errors": []}
    (tmp_path / "m_int8.report.json").write_text('{"layer_err')
    with pytest.raises(ProfileError, match="not a readable export report"):
        explorer.report_beside(str(model))


# --- end to end: the CLI writes the overlays and serves them ------------------------------------------------------

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 32x32 int8 SqueezeNet 1.1 and a report beside it with a ``layer_errors`` list for its convolutions."""
    folder = tmp_path_factory.mktemp("explorer")
    rng = np.random.default_rng(0)
    images = [rng.uniform(-1, 1, size=(1, 32, 32, 3)).astype("float32") for _ in range(4)]
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=10)
    content = tflite.convert(model, tflite.Recipe("int8", representative=lambda: images)).content
    path = folder / "sn_int8.tflite"
    path.write_bytes(content)
    convs = [op for op in graph.read(content).ops if op.name == "CONV_2D"]
    errors = [{"node": op.index, "op": op.name, "layer": f"conv{op.index}", "rank": rank,
               "snr_db": None if rank == len(convs) else 10.0 + rank} for rank, op in enumerate(convs, 1)]
    (folder / "sn_int8.report.json").write_text(json.dumps({"file": path.name, "layer_errors": errors}))
    return path, content, errors


def _adapter_op_ids(graph_json: dict, ops: int) -> dict[str, str]:
    """{node id: label} of the operator nodes of the adapter's main graph (constants and the graph's inputs and
    outputs come after the operators, with the ids from ``ops`` on)."""
    if isinstance(graph_json, list):  # the adapter called directly: [{"label", "subgraphs"}]
        nodes = graph_json[0]["subgraphs"][0]["nodes"]
    else:  # as the server answers: {"graphCollections": [{"label", "graphs"}]}
        nodes = graph_json["graphCollections"][0]["graphs"][0]["nodes"]
    extra = {n["label"] for n in nodes if int(n["id"]) >= ops}
    assert extra <= {"GraphInputs", "GraphOutputs", "pseudo_const"}, extra
    return {n["id"]: n["label"] for n in nodes if int(n["id"]) < ops}


def _http(url, body=None):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=60) as response:
        return response.status, response.read()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args):
    return [sys.executable, "-m", "squeezekit.profile", *args, "--target", "host,accel-8x8", "--runs", "2",
            "--latency_runs", "2", "--png=false"]


def test_overlays_load_in_the_viewer(exported, tmp_path):
    import ai_edge_model_explorer_adapter as adapter

    path, content, errors = exported
    out, port = tmp_path / "overlays", _free_port()
    # Ctrl-C as a terminal sends it: a suite started in the background by a non-interactive shell (CI) runs with
    # SIGINT ignored, which children inherit, and Python then installs no KeyboardInterrupt handler.
    proc = subprocess.Popen(_cli(str(path), "--out", str(tmp_path), "--explorer", str(out), "--serve", "--port",
                                 str(port)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        url, seen, deadline = None, [], time.monotonic() + 120
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                continue
            if seen[-1].startswith("Model Explorer"):
                url = seen[-1].split(": ", 1)[1].strip()
        assert url, "".join(seen) + (proc.stderr.read() if proc.poll() is not None else "")

        # The files: one per measure, written before the viewer starts, keyed by the profile's node indices.
        profile = json.loads((tmp_path / "sn_int8.profile.json").read_text())
        files = {p.name: json.loads(p.read_text()) for p in out.iterdir()}
        assert sorted(files) == sorted(f"sn_int8.{m}.json" for m in (
            "latency.host", "latency.host-builtin", "latency.accel-8x8", "energy.accel-8x8", "memory", "quant_error",
            "quant_rank"))
        ops = graph.read(content).ops
        for target in profile["targets"]:
            nodes = {str(row["index"]) for row in target["layers"]}
            assert nodes == {str(op.index) for op in ops}  # every node has a row here
            assert set(files[f"sn_int8.latency.{target['target']}.json"]["results"]) == nodes
        assert set(files["sn_int8.energy.accel-8x8.json"]["results"]) == {str(op.index) for op in ops}
        assert set(files["sn_int8.memory.json"]["results"]) == {str(i) for i in range(len(ops))}
        assert files["sn_int8.quant_error.json"]["results"] == {
            str(e["node"]): {"value": e["snr_db"]} for e in errors if e["snr_db"] is not None}
        assert files["sn_int8.quant_rank.json"]["results"] == {str(e["node"]): {"value": e["rank"]} for e in errors}

        # The adapter's node ids for this file are those indices, on the same ops (in process and as served).
        ids = _adapter_op_ids(json.loads(adapter.ConvertFlatbufferDirectlyToJson(adapter.VisualizeConfig(),
                                                                                 str(path))), len(ops))
        assert ids == {str(op.index): op.name.lower() for op in ops}

        # The viewer: the page, the model graph through the adapter the URL names, and every overlay file.
        assert url.startswith(f"http://127.0.0.1:{port}/?data=")
        data = json.loads(urllib.parse.unquote(url.split("?data=", 1)[1]))
        assert data["models"] == [{"url": str(path), "adapterId": explorer.ADAPTER}]
        assert sorted(os.path.basename(p) for p in data["nodeData"]) == sorted(files)
        root = f"http://127.0.0.1:{port}"
        status, page = _http(root + "/")
        assert status == 200 and b"<app-root" in page
        script = page.split(b'src="main-', 1)[1].split(b'"', 1)[0].decode()
        assert _http(f"{root}/main-{script}")[0] == 200
        status, body = _http(root + "/api/v1/get_extensions")
        assert status == 200 and explorer.ADAPTER in {e["id"] for e in json.loads(body)}
        status, body = _http(root + "/apipost/v1/send_command", {
            "cmdId": "convert", "extensionId": data["models"][0]["adapterId"], "modelPath": data["models"][0]["url"],
            "settings": {"const_element_count_limit": 16}, "deleteAfterConversion": False})
        assert status == 200 and _adapter_op_ids(json.loads(body), len(ops)) == ids
        for node_data in data["nodeData"]:
            status, body = _http(f"{root}/api/v1/read_text_file?path={urllib.parse.quote(node_data)}")
            served = json.loads(json.loads(body)["content"])
            assert status == 200 and served == files[os.path.basename(node_data)]
            assert set(served["results"]) <= set(ids)  # every overlay value lands on an operator node

        proc.send_signal(signal.SIGINT)  # Ctrl-C stops it cleanly
        assert proc.wait(timeout=60) == 0
        assert lines.get(timeout=5).strip() == "Model Explorer stopped."
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_without_the_package_the_files_are_written_and_serve_says_how_to_install(exported, tmp_path):
    path, _, _ = exported
    shim = tmp_path / "shim" / "model_explorer"  # an import of model_explorer that fails, as when not installed
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim.parent), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "overlays"
    result = subprocess.run(_cli(str(path), "--out", str(tmp_path), "--explorer", str(out)), env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list(out.glob("sn_int8.*.json"))) == 7 and str(out / "sn_int8.memory.json") in result.stdout
    result = subprocess.run(_cli(str(path), "--out", str(tmp_path), "--serve"), env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: Model Explorer is not installed, so the viewer cannot start (the node-data files need no package); "
        "pip install ai-edge-model-explorer==0.1.34"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = subprocess.run(_cli(str(path), "--serve", "--port", str(taken.getsockname()[1])),
                                capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("pass another --port, or leave it out to take a free one.")
