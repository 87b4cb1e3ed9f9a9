"""Exact rewrites of a converted .tflite graph: the same function, computed faster.

Two rewrites: ``space_to_depth_stem`` (below; ``auto`` tries it) and ``space_to_depth_stage`` (thin stages in
the space-to-depth domain: asked for by name, since it makes files 30-60% larger; its docstring).

``space_to_depth_stem``: a strided convolution on few input channels (the 7x7/2 stem of SqueezeNext on 3
channels, SqueezeNet's 7x7/2 and 3x3/2 stems) wastes most of an int8 GEMM's channel block on zeros: XNNPACK
pads the 3 channels up to its block. Rewritten as a SPACE_TO_DEPTH(2) and a k2 x k2 stride-1 VALID CONV_2D on
4C channels, with k2 = ceil((k + s) / 2) and the k x k kernel zero-padded to 2k2 x 2k2 (``s`` leading zero
rows and columns) and rearranged as SPACE_TO_DEPTH lays out its channels ((row offset * 2 + column offset)
* C + c), it computes the same sums:

    y[o] = sum_{i<k} w[i] x[2o + i - p]  =  sum_{j<k2} sum_{r<2} w'[2j + r] z[o + j][r],  z[m][r] = x[2m + r - p - s]

The padding p (the convolution's SAME padding, or an explicit PAD before it, as in imgclsmob's stems, which
the rewrite replaces) goes where it costs nothing when it can: with an even input, ``s = p mod 2`` makes the
leading padding even and it becomes whole 2x2 cells after SPACE_TO_DEPTH, a PAD that XNNPACK folds into the
convolution. An odd input (227x227) is padded first, as rows of W*C values between two free reshapes (XNNPACK's
constant pad moves its innermost dimension at a time: 3 bytes took 0.5 ms on 224x224x3 int8).

In int8 every term is the same integer product (padding reads the zero point, i.e. 0, exactly as the
convolution's own SAME padding does; the added kernel entries are 0), the per-channel weight scales, the bias
and the output scale are copied, so the int32 sums and the outputs are bit-identical. In float the order of
the additions changes: equal to rounding. The file executes 1.31x the stem's MACs for 7x7 -> 8x8 (zero
products included); the rewrite is recorded in the file (``graph.REWRITES_METADATA``), so its layer table
(``profiling.layers``) still describes the network: the stem keeps its kernel, input and MACs, and the ops the
rewrite added are rows of their own.

Each rewrite is recorded (``Rewrite``); ``optimize`` proves it (``compare``) and, under ``auto``, keeps it only
when it measures faster on this CPU. The graph is edited through the flatbuffer object API; ops after the
rewritten one shift by one to three node indices.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from converters import counting, flatbuffer, graph as graph_lib
from converters.graph import _NUMPY, _names
from converters.profiling.layers import layer_name

MAX_STEM_CHANNELS = 4  # input channels at or under which a strided stem is rewritten
MIN_GAIN = 0.02  # ``auto`` keeps a rewrite whose median latency is at least this much lower than the plain form's
# Largest float output difference, relative to the largest output, a rewrite may make: the bound the exports hold
# float32 files to against Keras. Summed in another order, float32 logits differ by about 1e-7 of their size; an
# untrained network's softmax saturates on logits in the hundreds, where that reached 6e-5 of the output.
FLOAT_TOLERANCE = 1e-4
EQUALITY_INPUTS = 20  # inputs the rewritten file is compared on


@dataclass
class Rewrite:
    name: str  # "space_to_depth_stem"
    node: int  # the rewritten op's index in the original graph
    layer: str  # its model layer ("stem_conv")
    before: str  # "CONV_2D 7x7/2 SAME on 224x224x3"
    after: str  # "SPACE_TO_DEPTH 2 -> 112x112x12, PAD to 113x113 (...), CONV_2D 4x4/1 VALID"
    node_after: int = -1  # the op's index in the rewritten graph
    # The op as the network defines it, for readers of the rewritten file (``profiling.layers``): input_shape,
    # kernel, stride, macs; executed_macs (zero products included); the kernel elements and bytes the rewrite
    # added (weights_added, weight_bytes_added).
    original: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _opcode(model, schema, builtin: int, version: int = 1) -> int:
    """The index of ``builtin``'s operator code in ``model`` (added when missing), at ``version`` or above:
    the version TFLite's converter gives the op for its input type (``tools/versioning/op_version.cc``: int8
    SPACE_TO_DEPTH and PAD are version 2), so runtimes that check versions accept the file."""
    from ai_edge_litert.tools import flatbuffer_utils

    for i, code in enumerate(model.operatorCodes):
        if flatbuffer_utils.get_builtin_code_from_operator_code(code) == builtin:
            code.version = max(int(code.version), version)
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _code(model, op) -> int:
    from ai_edge_litert.tools import flatbuffer_utils

    return flatbuffer_utils.get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])


def _buffer(model, schema, data: np.ndarray) -> int:
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    return len(model.buffers) - 1


def _tensor(sub, schema, like, shape, name: str, buffer: int = 0, dtype=None) -> int:
    """A new tensor of ``shape`` with ``like``'s type and quantization (``dtype`` overrides the type)."""
    t = schema.TensorT()
    t.shape = np.array(shape, dtype=np.int32)
    if like is not None and like.shapeSignature is not None and len(like.shapeSignature) == len(shape):
        t.shapeSignature = np.array([like.shapeSignature[0]] + list(shape[1:]), dtype=np.int32)
    t.type = like.type if dtype is None else dtype
    t.buffer = buffer
    t.name = name
    t.quantization = like.quantization if (like is not None and dtype is None) else None
    sub.tensors.append(t)
    return len(sub.tensors) - 1


