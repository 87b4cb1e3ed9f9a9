"""Keras -> TFLite flatbuffers. The only module of squeezekit that touches ``TFLiteConverter``.

``convert(model, recipe)`` gives the bytes and what it did; the flavours are the recipe's:

- ``float32``: the plain conversion.
- ``float16``: float16 weights, float32 compute (CPUs dequantize them once at load).
- ``dynamic``: int8 weights, float activations (dynamic-range quantization).
- ``int8``: full integer: every compute op int8, int8/uint8/float32 input and output as asked. The
  activation ranges come from a representative dataset (post-training quantization) or from the fake-quant
  nodes of a model trained with quantization-aware training (``converters.qat``), which needs none.
- ``int16x8``: full integer with int16 activations and int8 weights (TFLite's 16x8 mode), int16 input and
  output, calibrated on the same representative data as int8. Far closer to float than int8, but XNNPACK
  does not take it: the builtin reference kernels run it, 27-88x slower than int8 on x86.
- ``int4``: int4 weights, float32 activations (hybrid kernels): the float32 file through AI Edge Quantizer
  (``converters.quantizer``).

``float16`` files also carry the ``reduced_precision_support`` metadata entry (``fp16accfp16``), which lets
XNNPACK compute in FP16 on CPUs with FP16 arithmetic (ARMv8.2 phones); elsewhere it computes in float32.
Every quantized flavour's file is audited (``converters.audit``) before it is returned.

int8 post-training quantization is two steps: ``calibrate`` (TFLiteConverter's calibrator, then
``measured_ranges``, which narrows the ranges that calibrator widens at in-place ADDs) and TensorFlow's MLIR
quantizer on the calibrated model. ``Recipe.keep_float`` leaves named layers in float inside the int8 graph
(selective precision): the model is calibrated once, and ``convert(calibrated, recipe)`` quantizes it with any
set of layers kept, in a fraction of a second (the MLIR quantizer with those ops denylisted, as
``tf.lite.experimental.QuantizationDebugger`` does).

A model (Keras 3, or the tf_keras QAT twin) is converted from its inference function, traced once
(``exported(model)``, for several recipes): the converter freezes its variables in memory and names the file's
input, output and signature as a SavedModel conversion does. That gives the bytes of ``model.export`` +
``from_saved_model`` (tested, in every flavour and for a QAT model) without writing and reading a SavedModel:
for 1.0-SqNxt-23 at 224, four flavours in 7.0 s against 40.5 s (``benchmarks/conversion_routes.py``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable

from converters import files
from converters.errors import ConversionError

FLAVOURS = ("float32", "float16", "dynamic", "int8", "int16x8", "int4")
# What "every flavour" means to the export: the four that every phone CPU runs fast through XNNPACK (int16x8
# runs on reference kernels, int4 on hybrid ones: both are asked for by name).
ALL = ("float32", "float16", "dynamic", "int8")
FLOATS = ("float32", "float16", "dynamic")
IO_TYPES = ("int8", "uint8", "float32")
FLOAT_FIX = "convert to float32, float16 or dynamic instead."  # what to do when a model cannot become int8
CALIBRATED = ("int8", "int16x8")  # the flavours whose activation ranges come from representative data


@dataclass(frozen=True)
class Recipe:
    """What to convert to. ``representative`` (int8 post-training quantization only) is a callable that
    returns an iterable of float32 input batches, already preprocessed as the model expects."""

    flavour: str = "float32"
    input_type: str = "int8"  # int8 flavour only
    output_type: str = "int8"
    representative: Callable[[], Iterable] | None = field(default=None, compare=False)  # int8, int16x8
    # int8 post-training only: layers (named as the layer table and the report's layer_errors name them) that
    # stay float32, with QUANTIZE/DEQUANTIZE around them; the file's input and output keep their types.
    keep_float: tuple = ()
    # int8 post-training only: narrow the calibrated ranges TFLiteConverter's calibrator widened (measured_ranges).
    # False gives the stock converter's ranges, for comparison.
    correct_ranges: bool = True

    def __post_init__(self):
        if self.flavour not in FLAVOURS:
            raise ConversionError(f"unknown flavour {self.flavour!r}; choose one of {', '.join(FLAVOURS)}.")
        for what in ("input_type", "output_type"):
            if getattr(self, what) not in IO_TYPES:
                raise ConversionError(f"{what} {getattr(self, what)!r} is not one of {', '.join(IO_TYPES)}.")

        if self.keep_float and self.flavour != "int8":
            raise ConversionError(f"keeping layers in float applies to int8, not {self.flavour}.")

    def describe(self) -> str:
        if self.flavour == "int16x8":
            return "int16x8 (int16 activations, int8 weights; int16 input and output)"
        if self.flavour == "int4":
            return "int4 (int4 weights, float32 activations)"
        if self.flavour != "int8":
            return self.flavour
        kept = f"; {len(self.keep_float)} layer(s) kept in float" if self.keep_float else ""
        return f"int8 ({self.input_type} input, {self.output_type} output{kept})"

    @property
    def float_io(self) -> bool:
        """Whether an integer flavour's file takes or gives float32 (int8 with float input or output)."""
        return self.flavour == "int8" and "float32" in (self.input_type, self.output_type)


