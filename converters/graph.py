"""The one reader of a .tflite flatbuffer: ops, tensors, dtypes, quantization and buffer data.

Reading the file (not an interpreter) shows the graph as converted, before a delegate such as XNNPACK
replaces it with one node. Every module that looks inside a .tflite (the layer table, memory, coded size,
metadata, the profile's file check) reads it here. ``int8_problems`` holds a full-integer graph to the rules
an int8 accelerator or a phone CPU needs: no float compute, no QUANTIZE/DEQUANTIZE between int8 ops, and
CONCATENATION inputs on their output's scale (otherwise the kernel rescales every element).

Fields are read where they lie (``Model.GetRootAs``), with ai_edge_litert's ``flatbuffer_utils`` rule for
builtin codes; a tensor's ``buffer_bytes`` is a view of the file, inline or at an offset after the
flatbuffer (models over 2 GB), resolved once here. ``flatbuffer_utils.read_model_from_bytearray`` resolves
offsets too but unpacks the whole model into objects first: 31 ms of CPU against 18 ms for a 224 int8
SqueezeNeXt, and the tests read many models (tests/converters/test_graph.py holds the two to the same bytes).
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from converters.errors import ModelFileError

_FLOAT = {"FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16"}
_NUMPY = {"FLOAT32": np.float32, "FLOAT16": np.float16, "FLOAT64": np.float64, "INT8": np.int8,
          "UINT8": np.uint8, "INT16": np.int16, "UINT16": np.uint16, "INT32": np.int32, "UINT32": np.uint32,
          "INT64": np.int64, "UINT64": np.uint64, "BOOL": np.bool_, "COMPLEX64": np.complex64,
          "COMPLEX128": np.complex128}
_EMPTY = np.zeros(0, dtype=np.uint8)
_EMPTY.flags.writeable = False


@dataclass
class Tensor:
    index: int
    name: str
    dtype: str  # "INT8", "FLOAT32", ...
    shape: list[int]
    scale: list[float]
    zero_point: list[int]
    constant: bool  # holds data in the file (weights, biases)
    quantized_dimension: int = 0  # the per-channel axis of ``scale``
    buffer: int = 0  # index of the file's buffer; tensors may share one
    # The buffer's bytes (uint8, a view of the file), inline or stored after the flatbuffer at an offset.
    buffer_bytes: np.ndarray = field(default_factory=lambda: _EMPTY, repr=False, compare=False)

    def data(self) -> np.ndarray:
        """The constant's values, shaped and typed as the tensor (a read-only view of the file)."""
        if self.dtype not in _NUMPY:
            raise ValueError(f"tensor {self.name!r} is {self.dtype}, which numpy has no type for; read "
                             "buffer_bytes instead.")
        return np.frombuffer(self.buffer_bytes, dtype=_NUMPY[self.dtype]).reshape(self.shape)


@dataclass
class Op:
    index: int
    name: str  # BUILTIN operator name, e.g. "CONV_2D"
    inputs: list[int]
    outputs: list[int]
    packed: object = field(default=None, repr=False, compare=False)  # the file's Operator table

    @property
    def options(self):
        """The op's builtin options as an object (``Conv2DOptionsT``, ``Pool2DOptionsT``...), or None.

        Decoded when asked: most readers never look, and decoding every op's would slow every read."""
        if self.packed is None:
            return None
        from ai_edge_litert import schema_py_generated as schema

        return schema.BuiltinOptionsCreator(self.packed.BuiltinOptionsType(), self.packed.BuiltinOptions())


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    metadata_names: list[str]
    metadata: dict = field(default_factory=dict, repr=False, compare=False)  # name -> its buffer's bytes (uint8)

    def dtypes(self, op: Op) -> str:
        """``"INT8,INT8,INT32->INT8"``: the op's input and output dtypes (optional inputs skipped)."""
        ins = ",".join(self.tensors[i].dtype for i in op.inputs if i >= 0)
        return f"{ins}->{','.join(self.tensors[i].dtype for i in op.outputs)}"

    def inventory(self) -> list[dict]:
        """One row per (op, dtype signature) with its count, in first-seen order."""
        counts = Counter((op.name, self.dtypes(op)) for op in self.ops)
        return [{"op": name, "dtypes": sig, "count": n} for (name, sig), n in counts.items()]

    def io(self, which: str) -> list[dict]:
        ids = self.inputs if which == "inputs" else self.outputs
        rows = []
        for i in ids:
            t = self.tensors[i]
            row = {"name": t.name, "dtype": t.dtype.lower(), "shape": t.shape}
            if t.scale:
                row["quantization"] = {"scale": t.scale[0], "zero_point": t.zero_point[0]}
            rows.append(row)
        return rows


def _names(enum_class) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_")}


