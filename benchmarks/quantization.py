"""The quantization trade-off table: every flavour and selective option of two trained models, side by side.

    python benchmarks/quantization.py [--models squeezenet1_1,sqnxt23] [--runs DIR] [--out DIR]

Each model is trained on mnist5k at 32x32 (``python -m squeezekit.train --model M --data mnist5k --epochs 15
--out RUNS/M/pretrain``, skipped when the run exists: benchmarks/finetune.py makes the same runs), then exported
with the export CLI as a user does (``--qat_epochs 0 --profile none --optimize none``), once per row:

- float32, float16 (FP16-ready), dynamic, int16x8, int4: the flavours;
- int8: post-training calibration on 200 images, ranges corrected (the default), and ``--nocorrect_ranges``
  (TFLiteConverter's own ranges);
- int8 with ``--keep_float auto`` and with ``--int16x8_layers auto`` (target agreement 99%, at most 10% larger).

Columns, from each file's .report.json: held-out top-1 (1,000 mnist5k images the run held out) of the file and
of the Keras model, top-1 agreement with Keras, logit SNR against the float32 file (32 images;
``converters.layer_errors``), bytes. Host latency: the median whole-model time at 1 thread of all of a model's
files measured side by side in one process (``converters.profiling.host.interleaved_latency``: 15 rounds of 10
runs, interleaved), so every row sees the same machine load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_list("models", ["squeezenet1_1", "sqnxt23"], "Registered models.")
flags.DEFINE_string("runs", None, "Training runs: RUNS/MODEL/pretrain (made when missing; default: the output "
                    "folder).")
flags.DEFINE_string("out", None, "Keep the exports here (default: a temporary folder).")
flags.DEFINE_integer("epochs", 15, "Epochs on mnist5k, for runs that do not exist yet.")
FLAGS = flags.FLAGS

ROWS = [  # (label, export flags, file suffix)
    ("float32", ["--float32"], "float32"),
    ("float16 (FP16-ready)", ["--float16"], "float16"),
    ("dynamic", ["--dynamic"], "dynamic"),
    ("int16x8", ["--int16x8"], "int16x8"),
    ("int4 weights", ["--int4"], "int4"),
    ("int8, converter ranges", ["--int8", "--nocorrect_ranges"], "int8"),
    ("int8 (default)", ["--int8"], "int8"),
    ("int8 + keep_float auto", ["--int8", "--keep_float", "auto"], "int8"),
    ("int8 + int16x8_layers auto", ["--int8", "--int16x8_layers", "auto"], "int8"),
]


def _run(module: str, *args) -> None:
    result = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"error: python -m {module} {' '.join(args)} failed:\n{result.stderr[-2000:]}")


def main(argv):
    del argv
    from converters.profiling.host import interleaved_latency

    tmp = None if FLAGS.out else tempfile.TemporaryDirectory()
    root = FLAGS.out or tmp.name
    runs = FLAGS.runs or root
    table = []
    for model in FLAGS.models:
        run = os.path.join(runs, model, "pretrain")
        if not os.path.exists(os.path.join(run, "model.keras")):
            _run("squeezekit.train", "--model", model, "--data", "mnist5k", "--epochs", str(FLAGS.epochs),
                 "--out", run)
        files = {}
        for i, (label, args, suffix) in enumerate(ROWS):
            out = os.path.join(root, model, f"row{i}")
            start = time.perf_counter()
            _run("squeezekit.export", "--weights", os.path.join(run, "model.keras"), *args, "--qat_epochs", "0",
                 "--profile", "none", "--optimize", "none", "--out", out)
            [name] = [f for f in os.listdir(out) if f.endswith(f"_{suffix}.tflite")]
            path = os.path.join(out, name)
            with open(path[:-len(".tflite")] + ".report.json") as f:
                report = json.load(f)
            files[label] = path
            error = report.get("quantization_error") or {}
            table.append({"model": model, "row": label, "bytes": report["size_bytes"],
                          "top1": report["accuracy"]["tflite_top1"], "keras_top1": report["accuracy"]["keras_top1"],
                          "agreement": report["agreement"]["top1_agreement"],
                          "logit_snr_db": error.get("logit_snr_db"),
                          "selective": (report.get("selective") or {}).get("layers"),
                          "export_s": round(time.perf_counter() - start, 1)})
            print(f"{model}: {label} exported", flush=True)
        contents = {}
        for label, path in files.items():
            with open(path, "rb") as f:
                contents[label] = f.read()
        medians = interleaved_latency(contents, threads=1)
        for row in table:
            if row["model"] == model:
                row["host_ms"] = medians[row["row"]] / 1e3

    print("\n| model | file | held-out top-1 (Keras) | agreement | logit SNR dB | bytes | host ms, 1 thread |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in table:
        snr = f"{r['logit_snr_db']:.1f}" if r["logit_snr_db"] is not None else "float reference"
        chosen = f" ({len(r['selective'])} layer(s))" if r["selective"] is not None else ""
        print(f"| {r['model']} | {r['row']}{chosen} | {r['top1']:.1%} ({r['keras_top1']:.1%}) | {r['agreement']:.1%} "
              f"| {snr} | {r['bytes']:,} | {r['host_ms']:.3f} |")
    if FLAGS.out:
        with open(os.path.join(root, "quantization.json"), "w") as f:
            json.dump(table, f, indent=2)


if __name__ == "__main__":
    app.run(main)
