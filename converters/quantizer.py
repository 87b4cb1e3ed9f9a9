"""int4 weights through AI Edge Quantizer (``ai_edge_quantizer``), the one module that imports it.

It quantizes a float32 .tflite, not a Keras model, so ``converters.tflite`` converts to float32 first (it stays
the one TFLiteConverter caller) and hands the bytes here. The recipe is ``dynamic_wi4_afp32``: channelwise,
symmetric int4 weights for every op its policy takes (CONV_2D and FULLY_CONNECTED; DEPTHWISE_CONV_2D is in
neither int4 recipe, and no squeezekit network has one), float32 activations, which the hybrid kernels
quantize to int8 per image at run time. The other int4 recipe, ``weight_only_wi4_afp32``, puts a DEQUANTIZE
in front of every weight and computes in float32; chosen against it because it measured slower on the host
at equal agreement (docs/quantization.md, "Flavours").
"""

from __future__ import annotations

from converters.errors import ConversionError

RECIPE = "dynamic_wi4_afp32"


def int4(float32_content: bytes, name: str = "the model") -> bytes:
    """The float32 .tflite ``float32_content`` with int4 weights (``RECIPE``)."""
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError:
        raise ConversionError("int4 needs AI Edge Quantizer, which is not installed",
                              "pip install ai-edge-quantizer==0.10.0 (requirements.txt).") from None
    try:
        q = quantizer.Quantizer(bytearray(float32_content), getattr(recipe, RECIPE)())
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