def _buffer(model, index: int, content: bytes) -> tuple[np.ndarray, bool]:
    """(data, holds data) of buffer ``index``: inline, or (models over 2 GB) at an offset after the
    flatbuffer. The one place that knows both layouts."""
    buf = model.Buffers(index)
    length, offset, size = buf.DataLength(), buf.Offset(), buf.Size()
    if length:
        return buf.DataAsNumpy(), True
    if offset <= 1:  # offset 1 is the converter's placeholder for "no data"
        return _EMPTY, size > 0
    if offset + size > len(content):
        raise ValueError(f"buffer {index} ends past the end of the file")
    return np.frombuffer(content, dtype=np.uint8, count=size, offset=offset), size > 0


def _root(content: bytes):
    """The packed ``Model`` of ``content``, checked far enough that reading it cannot run off the end."""
    from ai_edge_litert import schema_py_generated as schema

    if struct.unpack_from("<I", content, 0)[0] >= len(content):
        raise ValueError("root table offset past the end")
    model = schema.Model.GetRootAs(content, 0)
    if model.SubgraphsLength() < 1:
        raise ValueError("no subgraph")
    return model


def read(content: bytes) -> Graph:
    """The main subgraph of the .tflite ``content``; a ValueError (or the IndexError / struct.error that
    flatbuffers raises) when the file is cut or corrupt."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = _root(content)
    buffers = [_buffer(model, i, content) for i in range(model.BuffersLength())]
    op_names = _names(schema.BuiltinOperator)
    dtype_names = _names(schema.TensorType)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Builtin codes above 127 live in BuiltinCode; the deprecated byte field caps at 127.
        value = flatbuffer_utils.get_builtin_code_from_operator_code(code)
        name = op_names.get(value, str(value))
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.CustomCode() or b"").decode()
        codes.append(name)
    sub = model.Subgraphs(0)
    tensors = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        q, b = t.Quantization(), t.Buffer()
        scale = q.ScaleAsNumpy().tolist() if q is not None and q.ScaleLength() else []
        zp = q.ZeroPointAsNumpy().tolist() if q is not None and q.ZeroPointLength() else []
        axis = q.QuantizedDimension() if len(scale) > 1 else 0
        data, constant = buffers[b] if b < len(buffers) else (_EMPTY, False)
        shape = t.ShapeAsNumpy().tolist() if t.ShapeLength() else []
        tensors.append(Tensor(i, (t.Name() or b"").decode(), dtype_names.get(t.Type(), str(t.Type())),
                              shape, scale, zp, constant, axis, b, data))
    ops = []
    for i in range(sub.OperatorsLength()):
        o = sub.Operators(i)
        ins = o.InputsAsNumpy().tolist() if o.InputsLength() else []
        outs = o.OutputsAsNumpy().tolist() if o.OutputsLength() else []
        ops.append(Op(i, codes[o.OpcodeIndex()], ins, outs, o))
    metadata = {}
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        b = entry.Buffer()
        metadata[(entry.Name() or b"").decode()] = buffers[b][0] if 0 <= b < len(buffers) else _EMPTY
    return Graph(tensors, ops, sub.InputsAsNumpy().tolist(), sub.OutputsAsNumpy().tolist(), list(metadata),
                 metadata)


# The model metadata entry in which ``converters.rewrite`` records what it changed (JSON, one object per rewrite),
# so that readers (``profiling.layers``) describe the network, not the rewritten arithmetic.
REWRITES_METADATA = "squeezekit_rewrites"


def rewrites(g: Graph) -> list[dict]:
    """The rewrites recorded in the file (``converters.rewrite``); [] when none or when the record is damaged."""
    import json

    raw = g.metadata.get(REWRITES_METADATA)
    if raw is None or not len(raw):
        return []
    try:
        records = json.loads(bytes(raw).decode())
    except ValueError:
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


MAX_RANK = 8
MAX_DIM = 1 << 31


def verify(content: bytes, label: str = "the file") -> Graph:
    """The main subgraph of ``content`` once it has passed the checks that keep a native reader safe; a one-line
    ``ModelFileError`` (``param="tflite"``) otherwise.

    Call it wherever .tflite bytes enter, before the interpreter or the LiteRT C API sees them: a corrupt file
    must be refused here, in Python, not take the process down. The checks are TFLite's flatbuffer verifier
    and its interpreter builder (``Interpreter(model_content=...)`` runs ``VerifyAndBuildFromBuffer``, which
    resolves every op; no tensors are allocated and no delegate is applied), then this module's reading of the
    main subgraph: operator codes, tensor indices, shapes and constant buffers that fit their shapes.
    """
    content = bytes(content)
    if len(content) < 16 or content[4:8] != b"TFL3":
        raise ModelFileError(f"{label} is not a TFLite model (no TFL3 flatbuffer identifier)",
                             "pass the bytes of a .tflite file.", param="tflite")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        Interpreter(model_content=content,
                    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except (ValueError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0].rstrip(".")
        raise ModelFileError(f"{label} is not a .tflite the runtime can load ({first})",
                             "export it again.", param="tflite") from None
    try:
        g = read(content)
        _check_structure(g)
    except ModelFileError:
        raise
    except Exception as err:  # flatbuffers raises IndexError / struct.error on a cut or corrupt file
        first = (str(err).strip().splitlines() or [""])[0]
        raise ModelFileError(f"{label} is truncated or corrupt ({type(err).__name__}: {first})",
                             "export it again.", param="tflite") from None
    return g


def _check_structure(g: Graph) -> None:
    """ValueError unless every index, shape and constant of ``g`` is one a kernel can trust."""
    n = len(g.tensors)
    for t in g.tensors:
        if len(t.shape) > MAX_RANK or any(d < 0 or d > MAX_DIM for d in t.shape):
            raise ValueError(f"tensor {t.index} has an impossible shape {t.shape}")
        if t.constant and t.dtype in _NUMPY and t.buffer_bytes.size:
            expected = int(np.prod(t.shape, dtype=np.int64)) * np.dtype(_NUMPY[t.dtype]).itemsize
            if t.buffer_bytes.size != expected:
                raise ValueError(f"tensor {t.index} ({t.name!r}) holds {t.buffer_bytes.size} bytes, its shape "
                                 f"{t.shape} needs {expected}")
        if len(t.zero_point) not in (0, len(t.scale)):
            raise ValueError(f"tensor {t.index} has {len(t.scale)} scales but {len(t.zero_point)} zero points")
    for op in g.ops:
        if not op.outputs or any(i >= n or i < -1 for i in op.inputs) or any(i >= n or i < 0 for i in op.outputs):
            raise ValueError(f"op {op.index} ({op.name}) refers to a tensor that does not exist")
    if not g.inputs or not g.outputs or any(i >= n or i < 0 for i in g.inputs + g.outputs):
        raise ValueError("the graph's inputs or outputs are not tensors of it")


def metadata_buffer(content: bytes, name: str) -> bytes | None:
    """The bytes of the model metadata entry ``name``, or None (without reading the graph)."""
    model = _root(content)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if (entry.Name() or b"").decode() == name:
            return _buffer(model, entry.Buffer(), content)[0].tobytes()
    return None


def int8_problems(graph: Graph, float_io: bool = False, kept_tensors: set | frozenset = frozenset()) -> list[str]:
    """Every way ``graph`` falls short of a full-integer graph; empty when it is one.

    A QUANTIZE is allowed only at the graph's edges (float or uint8 input, uint8 output) and a DEQUANTIZE only
    onto a float graph output; anything else is a float island or a requantization between int8 ops.
    ``kept_tensors``: output tensor names of ops kept at another precision on purpose (selective precision:
    float32, or 16-bit activations); those ops and the QUANTIZE/DEQUANTIZE ops into and out of them are
    allowed, and nothing else.
    """
    problems = []
    graph_inputs, graph_outputs = set(graph.inputs), set(graph.outputs)
    kept = {op.index for op in graph.ops if graph.tensors[op.outputs[0]].name in kept_tensors}
    kept_outputs = {o for op in graph.ops if op.index in kept for o in op.outputs}
    kept_inputs = {i for op in graph.ops if op.index in kept for i in op.inputs}
    for op in graph.ops:
        dtypes = [graph.tensors[i].dtype for i in op.inputs + op.outputs if i >= 0]
        if op.index in kept:
            continue
        if op.name == "QUANTIZE":  # float/uint8 input -> int8, or int8 -> uint8 output
            if (op.inputs[0] not in graph_inputs | kept_outputs and op.outputs[0] not in graph_outputs
                    and op.outputs[0] not in kept_inputs):
                problems.append(f"QUANTIZE op {op.index} between int8 ops ({graph.dtypes(op)})")
            continue
        if op.name == "DEQUANTIZE":
            if not (float_io and op.outputs[0] in graph_outputs) and op.outputs[0] not in kept_inputs:
                problems.append(f"DEQUANTIZE op {op.index} inside the graph ({graph.dtypes(op)})")
            continue
        if any(d in _FLOAT for d in dtypes):
            problems.append(f"float op {op.name} (op {op.index}: {graph.dtypes(op)})")
        if op.name == "CONCATENATION":
            out = graph.tensors[op.outputs[0]]
            for i in op.inputs:
                t = graph.tensors[i]
                if t.scale and out.scale and (not np.isclose(t.scale[0], out.scale[0], rtol=1e-6)
                                              or t.zero_point[0] != out.zero_point[0]):
                    problems.append(f"CONCATENATION op {op.index}: input {t.name!r} has scale {t.scale[0]:.6g} "
                                    f"(zero point {t.zero_point[0]}), output {out.scale[0]:.6g} "
                                    f"({out.zero_point[0]})")
    return problems
