"""Input pipeline throughput: an image folder against TFRecord shards of the same files.

    python benchmarks/data_throughput.py [--model squeezenet1_1] [--images 320] [--shards 8] [--rounds 3]

Writes ``--images`` JPEGs (random crops of scikit-learn's two sample photos, 320-480 px a side, quality 90) in 8
class folders, shards them with ``squeezekit.data.shard``, then times full passes over the training pipeline of
``squeezekit.data.load`` at the model's default size (decode, resize to the load size, the default augmentation,
normalize, batch): no model, no cache (``cache=False``: every pass decodes, as on data larger than memory). Passes
alternate folder / TFRecord for ``--rounds`` rounds after one untimed warm-up pass each; the table gives medians.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

flags.DEFINE_string("model", "squeezenet1_1", "Registered model: its default input size and preprocessing.")
flags.DEFINE_integer("images", 320, "Images to write (8 classes).")
flags.DEFINE_integer("shards", 8, "TFRecord shards.")
flags.DEFINE_integer("rounds", 3, "Timed passes of each pipeline.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
FLAGS = flags.FLAGS


def _write_folder(root, count):
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(0)
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        ch, cw = int(rng.integers(h // 2, h)), int(rng.integers(w // 2, w))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        size = (int(rng.integers(320, 481)), int(rng.integers(320, 481)))
        image = Image.fromarray(photo[top:top + ch, left:left + cw]).resize(size, Image.BILINEAR)
        folder = os.path.join(root, f"class{i % 8}")
        os.makedirs(folder, exist_ok=True)
        image.save(os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def _pass(dataset):
    start, n = time.perf_counter(), 0
    for x, _ in dataset:
        n += int(x.shape[0])
    return n, n / (time.perf_counter() - start)


def main(argv):
    del argv
    import squeezekit
    from squeezekit.data import load
    from squeezekit.data.records import write_shards

    spec = squeezekit.models.get_spec(FLAGS.model)
    size = spec.default_size
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = os.path.join(tmp, "images"), os.path.join(tmp, "shards")
        _write_folder(folder, FLAGS.images)
        write_shards(folder, out, FLAGS.shards, log=lambda _: None)
        mb = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out) if f.endswith(".tfrecord")) / 2**20
        sources = {"folder": folder, "tfrecord": f"tfrecord:{out}/train-*"}
        pipelines = {kind: load(source, size, spec.preprocessing, batch_size=FLAGS.batch_size, val_source=source,
                                cache=False).train for kind, source in sources.items()}
        rates = {kind: [] for kind in pipelines}
        counts = {}
        for kind, ds in pipelines.items():
            counts[kind] = _pass(ds)[0]  # warm-up: tracing, file cache
        for _ in range(FLAGS.rounds):
            for kind, ds in pipelines.items():
                rates[kind].append(_pass(ds)[1])
    base = statistics.median(rates["folder"])
    print(f"{FLAGS.model} training pipeline at {size}x{size} (default augmentation), batch {FLAGS.batch_size}, "
          f"{counts['folder']} JPEGs 320-480 px ({mb:.1f} MiB in {FLAGS.shards} shards), {os.cpu_count()} CPUs, "
          f"median of {FLAGS.rounds} passes")
    print(f"{'input':<10} {'images':>7} {'img/s (median)':>15} {'min':>8} {'max':>8} {'x folder':>9}")
    for kind in rates:
        med = statistics.median(rates[kind])
        print(f"{kind:<10} {counts[kind]:>7} {med:>15.0f} {min(rates[kind]):>8.0f} {max(rates[kind]):>8.0f} "
              f"{med / base:>9.2f}")


if __name__ == "__main__":
    app.run(main)
