"""Int8 fidelity on digits: float Keras vs PTQ int8 vs QAT int8, for models trained by the training CLI.

    python benchmarks/int8_digits.py [--models sqnxt23,squeezenet1_1] [--runs DIR] [--qat_epochs 3]

Trains each model with ``python -m squeezekit.train --model M --data digits`` (32x32, CLI defaults) into
``--runs`` unless a run is already there, then exports it twice with ``python -m squeezekit.export``:
``--qat_epochs 0`` (post-training calibration on 200 training images) and ``--qat_epochs N`` (QAT). Prints
held-out top-1 of the float Keras model and of both .tflite files, their top-1 agreement with the float
model, sizes and wall times. Goals (issue 4): QAT within 1.0 point of float, PTQ within 2.0, agreement
>= 98%.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_list("models", ["sqnxt23", "squeezenet1_1"], "Registered models.")
flags.DEFINE_string("runs", None, "Folder of training runs (one subfolder per model); default: a temporary one.")
flags.DEFINE_integer("qat_epochs", 3, "Quantization-aware training epochs.")
FLAGS = flags.FLAGS


def _run(*args):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"error: {' '.join(args[:3])} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def main(argv):
    del argv
    runs = FLAGS.runs or tempfile.mkdtemp(prefix="squeezekit-runs-")
    rows = []
    for name in FLAGS.models:
        run = os.path.join(runs, name)
        train_s = 0.0
        if not os.path.exists(os.path.join(run, "model.keras")):
            train_s = _run("squeezekit.train", "--model", name, "--data", "digits", "--out", run)
        reports = {}
        for kind, epochs in (("ptq", 0), ("qat", FLAGS.qat_epochs)):
            out = tempfile.mkdtemp(prefix=f"squeezekit-{kind}-")
            wall = _run("squeezekit.export", "--weights", os.path.join(run, "model.keras"), "--int8",
                        "--qat_epochs", str(epochs), "--out", out)
            [path] = [p for p in os.listdir(out) if p.endswith(".report.json")]
            with open(os.path.join(out, path)) as f:
                reports[kind] = (json.load(f), wall)
        rows.append((name, train_s, reports))
    print(f"{'model':<14} {'float':>7} {'PTQ':>7} {'agree':>7} {'QAT':>7} {'agree':>7} {'int8 KiB':>9} "
          f"{'train s':>8} {'PTQ s':>6} {'QAT s':>6}")
    for name, train_s, reports in rows:
        ptq, ptq_s = reports["ptq"]
        qat, qat_s = reports["qat"]
        print(f"{name:<14} {ptq['accuracy']['keras_top1']:>7.2%} {ptq['accuracy']['tflite_top1']:>7.2%} "
              f"{ptq['agreement']['top1_agreement']:>7.2%} {qat['accuracy']['tflite_top1']:>7.2%} "
              f"{qat['agreement']['top1_agreement']:>7.2%} {qat['size_bytes'] / 1024:>9.1f} {train_s:>8.0f} "
              f"{ptq_s:>6.0f} {qat_s:>6.0f}")
    print(f"(held-out digits, 360 images; runs in {runs})")


if __name__ == "__main__":
    app.run(main)
