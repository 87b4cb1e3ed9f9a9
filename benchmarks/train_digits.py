"""The training acceptance run: each model with the train CLI's defaults for digits, timed.

    python benchmarks/train_digits.py [--models sqnxt23,squeezenet1_1]

Runs ``python -m squeezekit.train --model M --data digits --out TMP`` (32x32, the CLI's small-data recipe
and epochs) for each model and prints held-out top-1 and wall time. Goal: >= 0.95 in under 5 minutes each.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_list("models", ["sqnxt23", "squeezenet1_1"], "Registered models to train.")
flags.DEFINE_string("data", "digits", "Dataset.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in FLAGS.models:
            out = os.path.join(tmp, name)
            start = time.perf_counter()
            result = subprocess.run([sys.executable, "-m", "squeezekit.train", "--model", name, "--data", FLAGS.data,
                                     "--out", out], capture_output=True, text=True)
            wall = time.perf_counter() - start
            if result.returncode:
                sys.exit(f"error: training {name} failed:\n{result.stderr[-2000:]}")
            with open(os.path.join(out, "history.csv")) as f:
                history = list(csv.DictReader(f))
            rows.append((name, len(history), float(history[-1]["val_accuracy"]),
                         max(float(r["val_accuracy"]) for r in history), wall))
    print(f"{'model':<16} {'epochs':>6} {'final top-1':>12} {'best top-1':>11} {'wall s':>7}")
    for name, epochs, final, best, wall in rows:
        print(f"{name:<16} {epochs:>6} {final:>12.4f} {best:>11.4f} {wall:>7.0f}")


if __name__ == "__main__":
    app.run(main)
