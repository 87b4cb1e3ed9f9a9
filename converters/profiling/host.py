"""Per-op latency on this CPU, measured by the LiteRT runtime's own profiler (``litert_c``).

Two kernel modes, two views of the same inference:

- ``"delegate"`` (target ``host``): XNNPACK runs the graph, as it does in an app. The profiler reports
  XNNPACK's operators (a 1x1 CONV_2D becomes "Fully Connected ... GEMM", a CONCATENATION one "Copy" per
  input, an ADD with a fused ReLU an "Add" then a "Clamp"). ``map_delegate_ops`` walks them in order against
  the TFLite nodes the delegate took and gives each XNNPACK operator to the node it came from; nodes left
  outside the delegate (SOFTMAX in an int8 graph) are reported by TFLite itself with their node index.
- ``"builtin"`` (target ``host-builtin``): TFLite's own kernels, one event per node, node index included.

Each op row gives the mean over the profiled runs and its spread (standard deviation, min, max), keyed by
TFLite node index and named by model layer (``layers.read``). The whole-model latency (median, p90) is
measured separately, without the profiler attached, at 1 and 2 threads in delegate mode.

The per-op sum check: per profiled run, the sum of the op times against the whole inference as the runtime
timed it (its "Invoke" event, same clock), and the median of that ratio over the runs; the wall time of the C call (which adds input-buffer
registration, output sync and the ctypes call) is reported beside it. The check holds when they agree
within ``SUM_TOLERANCE``.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from converters.profiling import layers as layers_lib, litert_c
from converters.profiling.report import LayerTime, TargetProfile

SUM_TOLERANCE = 0.10

# The XNNPACK operators a TFLite op becomes; the first one named is how the node begins. Operators not in
# a node's list that follow it (Clamp after Add, the second Copy of a concatenation) belong to it too.
_XNNPACK_KINDS = {
    "CONV_2D": ("Convolution", "Fully Connected"),
    "DEPTHWISE_CONV_2D": ("Convolution",),
    "FULLY_CONNECTED": ("Fully Connected",),
    "MAX_POOL_2D": ("Max Pooling", "Argmax Pooling"),
    "AVERAGE_POOL_2D": ("Average Pooling", "Global Average Pooling"),
    "MEAN": ("Mean", "Global Average Pooling", "Global Sum Pooling", "Reduce"),
    "SUM": ("Sum", "Reduce"),
    "ADD": ("Add",),
    "SUB": ("Subtract",),
    "MUL": ("Multiply",),
    "CONCATENATION": ("Copy", "Concatenate"),
    "SOFTMAX": ("Softmax",),
    "RESHAPE": ("Copy", "Static Reshape"),
    "SQUEEZE": ("Copy",),
    "PAD": ("Constant Pad",),
    "SPACE_TO_DEPTH": ("Space To Depth",),
    "DEPTH_TO_SPACE": ("Depth To Space",),
    "QUANTIZE": ("Convert",),
    "DEQUANTIZE": ("Convert",),
    "RELU": ("Clamp",),
    "RELU6": ("Clamp",),
    "LOGISTIC": ("Sigmoid",),
    "HARD_SWISH": ("HardSwish",),
}
# Operators XNNPACK adds inside a node: a fused activation, a reshape after a reduction, layout copies.
_CONTINUING = ("Clamp", "Copy", "Convert", "Static Reshape", "Static Expand Dims", "Static Constant Pad")
_ELIDABLE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}  # XNNPACK may run these as no-ops
# XNNPACK folds a constant spatial PAD into the convolution after it (imgclsmob's stems: PAD then a VALID
# 7x7/2 CONV_2D run as one "Convolution" operator); before a pooling it stays a "Constant Pad" operator.
_FUSABLE = {"PAD", "PADV2"}


def map_delegate_ops(tags: list[str], nodes: list[layers_lib.Layer]) -> tuple[list[int], int]:
    """For each XNNPACK operator tag (in execution order), the index into ``nodes`` it belongs to.

    Returns the assignment and the number of operators that matched no node kind (they are given to the
    node before them; a report says how many there were).
    """
    assigned, unmatched = [], 0
    current = -1  # the node the previous operator belonged to
    for tag in tags:
        target = None
        for ahead in range(current + 1, len(nodes)):
            kinds = _XNNPACK_KINDS.get(nodes[ahead].op, ())
            if any(tag.startswith(k) for k in kinds):
                target = ahead
                break
            if nodes[ahead].op not in _ELIDABLE and nodes[ahead].op not in _FUSABLE:
                break
        if target is None:  # an operator continuing the current node (Clamp, further Copies)
            if current < 0:
                target, unmatched = 0, unmatched + 1
            else:
                node_kinds = _XNNPACK_KINDS.get(nodes[current].op, ())
                if not (tag.startswith(_CONTINUING) or any(tag.startswith(k) for k in node_kinds)):
                    unmatched += 1
                target = current
        assigned.append(target)
        current = target
    return assigned, unmatched


def _spread(values: list[float]) -> dict:
    return {"mean_us": float(np.mean(values)), "std_us": float(np.std(values)), "min_us": float(np.min(values)),
            "max_us": float(np.max(values)), "median_us": float(np.median(values))}


def latency(content: bytes, *, threads: int = 1, runs: int = 50, warmup: int = 5) -> dict:
    """Whole-model latency in delegate mode with no profiler attached: median, p90, mean, min (µs)."""
    with litert_c.CompiledModel(content, threads=threads) as model:
        for _ in range(warmup):
            model.run()
        times = [model.run() for _ in range(runs)]
    return {"threads": threads, "runs": runs, "median_us": float(np.median(times)),
            "p90_us": float(np.percentile(times, 90)), "mean_us": float(np.mean(times)),
            "min_us": float(np.min(times))}


def profile_ops(content: bytes, *, kernel_mode: str = "delegate", threads: int = 1, runs: int = 20,
                warmup: int = 5, table: list[layers_lib.Layer] | None = None) -> TargetProfile:
    """Per-op times over ``runs`` profiled inferences, mapped to TFLite nodes and layer names."""
    table = table if table is not None else layers_lib.read(content)
    by_index = {row.index: row for row in table}
    per_node: dict[int, list[float]] = defaultdict(list)
    xnn_ops: dict[int, list[str]] = defaultdict(list)
    invoke, wall, op_sums, plain, unmatched_ops = [], [], [], [], 0
    with litert_c.CompiledModel(content, threads=threads, kernel_mode=kernel_mode, profiling=True) as model, \
            litert_c.CompiledModel(content, threads=threads, kernel_mode=kernel_mode) as unprofiled:
        for _ in range(warmup):
            model.run()
            unprofiled.run()
        for _ in range(runs):
            plain.append(unprofiled.run())  # side by side: the same moment's load for both
            wall_us, events = model.profile()
            wall.append(wall_us)
            invoke.append(sum(e.elapsed_us for e in events
                              if e.kind == litert_c.EVENT_DEFAULT and e.tag == "Invoke"))
            run_times: dict[int, float] = defaultdict(float)
            outside = {e.index for e in events if e.kind == litert_c.EVENT_OPERATOR and e.index in by_index}
            delegated = [row for row in table if row.index not in outside]
            inner = [e for e in events if e.kind == litert_c.EVENT_DELEGATE_PROFILED_OPERATOR]
            if inner:
                assignment, unmatched_ops = map_delegate_ops([e.tag for e in inner], delegated)
                for e, k in zip(inner, assignment):
                    run_times[delegated[k].index] += e.elapsed_us
                    if len(per_node[delegated[k].index]) == 0:
                        xnn_ops[delegated[k].index].append(e.tag)
            for e in events:
                if e.kind == litert_c.EVENT_OPERATOR and e.index in by_index:
                    run_times[e.index] += e.elapsed_us
            for index in run_times:
                per_node[index].append(run_times[index])
            op_sums.append(sum(run_times.values()))
    rows = []
    for row in table:
        times = per_node.get(row.index)
        if not times:
            continue
        times = times + [0.0] * (runs - len(times))  # a node with no operator in some runs took no time
        stats = _spread(times)
        extra = {k: round(v, 3) for k, v in stats.items() if k != "mean_us"}
        if row.index in xnn_ops:
            extra["xnnpack_ops"] = xnn_ops[row.index]
        rows.append(LayerTime(row.index, row.op, row.layer, row.macs, round(stats["mean_us"], 3), extra))
    op_sum = sum(r.time_us for r in rows)
    op_sum_median, whole = float(np.median(op_sums)), float(np.median(plain))
    ratio = op_sum_median / whole
    summary = {
        "kernel_mode": kernel_mode, "threads": threads, "runs": runs, "warmup": warmup,
        "op_sum_us": round(op_sum, 1), "op_sum_median_us": round(op_sum_median, 1),
        "whole_run_median_us": round(whole, 1), "op_sum_over_whole_run": round(ratio, 4),
        "sum_check": bool(abs(1 - ratio) <= SUM_TOLERANCE), "sum_tolerance": SUM_TOLERANCE,
        "profiled_invoke_mean_us": round(float(np.mean(invoke)), 1),
        "profiled_run_wall_median_us": round(float(np.median(wall)), 1),
        "nodes_profiled": len(rows), "nodes": len(table),
    }
    notes = [f"per-op sum {op_sum_median / 1e3:.3f} ms (median over runs) is {100 * ratio:.1f}% of the whole run "
             f"without the profiler ({whole / 1e3:.3f} ms, median of {runs} runs interleaved with the profiled "
             f"ones): check {'holds' if summary['sum_check'] else 'FAILS'} (within {SUM_TOLERANCE:.0%})."]
    if kernel_mode == "delegate":
        summary["unmatched_xnnpack_ops"] = unmatched_ops
        fused = [r.layer for r in table if r.index not in per_node and r.op in _FUSABLE]
        skipped = [r.layer for r in table if r.index not in per_node and r.op not in _FUSABLE]
        if fused:
            notes.append(f"{len(fused)} PAD node(s) ran inside the convolution after them (XNNPACK folds the "
                         f"padding into it; their time is in that node's): {', '.join(fused[:5])}"
                         + (" ..." if len(fused) > 5 else ""))
        if skipped:
            notes.append(f"{len(skipped)} node(s) ran as no-ops inside XNNPACK: {', '.join(skipped[:5])}"
                         + (" ..." if len(skipped) > 5 else ""))
    target = "host" if kernel_mode == "delegate" else f"host-{kernel_mode}"
    return TargetProfile(target, "measured", summary, rows, notes)


def profile_host(content: bytes, *, runs: int = 20, latency_runs: int = 50,
                 table: list[layers_lib.Layer] | None = None, kernel_modes=("delegate", "builtin"),
                 thread_counts=(1, 2)) -> list[TargetProfile]:
    """The host targets: per-op profiles in each kernel mode (1 thread), and the whole-model latency at
    each thread count (XNNPACK, no profiler) in the first target's summary."""
    table = table if table is not None else layers_lib.read(content)
    targets = [profile_ops(content, kernel_mode=mode, runs=runs, table=table) for mode in kernel_modes]
    lat = {f"{n}_thread{'s' if n > 1 else ''}": latency(content, threads=n, runs=latency_runs)
           for n in thread_counts}
    macs = sum(r.macs for r in table)
    for figures in lat.values():
        figures["gmacs_per_s"] = round(macs / figures["median_us"] / 1e3, 2) if figures["median_us"] else 0.0
    targets[0].summary["latency"] = lat  # delegate mode: what an app gets
    return targets


def interleaved_latency(contents: dict[str, bytes], threads: int = 1, rounds: int = 15, runs: int = 10) -> dict:
    """Median whole-model latency (µs) of several .tflite files measured side by side: each round runs every
    model ``runs`` times, in turn, so all see the same moment's machine load."""
    compiled = {name: litert_c.CompiledModel(content, threads=threads) for name, content in contents.items()}
    try:
        for model in compiled.values():
            for _ in range(3):
                model.run()
        samples = {name: [] for name in compiled}
        for _ in range(rounds):
            for name, model in compiled.items():
                samples[name].append(float(np.median([model.run() for _ in range(runs)])))
    finally:
        for model in compiled.values():
            model.close()
    return {name: float(np.median(values)) for name, values in samples.items()}
