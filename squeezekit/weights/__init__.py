"""Pretrained weights: osmr/imgclsmob's tf2cv ImageNet checkpoints into squeezekit models, and the ImageNet labels.

    import squeezekit
    model = squeezekit.build("sqnxt23_w1", convention="imgclsmob", weights="sqnxt23_w1-1861-379975eb.tf2.h5")

or, from the command line, a Keras 3 run folder ready for ``fit`` or ``python -m squeezekit.export``::

    python -m squeezekit.weights --model sqnxt23_w1 --from_tf2cv sqnxt23_w1-1861-379975eb.tf2.h5 --out model.keras

The files come from tf2cv's model store (``store_url(name)``; download and unzip on a machine with internet).
Importing this package does not import TensorFlow.
"""

from squeezekit.weights.imagenet import class_names as imagenet_class_names
from squeezekit.weights.imagenet import synsets as imagenet_synsets
from squeezekit.weights.tf2cv import (
    STORE,
    LoadReport,
    WeightsError,
    describe_file,
    load_tf2cv,
    looks_like_tf2cv,
    store_file_name,
    store_url,
    tf2cv_name_for,
)

__all__ = [
    "STORE", "LoadReport", "WeightsError", "describe_file", "imagenet_class_names", "imagenet_synsets",
    "load_tf2cv", "looks_like_tf2cv", "store_file_name", "store_url", "tf2cv_name_for",
]