def _consumers(sub, tensor: int) -> list[int]:
    return [i for i, op in enumerate(sub.operators) if tensor in list(op.inputs)]


def _name(tensor) -> str:
    return tensor.name.decode() if isinstance(tensor.name, bytes) else (tensor.name or "")


def _scope_prefix(full: str) -> str:
    """The model scope of a tensor name ("model_1/" of "model_1/stem_conv_1/op"): new tensors are named as Keras
    would name a layer beside the rewritten one."""
    scope = full.split(";")[-1].split("/")
    return "/".join(scope[:-2]) + "/" if len(scope) >= 3 else ""


def _space_to_depth_op(model, sub, schema, source: int, like, shape: list[int], name: str) -> tuple[object, int]:
    """A SPACE_TO_DEPTH(2) op reading ``source`` into a new tensor of ``shape`` (``like``'s type and
    quantization; int8 at version 2, as TFLite's converter gives it); the op and its output tensor."""
    out = _tensor(sub, schema, like, shape, name)
    s2d = schema.OperatorT()
    s2d.opcodeIndex = _opcode(model, schema, schema.BuiltinOperator.SPACE_TO_DEPTH,
                              2 if like.type == schema.TensorType.INT8 else 1)
    s2d.inputs, s2d.outputs = np.array([source], dtype=np.int32), np.array([out], dtype=np.int32)
    s2d.builtinOptionsType = schema.BuiltinOptions.SpaceToDepthOptions
    s2d.builtinOptions = schema.SpaceToDepthOptionsT()
    s2d.builtinOptions.blockSize = 2
    return s2d, out


def _constant(model, sub, tensor: int) -> np.ndarray | None:
    t = sub.tensors[tensor]
    data = model.buffers[t.buffer].data if t.buffer < len(model.buffers) else None
    dtype = _NUMPY.get(_names(_schema().TensorType).get(t.type))
    if data is None or len(data) == 0 or dtype is None:
        return None
    return np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=dtype).reshape(list(t.shape))


def _kernel_source(model, sub, schema, tensor: int):
    """(tensor holding the kernel values, their array): the weights themselves, or the float16 constant a
    DEQUANTIZE turns into them (float16 files)."""
    values = _constant(model, sub, tensor)
    if values is not None:
        return tensor, values
    producers = [op for op in sub.operators if tensor in list(op.outputs)]
    if len(producers) == 1 and _code(model, producers[0]) == schema.BuiltinOperator.DEQUANTIZE:
        source = int(producers[0].inputs[0])
        values = _constant(model, sub, source)
        if values is not None:
            return source, values
    return None, None


def space_to_depth_kernel(kernel: np.ndarray, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """An OHWI ``F x k x k x C`` kernel as the ``F x k2 x k2 x 4C`` kernel of the stride-1 convolution on the
    SPACE_TO_DEPTH(2) input (k2 = ceil((k + shift) / 2); added entries are zero). ``shift`` puts that many
    zero rows (columns) before the kernel: the input then carries as many more leading padding rows."""
    f, kh, kw, c = kernel.shape
    h2, w2 = math.ceil((kh + shift[0]) / 2), math.ceil((kw + shift[1]) / 2)
    padded = np.zeros((f, 2 * h2, 2 * w2, c), dtype=kernel.dtype)
    padded[:, shift[0]:shift[0] + kh, shift[1]:shift[1] + kw, :] = kernel
    # [f, j_h, r_h, j_w, r_w, c] -> [f, j_h, j_w, r_h, r_w, c]: channel (r_h * 2 + r_w) * C + c.
    return padded.reshape(f, h2, 2, w2, 2, c).transpose(0, 1, 3, 2, 4, 5).reshape(f, h2, w2, 4 * c)


def _same_before(size: int, out: int, k: int) -> int:
    return max((out - 1) * 2 + k - size, 0) // 2


def space_to_depth_stem(content: bytes, max_channels: int = MAX_STEM_CHANNELS) -> tuple[bytes, list[Rewrite]]:
    """``content`` with every stride-2 CONV_2D on at most ``max_channels`` input channels rewritten as
    SPACE_TO_DEPTH(2) and a stride-1 CONV_2D, with the padding placed as the module docstring says; the
    rewrites made. Returns ``content`` itself and ``[]`` when no op qualifies."""
    schema = _schema()
    ops = schema.BuiltinOperator
    model = flatbuffer.unpack(content)
    sub = model.subgraphs[0]
    done: list[Rewrite] = []
    original_index = list(range(len(sub.operators)))  # position -> index in the original graph
    position = 0
    while position < len(sub.operators):
        op = sub.operators[position]
        found = _stem(model, sub, schema, ops, op, max_channels)
        if found is None:
            position += 1
            continue
        rewrite, inserted, removed = found
        rewrite.node = original_index[position]
        if removed is not None:
            del sub.operators[removed]
            del original_index[removed]
            position -= 1
        for new_op in inserted:
            sub.operators.insert(position, new_op)
            original_index.insert(position, -1)
            position += 1
        done.append(rewrite)
        position += 1
    if not done:
        return content, []
    for rewrite in done:  # later insertions come after each rewritten op, so find them at the end
        rewrite.node_after = next(i for i, op in enumerate(sub.operators) if getattr(op, "_rewrite", None) is rewrite)
    _record(model, schema, done)
    return flatbuffer.pack(model, len(content) + 65536), done


def _record(model, schema, done: list[Rewrite]) -> None:
    """Append ``done`` to the file's rewrite record (``graph.REWRITES_METADATA``)."""
    import json

    model.metadata = list(model.metadata or [])
    entry = next((m for m in model.metadata if (m.name or b"").decode() == graph_lib.REWRITES_METADATA), None)
    records = []
    if entry is not None:
        old = model.buffers[entry.buffer].data
        records = json.loads(bytes(np.asarray(old, dtype=np.uint8)).decode()) if old is not None else []
    records += [r.to_dict() for r in done]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(records).encode(), dtype=np.uint8)
    model.buffers.append(buffer)
    if entry is None:
        entry = schema.MetadataT()
        entry.name = graph_lib.REWRITES_METADATA
        model.metadata.append(entry)
    entry.buffer = len(model.buffers) - 1