@dataclass
class Conversion:
    recipe: Recipe
    content: bytes
    seconds: float  # converter time, the trace (``exported``) excluded when shared
    calibrated: bool  # integer ranges from representative data (False: from QAT fake-quant nodes, or float)
    corrected: list = field(default_factory=list)  # calibrated ranges measured again (``measured_ranges``)


@dataclass
class Calibrated:
    """A model with its int8 ranges measured but not yet quantized (``calibrate``): a float flatbuffer that
    carries each tensor's calibrated range, to quantize with several ``keep_float`` sets."""

    name: str  # the model's name, for messages
    content: bytes
    seconds: float
    corrected: list = field(default_factory=list)  # measured_ranges' rows: the recorded ranges it narrowed


@dataclass
class Exported:
    """A model traced once as its inference function (``exported``), to convert with several recipes."""

    model: object
    function: object  # a tf ConcreteFunction: the forward pass, float32 [batch, H, W, C] in (None: saved_model)
    seconds: float
    saved_model: str | None = None  # ``exported(model, saved_model=True)``: the public route's SavedModel


@contextlib.contextmanager
def exported(model, saved_model: bool = False):
    """``with exported(model) as ex: convert(ex, r1); convert(ex, r2)`` traces the model once.

    ``saved_model=True`` takes the public route instead, to compare against: ``model.export`` (for the tf_keras
    twin, its inference function saved as the kit once saved it) and ``TFLiteConverter.from_saved_model``. Its
    files are the same bytes but for the model type their metadata records (tested), and it is several times
    slower (``benchmarks/conversion_routes.py``)."""
    start = time.perf_counter()
    if not saved_model:
        yield Exported(model, _inference_function(model), time.perf_counter() - start)
        return
    import tensorflow as tf

    with files.temp_dir("squeezekit-savedmodel-") as tmp:  # a killed run's folder goes with the next run
        path = os.path.join(tmp, "saved_model")
        if _is_tf_keras(model):
            module = tf.Module()
            module.weights_ = list(model.weights)
            spec = tf.TensorSpec([None] + [int(d) for d in model.inputs[0].shape[1:]], tf.float32)
            module.serve = tf.function(lambda x: model(x, training=False), input_signature=[spec])
            tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
        else:
            model.export(path, verbose=False)
        yield Exported(model, None, time.perf_counter() - start, path)


def _input_name(model) -> str:
    """The name a SavedModel signature gives the input: the input layer's (``model.export``); ``x`` for the
    tf_keras twin (the argument of the function the SavedModel route saved)."""
    return "x" if _is_tf_keras(model) else model.inputs[0].name


def _inference_function(model):
    """``model(x, training=False)`` traced for a float32 batch of any size: what ``model.export`` serves."""
    import tensorflow as tf

    spec = tf.TensorSpec([None] + [int(d) for d in model.inputs[0].shape[1:]], tf.float32, name=_input_name(model))
    return tf.function(lambda x: model(x, training=False), input_signature=[spec]).get_concrete_function()


