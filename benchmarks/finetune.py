"""Does fine-tuning transfer? Pretrain on mnist5k, fine-tune on a 10% subset of digits, against from scratch.

    python benchmarks/finetune.py [--models sqnxt23,squeezenet1_1] [--seeds 0,1,2] [--pretrain_epochs 15]
        [--epochs 30] [--out DIR]

For each model, with the train CLI exactly as a user runs it (32x32, the small-data recipe):

    python -m squeezekit.train --model M --data mnist5k --epochs P --out DIR/M/pretrain
    python -m squeezekit.train --weights DIR/M/pretrain/model.keras --data "digits[:10%]" --epochs E --seed S \
        --out DIR/M/finetune-S
    python -m squeezekit.train --model M --data "digits[:10%]" --epochs E --seed S --out DIR/M/scratch-S

``digits[:10%]`` is 142 of the 1,437 training digits (the first 10% of each class of the fixed split); both
arms evaluate on the same 360 held-out digits and take the same epochs and steps (the same batch size on the
same images). Pretraining happens once per model (seed 0); the seeds vary the fine-tuning and from-scratch runs
(initialization of what is new, shuffling, augmentation). Prints final held-out top-1 of each run and the steps.
"""

from __future__ import annotations

import csv
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_list("models", ["sqnxt23", "squeezenet1_1"], "Registered models.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of the fine-tuning and from-scratch runs.")
flags.DEFINE_integer("pretrain_epochs", 15, "Epochs on mnist5k.")
flags.DEFINE_integer("epochs", 30, "Epochs on the digits subset, in both arms.")
flags.DEFINE_string("subset", "digits[:10%]", "The small dataset.")
flags.DEFINE_string("out", None, "Keep the runs here (default: a temporary folder).")
FLAGS = flags.FLAGS


def train(*args) -> float:
    """Run the train CLI; returns the wall time."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "squeezekit.train", *args], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"error: python -m squeezekit.train {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def final(run) -> tuple[float, int]:
    """(final held-out top-1, epochs) of a finished run."""
    with open(os.path.join(run, "history.csv")) as f:
        history = list(csv.DictReader(f))
    return float(history[-1]["val_accuracy"]), len(history)


def main(argv):
    del argv
    import squeezekit.data.builtin as builtin

    images = len(builtin.load_arrays(FLAGS.subset)[0][2])
    steps = math.ceil(images / 64) * FLAGS.epochs
    tmp = None if FLAGS.out else tempfile.TemporaryDirectory()
    root = FLAGS.out or tmp.name
    rows = []
    for model in FLAGS.models:
        pre = os.path.join(root, model, "pretrain")
        if not os.path.exists(os.path.join(pre, "model.keras")):
            wall = train("--model", model, "--data", "mnist5k", "--epochs", str(FLAGS.pretrain_epochs), "--out", pre)
            print(f"{model}: pretrained on mnist5k, {FLAGS.pretrain_epochs} epochs, held-out top-1 "
                  f"{final(pre)[0]:.4f} ({wall:.0f} s)", flush=True)
        for seed in FLAGS.seeds:
            result = {}
            for arm, args in (("finetune", ("--weights", os.path.join(pre, "model.keras"))),
                              ("scratch", ("--model", model))):
                run = os.path.join(root, model, f"{arm}-{seed}")
                if not os.path.exists(os.path.join(run, "model.keras")):
                    train(*args, "--data", FLAGS.subset, "--epochs", str(FLAGS.epochs), "--seed", seed, "--out", run)
                result[arm] = final(run)[0]
            rows.append((model, int(seed), result["finetune"], result["scratch"]))
            print(f"{model} seed {seed}: fine-tuned {result['finetune']:.4f}, from scratch {result['scratch']:.4f}",
                  flush=True)
    print(f"\n{FLAGS.subset}: {images} training images, {FLAGS.epochs} epochs = {steps} steps of 64 in both arms; "
          f"held-out top-1 on the 360 test digits")
    print(f"{'model':<16} {'seed':>4} {'fine-tuned':>11} {'from scratch':>13} {'gain':>7}")
    for model, seed, tuned, scratch in rows:
        print(f"{model:<16} {seed:>4} {tuned:>11.4f} {scratch:>13.4f} {tuned - scratch:>+7.4f}")
    for model in FLAGS.models:
        mine = [r for r in rows if r[0] == model]
        print(f"{model:<16} {'med':>4} {statistics.median(r[2] for r in mine):>11.4f} "
              f"{statistics.median(r[3] for r in mine):>13.4f}   above on {sum(r[2] > r[3] for r in mine)}/{len(mine)}")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    app.run(main)
