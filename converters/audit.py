"""What each quantized flavour promises, checked on the file: ``problems(graph, flavour)`` lists every way a
converted graph falls short; empty when it keeps the promise.

- ``int8``: full integer (``graph.int8_problems``).
- ``int16x8``: every compute op on int16 activations, conv and fully connected weights int8, no float op;
  QUANTIZE only as an int16 -> int16 requantization (the converter puts one on a CONCATENATION input whose
  scale differs: integer, but a pass over the tensor).
- ``int4``: every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED weight stored as INT4 (the op reads it
  directly, or through a DEQUANTIZE of an INT4 constant); the compute stays float32.
- ``float16``: every conv and fully connected weight stored as FLOAT16 behind a DEQUANTIZE, the compute
  float32, and the ``reduced_precision_support`` metadata entry that lets XNNPACK run the graph in FP16 on
  CPUs with FP16 arithmetic (``FP16_METADATA``).

The float32 and dynamic flavours promise nothing to check here (``problems`` returns []).
"""

from __future__ import annotations

from converters import graph as graph_lib

# XNNPACK's delegate reads the model metadata entry REDUCED_PRECISION_KEY (tflite/tools/optimize/
# reduced_precision_support.h): one or more inference types (fp16, bf16), "acc", one accumulation type. It hints
# FP16 inference only when the mask has fp16 inference *and* fp16 accumulation, so "fp16accfp16" is the value
# that works (the converter writes it for target_spec._experimental_supported_accumulation_type = float16);
# "fp16accfp32" or "fp16bf16accfp32" parse but leave XNNPACK in FP32.
REDUCED_PRECISION_KEY = "reduced_precision_support"
FP16_METADATA = "fp16accfp16"

WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_EDGES = ("QUANTIZE", "DEQUANTIZE")
_FLOAT = {"FLOAT32", "FLOAT16", "FLOAT64", "BFLOAT16"}

AUDITED = ("int8", "int16x8", "int4", "float16")


def problems(g: graph_lib.Graph, flavour: str, float_io: bool = False, kept_tensors=frozenset()) -> list[str]:
    """The audit of ``flavour`` (one of ``AUDITED``) on ``g``; [] for a flavour without one. ``kept_tensors``
    (int8): the outputs of layers kept at another precision on purpose (``graph.int8_problems``)."""
    if flavour == "int8":
        return graph_lib.int8_problems(g, float_io=float_io, kept_tensors=kept_tensors)
    check = {"int16x8": int16x8_problems, "int4": int4_problems, "float16": float16_problems}.get(flavour)
    return check(g) if check else []


def int16x8_problems(g: graph_lib.Graph) -> list[str]:
    """Every op whose activations are not int16, whose conv/FC weights are not int8, or that computes in float
    (a QUANTIZE or DEQUANTIZE from or to float included: the flavour's input and output are int16 themselves)."""
    found = []
    for op in g.ops:
        if op.name in _EDGES and g.dtypes(op) != "INT16->INT16":  # int16 requantization (before a concat)
            found.append(f"{op.name} op {op.index} in a full-integer graph ({g.dtypes(op)})")
            continue
        tensors = [g.tensors[i] for i in op.inputs + op.outputs if i >= 0]
        if any(t.dtype in _FLOAT for t in tensors):
            found.append(f"float op {op.name} (op {op.index}: {g.dtypes(op)})")
            continue
        for t in tensors:
            if not t.constant and t.dtype not in ("INT16", "INT32"):
                found.append(f"{op.name} op {op.index}: activation {t.name!r} is {t.dtype}, not INT16")
        if op.name in WEIGHTED:
            w = g.tensors[op.inputs[1]]
            if w.dtype != "INT8":
                found.append(f"{op.name} op {op.index}: weight {w.name!r} is {w.dtype}, not INT8")
    return found


def _weight(g: graph_lib.Graph, op: graph_lib.Op) -> graph_lib.Tensor:
    """The stored weight of a conv/FC op: its filter input, or the constant a DEQUANTIZE makes it from."""
    index = op.inputs[1]
    producer = next((p for p in g.ops if index in p.outputs), None)
    if producer is not None and producer.name == "DEQUANTIZE":
        return g.tensors[producer.inputs[0]]
    return g.tensors[index]


def int4_problems(g: graph_lib.Graph) -> list[str]:
    """Every conv/FC weight that is not stored as INT4 (named), and a graph with no such op at all."""
    found = []
    weighted = [op for op in g.ops if op.name in WEIGHTED]
    if not weighted:
        return ["no CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED op to hold int4 weights"]
    for op in weighted:
        w = _weight(g, op)
        if w.dtype != "INT4":
            found.append(f"{op.name} op {op.index}: weight {w.name!r} is {w.dtype}, not INT4")
    return found


def reduced_precision(value: str) -> dict | None:
    """``{"inference": [...], "accumulation": ...}`` of a ``reduced_precision_support`` value, parsed as TFLite
    does (``SetMaskFromReducedPrecisionMetadata``); None when TFLite would reject it."""
    inference, rest = [], value
    while rest[:4] in ("fp16", "bf16"):
        inference.append(rest[:4])
        rest = rest[4:]
    if not inference or not rest.startswith("acc") or rest[3:] not in ("fp16", "fp32"):
        return None
    return {"inference": inference, "accumulation": rest[3:]}


def fp16_metadata(g: graph_lib.Graph) -> str | None:
    """The file's ``reduced_precision_support`` value (NUL padding stripped), or None."""
    raw = g.metadata.get(REDUCED_PRECISION_KEY)
    return None if raw is None else bytes(raw).rstrip(b"\0").decode("ascii", "replace")


def float16_problems(g: graph_lib.Graph) -> list[str]:
    """Weights not float16, compute not float32, or no metadata entry that makes XNNPACK run FP16."""
    found = []
    value = fp16_metadata(g)
    parsed = reduced_precision(value) if value is not None else None
    if value is None:
        found.append(f"no {REDUCED_PRECISION_KEY!r} metadata entry: XNNPACK runs the graph in FP32")
    elif parsed is None or "fp16" not in parsed["inference"] or parsed["accumulation"] != "fp16":
        found.append(f"{REDUCED_PRECISION_KEY!r} is {value!r}; XNNPACK runs FP16 only for fp16 inference with "
                     f"fp16 accumulation ({FP16_METADATA!r})")
    for op in g.ops:
        if op.name == "DEQUANTIZE":
            source = g.tensors[op.inputs[0]]
            if source.dtype != "FLOAT16" or not source.constant:
                found.append(f"DEQUANTIZE op {op.index} of {'a constant' if source.constant else 'an activation'} "
                             f"{source.dtype}, not a FLOAT16 weight")
            continue
        if any(g.tensors[i].dtype != "FLOAT32" and not g.tensors[i].constant for i in op.inputs + op.outputs
               if i >= 0):
            found.append(f"{op.name} op {op.index} does not compute in float32 ({g.dtypes(op)})")
        if op.name in WEIGHTED:
            w = _weight(g, op)
            if w.dtype != "FLOAT16":
                found.append(f"{op.name} op {op.index}: weight {w.name!r} is {w.dtype}, not FLOAT16")
    return found