def _is_tf_keras(model) -> bool:
    return type(model).__module__.startswith("tf_keras")


_FROZEN_READ = re.compile(rb"(/ReadVariableOp(?:_\d+)?)/resource(?=\d*(?:;|$))")


def _saved_model_names(content: bytes, model) -> bytes:
    """The converted file with the names a SavedModel conversion gives it: the input ``serving_default_<name>:0``
    (a quantized input keeps its fake-quant name), a variable's read ``.../ReadVariableOp``, a float output
    ``StatefulPartitionedCall_1:<k>`` (``StatefulPartitionedCall:<k>`` for the tf_keras twin's single-function
    SavedModel), and the ``serving_default`` signature."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    tree = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    sub = tree.subgraphs[0]
    name = _input_name(model)
    call = "StatefulPartitionedCall" if _is_tf_keras(model) else "StatefulPartitionedCall_1"
    for tensor in sub.tensors:  # a frozen variable's read is named after its constant: ".../ReadVariableOp/resource"
        tensor.name = _FROZEN_READ.sub(rb"\1", tensor.name)
    for i in sub.inputs:
        if sub.tensors[i].name == name.encode():
            sub.tensors[i].name = f"serving_default_{name}:0".encode()
    for k, i in enumerate(sub.outputs):
        if sub.tensors[i].name == (b"Identity" if k == 0 else f"Identity_{k}".encode()):
            sub.tensors[i].name = f"{call}:{k}".encode()

    def entry(key, index):
        pair = schema.TensorMapT()
        pair.name, pair.tensorIndex = key.encode(), index
        return pair

    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = b"serving_default", 0
    signature.inputs = [entry(name, i) for i in sub.inputs]
    signature.outputs = [entry(f"output_{k}", i) for k, i in enumerate(sub.outputs)]
    tree.signatureDefs = [signature]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(tree))


def _model_type():
    """What the file's CONVERSION_METADATA records as the converter's input: concrete functions."""
    from tensorflow.lite.python import lite

    return lite.conversion_metadata_fb.ModelType.TF_CONCRETE_FUNCTIONS


def _converter(source: Exported):
    """The converter for ``source``'s traced function (``_function_converter_class``), or for its SavedModel."""
    import tensorflow as tf
    from tensorflow.lite.python import lite

    if source.saved_model:
        return tf.lite.TFLiteConverter.from_saved_model(source.saved_model)

    lite.TFLiteConverterBase._set_original_model_type(_model_type())
    return _function_converter_class(lite)(source)


@functools.lru_cache(maxsize=1)
def _function_converter_class(lite):
    """TensorFlow's concrete-function converter, the SavedModel round trip left out.

    ``TFLiteConverter.from_concrete_functions`` saves the function as a SavedModel when it can and converts
    that; ``model.export`` + ``from_saved_model`` does the same by hand. For 1.0-SqNxt-23 at 224 the save was
    7-13 s and each conversion's load of it 4-6 s. Here the variables are frozen in memory (the converter's own
    fallback, without its Grappler pass, which a SavedModel conversion does not run either) and the result is
    named as the SavedModel route names it (``_saved_model_names``). The converter's own wrapper then adds the
    metadata as always.
    """

    class FunctionConverter(lite.TFLiteFrozenGraphConverterV2):
        def __init__(self, source: Exported):
            super().__init__([source.function])
            self.experimental_lower_to_saved_model = False
            self._source_model = source.model

        @lite._export_metrics
        def convert(self):
            graph_def, inputs, outputs, _ = self._freeze_concrete_function()
            content = lite.TFLiteConverterBaseV2.convert(self, graph_def, inputs, outputs)
            return _saved_model_names(content, self._source_model)

    return FunctionConverter


def _is_qat(model) -> bool:
    return any(type(layer).__name__ in ("QuantizeLayer", "QuantizeWrapper", "QuantizeWrapperV2")
               for layer in getattr(model, "layers", []))


