"""How much RAM a .tflite needs for its activations: tensor lifetimes, the peak, and an arena plan.

A microcontroller build (TFLite Micro) and a phone runtime both hold every activation in one arena that
is sized before the first inference, so the figure a deployer sizes against is not the sum of all
activation tensors but the most that must be alive at once. Read from the flatbuffer, without an
interpreter:

- A non-constant tensor lives from the op that produces it to the last op that reads it. Graph inputs
  live from the start (the caller fills them before op 0), graph outputs to the end (the caller reads
  them after the last op). A dynamic dimension (-1) counts as 1.
- ``peak_activation_bytes``: the largest sum of live tensor bytes over the op steps, the inputs and the
  outputs of the op both counted. No arena can be smaller: it is the lower bound.
- ``plan``: a greedy offset planner like TFLite Micro's ``GreedyMemoryPlanner`` (tensors by size,
  largest first, each at the lowest offset that does not overlap a placed tensor whose lifetime overlaps
  its own; sizes rounded up to 16 bytes as TFLite Micro aligns them). Its arena is achievable, and
  usually equal to the lower bound or a little above it.

RESHAPE, SQUEEZE and EXPAND_DIMS only relabel a buffer. TFLite Micro copies it into the output tensor's
own buffer and the classic TFLite arena planner does the same, so the headline figures keep the two
tensors apart (the conservative figure). Recent TFLite CPU runtimes can share the buffer in place
(the arena planner's in-place ops); the ``reshape_aliasing`` block gives the peak and the arena with
each such output merged into its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from converters import graph as graph_lib
from converters.profiling import layers as layers_lib
from converters.profiling.layers import DTYPE_BYTES

ALIAS_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
ALIGNMENT = 16  # TFLite Micro's buffer alignment (MicroArenaBufferAlignment)


@dataclass
class Buffer:
    """One arena buffer: an activation tensor (or, with aliasing, a tensor and its reshaped views)."""

    tensors: list[int]  # tensor indices sharing this buffer; the first one names it
    bytes: int
    first: int  # first op step it is alive in
    last: int  # last op step it is alive in

    def overlaps(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


def tensor_bytes(t: graph_lib.Tensor) -> int:
    return int(np.prod([max(d, 1) for d in t.shape])) * DTYPE_BYTES.get(t.dtype, 4)


def lifetimes(g: graph_lib.Graph, alias_reshape: bool = False) -> list[Buffer]:
    """One ``Buffer`` per non-constant tensor that the graph touches, in tensor order."""
    end = max(len(g.ops) - 1, 0)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i in g.inputs:
        first[i] = last[i] = 0
    for op in g.ops:
        for i in (i for i in op.outputs if i >= 0):
            first.setdefault(i, op.index)
            last[i] = max(last.get(i, op.index), op.index)
        for i in op.inputs:
            if i >= 0 and not g.tensors[i].constant:
                first.setdefault(i, op.index)  # a tensor nobody produces: alive from its first reader
                last[i] = max(last.get(i, op.index), op.index)
    for i in g.outputs:
        first.setdefault(i, end)
        last[i] = end
    root = {i: i for i in first}
    if alias_reshape:
        for op in g.ops:
            src = op.inputs[0] if op.inputs else -1
            if op.name in ALIAS_OPS and src in root and len(op.outputs) == 1:
                root[op.outputs[0]] = _find(root, src)
    groups: dict[int, list[int]] = {}
    for i in sorted(first):
        groups.setdefault(_find(root, i), []).append(i)
    return [Buffer(members, max(tensor_bytes(g.tensors[i]) for i in members),
                   min(first[i] for i in members), max(last[i] for i in members))
            for members in groups.values()]


def _find(root: dict[int, int], i: int) -> int:
    while root[i] != i:
        i = root[i]
    return i


def live_bytes(buffers: list[Buffer], steps: int) -> list[int]:
    """Bytes alive during each op step: the curve under the peak."""
    live = [0] * steps
    for b in buffers:
        for step in range(b.first, min(b.last, steps - 1) + 1):
            live[step] += b.bytes
    return live


def plan(buffers: list[Buffer], alignment: int = ALIGNMENT) -> tuple[list[int], int]:
    """Greedy-by-size offsets for ``buffers`` (same order) and the arena size they need.

    Like TFLite Micro's ``GreedyMemoryPlanner``: largest buffer first (ties by first use), each put in
    the lowest gap between the already placed buffers that are alive at the same time.
    """
    sizes = [-(-b.bytes // alignment) * alignment for b in buffers]
    order = sorted(range(len(buffers)), key=lambda i: (-sizes[i], buffers[i].first, i))
    offsets = [0] * len(buffers)
    placed: list[int] = []
    for i in order:
        offset = 0
        for j in sorted((j for j in placed if buffers[j].overlaps(buffers[i])), key=lambda j: offsets[j]):
            if offset + sizes[i] <= offsets[j]:
                break
            offset = max(offset, offsets[j] + sizes[j])
        offsets[i] = offset
        placed.append(i)
    return offsets, max((offsets[i] + sizes[i] for i in placed), default=0)


def weight_bytes(g: graph_lib.Graph) -> int:
    """Bytes of the constant buffers the graph's tensors point to, each shared buffer counted once.

    These are the bytes the file stores (flash on a microcontroller, mapped pages on a phone); metadata
    buffers (labels, the model card) are not tensors and are left out.
    """
    return sum({t.buffer: t.buffer_bytes.nbytes for t in g.tensors}.values())


def _peak(buffers: list[Buffer], steps: int) -> tuple[int, int, list[int]]:
    live = live_bytes(buffers, steps)
    step = int(np.argmax(live)) if live else 0
    return (live[step] if live else 0), step, live


def summarize(content: bytes, graph: graph_lib.Graph | None = None,
              layer_rows: list[layers_lib.Layer] | None = None, alignment: int = ALIGNMENT) -> dict:
    """The memory figures of a .tflite as a JSON-ready dict (see the module docstring for each)."""
    g = graph or graph_lib.read(content)
    rows = layer_rows or layers_lib.read(content, g)
    names = {r.index: r.layer for r in rows}
    steps = len(g.ops)
    buffers = lifetimes(g)
    peak, step, live = _peak(buffers, steps)
    _, arena = plan(buffers, alignment)
    aliased = lifetimes(g, alias_reshape=True)
    aliased_peak, _, _ = _peak(aliased, steps)
    _, aliased_arena = plan(aliased, alignment)

    def io_bytes(op):
        ids = {i for i in op.inputs + op.outputs if i >= 0 and not g.tensors[i].constant}
        return sum(tensor_bytes(g.tensors[i]) for i in ids)

    largest = max(g.ops, key=io_bytes) if g.ops else None
    live_at_peak = sorted((b for b in buffers if b.first <= step <= b.last), key=lambda b: -b.bytes)
    op = g.ops[step] if g.ops else None
    return {
        "file_bytes": len(content),
        "weight_bytes": weight_bytes(g),
        "activation_tensors": len(buffers),
        "activation_bytes_total": sum(b.bytes for b in buffers),  # with no reuse at all
        "input_bytes": sum(tensor_bytes(g.tensors[i]) for i in g.inputs),
        "output_bytes": sum(tensor_bytes(g.tensors[i]) for i in g.outputs),
        "peak_activation_bytes": peak,
        "peak_op": {"index": op.index, "op": op.name, "layer": names.get(op.index, "")} if op else None,
        "peak_tensors": [{"index": b.tensors[0], "name": g.tensors[b.tensors[0]].name,
                          "shape": list(g.tensors[b.tensors[0]].shape),
                          "dtype": g.tensors[b.tensors[0]].dtype, "bytes": b.bytes,
                          "first_op": b.first, "last_op": b.last} for b in live_at_peak],
        "largest_op_io_bytes": io_bytes(largest) if largest else 0,
        "largest_op": {"index": largest.index, "op": largest.name,
                       "layer": names.get(largest.index, "")} if largest else None,
        "arena_bytes": arena,
        "arena_alignment": alignment,
        "reshape_aliasing": {"ops": sum(o.name in ALIAS_OPS for o in g.ops),
                             "peak_activation_bytes": aliased_peak, "arena_bytes": aliased_arena},
        "live_bytes": live,  # per op step, indexed by TFLite node index
        "notes": [
            "peak_activation_bytes is the tensor-arena lower bound: the most activation bytes alive during "
            "one op (its inputs and outputs included); arena_bytes is a greedy offset plan that achieves it "
            f"or more ({alignment}-byte aligned, as TFLite Micro plans).",
            "RESHAPE/SQUEEZE/EXPAND_DIMS outputs are counted as their own buffers (TFLite Micro copies); "
            "reshape_aliasing gives the figures when they share their input's buffer.",
            "Kernel scratch buffers (im2col, XNNPACK packing) and runtime overhead are not included.",
        ],
    }
