"""Training throughput: the image-folder pipeline against the same fit on in-memory arrays.

    python benchmarks/train_throughput.py [--model squeezenet1_1] [--size 32] [--epochs 4] [--rounds 2]

Writes mnist5k's 4,000 training digits as PNG files in class folders, then trains the same model on
(a) ``squeezekit.data.load(folder)`` (parallel decode, cache, shuffle, batch, prefetch), without augmentation,
(b) the same, with the default training augmentation, and (c) numpy arrays of the same decoded, resized and
normalized images passed straight to ``model.fit``. Epoch times exclude each fit's first epoch (tracing, cache
fill); runs alternate for ``--rounds`` rounds and the table gives medians. Goal: (a) / (c) >= 0.9.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

flags.DEFINE_string("model", "squeezenet1_1", "Registered model to train.")
flags.DEFINE_integer("size", 32, "Input size.")
flags.DEFINE_integer("epochs", 4, "Epochs per fit (the first is not timed).")
flags.DEFINE_integer("rounds", 2, "Alternating rounds of the three variants.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
FLAGS = flags.FLAGS


def _write_folder(root):
    import numpy as np
    import tensorflow as tf

    from squeezekit.data import builtin

    (x_train, _, y_train, _), names = builtin.load_arrays("mnist5k")
    for name in names:
        os.makedirs(os.path.join(root, name))
    for i, (img, label) in enumerate(zip(x_train, y_train)):
        png = tf.io.encode_png(np.repeat(img[..., None], 3, axis=-1)).numpy()
        with open(os.path.join(root, names[label], f"{i:05d}.png"), "wb") as f:
            f.write(png)
    return len(x_train)


def main(argv):
    del argv
    import keras
    import numpy as np

    import squeezekit
    import squeezekit.data
    import squeezekit.train

    class EpochTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.start)

    spec = squeezekit.models.get_spec(FLAGS.model)
    with tempfile.TemporaryDirectory() as root:
        count = _write_folder(root)
        plain = squeezekit.data.load(root, FLAGS.size, spec.preprocessing, batch_size=FLAGS.batch_size,
                                     val_split=0.01, augment=None)
        augmented = squeezekit.data.load(root, FLAGS.size, spec.preprocessing, batch_size=FLAGS.batch_size,
                                         val_split=0.01)
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in plain.train])
        x_arr, y_arr = np.concatenate(xs), np.concatenate(ys)
        n = len(x_arr)

        def run(kind):
            model = squeezekit.build(FLAGS.model, input_shape=(FLAGS.size, FLAGS.size, 3), classes=plain.num_classes)
            squeezekit.train.compile_model(model, plain, "sgd_cosine", FLAGS.epochs)
            timer = EpochTimer()
            if kind == "arrays":
                model.fit(x_arr, y_arr, batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, verbose=0,
                          callbacks=[timer])
            else:
                data = plain if kind == "folder" else augmented
                model.fit(data.train, epochs=FLAGS.epochs, verbose=0, callbacks=[timer])
            return [n / t for t in timer.times[1:]]

        kinds = ("folder", "folder+augment", "arrays")
        rates = {k: [] for k in kinds}
        for r in range(FLAGS.rounds):
            for kind in (kinds if r % 2 == 0 else kinds[::-1]):
                rates[kind] += run(kind)
    base = statistics.median(rates["arrays"])
    print(f"{FLAGS.model} at {FLAGS.size}x{FLAGS.size}, batch {FLAGS.batch_size}, {count} PNG files "
          f"({n} in the training split), {FLAGS.rounds} rounds x {FLAGS.epochs - 1} timed epochs")
    print(f"{'input':<16} {'img/s (median)':>15} {'min':>8} {'max':>8} {'x arrays':>9}")
    for kind in kinds:
        med = statistics.median(rates[kind])
        print(f"{kind:<16} {med:>15.0f} {min(rates[kind]):>8.0f} {max(rates[kind]):>8.0f} {med / base:>9.2f}")


if __name__ == "__main__":
    app.run(main)