_UNSUPPORTED = re.compile(r"(?:quantization (?:is )?not (?:yet )?supported for op|failed to quantize|"
                          r"'(tf\.\w+|tfl\.\w+)' op)[^\n]*", re.IGNORECASE)


def _one_line(err: Exception) -> str:
    text = str(err)
    hit = _UNSUPPORTED.search(text)
    line = hit.group(0) if hit else next((s for s in text.splitlines() if "error" in s.lower()), text[:200])
    return line.strip()


def calibrate(model_or_exported, recipe: Recipe) -> Calibrated:
    """Measure the int8 ranges of a float model on ``recipe.representative`` without quantizing it."""
    if recipe.flavour != "int8":
        raise ConversionError(f"calibration is for int8, not {recipe.flavour}.")
    source = model_or_exported
    if not isinstance(source, Exported):
        with exported(source) as ex:
            return calibrate(ex, recipe)
    if _is_qat(source.model):
        raise ConversionError("a quantization-aware trained model has its ranges already; convert it directly.")
    # Read the images first: the converter runs with stdout silenced, and the caller's generator may log.
    seen = [image[None].astype("float32") for batch in recipe.representative() for image in batch] \
        if recipe.representative is not None else None
    converter = _int8_converter(source, recipe, images=seen)
    converter._experimental_calibrate_only = True  # what QuantizationDebugger sets: stop after calibration
    start = time.perf_counter()
    try:
        with _quiet_stdout(), _no_input_statistics_warning():  # the calibrator prints its settings from C++
            content = bytes(converter.convert())
    except Exception as err:
        raise ConversionError(f"{source.model.name} could not be calibrated: {_one_line(err)}") from None
    content, corrected = measured_ranges(content, seen) if recipe.correct_ranges else (content, [])
    return Calibrated(source.model.name, content, time.perf_counter() - start, corrected)


def measured_ranges(calibrated: bytes, images) -> tuple[bytes, list[dict]]:
    """``calibrated`` with each activation range no wider than what its tensor took on ``images``.

    TFLiteConverter's calibrator (TF 2.21) records, for a tensor whose only consumer is an ADD, the range of that
    ADD's output (most likely because TFLite runs that ADD in place, in the input's buffer, before the
    calibrator reads the tensor; the tensors hit are exactly the ones an in-place ADD may overwrite). In a
    residual network every branch output that feeds its ADD gets the sum's range, up to 6x its own in
    1.0-SqNxt-23 (``converters.layer_errors`` shows it as a step several times the tensor's RMS). The float
    model runs here again with every tensor kept (no buffer reuse), and a recorded range wider than the observed
    one is replaced by it. Returns the file and one row per corrected tensor (name, recorded, measured)."""
    from ai_edge_litert.tools import flatbuffer_utils

    import numpy as np

    from converters import layer_errors

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    sub = model.subgraphs[0]
    outputs = sorted({o for op in sub.operators for o in op.outputs if o >= 0})
    recorded = {}
    for i in outputs:
        q = sub.tensors[i].quantization
        if q is not None and q.min is not None and len(q.min) == 1 and q.max is not None and len(q.max) == 1:
            recorded[i] = (float(q.min[0]), float(q.max[0]))
    if not recorded or not images:
        return calibrated, []
    it = layer_errors.interpreter(calibrated)  # every tensor kept
    index = it.get_input_details()[0]["index"]
    low = {i: np.inf for i in recorded}
    high = {i: -np.inf for i in recorded}
    for image in images:
        it.set_tensor(index, np.asarray(image, np.float32))
        it.invoke()
        for i in recorded:
            value = it.get_tensor(i)
            low[i], high[i] = min(low[i], float(value.min())), max(high[i], float(value.max()))
    corrected = []
    for i, (rmin, rmax) in recorded.items():
        omin, omax = low[i], high[i]
        if rmin <= omin and omax <= rmax and (rmax - rmin) > 1.01 * (omax - omin):
            q = sub.tensors[i].quantization
            q.min, q.max = np.asarray([omin], np.float32), np.asarray([omax], np.float32)
            name = sub.tensors[i].name
            corrected.append({"tensor": name.decode() if isinstance(name, bytes) else name,
                              "recorded": [rmin, rmax], "measured": [omin, omax]})
    if not corrected:
        return calibrated, []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), corrected


