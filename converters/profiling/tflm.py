"""TensorFlow Lite Micro (TFLM) as a profile target: the arena a firmware must reserve, measured by TFLM itself.

The real TFLM interpreter (PyPI ``tflite-micro``, pinned in requirements.txt) runs the file:

- ``arena_bytes``: the smallest ``arena_size`` with which the interpreter allocates (and so runs) the model,
  found by bisection to ``ALIGNMENT`` bytes. TFLM plans every buffer when it allocates and takes nothing
  during ``Invoke``, so the size that allocates is the size that runs; the tests invoke at it and at 4 KiB less.
- its split, from TFLM's own allocation record (``print_allocations``, which TFLM prints to file descriptor
  2 only): the *head* holds the activations (TFLM's greedy memory plan; ``converters.profiling.memory``
  plans the same and its ``peak_activation_bytes`` is the lower bound), the *tail* everything persistent
  (per-channel requantization data, node and registration structs, eval tensors).
- the ops and their versions, each checked against TFLM's kernel set (``converters.micro.RESOLVER_METHODS``,
  the builtins ``MicroMutableOpResolver`` can register); an op TFLM lacks is a finding, not a crash.
- the outputs on ``SAMPLES`` seeded inputs against LiteRT's reference kernels (``BUILTIN_REF``) on the same
  inputs: max difference in LSB (int8) or absolute (float). On 1.0-SqNxt-23, compared tensor by tensor, every
  CONV_2D, ADD, MAX_POOL_2D and MEAN agrees bit for bit; its per-channel FULLY_CONNECTED does not always:
  LiteRT's reference requantizes it in double precision and TFLM in fixed point, one step apart on about one
  value in a thousand (``_amplified``). A final int8 SOFTMAX can turn that step into many (classes tied at the
  top), so where the outputs differ by more than one step the logits are compared too (``logits_max_lsb``)
  and a note says why.

TFLM runs in a child process (``CHILD``: this module's ``main``): a kernel check that fails stops the
process (SIGABRT), and an arena too small for TFLM's first allocation crashes it. One such stop is known and
diagnosed here: TFLM's reference int8 SOFTMAX stops the program (``TFLITE_CHECK(0 <= exponent && exponent <=
31)`` in ``reference/softmax.h``) when the exponentials of (logit - max) sum to 512 or more, i.e. when many
of the classes score within a few quantization steps of the top one (untrained, or unsure, 1000-class
models; a 10-class model cannot reach 512). The profile then says so, names the sum on the input that
stopped it, and compares the logits (the model without its final SOFTMAX) instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

import numpy as np

ALIGNMENT = 16
SAMPLES = 4  # seeded inputs compared against LiteRT's reference kernels
TARGET = "tflm"
CHILD_TIMEOUT_S = 900
CHILD = "import sys; from converters.profiling import tflm; sys.exit(tflm.main(sys.argv))"  # not a user CLI
SOFTMAX_STOP_SUM = 512  # sum of exp(logit - max) at which TFLM's int8 SOFTMAX check fails (2 ** (31 - 23 + 1))
_CATEGORY = re.compile(r"'([^']+)' used (\d+) bytes")
_TOTALS = re.compile(r"Arena allocation (total|head|tail) (\d+) bytes")
_TOO_SMALL = re.compile(r"Failed to (allocate|resize)|missing: \d+")


def tflm_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("tflite-micro")
    except metadata.PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------- the child: TFLM itself

@contextlib.contextmanager
def _fd2(sink: list):
    """Collect what native code writes to file descriptor 2 (TFLM prints its messages there) into ``sink``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            sink.append(tmp.read().decode("utf-8", "replace"))


def _construct(content: bytes, arena: int):
    """(interpreter or None, what TFLM printed)."""
    from tflite_micro.python.tflite_micro import runtime

    printed: list[str] = []
    try:
        with _fd2(printed):
            interpreter = runtime.Interpreter.from_bytes(content, arena_size=int(arena))
    except (RuntimeError, ValueError):
        return None, printed[0]
    return interpreter, printed[0]


