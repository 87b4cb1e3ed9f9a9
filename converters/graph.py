"""What is inside a .tflite: ops, tensors, dtypes and quantization, read straight from the flatbuffer.

Reading the file (not an interpreter) shows the graph as converted, before a delegate such as XNNPACK
replaces it with one node. ``int8_problems`` holds a full-integer graph to the rules an int8 accelerator
or a phone CPU needs: no float compute, no QUANTIZE/DEQUANTIZE between int8 ops, and CONCATENATION inputs
on their output's scale (otherwise the kernel rescales every element).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

_FLOAT = {"FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16"}


@dataclass
class Tensor:
    index: int
    name: str
    dtype: str  # "INT8", "FLOAT32", ...
    shape: list[int]
    scale: list[float]
    zero_point: list[int]
    constant: bool  # holds data in the file (weights, biases)


@dataclass
class Op:
    index: int
    name: str  # BUILTIN operator name, e.g. "CONV_2D"
    inputs: list[int]
    outputs: list[int]


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    metadata_names: list[str]

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


def read(content: bytes) -> Graph:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    op_names = _names(schema.BuiltinOperator)
    dtype_names = _names(schema.TensorType)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Builtin codes above 127 live in BuiltinCode; the deprecated byte field caps at 127.
        value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = op_names.get(value, str(value))
        if name == "CUSTOM":
            name = "CUSTOM:" + (code.CustomCode() or b"").decode()
        codes.append(name)
    sub = model.Subgraphs(0)
    tensors = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        q = t.Quantization()
        scale = q.ScaleAsNumpy().tolist() if q is not None and q.ScaleLength() else []
        zp = q.ZeroPointAsNumpy().tolist() if q is not None and q.ZeroPointLength() else []
        buf = model.Buffers(t.Buffer()) if t.Buffer() < model.BuffersLength() else None
        constant = buf is not None and (buf.DataLength() > 0 or buf.Size() > 0)
        shape = t.ShapeAsNumpy().tolist() if t.ShapeLength() else []
        tensors.append(Tensor(i, (t.Name() or b"").decode(), dtype_names.get(t.Type(), str(t.Type())),
                              shape, scale, zp, constant))
    ops = []
    for i in range(sub.OperatorsLength()):
        o = sub.Operators(i)
        ins = o.InputsAsNumpy().tolist() if o.InputsLength() else []
        outs = o.OutputsAsNumpy().tolist() if o.OutputsLength() else []
        ops.append(Op(i, codes[o.OpcodeIndex()], ins, outs))
    metadata = [(model.Metadata(i).Name() or b"").decode() for i in range(model.MetadataLength())]
    return Graph(tensors, ops, sub.InputsAsNumpy().tolist(), sub.OutputsAsNumpy().tolist(), metadata)


def int8_problems(graph: Graph, float_io: bool = False) -> list[str]:
    """Every way ``graph`` falls short of a full-integer graph; empty when it is one.

    A QUANTIZE is allowed only at the graph's edges (float or uint8 input, uint8 output) and a DEQUANTIZE only
    onto a float graph output; anything else is a float island or a requantization between int8 ops.
    """
    problems = []
    graph_inputs, graph_outputs = set(graph.inputs), set(graph.outputs)
    for op in graph.ops:
        dtypes = [graph.tensors[i].dtype for i in op.inputs + op.outputs if i >= 0]
        if op.name == "QUANTIZE":  # float/uint8 input -> int8, or int8 -> uint8 output
            if op.inputs[0] not in graph_inputs and op.outputs[0] not in graph_outputs:
                problems.append(f"QUANTIZE op {op.index} between int8 ops ({graph.dtypes(op)})")
            continue
        if op.name == "DEQUANTIZE":
            if not (float_io and op.outputs[0] in graph_outputs):
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