def _int8_converter(source: Exported, recipe: Recipe, images: list | None = None):
    """The int8 post-training converter, calibrated on ``images`` (single-image batches) when given, else on
    ``recipe.representative``."""
    import tensorflow as tf

    if recipe.representative is None:
        raise ConversionError("int8 post-training quantization needs representative data: pass "
                              "Recipe(representative=...) or quantization-aware train the model first.")

    def representative():
        if images is not None:
            yield from ([one] for one in images)
            return
        for batch in recipe.representative():
            for image in batch:
                yield [image[None].astype("float32")]

    converter = _converter(source)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    # Restricting the op set makes the converter fail on ops it cannot quantize, instead of leaving them float.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = getattr(tf, recipe.input_type)
    converter.inference_output_type = getattr(tf, recipe.output_type)
    return converter


def kept_tensors(calibrated_content: bytes, layers: Iterable[str]) -> list[str]:
    """The output tensor names (what the quantizer's denylist takes) of the named layers."""
    from converters import graph as graph_lib
    from converters.profiling import layers as layers_lib

    g = graph_lib.read(calibrated_content)
    by_layer: dict[str, list[str]] = {}
    for row in layers_lib.read(calibrated_content, g):
        by_layer.setdefault(row.layer, []).append(g.tensors[g.ops[row.index].outputs[0]].name)
    missing = [name for name in layers if name not in by_layer]
    if missing:
        raise ConversionError(f"no layer named {', '.join(map(repr, missing))} in the model; the report's "
                              "layer_errors list the layer names.", param="keep_float")
    return [t for name in layers for t in by_layer[name]]


@contextlib.contextmanager
def _no_input_statistics_warning():
    """Without the converter's warning that an int8 input has no statistics: they are for the legacy quantizer.
    A calibrated graph has its input range from the representative data, a QAT graph from its fake-quant nodes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        yield


@contextlib.contextmanager
def _quiet_stdout():
    """Silence what C++ prints on the process's stdout and stderr (errors still raise)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def _quantize_calibrated(calibrated: Calibrated, recipe: Recipe) -> Conversion:
    import tensorflow as tf
    from tensorflow.lite.python import convert as tf_convert

    denylist = kept_tensors(calibrated.content, recipe.keep_float)
    start = time.perf_counter()
    try:
        with _quiet_stdout():  # the quantizer prints its settings from C++
            # TFLiteConverter.convert's own call (lite.py, _quantize): with the stock ranges the same graph,
            # tensors, buffers and outputs as the one-step conversion (only the metadata's order differs).
            content = bytes(tf_convert.mlir_quantize(
                calibrated.content, input_data_type=getattr(tf, recipe.input_type),
                output_data_type=getattr(tf, recipe.output_type), denylisted_nodes=denylist or None))
    except Exception as err:
        raise ConversionError(f"{calibrated.name} did not quantize: {_one_line(err)}") from None
    conversion = Conversion(recipe, content, calibrated.seconds + time.perf_counter() - start, True,
                            calibrated.corrected)
    return _audited(conversion, calibrated.name, kept_tensors=set(denylist))


