"""Export a model to TFLite: ``python -m squeezekit.export --model sqnxt23 --int8``.

    python -m squeezekit.export --model sqnxt23 --int8                  # untrained, 227x227, for size/latency
    python -m squeezekit.export --weights runs/sqnxt23/model.keras --int8   # trained: QAT, then int8
    python -m squeezekit.export --weights runs/x/model.keras --all --qat_epochs 0   # PTQ and every flavour
    python -m squeezekit.export --model squeezenet1_0 --compress 6bit      # Deep Compression, one shot
    python -m squeezekit.export --weights runs/x/model.keras --compress 6bit --data digits   # fine-tuned

Each export writes ``NAME_FLAVOUR.tflite`` (metadata inside: labels, input size, channel order,
normalization, quantization) and its verification report (``.report.json`` and ``.report.md``) to ``--out``.
With ``--weights`` the input size, labels, preprocessing and data come from the run; int8 then
quantization-aware trains for ``--qat_epochs`` (default 3) on the run's data. Without weights the untrained
registry model is exported at its default size and calibrated on bundled photos. ``--optimize`` (default
``auto``) applies the exact rewrites of ``converters.rewrite`` that measure faster on this CPU
(``--optimize none`` keeps the converter's graph; ``--optimize space_to_depth_stem`` applies it regardless,
for phones).

Under another Keras backend (``KERAS_BACKEND=jax`` or ``torch``) the command stages the model (its weights as a
``.weights.h5``, its outputs on seeded inputs) and runs itself again with ``KERAS_BACKEND=tensorflow``, which
rebuilds the model, loads the weights, checks the outputs equal and converts: same flags, same files, and the
output and exit status are that process's.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

from squeezekit import cli  # first: it quiets TensorFlow before anything loads it

from absl import app, flags

from converters import compress, rewrite, tflite
from converters.profiling import cpu, run as profiling
from squeezekit import webdemo

flags.DEFINE_string("model", None, "Registered model name or alias (python -m squeezekit.models lists them).")
flags.DEFINE_string("convention", None, "Model convention; default: the model's (or the run's).")
flags.DEFINE_string("weights", None, "A model.keras written by squeezekit.train; default: the untrained model.")
flags.DEFINE_string("data", None, "digits, mnist5k or an image folder, for calibration, QAT and verification; "
                    "default: the run's data (with --weights) or bundled photos.")
_FLAVOUR_HELP = {"float32": "Plain float32.",
                 "float16": "float16 weights, float32 compute; the file's reduced_precision_support metadata "
                            "(fp16accfp16) lets XNNPACK compute in FP16 on phones with FP16 arithmetic.",
                 "dynamic": "Dynamic range: int8 weights, float activations.",
                 "int8": "Full integer int8 (the default when no flavour is given).",
                 "int16x8": "Full integer with int16 activations and int8 weights, int16 input and output, "
                            "calibrated like int8 (--calibration_images); closer to float than int8 but runs on "
                            "reference kernels, 27-88x slower than int8 on x86 (docs/quantization.md). Not in --all.",
                 "int4": "int4 weights (AI Edge Quantizer), float32 activations. Not in --all."}
for _flavour in tflite.FLAVOURS:
    flags.DEFINE_boolean(_flavour, False, _FLAVOUR_HELP[_flavour])
flags.DEFINE_boolean("all", False, f"The {len(tflite.ALL)} flavours every phone CPU runs fast: "
                     f"{cli.one_of(tflite.ALL, '--')} (add --int16x8 or --int4 by name).")
flags.DEFINE_integer("qat_epochs", None, "Quantization-aware training epochs before int8 conversion; 0 calibrates "
                     "after training instead (PTQ). Default: 3 with --weights, else 0.")
flags.DEFINE_float("qat_lr", 1e-3, "Peak learning rate of quantization-aware training (cosine to 0); with "
                   "--compress, of the pruning fine-tune (clustering and QAT at half), default 0.0025 there.")
flags.DEFINE_enum("input_type", "int8", tflite.IO_TYPES, "int8 model input type.")
flags.DEFINE_enum("output_type", "int8", tflite.IO_TYPES, "int8 model output type.")
flags.DEFINE_integer("input_size", None, "Input height and width (untrained model only; default: the model's).")
flags.DEFINE_integer("calibration_images", 200, "Images for post-training int8 calibration.")
flags.DEFINE_string("out", "exports", "Folder for the .tflite files and their reports.")
flags.DEFINE_string("profile", "all", "Profile targets written beside each .tflite (NAME.profile.json/.md/.png; "
                    f"see python -m squeezekit.profile): {', '.join(profiling.TARGETS)}, all, or none.")
flags.DEFINE_string("micro", None, "Also write TensorFlow Lite Micro firmware sources for the int8 file into this "
                    "folder: model_data.h/.cc (the model as a C array), model_ops.h (its op resolver), the arena "
                    "size TFLM measured, and a README with flash, SRAM and MACs.")
flags.DEFINE_string("android_demo", None, "Also copy the exported model into this Android demo project "
                    "(android_demo/) as app/src/main/assets/model.tflite; with several flavours the int8 one (the app "
                    "reads no int16x8 file).")
flags.DEFINE_string("web_demo", None, "Also copy the exported model into the browser demo (web_demo/) as "
                    "models/model.tflite, the file its page loads; with several flavours the int8 one. Serve it with "
                    "python -m squeezekit.serve web_demo/.")
flags.DEFINE_string("compress", None, "Deep Compression to int8: " + cli.one_of(
                    f"{name} ({2 ** bits} shared values per layer)" for name, bits in compress.BITS.items())
                    + ": prune, cluster, then sparsity- and cluster-preserving QAT (converters/compress.py); "
                    "the report adds raw, gzip and Deep-Compression-coded sizes.")
flags.DEFINE_float("sparsity", None, "With --compress: fraction of conv weights pruned (default 0.67; the first "
                   "conv 0.35).")
flags.DEFINE_integer("prune_epochs", None, "With --compress: pruning fine-tune epochs (default with --weights: "
                     "enough for 1800 steps, at least 3; else 0: one-shot magnitude pruning).")
flags.DEFINE_integer("cluster_epochs", None, "With --compress: clustering fine-tune epochs (default with --weights: "
                     "enough for 230 steps; else 0). QAT after it: --qat_epochs (default: 115 steps).")
flags.DEFINE_enum("optimize", "auto", list(rewrite.MODES), "Exact graph rewrites of the converted file ("
                  "converters/rewrite.py), each proven equal on the verification images: " + "; ".join(
                      f"{name}: {what}" for name, what in rewrite.MODES.items()) + ". The report records the "
                  "choice, both times and the equality.")
flags.DEFINE_string("keep_float", None, "Selective precision (int8 post-training calibration): keep layers in "
                    "float32 inside the int8 graph. N (the N layers the report's layer_errors rank worst), "
                    "comma-separated layer names, or auto (the fewest worst layers that reach "
                    "--target_agreement within --max_growth).")
flags.DEFINE_string("int16x8_layers", None, "Selective precision as --keep_float, with 16-bit activations (int8 "
                    "weights) on the chosen layers, through ai-edge-quantizer: N, layer names or auto.")
flags.DEFINE_boolean("correct_ranges", True, "int8 post-training: narrow the calibrated ranges TFLiteConverter's "
                     "calibrator widens at in-place ADDs (a residual branch gets its sum's range) to what the "
                     "tensors took; --nocorrect_ranges keeps the converter's own, for comparison.")
flags.DEFINE_float("target_agreement", 0.99, "With --keep_float/--int16x8_layers auto: top-1 agreement with the "
                   "float model to reach, on the calibration images.")
flags.DEFINE_float("max_growth", 0.10, "With --keep_float/--int16x8_layers auto: largest file growth over the "
                   "plain int8 file (0.10: 10%).")
FLAGS = flags.FLAGS

DEFAULT_QAT_EPOCHS = 3
ANDROID_FLAVOURS = [f for f in tflite.FLAVOURS if f != "int16x8"]  # the demo's reader refuses int16 tensors
_COMPRESS = cli.one_of(compress.BITS, "--compress ")
_FLOATS = list(tflite.FLOATS)  # what to export when a model cannot become int8
_NOT_INT8 = [f for f in tflite.FLAVOURS if f != "int8"]

# What to change when the library names the argument at fault (squeezekit.cli).
ADVICE = {
    "model": lambda err: (f"pass --model {err.suggestion} or leave --model out." if err.suggestion
                          else "pass --model NAME (python -m squeezekit.models lists them)."),
    "input_size": "leave --input_size out (the weights fix it), or train at that size.",
    "out": "pass --out a writable folder.",
    "micro": "pass --micro a writable folder.",
    "web_demo": "pass --web_demo the web_demo/ folder of the squeezekit repository.",
    "flavour": f"export {cli.one_of(_FLOATS, '--')} instead.",
    "compression": f"pass {_COMPRESS}.",
    "compress_epochs": "pass --data FOLDER (with --weights) to fine-tune, or --prune_epochs 0 --cluster_epochs 0 "
                       "--qat_epochs 0 for one-shot pruning and clustering.",
    "qat_epochs": "pass --weights (and --data), or --qat_epochs 0 for post-training calibration.",
    "qat_flavour": "export --int8 with --qat_epochs, or pass --qat_epochs 0.",
    "targets": f"pass --profile {', '.join(profiling.TARGETS)}, all or none (comma-separated).",
    "keep_float": "pass --keep_float N, auto or layer names from the int8 report's layer_errors, with --int8 and "
                  "--qat_epochs 0.",
    "int16x8_layers": "pass --int16x8_layers N, auto or layer names from the int8 report's layer_errors, with "
                      "--int8 and --qat_epochs 0 (and not with --keep_float).",
    "max_growth": "raise --max_growth, or name the layers.",
}


def _selection(name: str):
    """``--keep_float`` / ``--int16x8_layers``: None, "auto", a count or a tuple of layer names."""
    value = getattr(FLAGS, name)
    if value is None:
        return None
    value = value.strip()
    if value == "auto":
        return value
    if value.isdigit():
        if int(value) < 1:
            cli.fail(f"--{name} must be 1 or more layers, auto, or layer names; got {value}.")
        return int(value)
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        cli.fail(f"--{name} needs N, auto or layer names.")
    return names


def _flavours() -> list[str]:
    chosen = [f for f in tflite.FLAVOURS if getattr(FLAGS, f) or (FLAGS.all and f in tflite.ALL)]
    return chosen or ["int8"]


def main(argv):
    if not FLAGS.model and not FLAGS.weights:
        raise app.UsageError("pass --model NAME (python -m squeezekit.models lists them) or --weights.")
    start = time.perf_counter()
    from squeezekit.export import pipeline

    flavours = _flavours()
    qat_epochs = FLAGS.qat_epochs if FLAGS.qat_epochs is not None else (DEFAULT_QAT_EPOCHS if FLAGS.weights else 0)
    if qat_epochs < 0:
        cli.fail(f"--qat_epochs must be 0 or more, got {qat_epochs}.")
    if qat_epochs and not FLAGS.weights:
        cli.fail("--qat_epochs needs --weights: quantization-aware training fine-tunes a trained model.")
    if FLAGS.qat_epochs and "int8" not in flavours:
        cli.fail(f"--qat_epochs trains for int8 only, and this export makes {', '.join(flavours)}: add --int8 or "
                 "drop --qat_epochs.")
    compression, compress_epochs = None, (0, 0)
    if FLAGS.compress is not None or FLAGS.sparsity is not None:
        if FLAGS.compress is None:
            cli.fail(f"--sparsity needs {_COMPRESS}.")
        if flavours != ["int8"]:
            cli.fail(f"--compress makes an int8 model: drop {', '.join('--' + f for f in _NOT_INT8)} and --all.")
        compression = compress.CompressionConfig.parse(FLAGS.compress, FLAGS.sparsity)
        # With --weights, None: as long as converters.compress's defaults say (steps, not epochs); without, one shot.
        compress_epochs = tuple(e if e is not None or FLAGS.weights else 0
                                for e in (FLAGS.prune_epochs, FLAGS.cluster_epochs))
        if min(e for e in compress_epochs + (0,) if e is not None) < 0:
            cli.fail("--prune_epochs and --cluster_epochs must be 0 or more.")
        if any(e is None or e > 0 for e in compress_epochs) and not FLAGS.weights:
            cli.fail("--prune_epochs and --cluster_epochs need --weights: they fine-tune a trained model.")
    elif FLAGS.prune_epochs or FLAGS.cluster_epochs:
        cli.fail(f"--prune_epochs and --cluster_epochs need {_COMPRESS}.")
    keep_float, int16x8_layers = _selection("keep_float"), _selection("int16x8_layers")
    if keep_float and int16x8_layers:
        cli.fail("--keep_float and --int16x8_layers both choose layers at another precision: pass one.")
    if (keep_float or int16x8_layers) and ("int8" not in flavours or qat_epochs or compression is not None):
        cli.fail(f"--{'keep_float' if keep_float else 'int16x8_layers'} changes the int8 post-training file: "
                 "export --int8 with --qat_epochs 0 and no --compress.")
    if not 0.0 < FLAGS.target_agreement <= 1.0 or FLAGS.max_growth < 0.0:
        cli.fail("--target_agreement must be in (0, 1] and --max_growth 0 or more.")
    profile_targets = [] if FLAGS.profile == "none" else profiling.parse_targets(FLAGS.profile)
    for flag, check, reader in (("android_demo", pipeline.check_android_demo, "the app"),
                                ("web_demo", webdemo.check, "the page")):
        if FLAGS[flag].value:  # the folder first: a typo copies nothing and converts nothing
            check(FLAGS[flag].value)
            if not [f for f in flavours if f in ANDROID_FLAVOURS]:
                cli.fail(f"--{flag} needs a file {reader} reads ({cli.one_of(ANDROID_FLAVOURS, '--')}); "
                         "its reader takes no int16 input: add one of them.")
    if FLAGS.micro is not None:
        if "int8" not in flavours:
            cli.fail("--micro writes the int8 file as firmware: add --int8 (microcontrollers run int8).")
        pipeline.check_writable(FLAGS.micro, param="micro")
    pipeline.check_writable(FLAGS.out)
    relayed = os.environ.pop(RELAY_ENV, None)
    if not relayed and pipeline.backend() != "tensorflow":
        return _relay_to_tensorflow()
    source = pipeline.prepare(FLAGS.model, weights=FLAGS.weights, data=FLAGS.data, input_size=FLAGS.input_size,
                              convention=FLAGS.convention, calibration_images=FLAGS.calibration_images,
                              relayed=relayed)
    if source.relay:
        r = source.relay
        print(f"{source.spec.name}: weights from the Keras {r['backend']} process; its outputs and the TensorFlow "
              f"backend's agree on {r['inputs']} seeded inputs (max |difference| {r['max_abs_difference']:.2g}, "
              f"allowed {r['atol']:.0e} + {r['rtol']:.0e} x |output|)")
    if FLAGS.qat_epochs is None and qat_epochs and source.load_training is None and "int8" in flavours:
        # Imported weights (python -m squeezekit.weights) come without their training data.
        qat_epochs = 0
        print(f"note: {FLAGS.weights} has no training data in its run_config.json: int8 by post-training "
              f"calibration on {source.data_name} (pass --data FOLDER for quantization-aware training).")
    if not source.trained:
        print(f"warning: no --weights: exporting the untrained {source.spec.name} ({source.spec.paper_name}) at "
              f"{source.input_size}x{source.input_size} for size and latency work, calibrated on "
              f"{source.data_name}.")
    results, host_medians = [], {}  # flavour -> host median µs at 1 thread, for the int8 profile's comparison
    # One SavedModel for every flavour converted from the float model (a QAT int8 export needs none).
    float_route = compression is None and any(f != "int8" or not qat_epochs for f in flavours)
    with tflite.exported(source.model) if float_route else contextlib.nullcontext() as saved:
        for flavour in flavours:
            recipe = tflite.Recipe(flavour, FLAGS.input_type, FLAGS.output_type,
                                   correct_ranges=FLAGS.correct_ranges)
            print(f"{source.spec.name}: converting to {recipe.describe()}")
            lr = FLAGS.qat_lr
            if compression is not None:  # the compression defaults: lengths in steps, lr 0.0025
                lr = FLAGS.qat_lr if FLAGS["qat_lr"].present else compress.DEFAULT_LR
                qat_epochs = FLAGS.qat_epochs if FLAGS.qat_epochs is not None else (None if FLAGS.weights else 0)
            result = pipeline.export(source, recipe, FLAGS.out, qat_epochs=qat_epochs if flavour == "int8" else 0,
                                     qat_lr=lr,
                                     saved=saved, verbose=2, compression=compression,
                                     compress_epochs=compress_epochs, optimize=FLAGS.optimize,
                                     keep_float=keep_float if flavour == "int8" else None,
                                     int16x8_layers=int16x8_layers if flavour == "int8" else None,
                                     target_agreement=FLAGS.target_agreement, max_growth=FLAGS.max_growth)
            results.append(result)
            rep = result.report
            line = f"  {rep.size_bytes / 1024:,.1f} KiB ({rep.bytes_per_param:.2f} bytes/param)"
            if rep.accuracy:
                line += (f", held-out top-1 {rep.accuracy['tflite_top1']:.2%} "
                         f"(Keras {rep.accuracy['keras_top1']:.2%})")
            if rep.agreement:
                line += f", top-1 agreement with Keras {rep.agreement['top1_agreement']:.2%}"
            print(line)
            if result.compression is not None:
                print("  " + result.compression.summary())
            if profile_targets:
                result.profile = _profile(result.tflite, profile_targets, flavour, host_medians)
    if FLAGS.android_demo:
        chosen = _demo_file(results)
        asset = pipeline.copy_to_android_demo(chosen.tflite, FLAGS.android_demo)
        print(f"copied {os.path.basename(chosen.tflite)} to {asset} (build the app in Android Studio: "
              f"{os.path.join(FLAGS.android_demo, 'README.md')})")
    if FLAGS.web_demo:
        chosen = _demo_file(results)
        copied = webdemo.copy_model(chosen.tflite, FLAGS.web_demo)
        print(f"copied {os.path.basename(chosen.tflite)} to {copied} (serve it: python -m squeezekit.serve "
              f"{FLAGS.web_demo})")
    firmware = []
    if FLAGS.micro is not None:
        chosen = next(r for r in results if r.tflite.endswith("_int8.tflite"))
        profiled = next((p for p in chosen.profile if p.endswith(".profile.json")), None)
        measured = None
        if profiled and "tflm" in profile_targets:  # the profile just ran TFLM on this file
            with open(profiled) as f:
                measured = next(t["summary"] for t in json.load(f)["targets"] if t["target"] == "tflm")
        firmware, micro = pipeline.write_micro(chosen.tflite, FLAGS.micro, measured)
        print(f"firmware for {os.path.basename(chosen.tflite)}: flash {os.path.getsize(chosen.tflite):,} bytes, "
              f"TFLM arena {micro['arena_bytes']:,} bytes (invoke {micro['invoke']}), "
              f"{len(micro['ops'])} ops to register")
    print(f"done in {time.perf_counter() - start:.0f} s; wrote:")
    for result in results:
        for path in (result.tflite, result.report_json, result.report_md) + tuple(result.profile):
            print(f"  {path}")
    for path in firmware:
        print(f"  {path}")


# Set in the TensorFlow-backend process that exports for another backend's: the folder the model was staged in.
RELAY_ENV = "SQUEEZEKIT_EXPORT_STAGED"


def _relay_to_tensorflow() -> int:
    """Under another Keras backend (JAX, PyTorch): stage the model (its weights as a .weights.h5 and its outputs
    on seeded inputs, ``pipeline.stage_for_tensorflow``), then run this same command with
    ``KERAS_BACKEND=tensorflow``, which checks the outputs and converts. Its output and exit status are the
    command's."""
    from converters.files import temp_dir
    from squeezekit.export import pipeline

    with temp_dir("squeezekit-staged-") as folder:
        pipeline.stage_for_tensorflow(FLAGS.model, folder, weights=FLAGS.weights, input_size=FLAGS.input_size,
                                      convention=FLAGS.convention)
        sys.stdout.flush()
        sys.stderr.flush()
        env = dict(os.environ, KERAS_BACKEND="tensorflow", **{RELAY_ENV: folder})
        return subprocess.run([sys.executable, "-m", "squeezekit.export", *sys.argv[1:]], env=env).returncode


