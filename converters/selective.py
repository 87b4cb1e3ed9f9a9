"""Selective precision: an int8 file with a few layers at higher precision, and the choice of how many.

Two ways to spend bytes or time on the layers that lose the most (ranked by ``converters.layer_errors``):

- ``keep_float``: the layers stay float32 inside the int8 graph (TensorFlow's MLIR quantizer with those ops
  denylisted: ``tflite.Recipe.keep_float``). Their kernels stay float32 too, so the file grows by 3 bytes per
  weight of each kept layer, and XNNPACK runs the float islands between QUANTIZE/DEQUANTIZE ops.
- ``int16x8_layers``: the layers get 16-bit activations (weights stay int8), through ai-edge-quantizer's per-op
  recipes (``Int16x8Layers``); it inserts the requantizations between 8- and 16-bit ops. The file barely grows,
  but XNNPACK has no 16x8 kernels: those ops run in TFLite's builtin kernels.

ai-edge-quantizer calibrates here with the same rule as TFLiteConverter's post-training quantization (the
running min and max over every calibration image; its own default is a moving average), so the choice changes
precision only, not the ranges. Its int8 ops still come out of another quantizer than the plain int8 export's,
so a file with no layer at 16 bits is not byte-identical to that export: ``choose`` measures it as its own row.

``choose`` tries growing prefixes of the ranking (1, 2, 4... layers, then all) and keeps the first that
reaches a target top-1 agreement with the float model on the given images, within a size budget.
"""

from __future__ import annotations

import re
import warnings
from typing import Callable, Sequence

import numpy as np

from converters.errors import ConversionError

PIP = "pip install ai-edge-quantizer==0.10.0"


def _min_max(qsv: dict, new: dict) -> dict:
    """TFLiteConverter's calibration rule: the running extremes (ai-edge-quantizer averages them by default)."""
    if not qsv:
        return new
    return {"min": np.minimum(qsv["min"], new["min"]), "max": np.maximum(qsv["max"], new["max"])}


