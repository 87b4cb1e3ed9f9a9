"""Keras -> TFLite converters, compression, metadata and profiles (see the issues on converters).

Nothing is exported yet: the model zoo (squeezekit.models) comes first.
"""