def recorded(content: bytes) -> list[dict]:
    """The rewrites recorded in ``content`` (``Rewrite.to_dict`` rows); [] for a file never rewritten."""
    return graph_lib.rewrites(graph_lib.read(content))


def _stem(model, sub, schema, ops, op, max_channels: int):
    """Rewrite ``op`` in place if it is a strided stem: (the Rewrite, the new ops to insert before it, the
    position of the explicit PAD they replace or None); None otherwise."""
    if _code(model, op) != ops.CONV_2D:
        return None
    o = op.builtinOptions
    if o is None or (o.strideH, o.strideW) != (2, 2) or (o.dilationHFactor, o.dilationWFactor) != (1, 1):
        return None
    x, w_index, y = int(op.inputs[0]), int(op.inputs[1]), int(op.outputs[0])
    xt, wt, yt = sub.tensors[x], sub.tensors[w_index], sub.tensors[y]
    if len(wt.shape) != 4 or len(xt.shape) != 4 or len(yt.shape) != 4:
        return None
    _, kh, kw, c = (int(d) for d in wt.shape)
    _, h, w, cx = (int(d) for d in xt.shape)
    _, ho, wo, _ = (int(d) for d in yt.shape)
    if c != cx or c > max_channels or min(kh, kw) < 2 or len(_consumers(sub, w_index)) != 1:
        return None
    source, kernel = _kernel_source(model, sub, schema, w_index)
    if kernel is None:
        return None
    valid = o.padding == schema.Padding.VALID
    before = (0, 0) if valid else (_same_before(h, ho, kh), _same_before(w, wo, kw))
    base, base_h, base_w, replaced = x, h, w, None
    # An explicit constant PAD feeding only this convolution (imgclsmob's stems) is folded into the new one.
    producers = [i for i, p in enumerate(sub.operators) if x in list(p.outputs)]
    if valid and len(producers) == 1 and len(_consumers(sub, x)) == 1 and x not in list(sub.outputs):
        p = sub.operators[producers[0]]
        if _code(model, p) == ops.PAD and len(p.inputs) == 2:
            pads = _constant(model, sub, int(p.inputs[1]))
            if pads is not None and pads.shape == (4, 2) and not pads[0].any() and not pads[3].any():
                base = int(p.inputs[0])
                _, base_h, base_w, _ = (int(d) for d in sub.tensors[base].shape)
                before, replaced = (int(pads[1][0]), int(pads[2][0])), producers[0]
    # Preferred: SPACE_TO_DEPTH on the input itself, then the padding in whole 2x2 cells, a PAD that XNNPACK
    # folds into the convolution after it. That needs an even input and even padding on each side; a leading
    # zero row (column) in the kernel (``shift``) makes the leading padding even. Otherwise the input is padded
    # first (a PAD that runs as its own operator).
    shift = (before[0] % 2, before[1] % 2)
    h2, w2 = math.ceil((kh + shift[0]) / 2), math.ceil((kw + shift[1]) / 2)
    rows, cols = 2 * (ho + h2 - 1), 2 * (wo + w2 - 1)
    lead = (before[0] + shift[0], before[1] + shift[1])
    after = (rows - base_h - lead[0], cols - base_w - lead[1])
    on_grid = base_h % 2 == 0 and base_w % 2 == 0 and min(after) >= 0 and after[0] % 2 == 0 and after[1] % 2 == 0
    if not on_grid:
        shift, lead = (0, 0), before
        h2, w2 = math.ceil(kh / 2), math.ceil(kw / 2)
        rows, cols = 2 * (ho + h2 - 1), 2 * (wo + w2 - 1)
        after = (rows - base_h - lead[0], cols - base_w - lead[1])
    if min(after) < 0:  # the convolution ignores trailing input rows: a slice would be needed; leave it
        return None
    bt = sub.tensors[base]
    int8_version = 2 if bt.type == schema.TensorType.INT8 else 1  # SPACE_TO_DEPTH and PAD on int8: version 2
    full = _name(yt)
    layer = layer_name(full) or "stem"
    prefix = _scope_prefix(full)  # "model_1/stem_conv_space_to_depth_1/op" beside "model_1/stem_conv_1/op"

    def named(suffix: str, op_name: str) -> str:
        return f"{prefix}{layer}_{suffix}_1/{op_name}"

    def pad_op(source: int, shape: list[int], pads, rank: int = 4) -> tuple[object, int]:
        paddings = np.array([[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]][:rank], dtype=np.int32)
        constant = _tensor(sub, schema, None, [rank, 2], named("space_to_depth_pad", "paddings"),
                           _buffer(model, schema, paddings), dtype=schema.TensorType.INT32)
        out = _tensor(sub, schema, bt, shape, named("space_to_depth_pad", "Pad"))
        pad = schema.OperatorT()
        pad.opcodeIndex = _opcode(model, schema, ops.PAD, int8_version)
        pad.inputs, pad.outputs = np.array([source, constant], dtype=np.int32), np.array([out], dtype=np.int32)
        pad.builtinOptionsType, pad.builtinOptions = schema.BuiltinOptions.PadOptions, schema.PadOptionsT()
        return pad, out

    def s2d_op(source: int, shape: list[int]) -> tuple[object, int]:
        return _space_to_depth_op(model, sub, schema, source, bt, shape, named("space_to_depth", "SpaceToDepth"))

    def reshape_op(source: int, shape: list[int], suffix: str) -> tuple[object, int]:
        batch_free = np.array([-1] + list(shape[1:]), dtype=np.int32)  # the batch stays resizable
        constant = _tensor(sub, schema, None, [len(shape)], named(suffix, "shape"),
                           _buffer(model, schema, batch_free), dtype=schema.TensorType.INT32)
        out = _tensor(sub, schema, bt, shape, named(suffix, "Reshape"))
        reshape = schema.OperatorT()
        reshape.opcodeIndex = _opcode(model, schema, ops.RESHAPE)
        reshape.inputs = np.array([source, constant], dtype=np.int32)
        reshape.outputs = np.array([out], dtype=np.int32)
        reshape.builtinOptionsType = schema.BuiltinOptions.ReshapeOptions
        reshape.builtinOptions = schema.ReshapeOptionsT()
        reshape.builtinOptions.newShape = batch_free
        return reshape, out

    padding = any(lead) or any(after)
    new_ops, steps = [], []
    if on_grid:
        s2d, conv_input = s2d_op(base, [1, base_h // 2, base_w // 2, 4 * c])
        new_ops.append(s2d)
        steps.append(f"SPACE_TO_DEPTH 2 -> {base_h // 2}x{base_w // 2}x{4 * c}")
        if padding:
            pad, conv_input = pad_op(conv_input, [1, rows // 2, cols // 2, 4 * c],
                                     (lead[0] // 2, after[0] // 2, lead[1] // 2, after[1] // 2))
            new_ops.append(pad)
            steps.append(f"PAD to {rows // 2}x{cols // 2} (folded into the convolution by XNNPACK)")
    else:
        conv_input = base
        if padding:
            # Padded as rows of W*C values: XNNPACK's constant pad copies by its innermost dimension, and 3
            # bytes at a time it took 0.5 ms for a 224x224x3 int8 input (the reshapes run as no-ops).
            flat, conv_input = reshape_op(base, [1, base_h, base_w * c], "space_to_depth_rows")
            pad, conv_input = pad_op(conv_input, [1, rows, cols * c], (lead[0], after[0], lead[1] * c, after[1] * c),
                                     rank=3)
            square, conv_input = reshape_op(conv_input, [1, rows, cols, c], "space_to_depth_padded")
            new_ops += [flat, pad, square]
            steps.append(f"PAD to {rows}x{cols} (as {rows}x{cols * c} rows)")
        s2d, conv_input = s2d_op(conv_input, [1, rows // 2, cols // 2, 4 * c])
        new_ops.append(s2d)
        steps.append(f"SPACE_TO_DEPTH 2 -> {rows // 2}x{cols // 2}x{4 * c}")

    new_kernel = space_to_depth_kernel(kernel, shift)
    cout = int(wt.shape[0])
    added = int(new_kernel.size - kernel.size)
    original = {"input_shape": [1, h, w, c], "kernel": [kh, kw], "stride": [2, 2],
                "macs": counting.conv_macs((ho, wo), (kh, kw), c, cout, 1),
                "executed_macs": counting.conv_macs((ho, wo), (h2, w2), 4 * c, cout, 1),
                "weights_added": added, "weight_bytes_added": added * np.dtype(kernel.dtype).itemsize}
    for t in {w_index, source}:  # the weights (and, in float16 files, the constant they are dequantized from)
        sub.tensors[t].shape = np.array(new_kernel.shape, dtype=np.int32)
        if sub.tensors[t].shapeSignature is not None:
            sub.tensors[t].shapeSignature = np.array(new_kernel.shape, dtype=np.int32)
    old = sub.tensors[source].buffer
    if sum(1 for t in sub.tensors if t.buffer == old) == 1:  # its own buffer: replace the bytes in place
        model.buffers[old].data = np.frombuffer(new_kernel.tobytes(), dtype=np.uint8)
    else:
        sub.tensors[source].buffer = _buffer(model, schema, new_kernel)
    op.inputs = np.array([conv_input] + [int(i) for i in op.inputs[1:]], dtype=np.int32)
    o.strideH = o.strideW = 1
    o.padding = schema.Padding.VALID
    description = ", ".join(steps + [f"CONV_2D {h2}x{w2}/1 VALID"])
    kind = "VALID" if valid and replaced is None else ("after PAD" if replaced is not None else "SAME")
    rewrite = Rewrite("space_to_depth_stem", -1, layer, f"CONV_2D {kh}x{kw}/2 {kind} on {h}x{w}x{c}", description,
                      original=original)
    op._rewrite = rewrite  # found again after the insertions (``node_after``); not packed
    return rewrite, new_ops, replaced


def space_to_depth_stage_kernel(kernel: np.ndarray) -> np.ndarray:
    """An OHWI ``N x kh x kw x K`` stride-1 kernel (odd sizes, SAME padding) as the kernel of the same
    convolution on SPACE_TO_DEPTH(2) input and output: ``4N x kh' x kw' x 4K``, kh' = 2 * ceil(p / 2) + 1 for
    p = (kh - 1) / 2, also SAME. Output phase (py, px) of block (Y, X) is original position (2Y + py, 2X + px);
    its tap (dy, dx) reads original offset py + dy - p = 2a + q: block offset a, phase q. Entries no tap reaches
    are zero. A 1x1 kernel becomes block-diagonal."""
    n, kh, kw, k = kernel.shape
    lo_h, lo_w = (kh // 2 + 1) // 2, (kw // 2 + 1) // 2  # the block kernel reaches this many blocks either side
    out = np.zeros((4 * n, 2 * lo_h + 1, 2 * lo_w + 1, 4 * k), dtype=kernel.dtype)
    for py in range(2):
        for px in range(2):
            rows = slice((py * 2 + px) * n, (py * 2 + px + 1) * n)
            for dy in range(kh):
                ay, qy = divmod(py + dy - kh // 2, 2)
                for dx in range(kw):
                    ax, qx = divmod(px + dx - kw // 2, 2)
                    cols = slice((qy * 2 + qx) * k, (qy * 2 + qx + 1) * k)
                    out[rows, ay + lo_h, ax + lo_w, cols] = kernel[:, dy, dx, :]
    return out


STAGE_MAX_CHANNELS = 64  # the widest tensor of a stage the rewrite moves (4x that after SPACE_TO_DEPTH)


def stage_entries(content: bytes, max_channels: int = STAGE_MAX_CHANNELS) -> list[int]:
    """The entry tensor of each stage ``space_to_depth_stage`` would move in ``content``, in graph order."""
    schema = _schema()
    model = flatbuffer.unpack(content)
    sub = model.subgraphs[0]
    entries, covered = [], set()
    for position in range(len(sub.operators) + 1):
        found = _stage_entry(model, sub, schema, position, max_channels)
        if found is not None and found[0] not in covered:  # a block's output inside a stage found already
            entries.append(found[0])
            covered |= {int(sub.operators[i].outputs[0]) for i in found[1]}
    return entries


def space_to_depth_stage(content: bytes, max_channels: int = STAGE_MAX_CHANNELS,
                         entries: list[int] | None = None) -> tuple[bytes, list[Rewrite]]:
    """``content`` with every thin stage run in the SPACE_TO_DEPTH(2) domain; the rewrites made.

    A stage is a region of stride-1 CONV_2Ds (odd kernels, SAME, or 1x1) and ADDs at one even size H x W, fed
    by one tensor and left only through stride-2 1x1 CONV_2Ds (SqueezeNeXt's stages between their downsampling
    blocks). One SPACE_TO_DEPTH(2) turns the entry into H/2 x W/2 x 4C; each convolution of the stage then runs
    there with ``space_to_depth_stage_kernel`` weights (bias and per-channel scales repeated for the four output
    phases), ADD is elementwise in any layout, and each exit reads the phase-0 channels alone (its 1x1 kernel
    zero-padded to 4C), so it writes the original tensor. Thin layers fill wide GEMM tiles this way: on an
    AMX-INT8 Xeon a stage-1 SqueezeNeXt convolution ran 2.1-3.5x faster (docs/profiles.md).

    In int8 every sum has the same integer terms (added weights are 0, SAME padding reads the zero point in both
    layouts, scales are copied): the outputs are bit-identical. Odd sizes are left alone: the extra row would
    hold values where SAME padding must read the zero point. The file executes 4x the stage's MACs (zero
    products included); each rewritten op is recorded with its original shapes, so layer tables still describe
    the network. ``entries`` (``stage_entries``' tensors) limits it to those stages. Returns ``content`` itself
    and ``[]`` when no stage qualifies."""
    schema = _schema()
    model = flatbuffer.unpack(content)
    sub = model.subgraphs[0]
    done: list[Rewrite] = []
    position = 0
    while position <= len(sub.operators):
        entry = _stage_entry(model, sub, schema, position, max_channels)
        if entry is None:
            position += 1
            continue
        tensor, region, exits = entry
        if entries is not None and tensor not in entries:
            position += 1
            continue
        done += _stage(model, sub, schema, position, tensor, region, exits)
        position += 2  # the producer and the SPACE_TO_DEPTH inserted after it
    if not done:
        return content, []
    for rewrite in done:
        rewrite.node_after = next(i for i, op in enumerate(sub.operators) if getattr(op, "_rewrite", None) is rewrite)
    _record(model, schema, done)
    return flatbuffer.pack(model, len(content) + 65536), done


def _stage_entry(model, sub, schema, position: int, max_channels: int):
    """(entry tensor, region ops, exit ops) for the stage fed by the output of op ``position - 1`` (or, at 0, by
    the graph input); None when that tensor does not feed a stage the rewrite handles."""
    ops = schema.BuiltinOperator
    if position == 0:
        tensor = int(sub.inputs[0])
    else:
        producer = sub.operators[position - 1]
        if len(producer.outputs) != 1 or hasattr(producer, "_rewrite"):  # inside a stage rewritten already
            return None
        tensor = int(producer.outputs[0])
    shape = [int(d) for d in sub.tensors[tensor].shape]
    if (len(shape) != 4 or shape[1] % 2 or shape[2] % 2 or min(shape[1:3]) < 4 or shape[3] > max_channels
            or sub.tensors[tensor].type not in (schema.TensorType.INT8, schema.TensorType.FLOAT32)):
        return None
    h, w = shape[1], shape[2]
    outputs = {int(t) for t in sub.outputs}
    members, region, exits, queue = {tensor}, [], [], [tensor]
    while queue:
        t = queue.pop()
        if t in outputs:
            return None
        for i in _consumers(sub, t):
            if i in region or i in exits:
                continue
            op = sub.operators[i]
            if hasattr(op, "_rewrite"):
                return None
            code = _code(model, op)
            out = int(op.outputs[0])
            out_shape = [int(d) for d in sub.tensors[out].shape]
            if code == ops.ADD and len(op.inputs) == 2 and out_shape[:3] == [shape[0], h, w]:
                region.append(i)
            elif code == ops.CONV_2D and int(op.inputs[0]) == t and _stage_conv(model, sub, schema, op):
                o = op.builtinOptions
                kernel = sub.tensors[int(op.inputs[1])].shape
                if (o.strideH, o.strideW) == (1, 1) and out_shape[1:3] == [h, w]:
                    region.append(i)
                elif ((o.strideH, o.strideW) == (2, 2) and tuple(kernel[1:3]) == (1, 1)
                      and out_shape[1:3] == [h // 2, w // 2]):
                    exits.append(i)
                    continue
                else:
                    return None
            else:
                return None
            if out_shape[3] > max_channels:
                return None
            members.add(out)
            queue.append(out)
    adds_inside = all(int(j) in members for i in region if _code(model, sub.operators[i]) == ops.ADD
                      for j in sub.operators[i].inputs)
    convs = sum(1 for i in region if _code(model, sub.operators[i]) == ops.CONV_2D)
    if not adds_inside or convs < 2 or not exits:
        return None
    return tensor, sorted(region), sorted(exits)


def _stage_conv(model, sub, schema, op) -> bool:
    """A convolution the stage rewrite can move: constant int8 or float32 weights of its own, odd kernel sizes,
    SAME padding unless 1x1, no dilation."""
    o = op.builtinOptions
    w = int(op.inputs[1])
    kernel = _constant(model, sub, w)
    if o is None or kernel is None or kernel.ndim != 4 or (o.dilationHFactor, o.dilationWFactor) != (1, 1):
        return False
    kh, kw = kernel.shape[1:3]
    if kh % 2 == 0 or kw % 2 == 0 or ((kh, kw) != (1, 1) and o.padding != schema.Padding.SAME):
        return False
    bias = int(op.inputs[2]) if len(op.inputs) > 2 else -1
    return bias < 0 or _constant(model, sub, bias) is not None


def _set_constant(model, sub, op, slot: int, values: np.ndarray) -> int:
    """Give ``op``'s constant input ``slot`` new values and shape: in place when no other op reads it, else as a
    new tensor of its own (the converter shares equal constants, e.g. the zero biases of an untrained network).
    Returns the tensor now in that slot."""
    import copy

    tensor = int(op.inputs[slot])
    t = sub.tensors[tensor]
    if len(_consumers(sub, tensor)) > 1:
        tensor = _tensor(sub, _schema(), t, list(values.shape), f"{_name(t)}_space_to_depth",
                         _buffer(model, _schema(), values))
        sub.tensors[tensor].quantization = copy.deepcopy(t.quantization)
        sub.tensors[tensor].shapeSignature = None
        op.inputs = np.array([tensor if i == slot else int(x) for i, x in enumerate(op.inputs)], dtype=np.int32)
        return tensor
    t.shape = np.array(values.shape, dtype=np.int32)
    if t.shapeSignature is not None:
        t.shapeSignature = np.array(values.shape, dtype=np.int32)
    if sum(1 for other in sub.tensors if other.buffer == t.buffer) == 1:
        model.buffers[t.buffer].data = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
    else:
        t.buffer = _buffer(model, _schema(), values)
    return tensor


def _repeat_quantization(tensor, times: int) -> None:
    """Per-channel scales and zero points of an output-channel axis, repeated ``times`` (per-tensor: as is)."""
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) <= 1:
        return
    q.scale = np.tile(np.asarray(q.scale), times)
    if q.zeroPoint is not None and len(q.zeroPoint) > 1:
        q.zeroPoint = np.tile(np.asarray(q.zeroPoint), times)


def _stage(model, sub, schema, position: int, entry: int, region: list[int], exits: list[int]) -> list[Rewrite]:
    ops = schema.BuiltinOperator
    et = sub.tensors[entry]
    n, h, w, c = (int(d) for d in et.shape)
    members = {entry} | {int(sub.operators[i].outputs[0]) for i in region}
    # The stage's tensors take the space-to-depth layout; the entry keeps its own (other readers may need it).
    full = _name(et)
    layer = layer_name(full) or f"stage_at_{h}x{w}"
    s2d, inner = _space_to_depth_op(model, sub, schema, entry, et, [n, h // 2, w // 2, 4 * c],
                                    f"{_scope_prefix(full)}{layer}_space_to_depth_1/SpaceToDepth")
    done = []
    original_shapes = {t: [int(d) for d in sub.tensors[t].shape] for t in members}
    for t in members - {entry}:
        tt = sub.tensors[t]
        b, th, tw, tc = original_shapes[t]
        tt.shape = np.array([b, th // 2, tw // 2, 4 * tc], dtype=np.int32)
        if tt.shapeSignature is not None:
            tt.shapeSignature = np.array([tt.shapeSignature[0], th // 2, tw // 2, 4 * tc], dtype=np.int32)
    for i in region + exits:
        op = sub.operators[i]
        op.inputs = np.array([inner if int(x) == entry else int(x) for x in op.inputs], dtype=np.int32)
        x, y = int(op.inputs[0]), int(op.outputs[0])
        name = _name(sub.tensors[y])
        in_shape, out_shape = original_shapes[entry if x == inner else x], original_shapes.get(y)
        if _code(model, op) == ops.ADD:
            rewrite = Rewrite("space_to_depth_stage", i, layer_name(name) or f"add_{i}",
                              f"ADD on {h}x{w}x{out_shape[3]}", f"ADD on {h // 2}x{w // 2}x{4 * out_shape[3]}",
                              original={"op": "ADD", "input_shape": in_shape, "output_shape": out_shape})
        else:
            o = op.builtinOptions
            kernel = _constant(model, sub, int(op.inputs[1]))
            cout, kh, kw, cin = kernel.shape
            stride = (o.strideH, o.strideW)
            bias = int(op.inputs[2]) if len(op.inputs) > 2 else -1
            if i in exits:
                new_kernel = np.zeros((cout, 1, 1, 4 * cin), dtype=kernel.dtype)
                new_kernel[..., :cin] = kernel  # phase 0: original positions (2Y, 2X)
                o.strideH = o.strideW = 1
                o.padding = schema.Padding.VALID
                out_shape = [int(d) for d in sub.tensors[y].shape]
                after = f"CONV_2D 1x1/1 VALID on {h // 2}x{w // 2}x{4 * cin} (phase-0 channels)"
            else:
                new_kernel = space_to_depth_stage_kernel(kernel)
                if bias >= 0:
                    _repeat_quantization(sub.tensors[_set_constant(model, sub, op, 2,
                                                                   np.tile(_constant(model, sub, bias), 4))], 4)
                after = (f"CONV_2D {new_kernel.shape[1]}x{new_kernel.shape[2]}/1 on {h // 2}x{w // 2}x{4 * cin} "
                         f"-> {4 * cout}")
            weights = _set_constant(model, sub, op, 1, new_kernel)
            if i not in exits:
                _repeat_quantization(sub.tensors[weights], 4)
            positions = out_shape[1:3]
            added = int(new_kernel.size - kernel.size)
            bias_added = 3 * cout if bias >= 0 and i not in exits else 0  # a bias repeated for 4 phases
            executed = counting.conv_macs((h // 2, w // 2), new_kernel.shape[1:3], new_kernel.shape[3],
                                          new_kernel.shape[0], 1)
            rewrite = Rewrite("space_to_depth_stage", i, layer_name(name) or f"conv_{i}",
                              f"CONV_2D {kh}x{kw}/{stride[0]} on {h}x{w}x{cin}", after,
                              original={"op": "CONV_2D", "input_shape": in_shape, "output_shape": out_shape,
                                        "kernel": [kh, kw], "stride": list(stride),
                                        "macs": counting.conv_macs(positions, (kh, kw), cin, cout, 1),
                                        "executed_macs": executed, "weights_added": added + bias_added,
                                        "weight_bytes_added": added * kernel.dtype.itemsize + 4 * bias_added})
        op._rewrite = rewrite
        done.append(rewrite)
    sub.operators.insert(position, s2d)
    return done


def compare(original: bytes, rewritten: bytes, inputs: list[np.ndarray]) -> dict:
    """Run both files on ``inputs`` (in the files' input type, or float images that are quantized to it) with the
    same runtime and kernels; the largest output difference: in LSB for integer outputs, absolute and relative
    for float ones."""
    from converters import report

    def run(content):
        interpreter = report.interpreter(content, num_threads=1)
        interpreter.allocate_tensors()
        i, o = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        outs = []
        for x in inputs:
            x = x[None] if x.ndim == 3 else x
            if np.issubdtype(x.dtype, np.floating) and not np.issubdtype(i["dtype"], np.floating):
                x = report.quantize(x, i)  # float images into an int8 file's input
            interpreter.set_tensor(i["index"], x.astype(i["dtype"]))
            interpreter.invoke()
            outs.append(interpreter.get_tensor(o["index"]).copy())
        return np.stack(outs), o["dtype"]

    a, dtype = run(original)
    b, _ = run(rewritten)
    if np.issubdtype(dtype, np.integer):
        lsb = int(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64)))) if a.size else 0
        return {"inputs": len(inputs), "output_dtype": np.dtype(dtype).name, "max_lsb": lsb,
                "identical": bool(np.array_equal(a, b))}
    diff = float(np.max(np.abs(a.astype(np.float64) - b))) if a.size else 0.0
    scale = float(np.max(np.abs(a))) or 1.0
    return {"inputs": len(inputs), "output_dtype": np.dtype(dtype).name, "max_abs": diff,
            "max_rel": diff / scale, "identical": bool(np.array_equal(a, b))}


REWRITES = {"space_to_depth_stem": space_to_depth_stem, "space_to_depth_stage": space_to_depth_stage}
AUTO = ("space_to_depth_stem",)  # what ``auto`` tries; the stage rewrite is asked for by name (its docstring)
MODES = {
    "auto": "apply each exact rewrite that measures faster on this CPU (XNNPACK, interleaved medians)",
    "none": "the converter's graph as it is",
    "space_to_depth_stem": "apply space_to_depth_stem whatever it measures (for phones and other targets)",
    "space_to_depth_stage": "as auto, then run each thin stage at an even size in the space-to-depth domain where "
                            "that measures faster (int8 up to 1.6x faster with AMX; files 30-60% larger)",
}


def _equal(check: dict) -> bool:
    if "max_lsb" in check:
        return bool(check["identical"])
    return check["max_rel"] <= FLOAT_TOLERANCE


def optimize(content: bytes, mode: str = "auto", inputs=(), *, threads: int = 1, rounds: int = 9, runs: int = 5,
             timer=None, log=None) -> tuple[bytes, dict]:
    """``content`` with the exact rewrites ``mode`` (one of ``MODES``) calls for, and the decision as a dict.

    Every rewrite that changes the file is proven on ``inputs`` (float images, quantized to the file's input
    type; ``compare``): int8 outputs must be identical, float ones within ``FLOAT_TOLERANCE``; a rewrite that is
    not is dropped, whatever the mode. Both forms are timed side by side (``timer``, by default
    ``profiling.host.interleaved_latency`` at ``threads``: ``rounds`` x ``runs``); ``auto`` keeps a rewrite when
    its median is at least ``MIN_GAIN`` lower; ``space_to_depth_stem`` keeps it regardless. ``space_to_depth_stage``
    does what ``auto`` does, then tries each stage on its own (``stage_entries``) and keeps those that measure
    faster (one candidate each). Returns ``content`` itself
    under ``none`` and when nothing qualifies. The decision: mode, applied (names), threads and one candidate
    per rewrite tried (its ``Rewrite`` rows, equality, plain_us, rewritten_us, speedup, kept, reason)."""
    if mode not in MODES:
        raise ValueError(f"unknown optimization {mode!r}; choose one of {', '.join(MODES)}")
    decision = {"mode": mode, "applied": [], "threads": threads, "candidates": []}
    if mode == "none":
        return content, decision
    if timer is None:
        from converters.profiling.host import interleaved_latency

        def timer(files):
            return interleaved_latency(files, threads=threads, rounds=rounds, runs=runs)

    names = list(AUTO) if mode in ("auto", "space_to_depth_stage") else [mode]
    current = content
    steps = [(name, REWRITES[name]) for name in names]
    if mode == "space_to_depth_stage":  # each stage on its own: kept where it measures faster
        steps += [(mode, functools.partial(space_to_depth_stage, entries=[entry])) for entry in stage_entries(content)]
    for name, apply in steps:
        rewritten, done = apply(current)
        if not done:
            continue
        check = compare(current, rewritten, list(inputs)[:EQUALITY_INPUTS])
        candidate = {"rewrite": name, "rewrites": [r.to_dict() for r in done], "equality": check,
                     "weight_bytes_added": sum(r.original.get("weight_bytes_added", 0) for r in done)}
        decision["candidates"].append(candidate)
        if not _equal(check):
            candidate.update(kept=False, reason="outputs differ: not exact on this file, dropped")
            continue
        medians = timer({"plain": current, name: rewritten})
        plain, new = medians["plain"], medians[name]
        candidate.update(plain_us=round(plain, 1), rewritten_us=round(new, 1),
                         speedup=round(plain / new, 3) if new else None)
        faster = new <= plain * (1 - MIN_GAIN)
        forced = name == mode and name in AUTO  # the stem by name: whatever it measures
        kept = faster or forced
        candidate["kept"] = kept
        if not forced:
            candidate["reason"] = (f"{plain / new:.2f}x faster on this CPU" if faster else
                                   f"not faster on this CPU ({plain / 1e3:.2f} ms plain, {new / 1e3:.2f} ms rewritten)")
        else:
            candidate["reason"] = "asked for"
        if log:
            log(f"  {name}: {plain / 1e3:.2f} ms -> {new / 1e3:.2f} ms at {threads} thread(s), "
                f"{_equality_text(check)}; {'kept' if kept else 'not kept'}")
        if kept:
            current = rewritten
            decision["applied"].append(name)
    return current, decision


def _equality_text(check: dict) -> str:
    if "max_lsb" in check:
        return (f"int8 outputs identical on {check['inputs']} inputs" if check["identical"]
                else f"int8 outputs differ by up to {check['max_lsb']} LSB on {check['inputs']} inputs")
    return f"float outputs within {check['max_rel']:.1e} (relative) on {check['inputs']} inputs"


def describe(decision: dict) -> list[str]:
    """One line per candidate of an ``optimize`` decision, for reports."""
    lines = []
    for c in decision.get("candidates", []):
        times = (f"{c['plain_us'] / 1e3:.3f} ms plain, {c['rewritten_us'] / 1e3:.3f} ms rewritten at "
                 f"{decision['threads']} thread(s)") if "plain_us" in c else "not timed"
        what = "; ".join(f"{r['layer']}: {r['before']} -> {r['after']}" for r in c["rewrites"])
        lines.append(f"{c['rewrite']} {'kept' if c['kept'] else 'not kept'} ({c['reason']}): {what}; {times}; "
                     f"{_equality_text(c['equality'])}; {c['weight_bytes_added']:+,} weight bytes")
    return lines
