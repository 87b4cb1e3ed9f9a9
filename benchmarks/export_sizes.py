"""Sizes of every registered model in the four --all TFLite flavours at 224x224 and 1000 classes
(benchmarks/flavours.py has int16x8, int4 and float16 with its FP16 metadata).

    python benchmarks/export_sizes.py [--pattern 'sqnxt*']

Exports each untrained model through ``converters`` (int8 calibrated on 4 random images: sizes do not depend
on the ranges), attaches the metadata (1000 labels) and prints file sizes, int8 bytes per trainable
parameter (goal: <= 1.30), gzip size of the int8 file and the conversion times.
"""

from __future__ import annotations

import gzip
import time

import numpy as np
from absl import app, flags, logging

flags.DEFINE_string("pattern", None, "Only models matching this pattern.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keras' SavedModel export logs every signature at INFO
    import squeezekit
    from converters import metadata, tflite

    rows = []
    for name in squeezekit.list_models(FLAGS.pattern):
        spec = squeezekit.models.get_spec(name)
        model = squeezekit.build(name, input_shape=(224, 224, 3))
        params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        images = np.random.default_rng(0).normal(0, 60, size=(4, 224, 224, 3)).astype(np.float32)
        sizes, seconds = {}, {}
        start = time.perf_counter()
        with tflite.exported(model) as saved:
            seconds["export"] = saved.seconds
            for flavour in tflite.ALL:
                c = tflite.convert(saved, tflite.Recipe(flavour, representative=lambda: [images]))
                p = spec.preprocessing
                info = metadata.ModelInfo(spec.name, spec.paper_name, spec.convention,
                                          [f"class_{i:03d}" for i in range(1000)], p.channel_order, list(p.mean),
                                          list(p.std), p.crop_fraction, flavour, False)
                content = metadata.attach(c.content, info)
                sizes[flavour] = content
                seconds[flavour] = c.seconds
        rows.append((name, params, sizes, seconds, time.perf_counter() - start))
    print(f"{'model':<28} {'params':>10} {'float32':>9} {'float16':>9} {'dynamic':>9} {'int8':>9} {'B/param':>8} "
          f"{'int8 gz':>9} {'convert s':>10}")
    for name, params, sizes, seconds, total in rows:
        kib = {k: len(v) / 1024 for k, v in sizes.items()}
        print(f"{name:<28} {params:>10,} {kib['float32']:>9.1f} {kib['float16']:>9.1f} {kib['dynamic']:>9.1f} "
              f"{kib['int8']:>9.1f} {len(sizes['int8']) / params:>8.3f} {len(gzip.compress(sizes['int8'], 9)) / 1024:>9.1f} "
              f"{total:>10.1f}")
    print("(sizes in KiB, metadata and 1000 labels included; int8 with int8 input and output)")


if __name__ == "__main__":
    app.run(main)
