"""TFRecord shards (``tfrecord:GLOB``), their writer (``python -m squeezekit.data.shard``) and prepared TFDS data
(``tfds:NAME[:SPLIT]``): the same classes, counts and pixels as the image folder they came from; corrupt shards
as one-line ``DataError``s naming the file; per-worker sharding by file or by record."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from squeezekit.data import DataError, load, load_all, records
from squeezekit.models.registry import IMAGENET_RGB

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASSES = ("cat", "dog", "emu")


def _write_folder(root, classes=CLASSES, per_class=7, seed=0):
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 255, (30 + 3 * i, 44 - i, 3), dtype=np.uint8)  # odd shapes: resize + crop
            data = tf.io.encode_png(img) if i % 2 else tf.io.encode_jpeg(img)
            (root / c / f"{i}.{'png' if i % 2 else 'jpg'}").write_bytes(data.numpy())
    return root


def _cli(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """A folder of 3 x 7 images (plus files the pipeline skips) and its 3 shards, written by the CLI."""
    base = tmp_path_factory.mktemp("records")
    folder = _write_folder(base / "imgs")
    (folder / "cat" / "notes.txt").write_text("not an image")
    good = (folder / "dog" / "1.png").read_bytes()
    (folder / "dog" / "truncated.png").write_bytes(good[: len(good) // 3])
    result = _cli("-m", "squeezekit.data.shard", str(folder), str(base / "out"), "--shards", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train with --data 'tfrecord:" in result.stdout
    return folder, base / "out"


def _all(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy().argmax(1)) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def _by_content(x, y):
    """Images and labels in an order that does not depend on the pipeline's: by label, then pixel sum."""
    order = sorted(range(len(y)), key=lambda i: (int(y[i]), float(x[i].sum())))
    return x[order], y[order]


def test_shards_round_trip_to_the_folders_classes_and_pixels(shards):
    folder, out = shards
    names = sorted(p.name for p in out.iterdir())
    assert names == ["labels.txt", "shards.json"] + [f"train-{i:05d}-of-00003.tfrecord" for i in range(3)]
    assert (out / "labels.txt").read_text() == "cat\ndog\nemu\n"
    meta = json.loads((out / "shards.json").read_text())
    assert sum(e["records"] for e in meta["shards"].values()) == 21
    assert meta["skipped"]["train"] == {"not an image": 1, "undecodable": 1}
    # Original bytes, 0-based labels in sorted class order, the class name as text.
    first = next(iter(tf.data.TFRecordDataset(str(out / "train-00000-of-00003.tfrecord"))))
    ex = tf.train.Example.FromString(first.numpy()).features.feature
    label, text = ex["image/class/label"].int64_list.value[0], ex["image/class/text"].bytes_list.value[0].decode()
    assert text == CLASSES[label]
    assert ex["image/encoded"].bytes_list.value[0] == (folder / ex["image/filename"].bytes_list.value[0].decode()).read_bytes()

    spec = f"tfrecord:{out}/train-*"
    every, from_folder = load_all(spec, 24, IMAGENET_RGB), load_all(str(folder), 24, IMAGENET_RGB)
    assert every.class_names == from_folder.class_names == list(CLASSES)
    assert every.num_val == 21 and from_folder.num_val == 22  # the folder's count has the file its pipeline drops
    x_rec, y_rec = _by_content(*_all(every.val))
    x_dir, y_dir = _by_content(*_all(from_folder.val))
    assert (y_rec == y_dir).all() and x_rec.shape == (21, 24, 24, 3)
    np.testing.assert_array_equal(x_rec, x_dir)  # the same decode, resize and crop: the same pixels

    data = load(spec, 24, IMAGENET_RGB, batch_size=4, val_split=0.3, seed=1, augment=None)
    assert data.class_names == list(CLASSES) and data.skipped == {"not an image": 1, "undecodable": 1}
    x_train, _ = _all(data.train)
    x_val, y_val = _all(data.val)
    assert (len(x_train), len(x_val)) == (data.num_train, data.num_val) and data.num_train + data.num_val == 21
    assert data.num_val == 6  # round(0.3 * 7) of each shard
    sums = lambda x: {round(float(v), 2) for v in x.sum((1, 2, 3))}  # noqa: E731
    assert not sums(x_train) & sums(x_val) and len(sums(x_train) | sums(x_val)) == 21
    again = load(spec, 24, IMAGENET_RGB, batch_size=4, val_split=0.3, seed=1, augment=None)
    assert sums(_all(again.val)[0]) == sums(x_val)  # deterministic
    other = [load(spec, 24, IMAGENET_RGB, val_split=0.3, seed=s, augment=None) for s in (2, 3, 4)]
    assert any(sums(_all(d.val)[0]) != sums(x_val) for d in other)
    augmented = load(spec, 24, IMAGENET_RGB, batch_size=8, val_split=0.3, seed=1)
    assert augmented.augment is not None and next(iter(augmented.train))[0].shape[1:] == (24, 24, 3)