def _allocates(content: bytes, arena: int) -> tuple[bool, str]:
    """Whether TFLM allocates ``content`` in ``arena`` bytes, tried in a forked process: TFLM's failure paths
    for a too-small arena sometimes dereference what they failed to allocate (SIGSEGV), and such a crash
    must cost one try, not the measurement. Also what TFLM printed."""
    if not hasattr(os, "fork"):
        interpreter, printed = _construct(content, arena)
        return interpreter is not None, printed
    with tempfile.TemporaryFile(mode="w+b") as log:
        pid = os.fork()
        if pid == 0:  # the try
            try:
                os.dup2(log.fileno(), 2)
                from tflite_micro.python.tflite_micro import runtime

                runtime.Interpreter.from_bytes(content, arena_size=int(arena))
                code = 0
            except BaseException:
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        log.seek(0)
        return os.waitstatus_to_exitcode(status) == 0, log.read().decode("utf-8", "replace")


def _allocations(interpreter) -> tuple[dict, dict]:
    printed: list[str] = []
    with _fd2(printed):
        interpreter.print_allocations()
    totals = {k: int(v) for k, v in _TOTALS.findall(printed[0])}
    return totals, {name: int(n) for name, n in _CATEGORY.findall(printed[0])}


def _child(model_path: str, inputs_path: str, out_prefix: str, start: int, bisect: bool) -> None:
    """Allocate (in ``start`` bytes exactly, or, with ``bisect``, find the smallest arena from there), then
    invoke on every sample; results go to ``out_prefix``.json/.npz. The JSON is rewritten after each stage,
    so a stop during ``Invoke`` still leaves the arena figures."""
    with open(model_path, "rb") as f:
        content = f.read()
    state: dict = {"stage": "allocate"}

    def save():
        with open(out_prefix + ".json", "w") as f:
            json.dump(state, f)

    arena = start
    for _ in range(5 if bisect else 1):  # a first guess too small for the model: grow it
        ok, printed = _allocates(content, arena)
        if ok or not bisect or not _TOO_SMALL.search(printed):
            break
        arena *= 4
    interpreter = _construct(content, arena)[0] if ok else None
    if interpreter is None:
        state.update(stage="failed", error=printed.strip())
        save()
        return
    totals, categories = _allocations(interpreter)
    state.update(totals=totals, categories=categories, arena_tried=arena)
    if bisect:
        lo = max(totals.get("head", 0) - ALIGNMENT, 1024)  # the tail needs room too: head alone fails
        hi = -(-(totals.get("total", arena) + 2 * ALIGNMENT) // ALIGNMENT) * ALIGNMENT
        if not _allocates(content, hi)[0]:
            hi = arena
        fail_message = ""
        while hi - lo > ALIGNMENT:
            mid = (lo + hi) // 2 // ALIGNMENT * ALIGNMENT
            if mid <= lo:
                break
            ok, printed = _allocates(content, mid)
            if ok:
                hi = mid
            else:
                lo, fail_message = mid, printed.strip()
        state.update(arena_bytes=hi, failed_at=lo, fail_message=fail_message.splitlines()[-3:])
        interpreter, _ = _construct(content, hi)
    state["stage"] = "invoke"
    save()
    data = np.load(inputs_path)
    n_outputs = int(data["n_outputs"])
    samples = sorted({int(k.split("_")[1]) for k in data.files if k.startswith("s_")})
    outputs = {}
    for s in samples:
        state["sample"] = s
        save()
        for k in (k for k in data.files if k.startswith(f"s_{s}_")):
            interpreter.set_input(data[k], int(k.split("_")[2]))
        interpreter.invoke()
        for j in range(n_outputs):
            outputs[f"s_{s}_{j}"] = interpreter.get_output(j).copy()
        interpreter.reset()
    np.savez(out_prefix + ".npz", **outputs)
    state["stage"] = "done"
    save()


def main(argv: list[str]) -> int:
    if len(argv) != 6:
        print("usage: tflm.main([_, MODEL, INPUTS.npz, OUT_PREFIX, START_ARENA, BISECT(0|1)])",
              file=sys.stderr)
        return 2
    _child(argv[1], argv[2], argv[3], int(argv[4]), argv[5] == "1")
    return 0


# ---------------------------------------------------------------- the parent: inputs, comparison, findings

def sample_inputs(graph, samples: int = SAMPLES, seed: int = 0) -> list[list[np.ndarray]]:
    """Seeded inputs for every graph input: uniform over the int8/uint8 range, or [-1, 1] for float."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        row = []
        for i in graph.inputs:
            t = graph.tensors[i]
            shape = [max(d, 1) for d in t.shape]
            if t.dtype == "INT8":
                row.append(rng.integers(-128, 128, size=shape, dtype=np.int8))
            elif t.dtype == "UINT8":
                row.append(rng.integers(0, 256, size=shape, dtype=np.uint8))
            else:
                row.append(rng.uniform(-1, 1, size=shape).astype(np.float32))
        out.append(row)
    return out


def reference_outputs(content: bytes, inputs: list[list[np.ndarray]]) -> list:
    """LiteRT's reference kernels on ``inputs``: the graph outputs of each sample."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    result = []
    for row in inputs:
        for detail, x in zip(interpreter.get_input_details(), row):
            interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        result.append([interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()])
    return result


def run_child(content: bytes, inputs: list[list[np.ndarray]], n_outputs: int, start: int,
              bisect: bool = True) -> dict:
    """Run TFLM on ``content`` in a child process; its state, outputs, exit status and stderr."""
    with tempfile.TemporaryDirectory(prefix="squeezekit-tflm-") as tmp:
        model = os.path.join(tmp, "model.tflite")
        with open(model, "wb") as f:
            f.write(content)
        arrays = {f"s_{s}_{j}": x for s, row in enumerate(inputs) for j, x in enumerate(row)}
        np.savez(os.path.join(tmp, "inputs.npz"), n_outputs=np.array(n_outputs), **arrays)
        prefix = os.path.join(tmp, "out")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))]
            + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        try:
            proc = subprocess.run([sys.executable, "-c", CHILD, model,
                                   os.path.join(tmp, "inputs.npz"), prefix, str(start), "1" if bisect else "0"],
                                  capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S)
            returncode, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired:
            returncode, stderr = None, f"stopped after {CHILD_TIMEOUT_S} s"
        state = {}
        if os.path.exists(prefix + ".json"):
            with open(prefix + ".json") as f:
                state = json.load(f)
        outputs = None
        if os.path.exists(prefix + ".npz"):
            with np.load(prefix + ".npz") as data:
                outputs = [[data[f"s_{s}_{j}"] for j in range(n_outputs)] for s in range(len(inputs))]
    state.update(returncode=returncode, stderr=stderr, outputs=outputs)
    return state


