"""Registry models against a microcontroller budget, measured in TFLM, then trained as the search trains finalists.

    python benchmarks/micro_fit.py [--size 96] [--classes 10] [--max_arena_kb 256] [--max_flash_kb 1024]
                                   [--data mnist5k] [--epochs 6] [--models squeezenet1_1,sqnxt23_w1]

For each registry model (default: all): built at ``--size`` with ``--classes`` outputs, converted to full int8
(random calibration: sizes do not depend on the values) with repeated vectors stored once as the export does,
and measured: the TFLM interpreter's arena (``converters.profiling.tflm.arena``) and the file's bytes. The
models within both budgets are then trained on ``--data`` at ``--size`` with the recipe the search uses for its
finalists (``squeezekit.search.report``: sgd_cosine, label smoothing 0.1, batch 64, ``--epochs``, seed 0) and
scored on the held-out split. Prints one JSON line per model and a Markdown table; the best model that fits is
what ``python -m squeezekit.search ... --max_arena_kb --max_flash_kb`` results are compared with.
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags

flags.DEFINE_integer("size", 96, "Input size (deployment and training).")
flags.DEFINE_integer("classes", 10, "Classes (mnist5k has 10).")
flags.DEFINE_integer("max_arena_kb", 256, "TFLM arena budget, KiB.")
flags.DEFINE_integer("max_flash_kb", 1024, "Flash budget for the .tflite, KiB.")
flags.DEFINE_string("data", "mnist5k", "Training data (digits, mnist5k or a folder); empty: measure only.")
flags.DEFINE_integer("epochs", 6, "Training epochs.")
flags.DEFINE_integer("seed", 0, "Seed of the data split, shuffling and initialization.")
flags.DEFINE_list("models", None, "Registry models (default: all).")
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(name: str) -> dict:
    import numpy as np

    import squeezekit
    from converters import flatbuffer, graph, tflite
    from converters.profiling import tflm

    model = squeezekit.build(name, input_shape=(FLAGS.size, FLAGS.size, 3), classes=FLAGS.classes)
    images = np.random.default_rng(0).normal(0.0, 1.0, size=(2, FLAGS.size, FLAGS.size, 3)).astype(np.float32)
    content = flatbuffer.rewrite(tflite.convert(model, tflite.Recipe("int8", representative=lambda: [images])).content)
    arena = tflm.arena(content, graph.read(content))["arena_bytes"]
    fits = arena is not None and arena <= FLAGS.max_arena_kb * 1024 and len(content) <= FLAGS.max_flash_kb * 1024
    return dict(model=name, params=model.count_params(), arena_bytes=arena, flash_bytes=len(content), fits=fits)


def train(name: str) -> float:
    import keras

    import squeezekit
    import squeezekit.data
    import squeezekit.train
    from squeezekit.models.registry import get_spec

    keras.utils.set_random_seed(FLAGS.seed)
    data = squeezekit.data.load(FLAGS.data, FLAGS.size, get_spec(name).preprocessing, batch_size=64,
                                seed=FLAGS.seed, augment="default")
    model = squeezekit.build(name, input_shape=(FLAGS.size, FLAGS.size, 3), classes=data.num_classes)
    squeezekit.train.fit(model, data, recipe="sgd_cosine", epochs=FLAGS.epochs, label_smoothing=0.1, verbose=0)
    return float(model.evaluate(data.val, verbose=0, return_dict=True)["accuracy"])


def main(argv):
    del argv
    sys.path.insert(0, ROOT)
    from squeezekit.models import registry

    rows = []
    for name in FLAGS.models or registry.list_models():
        start = time.time()
        row = measure(name)
        if row["fits"] and FLAGS.data:
            row["top1"] = train(name)
        row["seconds"] = round(time.time() - start)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n| model | count_params | TFLM arena | file bytes | fits {FLAGS.max_arena_kb} KiB / {FLAGS.max_flash_kb} KiB "
          f"| {FLAGS.data} top-1 ({FLAGS.epochs} epochs at {FLAGS.size}) |\n|---|---:|---:|---:|---|---:|")
    for r in rows:
        top1 = f"{r['top1']:.2%}" if "top1" in r else "-"
        print(f"| {r['model']} | {r['params']:,} | {r['arena_bytes'] or 0:,} | {r['flash_bytes']:,} | "
              f"{'yes' if r['fits'] else 'no'} | {top1} |")


if __name__ == "__main__":
    app.run(main)
