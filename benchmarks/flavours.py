"""The three opt-in export flavours (int16x8, int4, FP16-ready float16) on both registry families, against float32
and int8: size, faithfulness, the flavour's audit and host latency.

    python benchmarks/flavours.py                       # one model per family and structural variant, at 224
    python benchmarks/flavours.py --pattern 'sqnxt23*'  # every registered model matching the pattern

Each model is the untrained registry model (seeded: the same weights on every run) at its default size (1000
classes) without its final softmax (the files end at the logits), exported as ``squeezekit.export`` does without
weights otherwise: int8 and int16x8 calibrated on the 32 bundled photo crops, which are also the verification images. Columns: file bytes
(metadata and 1000 labels included); top-1 agreement with the Keras logits; the logit SNR against the float32
file (10 log10 of sum(z^2) / sum((z - z_float32)^2) over every image's logits, in dB: higher is closer; the
float32 file is within float round-off of Keras); whether the file passes its flavour's audit
(``converters.audit``; ``-`` for float32, which has none); the host median latency at ``--threads``, all files
of a model timed side by side (``profiling.host.interleaved_latency``: ``--rounds`` rounds of ``--runs`` runs of
each file in turn, the median of the round medians), through the LiteRT C API with XNNPACK as an app runs it.
"""

from __future__ import annotations

import datetime
import time

import numpy as np
from absl import app, flags, logging

# One model per family and structural variant: plain, simple and complex bypass (SqueezeNet 1.0/1.1),
# SqueezeNeXt-23, v5, grouped, IDA and the searched CPU variant.
DEFAULT_MODELS = ("squeezenet1_0", "squeezenet1_1", "squeezenet1_1_complex_bypass", "sqnxt23_w1", "sqnxt23v5_w1",
                  "g_sqnxt23_w1", "sqnxt23_ida_w1", "sqnxt_cpu1")
FLAVOURS = ("float32", "int8", "int16x8", "int4", "float16")

flags.DEFINE_string("pattern", None, "Every registered model matching this pattern, instead of the default set.")
flags.DEFINE_list("models", list(DEFAULT_MODELS), "Registered models (default: one per family and variant).")
flags.DEFINE_integer("threads", 1, "CPU threads for the latency measurement.")
flags.DEFINE_integer("rounds", 5, "Interleaved latency rounds.")
flags.DEFINE_integer("runs", 3, "Runs of each file per round.")
FLAGS = flags.FLAGS


def snr_db(reference: np.ndarray, outputs: np.ndarray) -> float:
    noise = float(np.sum((outputs - reference) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(reference ** 2)) / noise)


def measure(name: str) -> list[dict]:
    from converters import audit, graph, metadata, report, tflite
    from converters.errors import ConversionError
    from converters.profiling.host import interleaved_latency
    from squeezekit.export import pipeline

    import keras

    keras.utils.set_random_seed(0)  # the same untrained weights on every run
    source = pipeline.prepare(name)
    images = source.verification_images
    # The network up to its logits: softmax hides what quantization does to an untrained model's logits (an
    # untrained SqueezeNeXt's reach +-2e6, so its float softmax is one-hot and TFLite's int16 softmax flat).
    head = source.model.get_layer("predictions")
    model = keras.Model(source.model.inputs, head.input, name=source.model.name)
    reference = np.asarray(model.predict(images, batch_size=64, verbose=0))
    files, rows = {}, {}
    with tflite.exported(model) as saved:
        for flavour in FLAVOURS:
            recipe = tflite.Recipe(flavour, representative=(lambda: [source.calibration]))
            start = time.perf_counter()
            try:
                conversion = tflite.convert(saved, recipe)
            except ConversionError as err:  # an audit (or the converter) refused it: the table says why
                rows[flavour] = {"model": name, "flavour": flavour, "bytes": None, "audit": f"failed: {err}"}
                continue
            seconds = time.perf_counter() - start
            content = metadata.attach(conversion.content, pipeline._info(source, flavour, ""))
            problems = audit.problems(graph.read(content), flavour)
            files[flavour] = content
            rows[flavour] = {"model": name, "flavour": flavour, "bytes": len(content),
                             "audit": "-" if flavour not in audit.AUDITED else ("passed" if not problems
                                                                                else "; ".join(problems)),
                             "outputs": report.run(content, images, num_threads=2), "convert_s": seconds}
    latency = interleaved_latency(files, threads=FLAGS.threads, rounds=FLAGS.rounds, runs=FLAGS.runs)
    float32 = rows["float32"]["outputs"]
    for flavour, row in rows.items():
        if row["bytes"] is None:
            continue
        outputs = row.pop("outputs")
        row["agreement"] = float(np.mean(outputs.argmax(-1) == reference.argmax(-1)))
        row["snr_db"] = snr_db(float32, outputs)
        row["latency_ms"] = latency[flavour] / 1e3
    return [dict(rows[f], size=source.input_size) for f in FLAVOURS]


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keras' SavedModel export logs every signature at INFO
    import squeezekit

    names = squeezekit.list_models(FLAGS.pattern) if FLAGS.pattern else FLAGS.models
    started, start = datetime.datetime.now(datetime.timezone.utc), time.perf_counter()
    print(f"| model | flavour | bytes | top-1 agreement | logit SNR vs float32 | audit | "
          f"host ms ({FLAGS.threads} thread) |", flush=True)
    print("|---|---|---:|---:|---:|---|---:|")
    for name in names:
        for row in measure(name):
            name_size = f"{name} ({row['size']})"
            if row["bytes"] is None:
                print(f"| {name_size} | {row['flavour']} | - | - | - | {row['audit']} | - |", flush=True)
                continue
            snr = "exact" if row["flavour"] == "float32" else f"{row['snr_db']:.1f} dB"
            print(f"| {name_size} | {row['flavour']} | {row['bytes']:,} | {row['agreement']:.0%} | {snr} "
                  f"| {row['audit']} | {row['latency_ms']:.2f} |", flush=True)
    print(f"\n{started:%Y-%m-%d %H:%M} UTC, {len(names)} model(s), untrained, 1000 classes, logits (no softmax), "
          f"at the default input size (in brackets); latency: median of {FLAGS.rounds} interleaved rounds of "
          f"{FLAGS.runs} runs, {FLAGS.threads} thread(s), in {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    app.run(main)