def _stop_reason(returncode) -> str:
    if returncode is None:
        return "did not finish in time"
    if returncode < 0:
        try:
            return f"stopped by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"stopped by signal {-returncode}"
    return f"exited with status {returncode}"


def op_table(content: bytes, graph) -> list[dict]:
    """One row per builtin op the model uses (``graph``'s names; versions from the file's operator codes): its
    name, version, count, the resolver method, and whether TFLM has a kernel for it."""
    from ai_edge_litert import schema_py_generated as schema
    from converters.micro import RESOLVER_METHODS

    codes = schema.Model.GetRootAs(content, 0)
    rows: dict = {}
    for op in graph.ops:
        version = codes.OperatorCodes(op.packed.OpcodeIndex()).Version()
        row = rows.setdefault(op.name, {"op": op.name, "version": version, "count": 0,
                                        "resolver": RESOLVER_METHODS.get(op.name),
                                        "in_tflm": op.name in RESOLVER_METHODS})
        row["count"] += 1
        row["version"] = max(row["version"], version)
    return list(rows.values())


def softmax_sums(content: bytes, graph, inputs) -> list[float] | None:
    """Per sample, the largest sum of exp(beta * (logit - max)) that an int8 final SOFTMAX forms, or None
    when the graph does not end in one. Read from the logits of the model without its SOFTMAX (LiteRT's
    reference SOFTMAX has the same check as TFLM's, so the whole model cannot be run to find out)."""
    if not _ends_in_int8_softmax(graph):
        return None
    last = graph.ops[-1]
    scale = graph.tensors[last.inputs[0]].scale[0] * (getattr(last.options, "beta", 1.0) or 1.0)
    sums = []
    for row in reference_outputs(_without_final_softmax(content, graph), inputs):
        q = row[0].reshape(-1, row[0].shape[-1]).astype(np.int64)
        sums.append(float(np.exp((q - q.max(axis=1, keepdims=True)) * scale).sum(axis=1).max()))
    return sums


