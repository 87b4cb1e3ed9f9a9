"""Profile one .tflite on the requested targets and write ``NAME.profile.json`` / ``.md`` / ``.png``.

What the profile CLI and the export CLI call. Targets: ``host`` (measured here, XNNPACK and builtin
kernels), ``accel-8x8`` / ``accel-16x16`` / ``accel-32x32`` (simulated), ``tflm`` (the TensorFlow Lite Micro
interpreter: arena, ops, outputs against LiteRT's reference kernels), ``all``; phone profiles from
``benchmark_model`` join as ``device:NAME``. The memory section of every profile gives both figures: the
activations alone (tensor lifetimes) and the arena TFLM measures for the file.

A file that is not a well-formed .tflite is refused here, in Python, before the C library sees it: a
malformed flatbuffer must give a one-line error, not take the process down.
"""

from __future__ import annotations

import os

from converters import graph as graph_lib
from converters.errors import ModelFileError, ProfileError
from converters.files import publish, write_atomic
from converters.profiling import layers as layers_lib, render
from converters.profiling.report import Profile

HOST = "host"
ACCELERATORS = ("accel-8x8", "accel-16x16", "accel-32x32")
TFLM = "tflm"
TARGETS = (HOST,) + ACCELERATORS + (TFLM,)


def parse_targets(spec: str) -> list[str]:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if "all" in names:
        return list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise ProfileError(f"unknown target {', '.join(unknown) or repr(spec)}",
                           f"choose from {', '.join(TARGETS)} or all (comma-separated).", param="targets")
    return list(dict.fromkeys(names))


def check_tflite(content: bytes, label: str) -> tuple[graph_lib.Graph, list[layers_lib.Layer]]:
    """The graph and layer table of ``content``, or a ProfileError saying why it is not a usable .tflite."""
    try:
        graph = graph_lib.verify(content, label)  # the flatbuffer verifier, then indices, shapes and buffers
        table = layers_lib.read(content, graph)
    except ModelFileError as err:
        raise ProfileError(err.problem, err.fix, param="tflite") from None
    except Exception as err:  # a graph that passed the checks but that the layer table cannot describe
        raise ProfileError(f"{label} is truncated or corrupt ({type(err).__name__}: {err})",
                           "export it again.", param="tflite") from None
    return graph, table


def computes_in_int8(graph: graph_lib.Graph) -> bool:
    """Whether the graph's convolutions and matrix products run in int8 (full-int8 and QAT files)."""
    return any(graph.tensors[op.outputs[0]].dtype == "INT8" for op in graph.ops
               if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))


def read_tflite(path: str) -> bytes:
    if not os.path.isfile(path):
        raise ProfileError(f"{path} does not exist; pass the path of a .tflite file.")
    with open(path, "rb") as f:
        return f.read()


def profile(content: bytes, *, name: str, targets: list[str], runs: int = 20, latency_runs: int = 50,
            devices: list[tuple[str, str]] = (), accel_overrides: dict | None = None,
            compare: dict[str, float] | None = None,
            micro_logs: list[tuple[str, str, float | None]] = ()) -> Profile:
    """Profile ``content`` (already read) on ``targets``; ``devices`` are (file, device name) pairs of
    phone ``benchmark_model`` op profiles to import. ``compare`` (float flavour -> its host median µs at
    1 thread, measured on this machine) lets an int8 file's host profile say when int8 is the slower choice
    here (``cpu.int8_notes``); the host target's summary records the CPU's int8 features either way."""
    from converters.profiling import litert_c

    graph, table = check_tflite(content, name)
    totals = layers_lib.totals(table)
    from converters.profiling import memory

    from converters.profiling import tflm

    mem = memory.summarize(content, graph, table)
    result = Profile(name, len(content), totals["weights"], totals["macs"], mem)
    if TFLM in targets:
        micro = tflm.measure(content, graph, mem)
        mem["tflm"] = tflm.memory_figures(micro.summary)
    else:
        mem["tflm"] = tflm.memory_figures(tflm.arena(content, graph, mem))
    if HOST in targets:
        from converters.profiling import host

        try:
            result.targets += host.profile_host(content, runs=runs, latency_runs=latency_runs, table=table)
        except litert_c.LiteRtError as err:
            raise ProfileError(f"{name}: this .tflite cannot run: {err}", "export it again.") from None
        from converters.profiling import cpu

        measured = next(t for t in result.targets if t.target == HOST)
        measured.summary["cpu"] = cpu.describe()
        rewritten = [f"{row.layer} (node {row.index}) {row.rewritten}; its row counts the network's MACs"
                     for row in table if row.rewritten and not row.rewritten.startswith("space_to_depth_stage")]
        staged = [row for row in table if row.rewritten.startswith("space_to_depth_stage")]
        if staged:  # one line for a stage's many ops
            rewritten.append(f"space_to_depth_stage: {len(staged)} ops from {staged[0].layer} (node {staged[0].index}) to "
                             f"{staged[-1].layer} (node {staged[-1].index}) run in the space-to-depth domain (half the "
                             f"size, 4x the channels, 4x the MACs with zero products); their rows count the network's "
                             f"shapes and MACs")
        for t in result.targets:  # the times are of the rewritten ops
            t.notes += [f"Exact rewrite: {line}." for line in rewritten]
        if computes_in_int8(graph):
            measured.notes += cpu.int8_notes(measured.summary["latency"]["1_thread"]["median_us"],
                                             measured.summary["cpu"], compare)
    accels = [t for t in targets if t in ACCELERATORS]
    if accels:
        from converters.profiling import accel

        for target in accels:
            config = accel.preset(target, **(accel_overrides or {}))
            result.targets.append(accel.simulate(table, config))
    if TFLM in targets:
        result.targets.append(micro)
    for path, device in devices:
        from converters.profiling import device as device_lib

        try:
            result.targets.append(device_lib.import_profile(path, table, device, graph=graph))
        except ValueError as err:
            raise ProfileError(str(err)) from None
    for path, board, ticks_per_second in micro_logs:
        from converters.profiling import micro_log

        try:
            result.targets.append(micro_log.import_micro_profile(path, table, board, ticks_per_second))
        except ValueError as err:
            raise ProfileError(str(err)) from None
    return result


def write(result: Profile, base: str, png: bool = True) -> list[str]:
    """Write ``base.profile.json``, ``.md`` and (unless ``png`` is false) ``.png``; returns the paths."""
    paths = [base + ".profile.json", base + ".profile.md"]
    write_atomic(paths[0], result.to_json())
    write_atomic(paths[1], render.to_markdown(result))
    if png:
        publish(base + ".profile.png", lambda tmp: render.to_png(result, tmp))
        paths.append(base + ".profile.png")
    return paths
