"""Data pipelines: built-in datasets, image folders, bad input."""

import numpy as np
import pytest
import tensorflow as tf

from squeezekit.data import DataError, load, load_all
from squeezekit.models.registry import CAFFE, IMAGENET_RGB


def _batches(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_digits_fixed_split_and_normalization():
    data = load("digits", 32, IMAGENET_RGB, batch_size=100, augment=None)
    assert (data.num_train, data.num_val, data.num_classes) == (1437, 360, 10)
    x, y = _batches(data.val)
    assert x.shape == (360, 32, 32, 3) and y.shape == (360, 10) and np.all(y.sum(1) == 1)
    again = _batches(load("digits", 32, IMAGENET_RGB, batch_size=7, augment=None, seed=5).val)
    np.testing.assert_array_equal(y, again[1])  # the held-out split does not depend on the seed
    # Undo the normalization: gray digits replicated to 3 channels, 0..255.
    pixels = x * np.array(IMAGENET_RGB.std) + np.array(IMAGENET_RGB.mean)
    assert pixels.min() > -0.01 and pixels.max() < 255.01
    np.testing.assert_allclose(pixels[..., 0], pixels[..., 2], atol=1e-3)


def test_bgr_models_get_reversed_channels():
    rgb = tf.constant([[[[10.0, 20.0, 30.0]]]])
    from squeezekit.data import normalize

    np.testing.assert_allclose(normalize(rgb, CAFFE).numpy().ravel(), [30 - 104, 20 - 117, 10 - 123])


def test_mnist5k_split():
    data = load("mnist5k", 28, IMAGENET_RGB, augment=None)
    assert (data.num_train, data.num_val) == (4000, 1000)


def test_training_augmentation_changes_images_but_not_labels():
    data = load("digits", 32, IMAGENET_RGB, batch_size=1437, seed=1)
    x1, y1 = next(iter(data.train))
    assert x1.shape == (1437, 32, 32, 3)
    x0, y0 = _batches(load("digits", 32, IMAGENET_RGB, batch_size=1437, augment=None).train)
    assert sorted(np.asarray(y1).argmax(1).tolist()) == sorted(y0.argmax(1).tolist())
    plain = {np.round(img, 3).tobytes() for img in x0}
    unchanged = sum(np.round(img, 3).tobytes() in plain for img in np.asarray(x1))
    assert unchanged < 0.05 * len(x0)  # crops of random area and aspect: almost never the identity


def _write_folder(root, classes=("cat", "dog"), per_class=6, size=(40, 48)):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
            data = tf.io.encode_png(img) if i % 2 else tf.io.encode_jpeg(img)
            (root / c / f"{i}.{'png' if i % 2 else 'jpg'}").write_bytes(data.numpy())
    return root


def test_folder_split_crop_and_skips(tmp_path):
    root = _write_folder(tmp_path / "imgs")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "empty.jpg").write_bytes(b"")
    (root / "dog" / "corrupt.png").write_bytes(b"this is not a png at all")
    good = (root / "cat" / "1.png").read_bytes()
    (root / "cat" / "truncated.png").write_bytes(good[: len(good) // 3])  # valid signature, broken body
    data = load(str(root), 32, IMAGENET_RGB, batch_size=4, val_split=0.34)
    assert data.class_names == ["cat", "dog"]
    assert data.skipped == {"not an image": 1, "unreadable": 2}
    assert "skipped 1 not an image, 2 unreadable" in data.describe()
    for _ in range(2):  # two epochs: the truncated file is dropped, never raised mid-epoch
        x, y = _batches(data.train)
    assert x.shape[1:] == (32, 32, 3)
    xv, yv = _batches(data.val)
    assert len(x) + len(xv) == 12  # 6 + 6 good images; the truncated one is dropped by the pipeline
    assert sorted(yv.argmax(1).tolist()) == [0, 0, 1, 1]


def test_separate_validation_folder_and_load_all(tmp_path):
    train = _write_folder(tmp_path / "train")
    val = _write_folder(tmp_path / "val", per_class=2)
    data = load(str(train), 24, CAFFE, val_source=str(val))
    assert (data.num_train, data.num_val) == (12, 4)
    every = load_all(str(val), 24, CAFFE)
    assert every.num_val == 4 and _batches(every.val)[0].shape == (4, 24, 24, 3)
    other = _write_folder(tmp_path / "other", classes=("cat", "cow"))
    with pytest.raises(DataError, match="same class folders"):
        load(str(train), 24, CAFFE, val_source=str(other))


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "missing", "data folder not found"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no images found"),
    (lambda p: _write_folder(p / "one", classes=("only",)), r"only one class with images \(only\)"),
])
def test_bad_folders(tmp_path, make, message):
    with pytest.raises(DataError, match=message):
        load(str(make(tmp_path)), 32, IMAGENET_RGB)


def test_unknown_dataset_name():
    with pytest.raises(DataError, match="data folder not found: digitz; use digits, mnist5k"):
        load("digitz", 32, IMAGENET_RGB)
    with pytest.raises(DataError, match="cannot be downloaded here"):
        load("cifar10", 32, IMAGENET_RGB)