def _demo_file(results):
    """The export a demo app gets: the int8 file when there is one, else the last flavour its reader takes."""
    return next((r for r in results if r.tflite.endswith("_int8.tflite")),
                [r for r in results if r.report.flavour in ANDROID_FLAVOURS][-1])


def _profile(path: str, targets: list[str], flavour: str, host_medians: dict) -> list[str]:
    """Profile the written .tflite on ``targets``; one summary line (and the int8 verdict on this CPU); the
    report paths. ``host_medians`` collects each flavour's host latency for the int8 file's comparison."""
    with open(path, "rb") as f:
        content = f.read()
    floats = {f: us for f, us in host_medians.items() if f in tflite.FLOATS}
    result = profiling.profile(content, name=os.path.basename(path), targets=targets, compare=floats)
    parts, verdicts = [], []
    for t in result.targets:
        if t.target == "host":
            lat = t.summary["latency"]
            host_medians[flavour] = lat["1_thread"]["median_us"]
            verdicts = [n for n in t.notes if n.startswith(cpu.NOTE_PREFIXES)]
            parts.append(f"host {lat['1_thread']['median_us'] / 1e3:.2f} ms (1 thread), "
                         f"{lat['2_threads']['median_us'] / 1e3:.2f} ms (2)")
        elif t.kind == "simulated":
            parts.append(f"{t.target} {t.total_us / 1e3:.2f} ms")
        elif t.kind == "micro":
            arena = t.summary.get("arena_bytes")
            parts.append(f"TFLM arena {arena / 1024:,.0f} KiB (invoke {t.summary.get('invoke')})" if arena
                         else f"TFLM: {t.summary.get('why_not')}")
    peak = result.memory.get("peak_activation_bytes")
    if peak is not None:
        parts.append(f"peak activations {peak / 1024:,.0f} KiB")
    print("  profile: " + "; ".join(parts))
    for note in verdicts:
        print(f"  note: {note}")
    return profiling.write(result, os.path.splitext(path)[0])


if __name__ == "__main__":
    cli.run(main, advice=ADVICE)
