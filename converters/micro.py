"""A .tflite as TensorFlow Lite Micro firmware sources: the model as an aligned C array, the op resolver that
registers exactly its ops, the arena size TFLM measured, and a README with the numbers.

    write_firmware(content, "firmware/", name="sqnxt23_w1_int8", tflm=profile.target("tflm").summary, macs=...)

writes ``model_data.h`` / ``model_data.cc`` (``g_model_data``, 16-byte aligned as TFLM's flatbuffer reader
wants it, and ``g_model_data_len``), ``model_ops.h`` (``RegisterModelOps`` on a
``tflite::MicroMutableOpResolver<kModelOpCount>``) and ``README.md``. ``kTensorArenaSize`` is the arena the
TFLM interpreter measured (``converters.profiling.tflm``) plus ``margin_bytes``: the measurement is TFLM's
reference kernels; optimized kernel libraries (CMSIS-NN on Cortex-M, ESP-NN) can ask for scratch buffers of
their own, and the margin is room for them, not a measured figure. ``read_array`` parses a generated
``model_data.cc`` back to bytes.
"""

from __future__ import annotations

import os
import re

from converters.files import write_atomic

# The builtins tflite::MicroMutableOpResolver can register, and the method that registers each
# (tensorflow/tflite-micro, tensorflow/lite/micro/micro_mutable_op_resolver.h at 90b983c, August 2026).
RESOLVER_METHODS = {
    "ABS": "AddAbs",
    "ADD": "AddAdd",
    "ADD_N": "AddAddN",
    "ARG_MAX": "AddArgMax",
    "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "BROADCAST_ARGS": "AddBroadcastArgs",
    "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce",
    "CAST": "AddCast",
    "CEIL": "AddCeil",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "COS": "AddCos",
    "CUMSUM": "AddCumSum",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEPTH_TO_SPACE": "AddDepthToSpace",
    "DEQUANTIZE": "AddDequantize",
    "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice",
    "ELU": "AddElu",
    "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "EQUAL": "AddEqual",
    "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims",
    "FILL": "AddFill",
    "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod",
    "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd",
    "GREATER": "AddGreater",
    "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish",
    "IF": "AddIf",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu",
    "LESS": "AddLess",
    "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog",
    "LOGICAL_AND": "AddLogicalAnd",
    "LOGICAL_NOT": "AddLogicalNot",
    "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic",
    "LOG_SOFTMAX": "AddLogSoftmax",
    "MAXIMUM": "AddMaximum",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean",
    "MINIMUM": "AddMinimum",
    "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul",
    "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual",
    "PACK": "AddPack",
    "PAD": "AddPad",
    "PADV2": "AddPadV2",
    "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize",
    "READ_VARIABLE": "AddReadVariable",
    "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax",
    "REDUCE_MIN": "AddReduceMin",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "REVERSE_V2": "AddReverseV2",
    "ROUND": "AddRound",
    "RSQRT": "AddRsqrt",
    "SELECT_V2": "AddSelectV2",
    "SHAPE": "AddShape",
    "SIN": "AddSin",
    "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit",
    "SPLIT_V": "AddSplitV",
    "SQRT": "AddSqrt",
    "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "SUM": "AddSum",
    "SVDF": "AddSvdf",
    "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack",
    "VAR_HANDLE": "AddVarHandle",
    "WHILE": "AddWhile",
    "ZEROS_LIKE": "AddZerosLike",
}
MARGIN_FRACTION = 0.05
MARGIN_MIN_BYTES = 1024
BYTES_PER_LINE = 12
FILES = ("model_data.h", "model_data.cc", "model_ops.h", "README.md")


def margin_bytes(arena: int) -> int:
    """What ``kTensorArenaSize`` adds to the measured arena: 5%, at least 1 KiB, rounded up to 16 bytes."""
    margin = max(MARGIN_MIN_BYTES, int(arena * MARGIN_FRACTION))
    return -(-margin // 16) * 16


def c_array(content: bytes, name: str = "g_model_data") -> str:
    lines = []
    for i in range(0, len(content), BYTES_PER_LINE):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in content[i:i + BYTES_PER_LINE]) + ",")
    return (f"alignas(16) const unsigned char {name}[] = {{\n" + "\n".join(lines) + "\n};\n"
            f"const unsigned int {name}_len = {len(content)};\n")


def read_array(text: str, name: str = "g_model_data") -> bytes:
    """The bytes of the array ``name`` in a generated ``model_data.cc`` (checked against its ``_len``)."""
    body = re.search(name + r"\[\]\s*=\s*\{(.*?)\};", text, re.S)
    length = re.search(name + r"_len\s*=\s*(\d+);", text)
    if not body or not length:
        raise ValueError(f"no array {name} with a {name}_len in this file")
    data = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]{2})", body.group(1)))
    if len(data) != int(length.group(1)):
        raise ValueError(f"{name} holds {len(data)} bytes but {name}_len says {length.group(1)}")
    return data


def registered_ops(text: str) -> list[str]:
    """The builtin ops a generated ``model_ops.h`` registers, in order."""
    by_method = {m: op for op, m in RESOLVER_METHODS.items()}
    return [by_method[m] for m in re.findall(r"resolver\.(Add\w+)\(\)", text)]


def _guard(file: str) -> str:
    return "SQUEEZEKIT_" + re.sub(r"\W", "_", file).upper() + "_"


