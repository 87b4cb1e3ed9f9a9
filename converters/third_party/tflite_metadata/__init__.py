"""The TFLite metadata schema (``metadata_schema.fbs`` 1.5.0) as flatc's Python output, from tflite-support 0.4.4.

Vendored because the tflite-support wheel pins protobuf < 4, which TensorFlow 2.21 cannot share a process
with. See README.md for the origin; tests/converters/test_third_party.py pins the file's SHA-256.
"""
