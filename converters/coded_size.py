"""What a compressed int8 .tflite would take coded the Deep Compression way, read from the file itself.

Han et al. ("Deep Compression", ICLR 2016) store a pruned, weight-shared layer as a stream of (relative
position, cluster index) pairs, Huffman-code both, and add the codebook. The SqueezeNet paper's 0.47 MB
(6-bit, 33% density) and 0.66 MB (8-bit) are such figures. ``measure(content)`` computes the like-for-like
figure for every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED weight tensor of an int8 .tflite, with
these terms (bits):

- ``index_bits``: the codebook index of every entry (nonzero weights and filler zeros), Huffman-coded with
  the code built from the layer's own index histogram (``huffman_lengths``).
- ``position_bits``: the gap to the previous entry, Huffman-coded. Weights are scanned in the file's order
  (output channel major); a gap of ``g`` zeros is stored in ``gap_bits`` bits, and a run of zeros longer than
  ``2**gap_bits - 1`` is cut by a filler entry (a stored zero), as in the paper. ``gap_bits`` (1-8) is chosen
  per layer for the smallest total.
- ``table_bits``: the two canonical Huffman codes, sent as code lengths: 5 bits per alphabet symbol.
- ``codebook_bits``: 32 bits per codebook value. int8 per-channel quantization maps one float centroid to a
  different int8 value in each channel (``q = round(c / scale_ch)``), so the int8 values are not the
  codebook. The codebook counted here is the smallest set of float values that reproduces every nonzero
  int8 weight of the layer exactly through ``round(c / scale_ch)``: each (channel, q) pair allows c in
  ``((q - 1/2) scale_ch, (q + 1/2) scale_ch)``, and the fewest points hitting all those intervals is found by
  greedy interval stabbing (optimal). After k-means clustering to K values it is at most K (K - 1 without
  the zero); the decoder rebuilds the int8 tensor bit for bit (checked: ``exact``).
- ``scale_bits`` and ``bias_bits``: per-channel float32 weight scales and int32 biases, 32 bits each, as the
  file stores them. Weight zero points are all 0 (not stored); bias scales are input scale x weight scale.
- ``header_bits``: 64 bits per layer (gap width, entry count, codebook size).

Everything else in the file (other constant tensors, activation scales, the graph, metadata) is reported
separately (``other_constant_bytes``) and not in ``coded_bytes``, as the paper counts parameters only.
MB in this kit's compression figures is 2**20 bytes: the paper's 4.8 MB is 1,248,424 float32 = 4.99e6 bytes.
"""

from __future__ import annotations

import gzip
import heapq
from dataclasses import asdict, dataclass, field

import numpy as np

from converters import graph as graph_lib

MB = 2 ** 20
LENGTH_BITS = 5  # per alphabet symbol of a canonical Huffman code
VALUE_BITS = 32  # codebook values, scales, biases
HEADER_BITS = 64
WEIGHT_OPS = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}  # op -> output-channel axis


def huffman_lengths(counts: dict) -> dict:
    """Code length per symbol of the Huffman code of ``counts`` (symbol -> count > 0); one symbol -> 1 bit."""
    counts = {s: c for s, c in counts.items() if c > 0}
    if len(counts) <= 1:
        return {s: 1 for s in counts}
    heap = [(c, i, [s]) for i, (s, c) in enumerate(sorted(counts.items(), key=lambda kv: str(kv[0])))]
    heapq.heapify(heap)
    lengths = dict.fromkeys(counts, 0)
    tie = len(heap)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def huffman_bits(symbols) -> tuple[int, int]:
    """(payload bits, distinct symbols) of Huffman-coding the sequence ``symbols`` with its own code."""
    values, n = np.unique(np.asarray(symbols).ravel(), return_counts=True)
    counts = dict(zip(values.tolist(), n.tolist()))
    lengths = huffman_lengths(counts)
    return sum(lengths[s] * c for s, c in counts.items()), len(counts)


