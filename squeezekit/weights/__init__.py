"""Pretrained weights: osmr/imgclsmob's tf2cv ImageNet checkpoints into squeezekit models, and the ImageNet labels.

    import squeezekit
    model = squeezekit.build("sqnxt23_w1", weights="imagenet")  # fetched into Keras' cache, hash-checked
    model = squeezekit.build("sqnxt23_w1", convention="imgclsmob", weights="sqnxt23_w1-1861-379975eb.tf2.h5")

or, from the command line, a Keras 3 run folder ready for ``fit`` or ``python -m squeezekit.export``::

    python -m squeezekit.weights --model sqnxt23_w1 --from_tf2cv sqnxt23_w1-1861-379975eb.tf2.h5 --out model.keras

Which models publish weights, and where, is declared in their registry rows (``squeezekit.models.zoo``:
``weights``); ``published()`` lists them by tf2cv name and ``store.fetch`` gets one (``weights="imagenet"``).
Importing this package does not import TensorFlow.
"""

from squeezekit.weights.imagenet import class_names as imagenet_class_names
from squeezekit.weights.imagenet import synsets as imagenet_synsets
from squeezekit.weights.tf2cv import (
    LoadReport,
    WeightsError,
    describe_file,
    load_tf2cv,
    looks_like_tf2cv,
    published,
    tf2cv_name_for,
)

__all__ = [
    "LoadReport", "WeightsError", "describe_file", "imagenet_class_names", "imagenet_synsets", "load_tf2cv",
    "looks_like_tf2cv", "published", "tf2cv_name_for",
]
