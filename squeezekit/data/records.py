"""TFRecord shards (``tfrecord:GLOB``) and prepared TensorFlow Datasets (``tfds:NAME[/CONFIG][:SPLIT]``).

Records are ``tf.train.Example``s in the ImageNet layout: ``image/encoded`` (the file's JPEG/PNG/GIF/BMP bytes),
``image/class/label`` (int64) and, optionally, ``image/class/text`` (the class name, bytes). Images go through the
folder pipeline's decode, resize and center crop (``loading._square``) and its ``_finish``, so a folder and its
shards give the same pixels.

Class names and counts. ``python -m squeezekit.data.shard`` writes two files beside the shards: ``labels.txt``
(line i names label i) and ``shards.json`` (each shard's record count, byte size and per-class counts, the label
offset, what was skipped). With ``shards.json`` listing every matched shard, the reader opens no record up front:
it checks each shard's size against it (a truncated or rewritten shard is refused) and takes counts and names
from it. Otherwise it reads every record once (labels, texts and the first bytes of each image), which also
verifies every record's checksums and framing; names then come from ``labels.txt`` beside the shards, else from
the records' texts, else they are the labels as written (``"1"``, ``"2"``...).

Labels. A record's class index is ``label - offset``. ``shards.json`` states the offset (0 for squeezekit's
shards). Without it the offset is 1 when no record has label 0 (the ImageNet TF records of TF-slim and the TPU
reference models number classes 1..1000, 0 being background) and either no ``labels.txt`` is there or it names
exactly the largest label's count of classes; else 0.

Validation: ``val_source`` (``tfrecord:GLOB2``, ``tfds:NAME:SPLIT``) with the same classes, or else a per-record
split: each shard holds out ``round(val_split * records)`` of its records, those with the smallest hashes of
(the shard's file name, the record's index, ``seed``). It does not depend on the order or location of the shards,
needs no pass over the data (the counts come from the same hash computed in numpy), and gives every worker its
share of validation records when shards are split by file (not stratified by class: within a shard the held-out
records are a random sample).

Corrupt data becomes a one-line ``DataError`` naming the shard: found up front as above; at training time (a shard
whose size matches ``shards.json`` but whose content was damaged) TensorFlow's ``DataLossError`` does not name the
file, and a record that is not an image stops with ``squeezekit: record N of FILE is not an image``
(``explain_error`` turns both into a ``DataError``).

Under ``MultiWorkerMirroredStrategy`` the records are sharded per worker by file when there are at least as many
shards as workers (``TF_CONFIG``), else by record (``AutoShardPolicy.FILE`` / ``DATA``, set explicitly).
"""

from __future__ import annotations

import glob as _glob
import json
import os
import random
import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from squeezekit.data import folders
from squeezekit.errors import DataError

LABELS_FILE = "labels.txt"
SHARDS_FILE = "shards.json"
FORMAT = "squeezekit-tfrecord-1"
IMAGE = "image/encoded"
LABEL = "image/class/label"
TEXT = "image/class/text"
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_M31 = (1 << 31) - 1


# --- the per-record split: the same hash in numpy (counts) and TensorFlow (the pipeline's filter) -----------------

def _mix(x, shift, mask):
    x = ((shift(x, 16) ^ x) * 0x45D9F3B) & mask
    x = ((shift(x, 16) ^ x) * 0x45D9F3B) & mask
    return shift(x, 16) ^ x


def _np_hash(key: int, index, seed: int):
    shift = np.right_shift
    index = np.asarray(index, np.int64)
    return _mix((np.int64(key) + _mix(index + _mix(np.int64(seed & _M31), shift, _M31), shift, _M31)) & _M31,
                shift, _M31)


def _tf_hash(key, index, seed: int):
    import tensorflow as tf

    shift = tf.bitwise.right_shift
    mask = tf.constant(_M31, tf.int64)
    mix = lambda x: _mix(x, shift, mask)  # noqa: E731
    inner = mix(tf.cast(index, tf.int64) + int(_mix(np.int64(seed & _M31), np.right_shift, _M31)))
    return mix((tf.cast(key, tf.int64) + inner) & mask)


def file_key(name: str) -> int:
    """The hash key of a shard (its file name, not its folder) or of a TFDS split."""
    return zlib.crc32(os.path.basename(name).encode()) & _M31