def relative_positions(mask: np.ndarray, gap_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(gaps, filler) for the nonzero positions of flat ``mask``: one entry per stored weight, ``gaps[i]`` the
    zeros skipped before it (< 2**gap_bits), ``filler[i]`` True for an inserted zero."""
    limit = 2 ** gap_bits - 1
    positions = np.flatnonzero(np.asarray(mask).ravel())
    skipped = np.diff(np.concatenate([[-1], positions])) - 1
    fillers = skipped // (limit + 1)  # each filler stands for ``limit`` zeros and itself
    ends = np.cumsum(fillers + 1) - 1
    gaps = np.full(int(ends[-1]) + 1 if len(ends) else 0, limit, dtype=np.int64)
    filler = np.ones(len(gaps), dtype=bool)
    gaps[ends] = skipped - fillers * (limit + 1)
    filler[ends] = False
    return gaps, filler


def shared_codebook(q: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codebook, index per weight) for int8 ``q`` of shape (channels, -1) and per-channel ``scales``.

    The fewest float values c with ``round(c / scale_ch) == q`` for every nonzero weight (interval stabbing);
    zeros get index -1.
    """
    channels = np.repeat(np.arange(q.shape[0]), q.shape[1]).reshape(q.shape)
    nz = q != 0
    pairs = np.unique(np.stack([channels[nz], q[nz]], axis=1), axis=0)
    index = np.full(q.shape, -1, dtype=np.int64)
    if not len(pairs):
        return np.zeros(0), index
    s = scales[pairs[:, 0]].astype(np.float64)
    lo, hi = (pairs[:, 1] - 0.5) * s, (pairs[:, 1] + 0.5) * s
    order = np.argsort(hi, kind="stable")
    group = np.empty(len(pairs), dtype=np.int64)
    points, point, g_lo, g_hi = [], None, None, None
    for i in order:  # greedy: open a new point at the right end of the first interval it misses
        if point is None or lo[i] >= point:
            if point is not None:
                points.append((g_lo + g_hi) / 2)  # the middle of the group's common range: no rounding ties
            point, g_lo, g_hi = hi[i], lo[i], hi[i]
        g_lo = max(g_lo, lo[i])
        group[i] = len(points)
    points.append((g_lo + g_hi) / 2)
    codebook = np.asarray(points)
    lookup = {(int(c), int(v)): int(g) for (c, v), g in zip(pairs, group)}
    index[nz] = [lookup[(int(c), int(v))] for c, v in zip(channels[nz], q[nz])]
    return codebook, index


@dataclass
class LayerSize:
    name: str
    op: str
    shape: list
    weights: int
    nonzeros: int
    sparsity: float
    unique_int8: int  # distinct int8 values in the layer (0 included)
    unique_per_channel_max: int  # most distinct int8 values in one output channel (0 included)
    codebook: int  # shared float values (``shared_codebook``), zero excluded
    exact: bool  # the codebook and scales rebuild every int8 weight
    gap_bits: int
    fillers: int
    index_bits: int
    position_bits: int
    table_bits: int
    codebook_bits: int
    scale_bits: int
    bias_bits: int
    header_bits: int = HEADER_BITS

    @property
    def coded_bits(self) -> int:
        return (self.index_bits + self.position_bits + self.table_bits + self.codebook_bits + self.scale_bits
                + self.bias_bits + self.header_bits)


@dataclass
class CodedSize:
    raw_bytes: int  # the .tflite file
    gzip_bytes: int
    coded_bytes: int  # sum of the layers' coded bits / 8
    other_constant_bytes: int  # constants outside the weight layers (not in coded_bytes)
    weights: int
    nonzeros: int
    layers: list = field(default_factory=list)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzeros / max(1, self.weights)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mb"] = {k: getattr(self, k) / MB for k in ("raw_bytes", "gzip_bytes", "coded_bytes")}
        d["sparsity"] = self.sparsity
        for row, layer in zip(d["layers"], self.layers):
            row["coded_bits"] = layer.coded_bits
        return d

    def summary(self) -> str:
        return (f"raw {self.raw_bytes / MB:.3f} MB, gzip {self.gzip_bytes / MB:.3f} MB, Deep-Compression coded "
                f"{self.coded_bytes / MB:.3f} MB (MB = 2^20 bytes); weight sparsity {self.sparsity:.1%}, "
                f"at most {max((l.unique_per_channel_max for l in self.layers), default=0)} int8 values per "
                f"channel")

    def to_markdown(self) -> str:
        lines = ["## Compression", "", self.summary() + ".", "",
                 "| layer | weights | sparsity | int8 values (layer / max per channel) | codebook | coded KiB |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {l.name} | {l.weights:,} | {l.sparsity:.1%} | {l.unique_int8} / {l.unique_per_channel_max} "
                  f"| {l.codebook} | {l.coded_bits / 8 / 1024:.1f} |" for l in self.layers]
        return "\n".join(lines) + "\n"


def layer_size(name: str, op: str, q: np.ndarray, axis: int, scales: np.ndarray, bias_count: int) -> LayerSize:
    """The coded size of one int8 weight tensor ``q`` with output channels on ``axis``."""
    per_channel = np.moveaxis(q, axis, 0).reshape(q.shape[axis], -1).astype(np.int64)
    scales = np.broadcast_to(np.asarray(scales, dtype=np.float64), (per_channel.shape[0],))
    codebook, index = shared_codebook(per_channel, scales)
    rebuilt = np.where(index >= 0, np.round(codebook[np.maximum(index, 0)] / scales[:, None]), 0)
    exact = bool(np.array_equal(rebuilt.astype(np.int64), per_channel))
    flat_index = index.ravel()
    mask = flat_index >= 0
    best = None
    for gap_bits in range(1, 9):
        gaps, filler = relative_positions(mask, gap_bits)
        symbols = flat_index[mask]
        entries = np.empty(len(gaps), dtype=np.int64)
        entries[filler] = -1  # the zero symbol
        entries[~filler] = symbols
        index_bits, _ = huffman_bits(entries)
        position_bits, _ = huffman_bits(gaps)
        alphabet = len(codebook) + bool(filler.any())
        table_bits = LENGTH_BITS * (alphabet + 2 ** gap_bits)
        total = index_bits + position_bits + table_bits
        if best is None or total < best[0]:
            best = (total, gap_bits, int(filler.sum()), index_bits, position_bits, table_bits)
    _, gap_bits, fillers, index_bits, position_bits, table_bits = best
    unique_per_channel = max(len(np.unique(row)) for row in per_channel)
    return LayerSize(name, op, list(q.shape), int(q.size), int(mask.sum()), float(1 - mask.mean()),
                     int(len(np.unique(per_channel))), int(unique_per_channel), int(len(codebook)), exact,
                     gap_bits, fillers, int(index_bits), int(position_bits), int(table_bits),
                     VALUE_BITS * len(codebook), VALUE_BITS * len(np.atleast_1d(scales)), VALUE_BITS * bias_count)


def _layer_name(tensor_name: str) -> str:
    """A readable layer name from a converted weight tensor's name (``.../quant_conv1/...`` -> ``conv1``)."""
    for part in tensor_name.replace(";", "/").split("/"):
        if part.startswith("quant_"):
            return part[len("quant_"):]
    return tensor_name.split(";")[0]


def measure(content: bytes) -> CodedSize:
    """The coded size of every int8 conv/FC weight tensor of the .tflite ``content``, read from the file."""
    g = graph_lib.read(content)
    layers, used = [], set()
    for op in g.ops:
        if op.name not in WEIGHT_OPS or len(op.inputs) < 2:
            continue
        w = g.tensors[op.inputs[1]]
        if w.dtype != "INT8" or not w.constant:
            continue
        axis = w.quantized_dimension if len(w.scale) > 1 else WEIGHT_OPS[op.name]
        bias = op.inputs[2] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        bias_count = int(np.prod(g.tensors[bias].shape)) if bias is not None else 0
        used.update(i for i in (w.index, bias) if i is not None)
        layers.append(layer_size(_layer_name(w.name), op.name, w.data(), axis, np.asarray(w.scale), bias_count))
    other = sum(t.buffer_bytes.nbytes for t in g.tensors if t.constant and t.index not in used)
    coded = sum(layer.coded_bits for layer in layers)
    return CodedSize(len(content), len(gzip.compress(content, 9)), (coded + 7) // 8, int(other),
                     sum(l.weights for l in layers), sum(l.nonzeros for l in layers), layers)