class Int16x8Layers:
    """Calibrate a float32 .tflite once, then quantize it to int8 with any set of layers at 16x8.

    ``images``: float32 calibration images, preprocessed as the float file expects. The layer names are the
    layer table's (``converters.profiling.layers``), as the report's ``layer_errors`` give them.
    """

    def __init__(self, float_content: bytes, images: np.ndarray):
        try:
            from ai_edge_quantizer import calibrator, quantizer, recipe
        except ImportError:
            raise ConversionError("16-bit layers need ai-edge-quantizer, which is not installed.", PIP) from None
        from ai_edge_litert.interpreter import Interpreter

        from converters import graph as graph_lib
        from converters.profiling import layers as layers_lib

        self.float_content = bytes(float_content)
        self._graph = graph_lib.read(self.float_content)
        self._layers = {row.index: row.layer for row in layers_lib.read(self.float_content, self._graph)}
        runner = Interpreter(model_content=self.float_content).get_signature_runner()
        [name] = list(runner.get_input_details())
        key = "serving_default"
        data = {key: [{name: np.asarray(images[i:i + 1], np.float32)} for i in range(len(images))]}
        probe = quantizer.Quantizer(self.float_content)
        probe.load_quantization_recipe(recipe.static_wi8_ai8())
        with _quiet(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental_preserve_all_tensors ... for debugging purposes only"
            calib = calibrator.Calibrator(self.float_content, qsv_update_func=_min_max)
            calib.calibrate(data, probe._recipe_manager)  # the recipe says which tensors need ranges
        self._qsvs = calib.get_model_qsvs()

    @property
    def layer_names(self) -> list[str]:
        return list(dict.fromkeys(self._layers.values()))

    def quantize(self, layers: Sequence[str] = ()) -> bytes:
        """The int8 file (int8 input and output) with ``layers`` at 16-bit activations."""
        from ai_edge_quantizer import qtyping, quantizer, recipe

        missing = [name for name in layers if name not in set(self._layers.values())]
        if missing:
            raise ConversionError(f"no layer named {', '.join(map(repr, missing))} in the model; the report's "
                                  "layer_errors list the layer names.", param="int16x8_layers")
        qt = quantizer.Quantizer(self.float_content)
        qt.load_quantization_recipe(recipe.static_wi8_ai8())
        wanted = set(layers)
        for op in self._graph.ops:
            if self._layers.get(op.index) not in wanted:
                continue
            name = getattr(qtyping.TFLOperationName, op.name, None)
            if name is None:
                raise ConversionError(f"layer {self._layers[op.index]!r} is a {op.name}, which ai-edge-quantizer "
                                      "cannot make 16-bit.", param="int16x8_layers")
            # The op's scope is its output tensor names, each followed by ";".
            scope = "^" + re.escape(self._graph.tensors[op.outputs[0]].name) + ";$"
            qt.add_static_config(scope, name, 16, 8)
        with _quiet():
            content = bytes(qt.quantize(self._qsvs).quantized_model)
        return _inline(content)


def _inline(content: bytes) -> bytes:
    """``content`` with every buffer inside the flatbuffer. ai-edge-quantizer stores constants after it, at
    offsets (the layout of files over 2 GB), which the metadata step's rewrite of the flatbuffer would break."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    for buffer in model.buffers:
        buffer.offset, buffer.size = 0, 0
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


class _quiet:
    """ai-edge-quantizer prints sizes and progress bars; the export's log says what matters."""

    def __enter__(self):
        import contextlib
        import io

        self._out = contextlib.redirect_stdout(io.StringIO())
        self._err = contextlib.redirect_stderr(io.StringIO())
        self._out.__enter__()
        self._err.__enter__()

    def __exit__(self, *exc):
        self._err.__exit__(*exc)
        self._out.__exit__(*exc)
        return False


def ranked_layers(rows: list[dict]) -> list[str]:
    """Layer names by the noise power each adds in ``layer_errors`` (``added_noise``, most first), each once.

    Not the report's rank (the SNR each op loses, in dB), which points at a defect: an early layer at 40 dB
    that loses 10 dB costs the output nothing, while a late one that loses 1 dB at 10 dB costs it much. If
    noise adds up through the network, the output's noise is the sum of what each op adds: that is what a
    higher precision buys back."""
    ranked = sorted((r for r in rows if r["added_noise"] is not None), key=lambda r: -r["added_noise"])
    return list(dict.fromkeys(r["layer"] for r in ranked if r["layer"] and r["op"] not in ("QUANTIZE", "DEQUANTIZE")))


def sizes(total: int) -> list[int]:
    """How many layers ``choose`` tries: 1, 2, 4, ... and all."""
    out, n = [], 1
    while n < total:
        out.append(n)
        n *= 2
    return out + [total] if total else []


def agreement(reference: np.ndarray, outputs: np.ndarray) -> float:
    return float(np.mean(reference.argmax(-1) == outputs.argmax(-1)))


def choose(ranked: list[str], build: Callable[[list[str]], bytes], score: Callable[[bytes], float], *,
           target: float, max_bytes: int | None = None, log=None) -> tuple[list[str], bytes, list[dict]]:
    """The smallest prefix of ``ranked`` whose file ``score``s at least ``target`` (within ``max_bytes``).

    Returns (layers, file, tried rows, each with its file under ``content``). When none reaches the target, the best-scoring file within the budget
    (fewest layers on a tie); a prefix over the budget is measured, reported and not taken, and ends the search
    (longer prefixes only grow)."""
    tried, best = [], None
    for n in sizes(len(ranked)):
        layers = ranked[:n]
        content = build(layers)
        value = score(content)
        fits = max_bytes is None or len(content) <= max_bytes
        tried.append({"layers": n, "names": layers, "agreement": value, "bytes": len(content), "within_budget": fits,
                      "content": content})  # the caller times the files, then drops them
        if log:
            log(f"  {n} layer(s): top-1 agreement {value:.2%}, {len(content):,} bytes"
                + ("" if fits else " (over the size budget)"))
        if not fits:
            break
        if best is None or value > best[2]:
            best = (layers, content, value)
        if value >= target:
            return layers, content, tried
    if best is None:
        raise ConversionError(f"even one layer makes the file larger than {max_bytes:,} bytes.",
                              param="max_growth")
    return best[0], best[1], tried