def threshold(key: int, count: int, val_split: float, seed: int) -> int:
    """The hash below which a record of a shard (or split) with ``key`` and ``count`` records is held out: the
    ``round(val_split * count)``-th smallest of its records' hashes, so each shard holds out its exact share."""
    k = int(round(val_split * count))
    if k >= count:
        return 1 << 31
    return int(np.partition(_np_hash(key, np.arange(count), seed), k)[k]) if count else 0


def held_out(key: int, count: int, val_split: float, seed: int) -> np.ndarray:
    """Which of ``count`` records of a shard (or split) with ``key`` the per-record split holds out."""
    return _np_hash(key, np.arange(count), seed) < threshold(key, count, val_split, seed)


def _check_split(val_split):
    if not 0.0 < val_split < 1.0:
        raise DataError(f"val_split must be between 0 and 1, got {val_split}", "or pass a separate validation source.",
                        param="val_split")


# --- shard sets --------------------------------------------------------------------------------------------------

@dataclass
class ShardSet:
    spec: str
    files: list[str]
    counts: list[int]
    class_names: list[str]
    offset: int = 0
    skipped: dict = field(default_factory=dict)
    label_counts: np.ndarray | None = None  # records per class index, over all files

    @property
    def total(self) -> int:
        return sum(self.counts)


def _read_sidecar(directory: str) -> dict | None:
    path = os.path.join(directory, SHARDS_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            meta = json.load(f)
        if meta.get("format") != FORMAT or not isinstance(meta.get("shards"), dict):
            raise ValueError("not a squeezekit shards file")
        return meta
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read {path}: {err}", f"remove it (the shards are then read once to count them) "
                        "or write the shards again with squeezekit.data.shard.") from None


def read_labels_file(directory: str) -> list[str] | None:
    path = os.path.join(directory, LABELS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def match(spec: str, param: str = "data") -> list[str]:
    """The shard files of ``tfrecord:GLOB`` (a folder means its ``*.tfrecord*`` files), sorted."""
    pattern = spec[len("tfrecord:"):]
    if not pattern:
        raise DataError(f"{spec!r} names no files", "give a pattern after tfrecord:, e.g. tfrecord:shards/train-*.",
                        param=None)
    if os.path.isdir(pattern):
        pattern = os.path.join(pattern, "*.tfrecord*")
    files = sorted(f for f in _glob.glob(os.path.expanduser(pattern)) if os.path.isfile(f))
    if not files:
        raise DataError(f"no TFRecord files match {pattern}", "check the pattern (quote it in a shell), e.g. "
                        "tfrecord:shards/train-*.", param=None)
    return files


def _decode_error(err) -> str:
    text = str(getattr(err, "message", err)).strip()
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", text)
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text.splitlines()[0] if text else type(err).__name__, flags=re.S)


def scan_file(path: str):
    """(labels, texts) of every record of one shard; reads it whole, so TensorFlow verifies every checksum.
    A record that is not a tf.train.Example with an image and a label, or whose image bytes are not a JPEG, PNG,
    GIF or BMP, is a ``DataError`` naming the shard and the record."""
    import tensorflow as tf

    features = {IMAGE: tf.io.FixedLenFeature([], tf.string), LABEL: tf.io.FixedLenFeature([], tf.int64),
                TEXT: tf.io.FixedLenFeature([], tf.string, default_value="")}

    def parse(batch):
        ex = tf.io.parse_example(batch, features)
        heads = tf.strings.substr(ex[IMAGE], 0, 8)
        return ex[LABEL], ex[TEXT], heads

    batches = tf.data.TFRecordDataset(path, buffer_size=8 << 20).batch(1024).map(parse)
    labels, texts, done = [], [], 0
    try:
        for label, text, heads in batches:
            for i, head in enumerate(heads.numpy()):
                if not head.startswith(_SIGNATURES):
                    raise DataError(f"record {done + i} of {path} is not a JPEG, PNG, GIF or BMP image",
                                    "write the shards again (squeezekit.data.shard).")
            labels.append(label.numpy())
            texts.extend(text.numpy().tolist())
            done += len(heads)
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as err:
        what = "is corrupt" if isinstance(err, tf.errors.DataLossError) else "holds a record that is not an image example"
        raise DataError(f"{path} {what} after its first {done} records ({_decode_error(err)})",
                        "write or copy the shard again.") from None
    return (np.concatenate(labels) if labels else np.zeros(0, np.int64)), texts