def convert(model_or_exported, recipe: Recipe) -> Conversion:
    """Convert a Keras 3 model, an ``Exported`` one or a tf_keras (QAT) model with ``recipe``; or quantize a
    ``Calibrated`` one (int8 recipes, with or without ``keep_float``)."""
    import tensorflow as tf

    source = model_or_exported
    if isinstance(source, Calibrated):
        if recipe.flavour != "int8":
            raise ConversionError(f"a calibrated model quantizes to int8, not {recipe.flavour}.")
        return _quantize_calibrated(source, recipe)
    if not isinstance(source, Exported):
        with exported(source) as ex:
            return convert(ex, recipe)
    model = source.model
    qat = _is_qat(model)
    if qat and recipe.flavour != "int8":
        raise ConversionError("a quantization-aware trained model converts only to int8; convert the float "
                              "model for the other flavours.")
    if recipe.flavour == "int4":
        from converters import quantizer

        plain = convert(source, Recipe("float32"))
        start = time.perf_counter()
        content = quantizer.int4(plain.content, model.name)
        return _audited(Conversion(recipe, content, plain.seconds + time.perf_counter() - start, False), model.name)
    if recipe.keep_float and qat:
        raise ConversionError("keeping layers in float is for post-training calibration: a quantization-"
                              "aware trained model learned int8 ranges for every layer.",
                              "calibrate instead (no quantization-aware training).", param="keep_float")
    if recipe.flavour == "int8" and not qat:
        # Post-training: calibrate, correct the ranges the calibrator widened, quantize (measured_ranges).
        return _quantize_calibrated(calibrate(source, recipe), recipe)
    converter = _converter(source)
    calibrated = False
    if recipe.flavour == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        # Writes the reduced_precision_support entry "fp16accfp16" that XNNPACK reads (converters.audit).
        converter.target_spec._experimental_supported_accumulation_type = tf.float16
    elif recipe.flavour == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif recipe.flavour in CALIBRATED:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if not qat:
            if recipe.representative is None:
                raise ConversionError(f"{recipe.flavour} post-training quantization needs representative data: "
                                      "pass Recipe(representative=...)" + (
                                          " or quantization-aware train the model first."
                                          if recipe.flavour == "int8" else "."))

            def representative():
                for batch in recipe.representative():
                    for image in batch:
                        yield [image[None].astype("float32")]

            converter.representative_dataset = representative
            calibrated = True
            # Restricting the op set makes the converter fail on ops it cannot quantize, instead of
            # leaving them float. (With a QAT model it would ask for representative data; the audit
            # below catches float ops there.)
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if recipe.flavour == "int8"
                else tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        if recipe.flavour == "int8":
            converter.inference_input_type = getattr(tf, recipe.input_type)
            converter.inference_output_type = getattr(tf, recipe.output_type)
        else:  # int16 in and out: the full-integer form (docs/quantization.md, "Flavours")
            converter.inference_input_type = converter.inference_output_type = tf.int16
    start = time.perf_counter()
    try:
        with _no_input_statistics_warning():
            content = bytes(converter.convert())
    except Exception as err:  # the converter raises ConverterError/RuntimeError with pages of MLIR
        if recipe.flavour in CALIBRATED:
            raise ConversionError(f"{model.name} cannot be converted to full {recipe.flavour} without float ops: "
                                  f"{_one_line(err)}", FLOAT_FIX, param="flavour") from None
        raise ConversionError(f"{model.name} did not convert to {recipe.flavour}: {_one_line(err)}") from None
    seconds = time.perf_counter() - start
    return _audited(Conversion(recipe, content, seconds, calibrated), model.name)


def _audited(conversion: Conversion, name: str, kept_tensors=frozenset()) -> Conversion:
    """``conversion`` of model ``name``, once its file keeps its flavour's promise (``converters.audit``; the
    ``kept_tensors`` of a keep_float recipe may be float); a ConversionError naming the first problem
    otherwise."""
    from converters import audit, graph

    recipe = conversion.recipe
    problems = audit.problems(graph.read(conversion.content), recipe.flavour, float_io=recipe.float_io,
                              kept_tensors=kept_tensors)
    if problems:
        what = {"int8": "int8 graph is not fully integer", "int16x8": "int16x8 graph is not 16x8 integer",
                "int4": "int4 file has weights that are not int4",
                "float16": "float16 file is not what XNNPACK needs for FP16"}[recipe.flavour]
        raise ConversionError(f"{name} {what}: {problems[0]} ({len(problems)} problem(s))",
                              FLOAT_FIX if recipe.flavour in CALIBRATED else None,
                              param="flavour" if recipe.flavour in CALIBRATED else None)
    return conversion
