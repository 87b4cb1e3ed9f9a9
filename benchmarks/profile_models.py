"""Every registry model at 224x224 (int8 and float32) beside MobileNetV2 1.0 and MobileNet 1.0, on this CPU.

    python benchmarks/profile_models.py [--pattern 'sqnxt23*'] [--cache /tmp/sk_bench] [--rounds 15]
                                        [--profiles /tmp/sk_profiles]

For each model: trainable params, MACs (from the .tflite), file size, whole-model latency at 1 and 2 threads
(XNNPACK, median of all rounds, p90 beside it), achieved GMAC/s at 1 thread and its ratio to this CPU's int8
peak. The peak is measured in the same run through the same runtime: a 1x1 convolution 14x14x1024 -> 1024
(206 M MACs, one deep GEMM; float32 too, for the float rows' own-dtype ratio). Of the shapes tried (1x1 at
56x56x256, 28x28x512, 14x14x1024, 56x56x512; 3x3 at 56x56x128 and 28x28x256) it was the fastest 1x1, within
5% of the fastest 3x3. Latencies are measured side
by side: every round runs every compiled model in turn, so a noisy neighbour hits all of them alike.

Models convert through ``converters.tflite`` (int8 calibrated on 4 random images: latency does not depend on
the ranges), then get the export's exact rewrites (``--optimize``, default ``auto``: those that measure faster
here; MAC counts are the network's either way); ``--cache`` keeps the .tflite files between runs. keras.applications models are built with
``weights=None`` (no download here) and converted the same way.
"""

from __future__ import annotations

import os
import time

import numpy as np
from absl import app, flags, logging

from converters.rewrite import MODES

flags.DEFINE_string("pattern", None, "Only registry models matching this pattern.")
flags.DEFINE_string("cache", None, "Folder to keep converted .tflite files in (reused when present).")
flags.DEFINE_integer("rounds", 15, "Interleaved rounds; each runs every model --runs times.")
flags.DEFINE_integer("runs", 4, "Inferences per model per round.")
flags.DEFINE_enum("optimize", "auto", list(MODES), "Exact rewrites of the registry "
                  "models' files, as the export's --optimize (converters.rewrite; the references stay as converted).")
flags.DEFINE_string("profiles", None, "Also run `python -m squeezekit.profile FILE --target all` on every int8 "
                    "and float32 file and write the profiles to this folder (a summary table follows).")
FLAGS = flags.FLAGS

REFERENCES = {"mobilenet_v2_1.0": "MobileNetV2", "mobilenet_1.0": "MobileNet"}
PEAK = "peak_conv1x1_14x14x1024"


def _build(name: str):
    import keras

    import squeezekit

    if name in REFERENCES:
        return getattr(keras.applications, REFERENCES[name])(weights=None, input_shape=(224, 224, 3))
    if name == PEAK:
        inputs = keras.Input((14, 14, 1024))
        return keras.Model(inputs, keras.layers.Conv2D(1024, 1, use_bias=True, name="gemm")(inputs), name=PEAK)
    return squeezekit.build(name, input_shape=(224, 224, 3))


def _convert(name: str) -> dict:
    from converters import tflite

    model = _build(name)
    shape = (4,) + tuple(model.input_shape[1:])
    images = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(np.float32)
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    out = {"params": params}
    with tflite.exported(model) as saved:
        for flavour in ("int8", "float32"):
            out[flavour] = tflite.convert(saved, tflite.Recipe(flavour, representative=lambda: [images])).content
            if name not in REFERENCES and name != PEAK:  # the registry's files as the export writes them
                from converters import rewrite

                out[flavour], decision = rewrite.optimize(out[flavour], FLAGS.optimize, list(images))
                print(f"  {name} {flavour}: rewrites kept: {', '.join(decision['applied']) or 'none'}")
    return out