def _ends_in_int8_softmax(graph) -> bool:
    last = graph.ops[-1] if graph.ops else None
    return last is not None and last.name == "SOFTMAX" and graph.tensors[last.inputs[0]].dtype == "INT8"


def _softmax_stop(graph, sums: list[float]) -> str:
    classes = graph.tensors[graph.ops[-1].inputs[0]].shape[-1]
    return (f"TFLM's reference int8 SOFTMAX ({classes} classes) stops the program when the exponentials of "
            f"(logit - max) sum to {SOFTMAX_STOP_SUM} or more (TFLITE_CHECK in reference/softmax.h; LiteRT's "
            f"reference kernel has the same check). On these inputs they sum to "
            f"{', '.join(f'{x:,.0f}' for x in sums)}: the model scores many classes within a few quantization "
            "steps of the top one, as untrained or unsure 1000-class models do. A firmware running it stops on "
            "such inputs; the comparison is of the logits (the model without its final SOFTMAX).")


def _without_final_softmax(content: bytes, graph) -> bytes:
    from converters.flatbuffer import pack, unpack

    model = unpack(content)
    sub = model.subgraphs[0]
    last = sub.operators[-1]
    sub.outputs = [last.inputs[0] if o == last.outputs[0] else o for o in sub.outputs]
    sub.operators = sub.operators[:-1]
    return pack(model, len(content) + 1024)


def _compare(ours, reference) -> dict:
    pairs = [(a, b) for mine, theirs in zip(ours, reference) for a, b in zip(mine, theirs)]
    int8 = bool(pairs) and pairs[0][0].dtype in (np.int8, np.uint8)
    worst = max((float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) for a, b in pairs if a.size),
                default=0.0)
    return {"max_lsb" if int8 else "max_abs": int(worst) if int8 else worst, "samples": len(ours),
            "identical": all(np.array_equal(a, b) for a, b in pairs)}


def _why_not(state: dict, graph) -> str:
    """Why the child found no arena, in one line."""
    error = (state.get("error") or state.get("stderr") or "").strip().splitlines()
    how = "TFLM refused it" if state.get("stage") == "failed" else f"TFLM {_stop_reason(state.get('returncode'))}"
    why = f"{how} ({error[-1] if error else 'no message'})"
    if any(t.dtype == "FLOAT16" for t in graph.tensors):
        why += "; TFLM's DEQUANTIZE takes no float16 weights: export int8 or float32 for TFLM"
    return why


def memory_figures(summary: dict) -> dict:
    """The TFLM figures a profile's memory section carries (from ``measure`` or ``arena``)."""
    keys = ("arena_bytes", "activation_bytes", "persistent_bytes", "runtime")
    figures = {k: summary.get(k) for k in keys}
    if summary.get("arena_bytes") is None:
        figures["why_not"] = summary.get("why_not", "TFLM could not allocate this file")
    return figures


def _first_guess(memory: dict | None) -> int:
    """Where the arena search starts: twice the kit's activation plan and 1 MiB for the persistent part."""
    return 2 * int((memory or {}).get("arena_bytes") or 0) + (1 << 20)


