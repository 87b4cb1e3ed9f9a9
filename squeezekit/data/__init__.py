"""Data for training and evaluation: built-in offline datasets and image folders, as tf.data pipelines.

    data = squeezekit.data.load("digits", input_size=32, preprocessing=spec.preprocessing)
    data = squeezekit.data.load("path/to/folders", input_size=224, preprocessing=spec.preprocessing)
    model.fit(data.train, validation_data=data.val)

Normalization comes from the model's registry metadata (``Preprocessing``), so training, export and the
Android app share one definition.
"""

from squeezekit.data.loading import BUILTIN, Augment, Data, DataError, load, load_all, normalize

__all__ = ["BUILTIN", "Augment", "Data", "DataError", "load", "load_all", "normalize"]