def write_firmware(content: bytes, out_dir: str, *, name: str, tflm: dict, macs: int, params: int) -> list[str]:
    """Write the four files into ``out_dir`` (created); returns their paths. ``tflm`` is the summary of the
    profile's ``tflm`` target (its ``arena_bytes`` and ``ops``)."""
    arena = tflm.get("arena_bytes")
    if not arena:
        raise ValueError(f"TFLM could not run {name}, so there is no arena to size")
    ops = tflm["ops"]
    margin = margin_bytes(arena)
    size = arena + margin
    os.makedirs(out_dir, exist_ok=True)
    stamp = f"Generated by squeezekit from {name}.tflite; regenerate rather than edit."
    header = f"""// {stamp}
#ifndef {_guard('model_data.h')}
#define {_guard('model_data.h')}

#include <cstddef>

// Tensor arena: {arena:,} bytes measured by the TFLM interpreter ({tflm.get('runtime', 'tflite-micro')}),
// the smallest arena it allocates this model in (to 16 bytes), plus a margin of {margin:,} bytes for the
// scratch buffers optimized kernels (CMSIS-NN, ESP-NN) may add. Place it 16-byte aligned.
constexpr size_t kTensorArenaMeasuredBytes = {arena};
constexpr size_t kTensorArenaMarginBytes = {margin};
constexpr size_t kTensorArenaSize = kTensorArenaMeasuredBytes + kTensorArenaMarginBytes;

// The .tflite flatbuffer ({len(content):,} bytes, in flash), 16-byte aligned.
extern const unsigned char g_model_data[];
extern const unsigned int g_model_data_len;

#endif  // {_guard('model_data.h')}
"""
    source = f'// {stamp}\n#include "model_data.h"\n\n' + c_array(content)
    adds = "\n".join(f"  if (resolver.{row['resolver']}() != kTfLiteOk) return kTfLiteError;  "
                     f"// {row['op']} v{row['version']}, {row['count']} node(s)" for row in ops)
    resolver = f"""// {stamp}
#ifndef {_guard('model_ops.h')}
#define {_guard('model_ops.h')}

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

// Exactly the {len(ops)} builtin ops {name}.tflite uses.
constexpr unsigned int kModelOpCount = {len(ops)};
using ModelOpResolver = tflite::MicroMutableOpResolver<kModelOpCount>;

inline TfLiteStatus RegisterModelOps(ModelOpResolver& resolver) {{
{adds}
  return kTfLiteOk;
}}

#endif  // {_guard('model_ops.h')}
"""
    compare = tflm.get("compare") or {}
    diff = compare.get("max_lsb", compare.get("max_abs"))
    readme = f"""# {name}: TensorFlow Lite Micro firmware files

{stamp}

| what | figure |
|---|---:|
| flash: the model (`g_model_data`) | {len(content):,} bytes |
| SRAM: tensor arena measured by TFLM | {arena:,} bytes |
| of which activations (TFLM's memory plan) | {tflm.get('activation_bytes') or 0:,} bytes |
| of which persistent (node data, requantization, tensors) | {tflm.get('persistent_bytes') or 0:,} bytes |
| `kTensorArenaSize` (measured + margin) | {size:,} bytes (+{margin:,}) |
| MACs per inference | {macs:,} |
| weights | {params:,} |
| ops to register | {len(ops)} |

TFLM against LiteRT's reference kernels on {compare.get('samples', 0)} seeded inputs ({compare.get('outputs', 'not compared')}): max difference {diff if diff is not None else 'n/a'}{' LSB' if 'max_lsb' in compare else ''}.
Invoke: {tflm.get('invoke', 'not run')}. Measured with {tflm.get('runtime', 'tflite-micro')}.

```c++
#include "model_data.h"
#include "model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"

alignas(16) static uint8_t tensor_arena[kTensorArenaSize];

const tflite::Model* model = tflite::GetModel(g_model_data);
static ModelOpResolver resolver;
RegisterModelOps(resolver);
static tflite::MicroInterpreter interpreter(model, resolver, tensor_arena, kTensorArenaSize);
interpreter.AllocateTensors();  // kTfLiteOk with this arena
```

The arena figure is TFLM's reference kernels; the margin covers scratch buffers optimized kernel libraries
may request (not measured here). Flash also holds your application and the TFLM library itself.
"""
    paths = [os.path.join(out_dir, f) for f in FILES]
    for path, text in zip(paths, (header, source, resolver, readme)):
        write_atomic(path, text)
    return paths


def export_firmware(content: bytes, out_dir: str, name: str, tflm: dict | None = None) -> tuple[list[str], dict]:
    """Write the firmware files of ``content`` to ``out_dir``; returns the paths and the TFLM summary. ``tflm``:
    the summary of a ``tflm`` profile target already measured for these bytes; without it, TFLM measures
    here (``converters.profiling.tflm``). A file TFLM cannot run gives a ValueError naming why."""
    from converters import graph as graph_lib
    from converters.profiling import layers as layers_lib, memory, tflm as tflm_lib

    graph = graph_lib.read(content)
    table = layers_lib.read(content, graph)
    totals = layers_lib.totals(table)
    if tflm is None:
        tflm = tflm_lib.measure(content, graph, memory.summarize(content, graph, table)).summary
    if tflm.get("arena_bytes") is None:
        raise ValueError(f"TFLM cannot run {name}: {tflm.get('why_not')}")
    paths = write_firmware(content, out_dir, name=name, tflm=tflm, macs=totals["macs"], params=totals["weights"])
    return paths, tflm
