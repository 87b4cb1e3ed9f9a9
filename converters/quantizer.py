"""int4 weights through AI Edge Quantizer (``ai_edge_quantizer``), the one module that imports it.

It quantizes a float32 .tflite, not a Keras model, so ``converters.tflite`` converts to float32 first (it stays
the one TFLiteConverter caller) and hands the bytes here.

The recipe: ``dynamic_wi4_afp32``'s configuration (channelwise, symmetric int4 weights for every op its policy
takes for int4: CONV_2D and FULLY_CONNECTED; DEPTHWISE_CONV_2D is in neither int4 recipe, and no squeezekit
network has one; float32 activations, which the hybrid kernels quantize to int8 per image at run time) with
the quantizer's OCTAV algorithm instead of min-max: each channel's clipping range is chosen to minimise the
quantization error (optimal clipping, "OCTAV", Sakr et al. 2022), not set by its largest weight, which with 16
levels leaves most of a layer's weights on a few of them. Measured (docs/quantization.md, "Flavours"): on the
digits-trained SqNxt-23 of the tests, top-1 agreement with Keras 57% (min-max), 82% (OCTAV), 83% (MSE); logit
SNR of untrained SqNxt-23, SqNxt-CPU-1 and SqueezeNet 1.1 at 227, two seeds each: 8.0-15.6 dB (OCTAV),
2.5-12.0 dB (MSE), 0.6-12.2 dB (min-max). ``weight_only_wi4_afp32`` (a DEQUANTIZE in front of every weight,
float32 compute) agreed exactly as well and ran 2.7x slower on the host, so dynamic.
"""

from __future__ import annotations

import contextlib
import io

from converters.errors import ConversionError

RECIPE = "dynamic, int4 channelwise weights, OCTAV ranges"  # for reports and docs


def int4(float32_content: bytes, name: str = "the model") -> bytes:
    """The float32 .tflite ``float32_content`` with int4 weights (``RECIPE``)."""
    try:
        from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe_manager
    except ImportError:
        raise ConversionError("int4 needs AI Edge Quantizer, which is not installed",
                              "pip install ai-edge-quantizer==0.10.0 (requirements.txt).") from None
    try:
        manager = recipe_manager.RecipeManager()
        manager.add_dynamic_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=4,
                                   granularity=qtyping.QuantGranularity.CHANNELWISE,
                                   algorithm_key=algorithm_manager.AlgorithmName.OCTAV)
        q = quantizer.Quantizer(bytearray(float32_content), manager.get_quantization_recipe())
        # quantize() shows a progress bar of its transformations on models over 100 tensors whatever it is
        # told (0.10.0 does not pass enable_progress_bar down); the export prints its own progress.
        with contextlib.redirect_stderr(io.StringIO()):
            result = q.quantize(enable_progress_bar=False, enable_progress_report=False)
    except Exception as err:  # the quantizer raises ValueError/RuntimeError/KeyError with its own detail
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConversionError(f"{name} did not quantize to int4 weights: {first}") from None
    return _inline(bytes(result.quantized_model))


def _inline(content: bytes) -> bytes:
    """``content`` with every buffer inside the flatbuffer. The quantizer stores weights after it, at offsets;
    ``converters.flatbuffer.rewrite`` (metadata.attach) repacks the flatbuffer alone, which would cut them off."""
    import numpy as np
    from ai_edge_litert.tools import flatbuffer_utils

    from converters import flatbuffer

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))  # resolves the offsets
    for buffer in model.buffers:
        if buffer.data is not None and not isinstance(buffer.data, np.ndarray):
            buffer.data = np.frombuffer(bytes(buffer.data), dtype=np.uint8)
    return flatbuffer.pack(model, len(content) + 1024)
