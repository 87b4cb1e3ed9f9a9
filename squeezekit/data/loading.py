"""tf.data pipelines: decode in parallel, cache, shuffle, augment, normalize, batch, prefetch.

Images are brought once to a square "load size": built-in datasets (already framed) at the input size;
folder images with the short side resized to ``input_size / crop_fraction`` and center-cropped. Training
takes random resized crops (and, where the data allows, horizontal flips) of the cached squares, a whole
batch at a time; evaluation (and training without augmentation) caches the center ``input_size`` crop, the
usual resize + center-crop. Last, ``(pixels[channel_order] - mean) / std`` from the model's registry
metadata, also per batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from squeezekit.data import builtin, folders, records
from squeezekit.data.folders import DataError

BUILTIN = tuple(builtin.LOADERS)


@dataclass(frozen=True)
class Augment:
    """Training augmentation: random resized crop of ``scale`` x area and ``ratio`` aspect, optional flip."""

    scale: tuple[float, float] = (0.25, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True

    def to_dict(self) -> dict:
        return dict(scale=list(self.scale), ratio=list(self.ratio), flip=self.flip)


IMAGENET_AUGMENT = Augment()
# Digits are not mirror-symmetric and fill their frame: mild crops, no flip.
DIGITS_AUGMENT = Augment(scale=(0.7, 1.0), ratio=(0.85, 1.18), flip=False)


@dataclass
class Data:
    name: str
    class_names: list[str]
    input_size: int
    batch_size: int
    train: object  # tf.data.Dataset of (normalized images, one-hot labels), batched
    val: object
    num_train: int
    num_val: int
    skipped: dict = field(default_factory=dict)
    augment: Augment | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.num_train / self.batch_size)

    def describe(self) -> str:
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.items() if n)
        return (f"{self.name}: {self.num_train} train / {self.num_val} validation images, {self.num_classes} classes"
                + (f"; skipped {skipped}" if skipped else ""))


def normalize(images, preprocessing):
    """float32 0-255 RGB images -> model inputs, by the registry's channel order, mean and std."""
    import tensorflow as tf

    if preprocessing.channel_order == "BGR":
        images = images[..., ::-1]
    mean = tf.constant(preprocessing.mean, tf.float32)
    std = tf.constant(preprocessing.std, tf.float32)
    return (images - mean) / std


