"""The library below squeezekit: a Keras 3 model (or its tf_keras twin) and a recipe in, TFLite bytes and a
report out.

``tflite`` converts (the only caller of TFLiteConverter), ``qat`` and ``compress`` run tfmot on a twin the
caller passes in, ``graph`` reads a .tflite (the one flatbuffer reader), ``metadata`` attaches and reads the
metadata, ``report`` verifies, ``coded_size`` measures Deep Compression sizes, ``counting`` counts MACs and
weights, ``profiling`` times and simulates per op. Nothing here imports ``squeezekit``
(``tests/converters/test_layering.py``); errors are ``converters.errors.SqueezekitError``s in library terms.
"""