def shard_set(spec: str, class_names: list[str] | None = None, reference: ShardSet | None = None) -> ShardSet:
    """Find, verify and count the shards of ``tfrecord:GLOB``; ``reference`` (the training set) fixes the
    classes and label offset of a validation set."""
    files = match(spec)
    metas = {}
    for f in files:
        d = os.path.dirname(os.path.abspath(f))
        if d not in metas:
            metas[d] = _read_sidecar(d)
    described = all(metas[os.path.dirname(os.path.abspath(f))] is not None
                    and os.path.basename(f) in metas[os.path.dirname(os.path.abspath(f))]["shards"] for f in files)
    directories = sorted(metas)
    names_files = {d: read_labels_file(d) for d in directories}
    skipped: dict = {}
    if described:
        counts, label_counts, offsets, names = [], None, set(), set()
        for f in files:
            meta = metas[os.path.dirname(os.path.abspath(f))]
            entry = meta["shards"][os.path.basename(f)]
            size = os.path.getsize(f)
            if size != entry["bytes"]:
                raise DataError(f"{f} is {size} bytes but {SHARDS_FILE} beside it says {entry['bytes']}: the shard is "
                                "truncated or was rewritten", "copy or write the shards again (squeezekit.data.shard).")
            counts.append(int(entry["records"]))
            per_class = np.asarray(entry.get("labels", []), np.int64)
            if label_counts is None:
                label_counts = per_class
            elif len(per_class) == len(label_counts):
                label_counts = label_counts + per_class
            offsets.add(int(meta.get("label_offset", 0)))
            names.add(tuple(meta.get("classes") or names_files[os.path.dirname(os.path.abspath(f))] or ()))
        for meta, prefix in {(id(metas[os.path.dirname(os.path.abspath(f))]), _prefix(f)):
                             (metas[os.path.dirname(os.path.abspath(f))], _prefix(f)) for f in files}.values():
            for why, n in meta.get("skipped", {}).get(prefix, {}).items():
                skipped[why] = skipped.get(why, 0) + n
        if len(offsets) > 1 or len(names) > 1:
            raise DataError(f"the shards of {spec} come from folders whose {SHARDS_FILE} disagree on the classes",
                            "match shards of one shard set only.")
        offset, found = offsets.pop(), list(names.pop())
        if reference is not None:
            offset = reference.offset
        if not found:
            found = reference.class_names if reference else [str(i + offset) for i in range(len(label_counts))]
        result = ShardSet(spec, files, counts, found, offset, skipped, label_counts)
    else:
        all_labels, all_texts, counts = [], [], []
        for f in files:
            labels, texts = scan_file(f)
            all_labels.append(labels)
            all_texts.extend(texts)
            counts.append(len(labels))
        labels = np.concatenate(all_labels) if all_labels else np.zeros(0, np.int64)
        if not len(labels):
            raise DataError(f"the shards of {spec} hold no records", "write the shards again.", param=None)
        known = next((n for n in names_files.values() if n), None)
        if reference is not None:
            offset = reference.offset
        elif labels.min() >= 1 and (known is None or int(labels.max()) == len(known)):
            offset = 1
        else:
            offset = 0
        index = labels - offset
        if index.min() < 0:
            raise DataError(f"{spec} has label {int(labels.min())}, below the training data's first label {offset}")
        if reference is not None:
            found = reference.class_names
        elif known is not None:
            found = known
        else:
            texts_of = {}
            for i, t in zip(index.tolist(), all_texts):
                texts_of.setdefault(i, set()).add(t.decode("utf-8", "replace"))
            size = int(index.max()) + 1
            if all(len(texts_of.get(i, {""})) == 1 and "" not in texts_of.get(i, {""}) for i in range(size)):
                found = [texts_of[i].pop() for i in range(size)]
            else:
                found = [str(i + offset) for i in range(size)]
        if int(index.max()) >= len(found):
            raise DataError(f"{spec} has label {int(labels.max())} but only {len(found)} classes are named "
                            f"(offset {offset})", f"name every class in {LABELS_FILE} beside the shards.")
        result = ShardSet(spec, files, counts, list(found), offset, skipped,
                          np.bincount(index, minlength=len(found)))
    if class_names is not None and list(class_names) != result.class_names:
        raise DataError(f"{spec} holds classes {_short(result.class_names)}, but the model's classes are "
                        f"{_short(class_names)}", "use shards written from the same class folders.")
    if reference is None and result.label_counts is not None and np.count_nonzero(result.label_counts) < 2:
        raise DataError(f"the shards of {spec} hold only one class; a classifier needs at least two.")
    return result