def _random_resized_crops(images, size, augment: Augment):
    """Random resized crops (and flips) of a whole batch in one ``crop_and_resize``: area fraction uniform in
    ``scale``, log aspect ratio uniform in ``log(ratio)``, sides clipped to the image, position uniform."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    area = tf.random.uniform([n], *augment.scale)
    log_ratio = tf.random.uniform([n], math.log(augment.ratio[0]), math.log(augment.ratio[1]))
    w = tf.minimum(tf.sqrt(area * tf.exp(log_ratio)), 1.0)
    h = tf.minimum(tf.sqrt(area / tf.exp(log_ratio)), 1.0)
    y0 = tf.random.uniform([n]) * (1.0 - h)
    x0 = tf.random.uniform([n]) * (1.0 - w)
    boxes = tf.stack([y0, x0, y0 + h, x0 + w], axis=1)
    crops = tf.image.crop_and_resize(images, boxes, tf.range(n), (size, size), method="bilinear")
    if augment.flip:
        flip = tf.random.uniform([n, 1, 1, 1]) < 0.5
        crops = tf.where(flip, crops[:, :, ::-1, :], crops)
    return crops


def _center_crop(image, size):
    import tensorflow as tf

    h, w = tf.shape(image)[0], tf.shape(image)[1]
    return tf.image.crop_to_bounding_box(image, (h - size) // 2, (w - size) // 2, size, size)


def _finish(ds, *, training, size, preprocessing, num_classes, batch_size, augment, seed, cache, count):
    import tensorflow as tf

    augmenting = training and augment is not None
    if not augmenting:  # the final crop is fixed: take it before caching, once
        ds = ds.map(lambda x, y: (_center_crop(x, size), y), num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache() if cache is True else ds.cache(cache)
    if training:
        ds = ds.shuffle(min(count, 10_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, num_parallel_calls=tf.data.AUTOTUNE)

    # Whole batches are cropped and normalized with one op each, not one per image.
    def finish_batch(x, y):
        if augmenting:
            x = _random_resized_crops(x, size, augment)
        return normalize(x, preprocessing), tf.one_hot(y, num_classes)

    return ds.map(finish_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _array_dataset(images, labels, size):
    """Grayscale HxW uint8 arrays -> dataset of (size x size x 3 float32 0-255, label), resized once."""
    import numpy as np
    import tensorflow as tf

    x = tf.image.resize(tf.constant(images[..., None], tf.float32), (size, size), method="bilinear")
    x = tf.clip_by_value(tf.tile(x, (1, 1, 1, 3)), 0.0, 255.0)
    return tf.data.Dataset.from_tensor_slices((x, tf.constant(np.asarray(labels), tf.int32)))


def _square(image, load_size):
    """A decoded float32 image, short side resized to ``load_size`` (bilinear, antialiased), center-cropped square:
    the one resize of folder, TFRecord and TFDS images."""
    import tensorflow as tf

    h, w = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
    scale = load_size / tf.minimum(h, w)
    new = (tf.cast(tf.math.ceil(h * scale), tf.int32), tf.cast(tf.math.ceil(w * scale), tf.int32))
    image = tf.image.resize(image, new, method="bilinear", antialias=True)
    return _center_crop(image, load_size)


def _load_size(input_size, preprocessing) -> int:
    crop_fraction = getattr(preprocessing, "crop_fraction", 1.0)
    return max(input_size, int(round(input_size / crop_fraction)))


def _folder_dataset(paths, labels, load_size):
    import tensorflow as tf

    def decode(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return _square(tf.cast(image, tf.float32), load_size), label

    ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths), tf.constant(labels, tf.int32)))
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.ignore_errors(log_warning=True)


def load(
    source: str,
    input_size: int,
    preprocessing,
    batch_size: int = 64,
    val_split: float = 0.2,
    val_source: str | None = None,
    seed: int = 0,
    augment: Augment | None | str = "default",
    cache=True,
    class_names: list[str] | None = None,
    data_dir: str | None = None,
) -> Data:
    """Load ``source`` ("digits", "mnist5k", an image folder, ``tfrecord:GLOB`` or ``tfds:NAME[/CONFIG][:SPLIT]``,
    see ``squeezekit.data.records``; ``data_dir`` is TFDS's) as train and validation pipelines.

    Built-in datasets use their fixed held-out split. A folder is split per class by ``seed`` and
    ``val_split``, unless ``val_source`` gives a separate validation folder (same class folders).
    ``augment="default"`` picks mild crops without flips for digits and ImageNet-style crops and flips for
    folders; None turns augmentation off. ``cache`` is True (memory), a file path, or False.
    """
    if not isinstance(input_size, int) or input_size < 1:
        raise DataError(f"input_size must be a positive integer, got {input_size!r}.", param="input_size")
    if batch_size < 1:
        raise DataError(f"batch_size must be positive, got {batch_size}.", param="batch_size")
    source = str(source)
    common = dict(size=input_size, preprocessing=preprocessing, batch_size=batch_size, seed=seed, cache=cache)
    if builtin.parse(source) is not None:
        if augment == "default":
            augment = DIGITS_AUGMENT
        (x_train, x_val, y_train, y_val), names = builtin.load_arrays(source)
        num = len(names)
        train = _finish(_array_dataset(x_train, y_train, input_size), training=True, num_classes=num,
                        augment=augment, count=len(x_train), **common)
        val = _finish(_array_dataset(x_val, y_val, input_size), training=False, num_classes=num, augment=None,
                      count=len(x_val), **common)
        return Data(source, names, input_size, batch_size, train, val, len(x_train), len(x_val), {}, augment)

    if records.is_source(source):  # tfrecord:GLOB, tfds:NAME[/CONFIG][:SPLIT]
        return records.load(source, input_size, preprocessing, batch_size=batch_size, val_split=val_split,
                            val_source=val_source, seed=seed, augment=IMAGENET_AUGMENT if augment == "default"
                            else augment, cache=cache, class_names=class_names, data_dir=data_dir, finish=_finish,
                            load_size=_load_size(input_size, preprocessing), data_cls=Data)
    if source.lower() in ("imagenet", "cifar10", "cifar100", "mnist", "fashion_mnist"):
        raise DataError(f"dataset {source!r} cannot be downloaded here",
                        f"use {', '.join(BUILTIN)} or a folder with one subfolder of images per class.", param="data")
    if augment == "default":
        augment = IMAGENET_AUGMENT
    listing = folders.scan(source, class_names)
    skipped = dict(listing.skipped)
    if val_source:
        val_listing = folders.scan(val_source, listing.class_names)
        train_pl, val_pl = (listing.paths, listing.labels), (val_listing.paths, val_listing.labels)
        for why, n in val_listing.skipped.items():
            skipped[why] = skipped.get(why, 0) + n
    else:
        train_pl, val_pl = folders.split(listing, val_split, seed)
    crop_fraction = getattr(preprocessing, "crop_fraction", 1.0)
    load_size = max(input_size, int(round(input_size / crop_fraction)))
    num = len(listing.class_names)
    train = _finish(_folder_dataset(*train_pl, load_size), training=True, num_classes=num, augment=augment,
                    count=len(train_pl[0]), **common)
    val = _finish(_folder_dataset(*val_pl, load_size), training=False, num_classes=num, augment=None,
                  count=len(val_pl[0]), **common)
    name = source.rstrip("/").split("/")[-1] or source
    return Data(name, listing.class_names, input_size, batch_size, train, val, len(train_pl[0]), len(val_pl[0]),
                skipped, augment)


def load_all(source: str, input_size: int, preprocessing, class_names: list[str] | None = None,
             batch_size: int = 64, data_dir: str | None = None) -> Data:
    """Every image of a folder (or a built-in dataset's held-out split) as one evaluation pipeline.

    ``class_names`` (the model's output order) must match the folder's class folders; None takes them
    from the folder.
    """
    source = str(source)
    if builtin.parse(source) is not None:
        data = load(source, input_size, preprocessing, batch_size=batch_size, augment=None)
        return Data(source, data.class_names, input_size, batch_size, None, data.val, 0, data.num_val)
    if records.is_source(source):
        return records.load(source, input_size, preprocessing, batch_size=batch_size, val_split=0.2, val_source=None,
                            seed=0, augment=None, cache=False, class_names=class_names, data_dir=data_dir,
                            finish=_finish, load_size=_load_size(input_size, preprocessing), data_cls=Data,
                            every=True)
    listing = folders.scan(source, class_names)
    class_names = listing.class_names
    crop_fraction = getattr(preprocessing, "crop_fraction", 1.0)
    load_size = max(input_size, int(round(input_size / crop_fraction)))
    val = _finish(_folder_dataset(listing.paths, listing.labels, load_size), training=False, size=input_size,
                  preprocessing=preprocessing, num_classes=len(class_names), batch_size=batch_size, augment=None,
                  seed=0, cache=False, count=len(listing.paths))
    name = source.rstrip("/").split("/")[-1] or source
    return Data(name, list(class_names), input_size, batch_size, None, val, 0, len(listing.paths), listing.skipped)
