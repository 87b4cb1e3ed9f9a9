"""Fingerprints of a fixed set of exports and of the model table, to prove a refactor changed no behaviour.

    python benchmarks/export_fingerprints.py --out benchmarks/fingerprints.json     # record
    python benchmarks/export_fingerprints.py --check benchmarks/fingerprints.json   # compare (exit 1 if any differ)

Each export runs the export CLI (``python -m squeezekit.export``, as a user does) in a fresh process with the
Keras, NumPy and Python seeds set to 0 before anything is built: float32 and int8 (calibrated on the bundled
photo crops) of squeezenet1_1, sqnxt23 (1.0-SqNxt-23, official) and sqnxt23v5_w1 (imgclsmob), no profile,
``--optimize none`` (whether ``auto`` keeps a rewrite depends on the moment's timing). The
model table is ``python -m squeezekit.models --json --all_conventions``. Only the .tflite bytes are hashed;
the reports hold timings. The metadata inside each file carries ``squeezekit.__version__``, so a version bump
changes every hash (say so in the note when it does).
The SqueezeNext hashes also depend on the machine: recorded on one machine and checked on another, their files
differed at the baseline commit as much as after the change, while SqueezeNet's (no batch normalization) did
not; folding batch normalization into the convolutions in float is the likely cause. Compare against
fingerprints recorded on the same machine (record at the baseline commit, then check).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTS = [("squeezenet1_1", None), ("sqnxt23", None), ("sqnxt23v5_w1", "imgclsmob")]
FLAVOURS = ("float32", "int8")

SEEDED_EXPORT = """
import runpy, sys
import keras
keras.utils.set_random_seed(0)
sys.argv = ["squeezekit.export"] + sys.argv[1:]
runpy.run_module("squeezekit.export", run_name="__main__", alter_sys=True)
"""


def normalized(content: bytes) -> bytes:
    """``content`` with the time and date of every zip local header and central directory entry zeroed."""
    data = bytearray(content)
    for signature, offset in ((b"PK\x03\x04", 10), (b"PK\x01\x02", 12)):
        at = data.find(signature)
        while at != -1:
            data[at + offset:at + offset + 4] = bytes(4)
            at = data.find(signature, at + 4)
    return bytes(data)


def _run(args: list[str], out_dir: str | None = None) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable] + args, cwd=out_dir or ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"error: {' '.join(args[:3])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def fingerprints() -> dict:
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model, convention in EXPORTS:
            # --optimize none: auto's choice depends on timing; the rewrites have tests of their own.
            args = ["-c", SEEDED_EXPORT, "--model", model, "--out", tmp, "--profile", "none", "--optimize", "none"]
            args += [f"--{f}" for f in FLAVOURS] + (["--convention", convention] if convention else [])
            _run(args)
        for name in sorted(os.listdir(tmp)):
            if name.endswith(".tflite"):
                with open(os.path.join(tmp, name), "rb") as f:
                    result[name] = hashlib.sha256(normalized(f.read())).hexdigest()
    table = _run(["-m", "squeezekit.models", "--json", "--all_conventions"])
    result["model_table.json"] = hashlib.sha256(table.encode()).hexdigest()
    result["_model_table"] = json.loads(table)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="write the fingerprints to this JSON file")
    parser.add_argument("--check", help="compare with the fingerprints in this JSON file")
    args = parser.parse_args()
    now = fingerprints()
    print(f"| file | sha256 |\n|---|---|")
    for name, digest in now.items():
        if not name.startswith("_"):
            print(f"| {name} | {digest[:16]} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(now, f, indent=1)
            f.write("\n")
    if args.check:
        with open(args.check) as f:
            before = json.load(f)
        differ = [k for k in before if not k.startswith("_") and before[k] != now.get(k)]
        for name in differ:
            print(f"DIFFERS: {name}")
        if "model_table.json" in differ:
            rows_before = {(r["name"], r["convention"]): r for r in before["_model_table"]}
            for row in now["_model_table"]:
                old = rows_before.get((row["name"], row["convention"]))
                if old != row:
                    print(f"  table row {row['name']} ({row['convention']}): {old} -> {row}")
        print("same bytes and the same table" if not differ else f"{len(differ)} of {len(before) - 1} differ")
        return 1 if differ else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
