"""Keras 3 float32 forward latency of the model zoo, side by side in one run.

    python benchmarks/keras_forward.py [--models squeezenet1_1,sqnxt23] [--size 224] [--batch 1] [--rounds 15]

Models are timed in interleaved rounds (one call of each per round, order rotated) so that the machine's
noise hits them alike; the table gives medians, the spread (p90 / median) and each model's ratio to the
first one. This measures the Keras graph on TensorFlow, not TFLite: the converters' benchmarks do that.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

flags.DEFINE_list("models", ["squeezenet1_1", "squeezenet1_0", "sqnxt23", "sqnxt23v5", "g_sqnxt23"],
                  "Registered names; the first is the baseline of the ratio column.")
flags.DEFINE_integer("size", 224, "Input height and width.")
flags.DEFINE_integer("batch", 1, "Batch size.")
flags.DEFINE_integer("rounds", 15, "Timed rounds (after 3 warm-up calls per model).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    import squeezekit
    from squeezekit.models.accounting import model_stats

    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (FLAGS.batch, FLAGS.size, FLAGS.size, 3)), tf.float32)
    runs, macs = {}, {}
    for name in FLAGS.models:
        model = squeezekit.build(name, input_shape=(FLAGS.size, FLAGS.size, 3))
        macs[name] = model_stats(model).macs
        fn = tf.function(lambda t, m=model: m(t, training=False))
        for _ in range(3):
            fn(x).numpy()
        runs[name] = (fn, [])
    for r in range(FLAGS.rounds):
        order = FLAGS.models[r % len(FLAGS.models):] + FLAGS.models[: r % len(FLAGS.models)]
        for name in order:
            fn, times = runs[name]
            start = time.perf_counter()
            fn(x).numpy()
            times.append(time.perf_counter() - start)

    base = statistics.median(runs[FLAGS.models[0]][1])
    print(f"Keras 3 float32 forward, {FLAGS.size}x{FLAGS.size}, batch {FLAGS.batch}, {FLAGS.rounds} rounds "
          f"(TF intra-op threads: {tf.config.threading.get_intra_op_parallelism_threads() or 'default'})")
    print(f"{'model':<16} {'MMACs':>8} {'median ms':>10} {'p90/median':>11} {'GMAC/s':>7} {'x baseline':>11}")
    for name in FLAGS.models:
        times = sorted(runs[name][1])
        med = statistics.median(times)
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        gmacs = macs[name] * FLAGS.batch / med / 1e9
        print(f"{name:<16} {macs[name] / 1e6:>8.1f} {med * 1e3:>10.2f} {p90 / med:>11.2f} {gmacs:>7.1f} "
              f"{med / base:>11.2f}")


if __name__ == "__main__":
    app.run(main)
