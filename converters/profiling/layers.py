"""The layer table of a .tflite: one row per TFLite op, with the geometry a cost model needs.

Read from the flatbuffer, so it describes exactly the graph that runs (BatchNorm folded, activations fused).
Every profile (measured on the host, imported from a phone, or simulated) is keyed by these rows' ``index``
(the TFLite node index) and named by ``layer``.

MACs follow the reference tables' convention (``converters.counting``): a convolution costs
H_out * W_out * k_h * k_w * (C_in / groups) * C_out, a depthwise one H_out * W_out * k_h * k_w * C_out,
a fully connected layer C_in * C_out per row; pooling, adds, means and softmax cost no MACs but move data
(``elements`` counts their output elements).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

from converters import counting
from converters import graph as graph_lib

# Keras 3 appends "_1" to each layer's name scope when it traces a model for export, and prefixes the
# model's own scope: "sqnxt23_w1_1/stem_conv_1/convolution" is layer "stem_conv".
_SCOPE_SUFFIX = re.compile(r"_\d+$")
DTYPE_BYTES = {"INT8": 1, "UINT8": 1, "INT16": 2, "FLOAT16": 2, "INT32": 4, "FLOAT32": 4, "INT64": 8,
               "BOOL": 1}
MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


@dataclass
class Layer:
    index: int  # TFLite node index
    op: str  # builtin op name, e.g. "CONV_2D"
    layer: str  # model layer name (the compute layer; a fused activation is not listed)
    input_shape: list[int]  # first non-constant input, NHWC
    output_shape: list[int]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    groups: int = 1  # channel groups; depthwise layers have groups == C_in
    in_channels: int = 0
    out_channels: int = 0
    macs: int = 0
    weights: int = 0  # kernel and bias elements (conv and fully connected layers only)
    weight_bytes: int = 0
    input_bytes: int = 0  # all non-constant inputs
    output_bytes: int = 0
    elements: int = 0  # output elements
    dtype: str = ""  # output dtype
    rewritten: str = ""  # how the file computes it when an exact rewrite changed the op (``converters.rewrite``)

    def to_dict(self) -> dict:
        return asdict(self)


def layer_name(tensor_name: str) -> str:
    """The Keras layer behind a TFLite tensor name, or ``""`` when the name carries none.

    A fused op's tensor lists its parts with ";" (activation first, compute op after it); the compute op names
    the layer. "sqnxt23_w1_1/stage1_block1_proj_relu_1/Relu;sqnxt23_w1_1/stage1_block1_proj_1/convolution"
    gives "stage1_block1_proj". A folded BatchNorm's parts (".../stage1_block1_proj_bn_1/batchnorm/sub1",
    which trained models put last) name no layer of their own.
    """
    for part in reversed(tensor_name.split(";")):
        pieces = part.split("/")
        if len(pieces) < 3 or "batchnorm" in pieces[-2:]:  # "StatefulPartitionedCall_1:0", a BatchNorm part
            continue
        return _SCOPE_SUFFIX.sub("", pieces[-2])
    return ""


def _numel(shape) -> int:
    return int(np.prod(shape)) if len(shape) else 1


def read(content: bytes, graph: graph_lib.Graph | None = None) -> list[Layer]:
    """One ``Layer`` per TFLite op of the main subgraph, in execution order (``content`` is read only when
    ``graph`` is not given)."""
    g = graph or graph_lib.read(content)
    rows = []
    for op in g.ops:
        ins = [g.tensors[i] for i in op.inputs if i >= 0]
        data_ins = [t for t in ins if not t.constant]
        consts = [t for t in ins if t.constant]
        out = g.tensors[op.outputs[0]]
        name = layer_name(out.name) or (layer_name(data_ins[0].name) if op.name == "SOFTMAX" and data_ins
                                         else "")
        row = Layer(
            index=op.index, op=op.name, layer=name or f"{op.name.lower()}_{op.index}",
            input_shape=list(data_ins[0].shape) if data_ins else [],
            output_shape=list(out.shape),
            weights=sum(_numel(t.shape) for t in consts),
            weight_bytes=sum(_numel(t.shape) * DTYPE_BYTES.get(t.dtype, 4) for t in consts),
            input_bytes=sum(_numel(t.shape) * DTYPE_BYTES.get(t.dtype, 4) for t in data_ins),
            output_bytes=sum(_numel(g.tensors[i].shape) * DTYPE_BYTES.get(g.tensors[i].dtype, 4)
                             for i in op.outputs),
            elements=_numel(out.shape),
            dtype=out.dtype,
        )
        if op.name not in MAC_OPS:  # axis and shape operands are constants too, but not weights
            row.weights = row.weight_bytes = 0
        if op.name == "SOFTMAX" and name:
            row.layer = "predictions"
        w = g.tensors[op.inputs[1]].shape if len(op.inputs) > 1 and op.inputs[1] >= 0 else []
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(w) == 4:
            o = op.options
            row.stride = (o.strideH, o.strideW) if o is not None else (1, 1)
            row.kernel = (w[1], w[2])
            ho, wo, cout = out.shape[1], out.shape[2], out.shape[3]
            cin = row.input_shape[3]
            row.in_channels, row.out_channels = cin, cout
            if op.name == "CONV_2D":
                row.groups = cin // w[3]
                row.macs = counting.conv_macs((ho, wo), (w[1], w[2]), cin, cout, row.groups)
            else:
                row.groups = cin
                row.macs = counting.depthwise_macs((ho, wo), (w[1], w[2]), cin, cout // cin)
        elif op.name == "FULLY_CONNECTED" and len(w) == 2:
            rows_in = _numel(row.input_shape) // w[1]
            row.in_channels, row.out_channels = w[1], w[0]
            row.macs = counting.dense_macs(w[1], w[0], rows_in)
        elif op.name in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            o = op.options
            if o is not None:
                row.kernel, row.stride = (o.filterHeight, o.filterWidth), (o.strideH, o.strideW)
            row.in_channels = row.out_channels = out.shape[-1]
        rows.append(row)
    _as_defined(rows, graph_lib.rewrites(g))
    return rows


def _as_defined(rows: list[Layer], records: list[dict]) -> None:
    """Describe rewritten ops (``converters.rewrite``) as the network defines them: a space-to-depth stem's
    convolution keeps its 7x7/2 kernel, input and MACs (the ops the rewrite added are rows of their own), so
    counts match the unrewritten file and the reference tables. The file's own arithmetic is in ``rewritten``."""
    for record in records:
        node, original = record.get("node_after"), record.get("original")
        if not isinstance(node, int) or not 0 <= node < len(rows) or not isinstance(original, dict):
            continue
        row = rows[node]
        try:  # a stage rewrite (``space_to_depth_stage``) also changed the op's output layout
            out_shape = [int(d) for d in original.get("output_shape", row.output_shape)]
        except (TypeError, ValueError):
            continue
        if len(out_shape) == len(row.output_shape) and _numel(out_shape) == row.elements:
            row.output_shape = out_shape
            if row.out_channels:
                row.out_channels = out_shape[-1]
        if original.get("op") == "ADD":
            if row.op == "ADD" and isinstance(original.get("input_shape"), list):
                row.input_shape = [int(d) for d in original["input_shape"]]
                row.rewritten = f"{record.get('name', 'rewrite')}: {record.get('after', '')}"
            continue
        try:
            shape = [int(d) for d in original["input_shape"]]
            kernel, stride = tuple(int(k) for k in original["kernel"]), tuple(int(k) for k in original["stride"])
            macs, executed = int(original["macs"]), int(original["executed_macs"])
            added, added_bytes = int(original["weights_added"]), int(original["weight_bytes_added"])
        except (KeyError, TypeError, ValueError):
            continue
        if row.op != "CONV_2D" or len(shape) != 4 or len(kernel) != 2 or len(stride) != 2 or min(shape + [macs]) < 0:
            continue  # a record that does not describe this op (a damaged file): the row stays as the file runs it
        row.rewritten = (f"{record.get('name', 'rewrite')}: {record.get('after', '')} "
                         f"({executed / max(macs, 1):.2f}x the MACs, zero products included)")
        row.input_shape, row.kernel, row.stride, row.in_channels, row.macs = shape, kernel, stride, shape[3], macs
        if row.weights >= added:
            row.weights, row.weight_bytes = row.weights - added, max(row.weight_bytes - added_bytes, 0)


def totals(layers: list[Layer]) -> dict:
    return {"ops": len(layers), "macs": sum(l.macs for l in layers),
            "weights": sum(l.weights for l in layers), "weight_bytes": sum(l.weight_bytes for l in layers)}