def arena(content: bytes, graph, memory: dict | None = None) -> dict:
    """TFLM's arena for ``content`` without running it: allocation and bisection only (what every profile's
    memory section reports; the ``tflm`` target adds the ops, the invoke and the comparison)."""
    if any(not row["in_tflm"] for row in op_table(content, graph)):
        return {"arena_bytes": None, "why_not": "an op TFLM has no kernel for"}
    state = run_child(content, [], len(graph.outputs), _first_guess(memory))
    if state.get("arena_bytes") is None:
        return {"arena_bytes": None, "why_not": _why_not(state, graph)}
    head = state["totals"].get("head", 0)
    return {"arena_bytes": state["arena_bytes"], "activation_bytes": head,
            "persistent_bytes": state["arena_bytes"] - head, "runtime": f"tflite-micro {tflm_version()}"}


def measure(content: bytes, graph, memory: dict | None = None, samples: int = SAMPLES):
    """The ``tflm`` target of a profile (a ``TargetProfile`` of kind ``micro``)."""
    from converters.profiling.report import TargetProfile

    ops = op_table(content, graph)
    missing = [row["op"] for row in ops if not row["in_tflm"]]
    float_model = not any(graph.tensors[op.outputs[0]].dtype == "INT8" for op in graph.ops
                          if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"))
    summary: dict = {"runtime": f"tflite-micro {tflm_version()}", "kernels": "reference", "ops": ops,
                     "supported": not missing, "alignment": ALIGNMENT}
    notes: list[str] = []
    if memory:
        summary["kit_peak_activation_bytes"] = memory.get("peak_activation_bytes")
        summary["kit_arena_plan_bytes"] = memory.get("arena_bytes")
    if float_model:
        notes.append("A float model: TFLM runs it with its float32 reference kernels (no SIMD on most "
                     "microcontrollers) and holds float32 activations, 4x the int8 arena; export the int8 flavour for a "
                     "microcontroller.")
    if missing:
        summary["arena_bytes"] = None
        summary["why_not"] = f"no TFLM kernel for {', '.join(missing)}"
        notes.append(f"TFLM has no kernel for {', '.join(missing)}: this file cannot run on a microcontroller "
                     "with TFLM; export a flavour without it (int8 or float32).")
        return TargetProfile(TARGET, "micro", summary, [], notes)
    inputs = sample_inputs(graph, samples)
    state = run_child(content, inputs, len(graph.outputs), _first_guess(memory))
    if state.get("arena_bytes") is None:
        summary["arena_bytes"] = None
        summary["why_not"] = _why_not(state, graph)
        notes.append(f"TFLM could not allocate this model: {summary['why_not']}.")
        return TargetProfile(TARGET, "micro", summary, [], notes)
    totals = state["totals"]
    arena = state["arena_bytes"]
    summary.update({
        "arena_bytes": arena,
        "arena_fails_at": state["failed_at"],
        "activation_bytes": totals.get("head"),  # TFLM's memory plan (the head of the arena)
        "persistent_bytes": arena - totals.get("head", 0),  # the tail, and the 16-byte alignment of the start
        "allocations": state["categories"],
    })
    if memory and memory.get("peak_activation_bytes"):
        peak = memory["peak_activation_bytes"]
        notes.append(f"TFLM needs {arena:,} bytes of arena: {totals.get('head', 0):,} for activations (the "
                     f"lifetime lower bound is {peak:,}) and {arena - totals.get('head', 0):,} persistent; "
                     f"{100 * (arena / peak - 1):.1f}% more than the activations alone.")
    biggest = (memory or {}).get("peak_tensors") or []
    if biggest:
        top = biggest[0]
        share = top["bytes"] / arena
        summary["largest_tensor"] = dict(top, share_of_arena=round(share, 4))
        notes.append(f"{'The arena is dominated by one tensor' if share >= 0.5 else 'Largest tensor at the peak'}:"
                     f" {top['name']} {top['shape']} {top['dtype'].lower()}, {top['bytes']:,} bytes, "
                     f"{100 * share:.0f}% of the arena (alive from node {top['first_op']} to {top['last_op']}).")
    outputs = state.get("outputs")
    stops = False
    if state["stage"] == "done" and outputs is not None:
        summary["invoke"] = "ok"  # so any final SOFTMAX passed its check, and LiteRT's reference one will too
    else:
        summary["invoke"] = f"{_stop_reason(state['returncode'])} on input {state.get('sample', 0)}"
        sums = softmax_sums(content, graph, inputs)
        stops = bool(sums) and max(sums) >= SOFTMAX_STOP_SUM
        if sums is not None:
            summary["softmax_exp_sums"] = [round(x, 1) for x in sums]
        detail = (state.get("stderr") or "").strip().splitlines()[-1:]
        notes.append(_softmax_stop(graph, sums) if stops else
                     f"TFLM {summary['invoke']} during Invoke ({detail[0] if detail else 'no message'}).")
    if stops:  # neither TFLM nor LiteRT's reference kernels can finish the SOFTMAX: compare the logits
        content = _without_final_softmax(content, graph)
        state = run_child(content, inputs, len(graph.outputs), arena + 4096, bisect=False)
        outputs = state.get("outputs") if state.get("stage") == "done" else None
    if outputs is not None:
        reference = reference_outputs(content, inputs)
        comparison = _compare(outputs, reference)
        comparison.update(reference="LiteRT BUILTIN_REF", outputs="logits" if stops else "model outputs")
        summary["compare"] = comparison
        measure_name = "LSB" if "max_lsb" in comparison else "absolute"
        value = comparison.get("max_lsb", comparison.get("max_abs"))
        notes.append(f"TFLM's {comparison['outputs']} against LiteRT's reference kernels on {len(outputs)} "
                     f"seeded inputs: max difference {value} ({measure_name})"
                     + (", identical." if comparison["identical"] else "."))
        if not stops and comparison.get("max_lsb", 0) > 1 and _ends_in_int8_softmax(graph):
            logits = _compare_logits(content, graph, inputs, arena)
            if logits is not None:
                comparison["logits_max_lsb"] = logits
                notes.append(_amplified(graph, comparison))
    return TargetProfile(TARGET, "micro", summary, [], notes)


def _compare_logits(content: bytes, graph, inputs, arena: int) -> int | None:
    """The max LSB difference of the logits (the model without its final int8 SOFTMAX) between TFLM and
    LiteRT's reference kernels on ``inputs``, or None when TFLM does not finish."""
    logits = _without_final_softmax(content, graph)
    state = run_child(logits, inputs, len(graph.outputs), arena + 4096, bisect=False)
    if state.get("stage") != "done" or state.get("outputs") is None:
        return None
    return _compare(state["outputs"], reference_outputs(logits, inputs))["max_lsb"]


def _amplified(graph, comparison: dict) -> str:
    """Why the outputs of a model ending in an int8 SOFTMAX differ by more than their logits do.

    LiteRT's reference FULLY_CONNECTED with per-channel weights requantizes its sums in double precision
    (round(acc * scale), ``reference/integer_ops/fully_connected.h``), TFLM's with the 31-bit fixed-point
    multiplier (rounded twice) that both runtimes' other integer kernels use. Where a sum falls within that
    multiplier's error of a half step (about one logit in a thousand), the logit differs by one step. The
    SOFTMAX then amplifies it: classes tied at the top share the probability (1/2 each reads 0, 1/3 reads -43),
    so one class more or less in the tie moves the outputs by up to 128 steps; logits clipped at 127 (inputs
    beyond the calibrated range) tie that way."""
    scale = graph.tensors[graph.ops[-1].inputs[0]].scale[0]
    per_channel_fc = any(op.name == "FULLY_CONNECTED" and len(graph.tensors[op.inputs[1]].scale) > 1
                         for op in graph.ops)
    cause = ("LiteRT's reference FULLY_CONNECTED with per-channel weights rounds its requantization in double "
             "precision and TFLM's in fixed point, so a logit can differ by one step" if per_channel_fc else
             "an op before the SOFTMAX differs by one step")
    return (f"The logits differ by at most {comparison['logits_max_lsb']} LSB and the outputs by "
            f"{comparison['max_lsb']}: {cause}, and the final SOFTMAX (logit step {scale:.4g}) amplifies it where "
            "classes tie at the top (one class more or less in a tie moves each tied output by up to 128 steps).")

