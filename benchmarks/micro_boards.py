"""Which microcontroller boards each registry model fits, measured in the TensorFlow Lite Micro interpreter.

    python benchmarks/micro_boards.py [--sizes default,96] [--models squeezenet1_1,sqnxt23_w1] [--out FILE.md]

Every registry model (its default convention, 1000 classes, untrained: sizes do not depend on the values) is
exported by the CLI as users do (``python -m squeezekit.export --model M --int8 --profile tflm``, with the
default ``--optimize auto``) at each size, and the TFLM interpreter measures the arena
(``converters.profiling.tflm``). Flash is the .tflite's bytes (the model array a firmware links); SRAM is
the arena plus the margin ``--micro`` adds (``converters.micro.margin_bytes``). A model fits a board class
when both fit; code, stack and the TFLM library need room as well, so a fit within 10% is marked "tight".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_list("sizes", ["default", "96"], "Input sizes: 'default' (the model's) and/or numbers.")
flags.DEFINE_list("models", None, "Registry models (default: all of them).")
flags.DEFINE_string("out", None, "Also write the Markdown table to this file.")
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (name, SRAM bytes, flash bytes): classes of Cortex-M4/M7 parts.
BOARDS = [("256 KB / 1 MB", 256 << 10, 1 << 20), ("512 KB / 2 MB", 512 << 10, 2 << 20),
          ("1 MB / 2 MB", 1 << 20, 2 << 20)]


def _fits(sram: int, flash: int, board) -> str:
    _, ram, rom = board
    short = [what for what, need, have in (("SRAM", sram, ram), ("flash", flash, rom)) if need > have]
    if short:
        return f"no ({' and '.join(short)})"
    return "tight" if sram > 0.9 * ram or flash > 0.9 * rom else "yes"


def measure(model: str, size: str, out: str) -> dict:
    args = [sys.executable, "-m", "squeezekit.export", "--model", model, "--int8", "--profile", "tflm",
            "--out", out]
    if size != "default":
        args += ["--input_size", size]
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode:
        return {"model": model, "size": size, "error": proc.stderr.strip().splitlines()[-1]}
    path = next(os.path.join(out, f) for f in os.listdir(out) if f.endswith("_int8.tflite"))
    with open(path[:-len(".tflite")] + ".profile.json") as f:
        profile = json.load(f)
    micro = profile["targets"][0]["summary"]
    from converters import micro as micro_lib

    arena = micro["arena_bytes"]
    row = {"model": model, "size": size, "input": profile_input(path), "flash": os.path.getsize(path),
           "macs": profile["macs"], "params": profile["params"], "arena": arena,
           "activations": micro.get("activation_bytes"), "persistent": micro.get("persistent_bytes"),
           "sram": arena + micro_lib.margin_bytes(arena) if arena else None, "invoke": micro.get("invoke"),
           "max_lsb": (micro.get("compare") or {}).get("max_lsb"), "largest": micro.get("largest_tensor")}
    return row


def profile_input(path: str) -> int:
    from converters import graph

    with open(path, "rb") as f:
        g = graph.read(f.read())
    return g.tensors[g.inputs[0]].shape[1]


def table(rows: list[dict]) -> str:
    head = ("| model | input | flash (model bytes) | TFLM arena | of it: activations / persistent | MACs | "
            + " | ".join(b[0] for b in BOARDS) + " | largest tensor (share of arena) |")
    lines = [head, "|" + "---|" * (7 + len(BOARDS))]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['size']} | error: {r['error']} |" + " |" * (5 + len(BOARDS)))
            continue
        fits = " | ".join(_fits(r["sram"], r["flash"], b) for b in BOARDS)
        big = r["largest"] or {}
        lines.append(f"| {r['model']} | {r['input']} | {r['flash']:,} | {r['arena']:,} | "
                     f"{r['activations']:,} / {r['persistent']:,} | {r['macs'] / 1e6:,.1f} M | {fits} | "
                     f"{big.get('shape')} {100 * big.get('share_of_arena', 0):.0f}% |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    sys.path.insert(0, ROOT)
    from squeezekit.models import registry

    models = FLAGS.models or registry.list_models()
    rows, start = [], time.time()
    for model in models:
        for size in FLAGS.sizes:
            with tempfile.TemporaryDirectory() as out:
                row = measure(model, size, out)
            rows.append(row)
            print(json.dumps(row), flush=True)
    text = table(rows)
    print(text)
    print(f"{len(rows)} exports in {time.time() - start:.0f} s; board classes: SRAM / flash; SRAM is the TFLM arena "
          "plus --micro's margin.")
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