def _prefix(path: str) -> str:
    """``train`` of ``.../train-00001-of-00004.tfrecord``."""
    return re.sub(r"-\d+-of-\d+(\.tfrecord)?$", "", os.path.basename(path))


def _short(names, limit=6):
    names = list(names)
    return str(names) if len(names) <= limit else f"[{', '.join(map(repr, names[:limit]))}, ... {len(names)} in all]"


# --- writing (python -m squeezekit.data.shard) ---------------------------------------------------------------

def _example(data: bytes, label: int, text: str, filename: str, fmt: str, height: int, width: int) -> bytes:
    import tensorflow as tf

    def b(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def i(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        IMAGE: b(data), "image/format": b(fmt.encode()), LABEL: i(label),
        TEXT: b(text.encode("utf-8")), "image/filename": b(filename.encode("utf-8")),
        "image/height": i(height), "image/width": i(width),
    })).SerializeToString()


def _decodable(paths):
    """(height, width) of each path, or None where TensorFlow cannot decode it (the folder pipeline drops those)."""
    import tensorflow as tf

    def shape(i, path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return i, tf.shape(image)[0], tf.shape(image)[1]

    ds = tf.data.Dataset.from_tensor_slices(list(paths)).enumerate().map(
        shape, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    found = [None] * len(paths)
    for i, h, w in ds.as_numpy_iterator():
        found[int(i)] = (int(h), int(w))
    return found


def _format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    return {"jpg": "jpeg"}.get(ext, ext)


def write_shards(folder: str, out: str, shards: int = 4, prefix: str = "train", seed: int = 0,
                 log=print) -> dict:
    """Write ``folder`` as ``shards`` TFRecord files in ``out``; returns the ``shards.json`` content."""
    import tensorflow as tf

    from converters.files import publish, write_atomic

    if not prefix or not all(c.isalnum() or c in "-_" for c in prefix):
        raise DataError(f"shard prefix {prefix!r} is not a plain name", "use letters, digits, - and _.", param="prefix")
    listing = folders.scan(folder)
    names = listing.class_names
    existing_names = read_labels_file(out) if os.path.isdir(out) else None
    if existing_names is not None and existing_names != names:
        raise DataError(f"{out} already holds shards of classes {_short(existing_names)}, but {folder} has "
                        f"{_short(names)}", "write into another folder, or from a folder with the same "
                        "class folders.", param="data")
    sizes = _decodable(listing.paths)
    skipped = dict(listing.skipped)
    skipped["undecodable"] = sum(s is None for s in sizes)
    items = [(p, l, s) for p, l, s in zip(listing.paths, listing.labels, sizes) if s is not None]
    if not 1 <= shards <= len(items):
        raise DataError(f"cannot write {shards} shards of {len(items)} images", "ask for between 1 shard and one "
                        "per image.", param="shards")
    random.Random(seed).shuffle(items)
    os.makedirs(out, exist_ok=True)
    old = _read_sidecar(out) if os.path.isfile(os.path.join(out, SHARDS_FILE)) else None
    meta = old or {"format": FORMAT, "label_offset": 0, "classes": names, "shards": {}, "skipped": {}}
    stale = [n for n in meta["shards"] if n.startswith(prefix + "-")]
    entries = {}
    for index in range(shards):
        name = f"{prefix}-{index:05d}-of-{shards:05d}.tfrecord"
        chunk = items[index * len(items) // shards:(index + 1) * len(items) // shards]
        path = os.path.join(out, name)

        def write(tmp, chunk=chunk):
            with tf.io.TFRecordWriter(tmp) as writer:
                for p, label, (h, w) in chunk:
                    with open(p, "rb") as f:
                        data = f.read()
                    writer.write(_example(data, label, names[label], os.path.relpath(p, folder), _format(p), h, w))

        publish(path, write)
        counts = [0] * len(names)
        for _, label, _ in chunk:
            counts[label] += 1
        entries[name] = {"records": len(chunk), "bytes": os.path.getsize(path), "labels": counts}
        log(f"wrote {path} ({len(chunk)} images)")
    for name in stale:
        if name not in entries:
            meta["shards"].pop(name, None)
            try:
                os.unlink(os.path.join(out, name))
            except FileNotFoundError:
                pass
    meta["shards"].update(entries)
    meta["skipped"][prefix] = {why: n for why, n in skipped.items() if n}
    # labels.txt and shards.json last: a reader never finds a sidecar that names shards not yet written.
    write_atomic(os.path.join(out, LABELS_FILE), "".join(n + "\n" for n in names))
    write_atomic(os.path.join(out, SHARDS_FILE), json.dumps(meta, indent=1) + "\n")
    kept = sum(e["records"] for e in entries.values())
    dropped = ", ".join(f"{n} {why}" for why, n in skipped.items() if n)
    log(f"{len(entries)} shards, {kept} images, {len(names)} classes" + (f"; skipped {dropped}" if dropped else ""))
    return meta


# --- pipelines ---------------------------------------------------------------------------------------------------

def num_workers() -> int:
    """Workers in ``TF_CONFIG``'s cluster (1 without one)."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "") or "{}").get("cluster", {})
    except ValueError:
        return 1
    return max(1, sum(len(cluster.get(kind, [])) for kind in ("chief", "worker")))


def shard_policy(num_files: int, workers: int | None = None):
    import tensorflow as tf

    workers = num_workers() if workers is None else workers
    policy = tf.data.experimental.AutoShardPolicy
    return policy.FILE if num_files >= workers else policy.DATA


def _with_policy(ds, policy):
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return ds.with_options(options)


def _decode(image_bytes, label, where, load_size, offset, num_classes):
    """Image bytes -> the folder pipeline's square, after checking (in the graph, with the shard's name in the
    message) that the bytes are an image and the label a class."""
    import tensorflow as tf

    from squeezekit.data.loading import _square

    head = tf.strings.substr(image_bytes, 0, 8)
    ok = tf.reduce_any([tf.strings.substr(head, 0, len(s)) == s for s in _SIGNATURES])
    index = tf.cast(label, tf.int32) - offset
    checks = [tf.debugging.Assert(ok, ["squeezekit: record", where[1], "of", where[0], "is not an image"]),
              tf.debugging.Assert((index >= 0) & (index < num_classes),
                                  ["squeezekit: record", where[1], "of", where[0], "has label", label,
                                   f"outside {offset}..{offset + num_classes - 1}"])]
    with tf.control_dependencies(checks):
        image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    return _square(tf.cast(image, tf.float32), load_size), index


def record_dataset(shards: ShardSet, load_size: int, part: str | None = None, val_split: float = 0.2,
                   seed: int = 0, num_classes: int | None = None):
    """(square float32 image, class index) of every record, or of the ``part`` ("train"/"val") of the
    per-record split; sharded per worker by file or by record (module docstring)."""
    import tensorflow as tf

    num_classes = num_classes or len(shards.class_names)
    features = {IMAGE: tf.io.FixedLenFeature([], tf.string), LABEL: tf.io.FixedLenFeature([], tf.int64)}
    keys = [file_key(f) for f in shards.files]
    limits = [threshold(k, n, val_split, seed) if part else 0 for k, n in zip(keys, shards.counts)]

    def read(path, key, limit):
        ds = tf.data.TFRecordDataset(path, buffer_size=4 << 20).enumerate()
        if part is not None:
            held = lambda i, _: _tf_hash(key, i, seed) < limit  # noqa: E731
            ds = ds.filter(held if part == "val" else lambda i, r: tf.logical_not(held(i, r)))
        return ds.map(lambda i, r: (path, i, r))

    def parse(path, i, record):
        ex = tf.io.parse_single_example(record, features)
        return _decode(ex[IMAGE], ex[LABEL], (path, i), load_size, shards.offset, num_classes)

    files = tf.data.Dataset.from_tensor_slices((tf.constant(shards.files), tf.constant(keys, tf.int64),
                                                tf.constant(limits, tf.int64)))
    # Reading is cheap next to decoding: a sequential interleave of a few files leaves the cores to the decoder.
    ds = files.interleave(read, cycle_length=max(1, min(len(shards.files), 4)), block_length=1)
    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _with_policy(ds, shard_policy(len(shards.files)))


def split_counts(shards: ShardSet, val_split: float, seed: int) -> tuple[int, int]:
    held = sum(int(held_out(file_key(f), n, val_split, seed).sum()) for f, n in zip(shards.files, shards.counts))
    return shards.total - held, held


# --- TensorFlow Datasets -----------------------------------------------------------------------------------------

@dataclass
class TfdsSource:
    spec: str
    name: str
    split: str
    builder: object
    image_key: str
    label_key: str
    class_names: list[str]
    count: int
    data_dir: str


def parse_tfds(spec: str) -> tuple[str, str]:
    body = spec[len("tfds:"):]
    name, _, split = body.partition(":")
    if not name:
        raise DataError(f"{spec!r} names no dataset", "write tfds:NAME[/CONFIG][:SPLIT], e.g. tfds:mnist:train.")
    return name, split or "train"


def tfds_source(spec: str, data_dir: str | None, class_names: list[str] | None = None) -> TfdsSource:
    """A prepared TFDS dataset split (never downloaded or prepared here)."""
    name, split = parse_tfds(spec)
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(f"{spec} needs the tensorflow-datasets package", "install it (pip install "
                        "tensorflow-datasets) or use image folders or TFRecord shards.") from None
    try:
        from tensorflow_datasets.core.utils import gcs_utils

        gcs_utils._is_gcs_disabled = True  # offline: never ask Google's bucket for metadata
    except (ImportError, AttributeError):
        pass
    root = os.path.expanduser(data_dir) if data_dir else None
    looked = root or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")
    fix = ("prepare it where there is internet (tensorflow_datasets' download_and_prepare or the tfds build command "
           "with this data_dir) and copy the folder here, or give the data_dir that holds it.")
    try:
        builder = tfds.builder(name, data_dir=root)
    except Exception as err:  # DatasetNotFoundError and friends, with a list of every registered dataset
        raise DataError(f"TFDS dataset {name} is not prepared in {looked} and is not a registered dataset "
                        f"({type(err).__name__})", fix, param="data_dir") from None
    if not builder.is_prepared():
        raise DataError(f"TFDS dataset {name} is not prepared: nothing at {builder.data_dir}", fix, param="data_dir")
    info = builder.info
    if info.supervised_keys and len(info.supervised_keys) == 2 and all(isinstance(k, str)
                                                                       for k in info.supervised_keys):
        image_key, label_key = info.supervised_keys
    else:
        flat = info.features
        image_key = next((k for k, v in flat.items() if type(v).__name__ == "Image"), None)
        label_key = next((k for k, v in flat.items() if type(v).__name__ == "ClassLabel"), None)
    feature = info.features[label_key] if label_key in getattr(info.features, "keys", lambda: [])() else None
    if image_key is None or feature is None or not hasattr(feature, "names") or type(
            info.features[image_key]).__name__ != "Image":
        raise DataError(f"TFDS dataset {name} has no image and class-label features to classify",
                        "use an image classification dataset.")
    try:
        count = int(info.splits[split].num_examples)
    except Exception:
        raise DataError(f"TFDS dataset {name} has no split {split!r}; it has {', '.join(sorted(info.splits))}",
                        "name one of them after the dataset, e.g. tfds:NAME:test.") from None
    names = list(feature.names)
    if class_names is not None and list(class_names) != names:
        raise DataError(f"{spec} has classes {_short(names)}, but the model's classes are {_short(class_names)}",
                        "use the dataset the model was trained on.")
    return TfdsSource(spec, name, split, builder, image_key, label_key, names, count, str(builder.data_dir))


def tfds_dataset(source: TfdsSource, load_size: int, part: str | None = None, val_split: float = 0.2, seed: int = 0):
    """(square float32 image, class index) of a TFDS split; the image bytes decoded as the folder pipeline does."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from squeezekit.data.loading import _square

    ds = source.builder.as_dataset(split=source.split, shuffle_files=False,
                                   decoders={source.image_key: tfds.decode.SkipDecoding()},
                                   read_config=tfds.ReadConfig(interleave_cycle_length=1))
    key = file_key(f"{source.name}:{source.split}")
    limit = threshold(key, source.count, val_split, seed) if part else 0
    ds = ds.enumerate()
    if part is not None:
        held = lambda i, _: _tf_hash(key, i, seed) < limit  # noqa: E731
        ds = ds.filter(held if part == "val" else lambda i, r: tf.logical_not(held(i, r)))

    def decode(i, example):
        image = tf.io.decode_image(example[source.image_key], channels=3, expand_animations=False)
        return _square(tf.cast(image, tf.float32), load_size), tf.cast(example[source.label_key], tf.int32)

    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def tfds_split_counts(source: TfdsSource, val_split: float, seed: int) -> tuple[int, int]:
    held = int(held_out(file_key(f"{source.name}:{source.split}"), source.count, val_split, seed).sum())
    return source.count - held, held


# --- load --------------------------------------------------------------------------------------------------------

def _kind(source: str | None) -> str | None:
    if source is None:
        return None
    return "tfrecord" if source.startswith("tfrecord:") else "tfds" if source.startswith("tfds:") else "other"


def is_source(source) -> bool:
    return isinstance(source, str) and _kind(source) in ("tfrecord", "tfds")


def load(source, input_size, preprocessing, *, batch_size, val_split, val_source, seed, augment, cache, class_names,
         data_dir, finish, load_size, data_cls, every=False):
    """``squeezekit.data.load`` (and, with ``every``, ``load_all``) for ``tfrecord:`` and ``tfds:`` sources."""
    kind = _kind(source)
    if val_source is not None and _kind(val_source) != kind:
        raise DataError(f"the validation source {val_source} is not a {kind} source like {source}",
                        f"give a {kind}: validation source too, or none (a split of the training records).",
                        param="val_data")
    common = dict(size=input_size, preprocessing=preprocessing, batch_size=batch_size, seed=seed)
    if kind == "tfrecord":
        shards = shard_set(source, class_names)
        names, skipped = shards.class_names, dict(shards.skipped)
        make = lambda s, part: record_dataset(s, load_size, part, val_split, seed, len(names))  # noqa: E731
        if every:
            parts = (None, (shards, None, shards.total))
        elif val_source:
            val = shard_set(val_source, names, reference=shards)
            parts = ((shards, None, shards.total), (val, None, val.total))
        else:
            _check_split(val_split)
            n_train, n_val = split_counts(shards, val_split, seed)
            parts = ((shards, "train", n_train), (shards, "val", n_val))
    else:
        src = tfds_source(source, data_dir, class_names)
        names, skipped = src.class_names, {}
        make = lambda s, part: tfds_dataset(s, load_size, part, val_split, seed)  # noqa: E731
        if every:
            parts = (None, (src, None, src.count))
        elif val_source:
            val = tfds_source(val_source, data_dir, names)
            parts = ((src, None, src.count), (val, None, val.count))
        else:
            _check_split(val_split)
            n_train, n_val = tfds_split_counts(src, val_split, seed)
            parts = ((src, "train", n_train), (src, "val", n_val))
    (train_part, val_part) = parts
    if val_part[2] == 0:
        raise DataError(f"the validation split of {source} is empty", "raise val_split or give a validation source.",
                        param="val_split")
    num = len(names)
    val = finish(make(val_part[0], val_part[1]), training=False, num_classes=num, augment=None,
                 count=val_part[2], cache=False if every else cache, **common)
    if train_part is None:
        return data_cls(source, list(names), input_size, batch_size, None, val, 0, val_part[2], skipped)
    if train_part[2] == 0:
        raise DataError(f"the training split of {source} is empty", "lower val_split.", param="val_split")
    train = finish(make(train_part[0], train_part[1]), training=True, num_classes=num, augment=augment,
                   count=train_part[2], cache=cache, **common)
    return data_cls(source, list(names), input_size, batch_size, train, val, train_part[2], val_part[2], skipped,
                    augment)


def explain_error(err) -> DataError | None:
    """A TensorFlow error from a tfrecord pipeline at training time as a one-line ``DataError`` (None if it is
    not one): a damaged shard (``DataLossError``) or a record that is not an image."""
    import tensorflow as tf

    text = str(getattr(err, "message", err))
    found = re.search(r"assertion failed: (\[squeezekit: record\].*)", text)
    if found:  # "[squeezekit: record] [2] [of] [FILE] [is not an image]": tf.debugging.Assert's data, bracketed
        pieces = re.findall(r"\[([^\]]*)\]", found.group(1))
        return DataError(f"record {' '.join(pieces[1:])}", "write the shards again (squeezekit.data.shard).")
    if isinstance(err, tf.errors.DataLossError):
        return DataError(f"a TFRecord shard is damaged ({_decode_error(err)})",
                         "find it by loading the data without shards.json beside the shards (every record is then "
                         "read and checked), and copy or write it again.")
    return None
