"""Resume after ``kill -9`` mid-epoch: the held-out accuracy an uninterrupted run reaches, and a killed one.

    python benchmarks/resume.py [--model sqnxt23 --data digits --epochs 12 --seeds 0,1]

For each seed: ``python -m squeezekit.train`` uninterrupted; then the same run, ``kill -9``-ed at a seeded
moment in the middle of epoch ``--kill_epoch`` (once the backup of the epoch before is written, after 20-80% of
the previous epoch's duration), then ``--resume``d to the end. Prints the final and best held-out top-1 (the
history's val_accuracy, the run's held-out split) of both, the epoch the kill landed in and the epochs lost
(the part of that epoch that was redone).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_string("model", "sqnxt23", "Registered model.")
flags.DEFINE_string("data", "digits", "Dataset.")
flags.DEFINE_integer("epochs", 12, "Epochs of each run.")
flags.DEFINE_integer("kill_epoch", 6, "The epoch (1-based) in whose middle the kill lands.")
flags.DEFINE_list("seeds", ["0"], "Run seeds (also seed the kill moment).")
FLAGS = flags.FLAGS


def _train(*args):
    return [sys.executable, "-m", "squeezekit.train", *args]


def _history(out):
    with open(os.path.join(out, "history.csv")) as f:
        return [float(r["val_accuracy"]) for r in csv.DictReader(f)]


def _backup_epoch(out):
    try:
        with open(os.path.join(out, "backup", "training_metadata.json")) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _check(result, what):
    if result.returncode:
        sys.exit(f"error: {what} failed:\n{result.stderr[-2000:]}")


def main(argv):
    del argv
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in map(int, FLAGS.seeds):
            base = ["--model", FLAGS.model, "--data", FLAGS.data, "--epochs", str(FLAGS.epochs), "--seed", str(seed)]
            plain = os.path.join(tmp, f"plain{seed}")
            start = time.perf_counter()
            _check(subprocess.run(_train(*base, "--out", plain), capture_output=True, text=True), "the plain run")
            plain_s = time.perf_counter() - start

            killed = os.path.join(tmp, f"killed{seed}")
            start = time.perf_counter()
            proc = subprocess.Popen(_train(*base, "--out", killed), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            marks = {}
            while proc.poll() is None and _backup_epoch(killed) < FLAGS.kill_epoch - 1:
                e = _backup_epoch(killed)
                marks.setdefault(e, time.perf_counter())
                time.sleep(0.05)
            marks.setdefault(_backup_epoch(killed), time.perf_counter())
            if proc.poll() is not None:
                sys.exit("error: the run ended before the kill")
            epoch_s = marks[FLAGS.kill_epoch - 1] - marks.get(FLAGS.kill_epoch - 2, marks[FLAGS.kill_epoch - 1] - 5)
            delay = random.Random(seed).uniform(0.2, 0.8) * epoch_s
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            at_kill = _backup_epoch(killed)
            result = subprocess.run(_train("--out", killed, "--resume"), capture_output=True, text=True)
            _check(result, "the resumed run")
            killed_s = time.perf_counter() - start
            resumed_at = next((line for line in result.stdout.splitlines() if line.startswith("resuming")), "")
            a, b = _history(plain), _history(killed)
            rows.append((seed, a[-1], max(a), b[-1], max(b), at_kill + 1, delay / epoch_s, len(b), plain_s, killed_s,
                         resumed_at))

    print(f"{FLAGS.model} on {FLAGS.data}, {FLAGS.epochs} epochs, kill -9 in epoch {FLAGS.kill_epoch} then --resume")
    print("| seed | plain final | plain best | killed+resumed final | killed+resumed best | kill in epoch "
          "| epochs lost | epochs in history | plain s | killed+resume s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for seed, pf, pb, kf, kb, ep, lost, n, ps, ks, _ in rows:
        print(f"| {seed} | {pf:.4f} | {pb:.4f} | {kf:.4f} | {kb:.4f} | {ep} | {lost:.2f} | {n} | {ps:.0f} | {ks:.0f} |")
    for row in rows:
        print(f"seed {row[0]}: {row[-1]}")


if __name__ == "__main__":
    app.run(main)