def test_without_the_sidecar_the_shards_are_read_once(shards, tmp_path):
    _, out = shards
    copy = shutil.copytree(out, tmp_path / "copy")
    (copy / "shards.json").unlink()
    with_labels = load(f"tfrecord:{copy}", 24, IMAGENET_RGB, val_split=0.3, seed=1)  # a folder: its *.tfrecord*
    assert with_labels.class_names == list(CLASSES) and with_labels.num_train + with_labels.num_val == 21
    (copy / "labels.txt").unlink()
    from_texts = load(f"tfrecord:{copy}/train-*", 24, IMAGENET_RGB, val_split=0.3, seed=1)
    assert from_texts.class_names == list(CLASSES)
    assert (from_texts.num_train, from_texts.num_val) == (with_labels.num_train, with_labels.num_val)


def _write_records(path, items):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in items:
            feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
                       "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def test_one_based_labels_without_names_and_a_separate_validation_set(tmp_path):
    """ImageNet's TF records number classes from 1 (0 = background): no label 0 means labels 1..N."""
    png = tf.io.encode_png(np.full((8, 8, 3), 200, np.uint8)).numpy()
    _write_records(tmp_path / "train-0.tfrecord", [(png, 1 + i % 3) for i in range(9)])
    _write_records(tmp_path / "val-0.tfrecord", [(png, 1 + i % 3) for i in range(3)] + [(png, 3)])
    data = load(f"tfrecord:{tmp_path}/train-*", 16, IMAGENET_RGB, val_source=f"tfrecord:{tmp_path}/val-*",
                augment=None, batch_size=16)
    assert data.class_names == ["1", "2", "3"] and (data.num_train, data.num_val) == (9, 4)
    assert sorted(_all(data.val)[1].tolist()) == [0, 1, 2, 2]
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")  # names for labels 1..3
    assert load_all(f"tfrecord:{tmp_path}/train-*", 16, IMAGENET_RGB).class_names == ["a", "b", "c"]
    with pytest.raises(DataError, match="the model's classes are"):
        load_all(f"tfrecord:{tmp_path}/train-*", 16, IMAGENET_RGB, class_names=["x", "y", "z"])
    with pytest.raises(DataError, match="no TFRecord files match"):
        load(f"tfrecord:{tmp_path}/nothing-*", 16, IMAGENET_RGB)
    with pytest.raises(DataError, match="validation source"):
        load(f"tfrecord:{tmp_path}/train-*", 16, IMAGENET_RGB, val_source=str(tmp_path))


def _one_line(excinfo, *parts):
    message = str(excinfo.value)
    assert "\n" not in message and all(p in message for p in parts), message
    return message