def _load(name: str) -> dict:
    if FLAGS.cache:
        tag = "" if name in REFERENCES or name == PEAK else f"_{FLAGS.optimize}"
        paths = {f: os.path.join(FLAGS.cache, f"{name}_{f}{tag}.tflite") for f in ("int8", "float32")}
        meta = os.path.join(FLAGS.cache, f"{name}.params")
        if all(os.path.exists(p) for p in paths.values()) and os.path.exists(meta):
            out = {f: open(p, "rb").read() for f, p in paths.items()}
            out["params"] = int(open(meta).read())
            return out
    out = _convert(name)
    if FLAGS.cache:
        os.makedirs(FLAGS.cache, exist_ok=True)
        tag = "" if name in REFERENCES or name == PEAK else f"_{FLAGS.optimize}"
        for f in ("int8", "float32"):
            with open(os.path.join(FLAGS.cache, f"{name}_{f}{tag}.tflite"), "wb") as fh:
                fh.write(out[f])
        with open(os.path.join(FLAGS.cache, f"{name}.params"), "w") as fh:
            fh.write(str(out["params"]))
    return out


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import squeezekit
    from converters.profiling import layers, litert_c

    names = [PEAK] + squeezekit.list_models(FLAGS.pattern) + list(REFERENCES)
    start = time.perf_counter()
    models = {}
    for name in names:
        t = time.perf_counter()
        models[name] = _load(name)
        print(f"converted {name} ({time.perf_counter() - t:.0f} s)", flush=True)
    compiled, times, macs = {}, {}, {}
    for name in names:
        for flavour in ("int8", "float32"):
            macs[name, flavour] = layers.totals(layers.read(models[name][flavour]))["macs"]
            for threads in (1, 2):
                key = (name, flavour, threads)
                compiled[key] = litert_c.CompiledModel(models[name][flavour], threads=threads)
                for _ in range(3):
                    compiled[key].run()
                times[key] = []
    for r in range(FLAGS.rounds):
        for key, model in compiled.items():
            times[key] += [model.run() for _ in range(FLAGS.runs)]
        print(f"round {r + 1}/{FLAGS.rounds}", end="\r", flush=True)
    for model in compiled.values():
        model.close()

    def med(key):
        return float(np.median(times[key]))

    def p90(key):
        return float(np.percentile(times[key], 90))

    peak = {f: macs[PEAK, f] / med((PEAK, f, 1)) / 1e3 for f in ("int8", "float32")}
    peak2 = {f: macs[PEAK, f] / med((PEAK, f, 2)) / 1e3 for f in ("int8", "float32")}
    print(f"\nthis CPU's peak through LiteRT/XNNPACK ({PEAK}, {macs[PEAK, 'int8'] / 1e6:.0f} M MACs): "
          f"int8 {peak['int8']:.0f} GMAC/s at 1 thread ({peak2['int8']:.0f} at 2), "
          f"float32 {peak['float32']:.0f} ({peak2['float32']:.0f})")
    print()
    print("| model | dtype | params | MACs (M) | file KiB | 1 thread ms (p90) | 2 threads ms (p90) | GMAC/s "
          "| of int8 peak | of own-dtype peak | 2-thread speedup |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names[1:]:
        for flavour in ("int8", "float32"):
            one, two = (name, flavour, 1), (name, flavour, 2)
            gmacs = macs[name, flavour] / med(one) / 1e3
            print(f"| {name} | {flavour} | {models[name]['params']:,} | {macs[name, flavour] / 1e6:.1f} "
                  f"| {len(models[name][flavour]) / 1024:,.1f} | {med(one) / 1e3:.3f} ({p90(one) / 1e3:.3f}) "
                  f"| {med(two) / 1e3:.3f} ({p90(two) / 1e3:.3f}) | {gmacs:.0f} | {gmacs / peak['int8']:.0%} "
                  f"| {gmacs / peak[flavour]:.0%} | {med(one) / med(two):.2f}x |")
    print(f"\n{FLAGS.rounds} rounds x {FLAGS.runs} runs per model and thread count, interleaved; medians. "
          f"Total {time.perf_counter() - start:.0f} s.")
    if FLAGS.profiles:
        _cli_profiles(names[1:], models)


def _cli_profiles(names, models):
    """Every file through the profile CLI (host + the three simulated arrays), then one summary row each."""
    import json
    import subprocess
    import sys

    os.makedirs(FLAGS.profiles, exist_ok=True)
    print("\n| model | dtype | host ms (per-op sum / whole run) | builtin ms | accel-8x8 ms | accel-16x16 ms "
          "| accel-32x32 ms | 16x16 energy (1e9 MAC units) | 16x16 utilization (effective) | peak activations KiB "
          "| weights KiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        for flavour in ("int8", "float32"):
            path = os.path.join(FLAGS.profiles, f"{name}_{flavour}.tflite")
            with open(path, "wb") as f:
                f.write(models[name][flavour])
            subprocess.run([sys.executable, "-m", "squeezekit.profile", path, "--target", "all"], check=True,
                           stdout=subprocess.DEVNULL)
            with open(path[:-len(".tflite")] + ".profile.json") as f:
                prof = json.load(f)
            t = {x["target"]: x for x in prof["targets"]}
            host, acc = t["host"]["summary"], t["accel-16x16"]["summary"]
            total = {k: sum(l["time_us"] for l in v["layers"]) / 1e3 for k, v in t.items()}
            print(f"| {name} | {flavour} | {host['op_sum_median_us'] / 1e3:.3f} / {host['whole_run_median_us'] / 1e3:.3f}"
                  f"{'' if host['sum_check'] else ' (check fails)'} | {total['host-builtin']:.3f} "
                  f"| {total['accel-8x8']:.2f} | {total['accel-16x16']:.2f} | {total['accel-32x32']:.2f} "
                  f"| {acc['energy_total'] / 1e9:.2f} | {acc['utilization']:.2f} ({acc['effective_utilization']:.2f}) "
                  f"| {prof['memory']['peak_activation_bytes'] / 1024:,.0f} | {prof['memory']['weight_bytes'] / 1024:,.0f} |")
            os.unlink(path)
    print(f"(profiles in {FLAGS.profiles}: NAME_DTYPE.profile.json / .md / .png)")


if __name__ == "__main__":
    app.run(main)