def test_corrupt_shards_are_one_line_errors_naming_the_file(shards, tmp_path):
    _, out = shards
    bad = "train-00001-of-00003.tfrecord"
    spec = lambda d: f"tfrecord:{d}/train-*"  # noqa: E731
    data = (out / bad).read_bytes()

    truncated = shutil.copytree(out, tmp_path / "truncated")
    (truncated / bad).write_bytes(data[: len(data) - 100])
    with pytest.raises(DataError) as excinfo:  # shards.json: the size does not match
        load(spec(truncated), 24, IMAGENET_RGB)
    _one_line(excinfo, str(truncated / bad), "truncated")
    (truncated / "shards.json").unlink()
    with pytest.raises(DataError) as excinfo:  # no shards.json: found while reading every record
        load(spec(truncated), 24, IMAGENET_RGB)
    _one_line(excinfo, str(truncated / bad), "is corrupt after its first")

    flipped = shutil.copytree(out, tmp_path / "flipped")
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF  # inside an image: the record's checksum no longer matches
    (flipped / bad).write_bytes(bytes(damaged))
    # With shards.json the size matches, so the damage shows while training: TensorFlow's DataLossError does not
    # name the file; explain_error makes it one line that says what to do.
    data_ = load(spec(flipped), 24, IMAGENET_RGB, augment=None, val_split=0.3)
    with pytest.raises(tf.errors.DataLossError) as tf_error:
        for _ in data_.train:
            pass
    assert "damaged" in str(records.explain_error(tf_error.value))
    (flipped / "shards.json").unlink()
    with pytest.raises(DataError) as excinfo:
        load(spec(flipped), 24, IMAGENET_RGB)
    _one_line(excinfo, str(flipped / bad), "corrupt", "corrupted record")

    # A well-formed record whose image is not an image.
    png = tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy()
    _write_records(tmp_path / "x-0.tfrecord", [(png, 0), (png, 1), (b"<html>not found</html>", 1), (png, 0)])
    with pytest.raises(DataError) as excinfo:
        load(f"tfrecord:{tmp_path}/x-*", 16, IMAGENET_RGB)
    _one_line(excinfo, f"record 2 of {tmp_path / 'x-0.tfrecord'}", "not a JPEG, PNG")
    # The same record met while training (a shards.json vouched for the file): the pipeline names it.
    (tmp_path / "shards.json").write_text(json.dumps({"format": records.FORMAT, "classes": ["a", "b"], "shards": {
        "x-0.tfrecord": {"records": 4, "bytes": os.path.getsize(tmp_path / "x-0.tfrecord"), "labels": [2, 2]}}}))
    every = load_all(f"tfrecord:{tmp_path}/x-*", 16, IMAGENET_RGB)
    with pytest.raises(tf.errors.InvalidArgumentError) as tf_error:
        _all(every.val)
    explained = records.explain_error(tf_error.value)
    assert str(explained).startswith(f"record 2 of {tmp_path / 'x-0.tfrecord'} is not an image")

    # Through the training CLI: one line on stderr, the shard's name in it, no traceback.
    result = _cli("-m", "squeezekit.train", "--model", "sqnxt23", "--data", spec(truncated), "--input_size", "32",
                  "--epochs", "1", "--out", str(tmp_path / "run"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and str(truncated / bad) in lines[0], result.stderr[-3000:]


def test_split_hash_agrees_between_numpy_and_tensorflow():
    index = np.arange(5000)
    for key, seed in ((0, 0), (records.file_key("train-00001-of-00004.tfrecord"), 7), (2**31 - 1, 2**40)):
        ours = records._np_hash(key, index, seed)
        theirs = records._tf_hash(tf.constant(key, tf.int64), tf.constant(index), seed).numpy()
        np.testing.assert_array_equal(ours, theirs)
    assert records.held_out(123, 20000, 0.2, 0).sum() == 4000 and records.held_out(5, 7, 0.3, 1).sum() == 2
    assert records.held_out(5, 7, 0.3, 1).tolist() != records.held_out(5, 7, 0.3, 2).tolist()


def test_workers_read_their_own_files_or_records(shards, monkeypatch):
    from tensorflow.python.data.experimental.ops.distribute import _AutoShardDataset

    _, out = shards
    policy = tf.data.experimental.AutoShardPolicy
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert records.num_workers() == 2
    assert records.shard_policy(3) == policy.FILE and records.shard_policy(1) == policy.DATA
    for files, expected in ((f"{out}/train-*", policy.FILE), (f"{out}/train-00000-*", policy.DATA)):
        shard_set = records.shard_set(f"tfrecord:{files}")
        ds = records.record_dataset(shard_set, 16)
        assert ds.options().experimental_distribute.auto_shard_policy == expected
        seen = [sorted(round(float(x.numpy().sum()), 1) for x, _ in _AutoShardDataset(ds, 2, k)) for k in (0, 1)]
        assert seen[0] and seen[1] and not set(seen[0]) & set(seen[1])
        assert len(seen[0]) + len(seen[1]) == shard_set.total
        if expected == policy.FILE:  # whole files: worker 0 has shards 0 and 2, worker 1 shard 1
            counts = shard_set.counts
            assert sorted(map(len, seen)) == sorted([counts[0] + counts[2], counts[1]])


# --- TensorFlow Datasets ------------------------------------------------------------------------------------------

def _prepare_tfds(data_dir, arrays):
    import tensorflow_datasets as tfds

    class SqueezekitTinyShapes(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, supervised_keys=("image", "label"),
                                         features=tfds.features.FeaturesDict({
                                             "image": tfds.features.Image(shape=(None, None, 3)),
                                             "label": tfds.features.ClassLabel(names=list(CLASSES))}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(arrays[:15]), "test": self._generate_examples(arrays[15:])}

        def _generate_examples(self, items):
            for i, (image, label) in enumerate(items):
                yield i, {"image": image, "label": label}

    builder = SqueezekitTinyShapes(data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return "squeezekit_tiny_shapes"


def test_tfds_prepared_dataset(tmp_path):
    rng = np.random.default_rng(3)
    arrays = [(rng.integers(0, 255, (20 + i % 4, 26, 3), dtype=np.uint8), i % 3) for i in range(20)]
    name = _prepare_tfds(tmp_path / "tfds", arrays)
    data = load(f"tfds:{name}", 16, IMAGENET_RGB, data_dir=str(tmp_path / "tfds"), val_source=f"tfds:{name}:test",
                augment=None, batch_size=8)
    assert data.class_names == list(CLASSES) and (data.num_train, data.num_val) == (15, 5)
    x_val, y_val = _all(data.val)
    assert x_val.shape == (5, 16, 16, 3) and sorted(y_val.tolist()) == sorted(label for _, label in arrays[15:])
    # The same pixels as the folder pipeline on the same images (TFDS stores them as PNG).
    folder = tmp_path / "test_images"
    for i, (image, label) in enumerate(arrays[15:]):
        (folder / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        (folder / CLASSES[label] / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    x_dir, y_dir = _by_content(*_all(load_all(str(folder), 16, IMAGENET_RGB).val))
    x_tfds, y_tfds = _by_content(x_val, y_val)
    np.testing.assert_array_equal(x_tfds, x_dir)
    split = load(f"tfds:{name}:train", 16, IMAGENET_RGB, data_dir=str(tmp_path / "tfds"), val_split=0.4, seed=2)
    assert split.num_train + split.num_val == 15 and split.num_val >= 1
    assert len(_all(split.val)[1]) == split.num_val and len(_all(split.train)[1]) == split.num_train

    empty = tmp_path / "empty"
    for spec, found in ((f"tfds:mnist", f"nothing at {empty}"), ("tfds:no_such_dataset_xyz", f"not prepared in {empty}"),
                        (f"tfds:{name}:validation", "has no split 'validation'")):
        with pytest.raises(DataError) as excinfo:
            load(spec, 16, IMAGENET_RGB, data_dir=str(tmp_path / "tfds") if "validation" in spec else str(empty))
        _one_line(excinfo, found)
