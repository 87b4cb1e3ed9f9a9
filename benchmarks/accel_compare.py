"""SqueezeNet, SqueezeNext, AlexNet and MobileNet on the simulated PE arrays, beside the SqueezeNext paper.

    python benchmarks/accel_compare.py [--images 2] [--markdown /tmp/accel.md]

Builds each model at its native input size (SqueezeNet 1.0 224, AlexNet 227, 1.0-SqNxt-23 and 23v5 227,
MobileNet 1.0 224), converts it to a full-int8 .tflite (calibrated on a few random images: a cost model
needs shapes, not accuracy), reads its layer table and runs ``converters.profiling.accel.simulate`` on the
8x8, 16x16 and 32x32 presets. Prints one Markdown table (ratios against SqueezeNet 1.0 and AlexNet on the
same array), the paper's abstract claims beside our figures, where cycles and energy go on the 16x16
array, and how the claims move under other bandwidth, buffer and word-width assumptions. See
docs/accelerator.md.
"""

from __future__ import annotations

import time

import numpy as np
from absl import app, flags, logging

flags.DEFINE_integer("images", 2, "Random calibration images per model.")
flags.DEFINE_string("markdown", None, "Also write the printed tables to this file.")
FLAGS = flags.FLAGS

# (label, how to build it); SqueezeNet 1.0 and AlexNet are the baselines the ratios divide by.
MODELS = (
    ("SqueezeNet 1.0", lambda: _squeezekit("squeezenet1_0")),
    ("AlexNet", lambda: _alexnet()),
    ("1.0-SqNxt-23", lambda: _squeezekit("sqnxt23_w1")),
    ("1.0-SqNxt-23v5", lambda: _squeezekit("sqnxt23v5_w1")),
    ("MobileNet 1.0", lambda: _mobilenet()),
)
BASE, ALEX = "SqueezeNet 1.0", "AlexNet"
# The SqueezeNext abstract: its hardware-guided variants against SqueezeNet and AlexNet.
PAPER = {BASE: (2.59, 2.25), ALEX: (8.26, 7.5)}


def _squeezekit(name):
    import squeezekit

    return squeezekit.build(name)


def _alexnet():
    from squeezekit.models.alexnet import AlexNet

    return AlexNet()


def _mobilenet():
    import keras

    return keras.applications.MobileNet(weights=None)


def profile(label, build, images):
    from converters import tflite
    from converters.profiling import layers
    from squeezekit.models.accounting import model_stats

    start = time.perf_counter()
    model = build()
    size = tuple(int(d) for d in model.inputs[0].shape[1:])
    batch = np.random.default_rng(0).normal(0, 60, size=(images,) + size).astype(np.float32)
    content = tflite.convert(model, tflite.Recipe("int8", representative=lambda: [batch])).content
    table = layers.read(content)
    params = model_stats(model).trainable_params
    return dict(label=label, size=size[0], params=params, macs=sum(l.macs for l in table), table=table,
                seconds=time.perf_counter() - start)


def _dominant(summary) -> str:
    flows = summary["dataflow_macs"]
    total = sum(flows.values())
    return " / ".join(f"{k} {100 * v / total:.0f}%" for k, v in sorted(flows.items(), key=lambda kv: -kv[1]))


def tables(results, presets) -> str:
    by = {r["label"]: r for r in results}
    lines = ["| model | input | array | MACs (M) | params (M) | cycles (M) | time (ms) | energy (1e9 MAC) | "
             "energy / SqueezeNet | speedup vs SqueezeNet | energy eff. vs SqueezeNet | speedup vs AlexNet | "
             "energy eff. vs AlexNet | mean util. | memory-bound layers | dataflow (by MACs) |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for preset in presets:
        base, alex = by[BASE]["runs"][preset].summary, by[ALEX]["runs"][preset].summary
        for r in results:
            s = r["runs"][preset].summary
            lines.append(
                f"| {r['label']} | {r['size']} | {preset.removeprefix('accel-')} | {r['macs'] / 1e6:.0f} | "
                f"{r['params'] / 1e6:.2f} | {s['cycles'] / 1e6:.2f} | {s['time_ms']:.2f} | "
                f"{s['energy_total'] / 1e9:.2f} | {s['energy_total'] / base['energy_total']:.2f} | "
                f"{base['cycles'] / s['cycles']:.2f}x | {base['energy_total'] / s['energy_total']:.2f}x | "
                f"{alex['cycles'] / s['cycles']:.2f}x | {alex['energy_total'] / s['energy_total']:.2f}x | "
                f"{s['utilization']:.2f} | {s['memory_bound_layers']} / {len(r['runs'][preset].layers)} | "
                f"{_dominant(s)} |")
    lines += ["", "| claim (SqueezeNext abstract) | paper | " + " | ".join(
        f"23 {p.removeprefix('accel-')} | 23v5 {p.removeprefix('accel-')}" for p in presets) + " |",
        "|---|---:|" + "---:|" * (2 * len(presets))]
    for ref, (speed, energy) in PAPER.items():
        for what, paper, key in (("faster", speed, "cycles"), ("more energy efficient", energy, "energy_total")):
            ours = []
            for p in presets:
                for variant in ("1.0-SqNxt-23", "1.0-SqNxt-23v5"):
                    ours.append(f"{by[ref]['runs'][p].summary[key] / by[variant]['runs'][p].summary[key]:.2f}x")
            lines.append(f"| {what} than {ref} | {paper:.2f}x | " + " | ".join(ours) + " |")
    return "\n".join(lines) + "\n"


KINDS = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise", "FULLY_CONNECTED": "fc", "CONCATENATION": "concat"}


def breakdown(results, preset) -> str:
    """Where cycles and energy go on one array: by layer kind, stalls, and by memory level."""
    kinds = ("conv", "depthwise", "fc", "concat", "other")
    lines = [f"Where it goes on {preset.removeprefix('accel-')}: % of cycles / % of energy per layer kind; "
             "energy split in %.", "",
             "| model | " + " | ".join(kinds) + " | cycles in memory-bound layers | energy: "
             + " / ".join(("alu", "rf", "noc", "gb", "dram")) + " | energy / MAC |",
             "|---|" + "---:|" * (len(kinds) + 3)]
    for r in results:
        run = r["runs"][preset]
        s = run.summary
        cyc = {k: 0 for k in kinds}
        en = {k: 0.0 for k in kinds}
        for row in run.layers:
            kind = KINDS.get(row.op, "other")
            cyc[kind] += row.extra["cycles"]
            en[kind] += row.extra["energy"]["total"]
        stalled = sum(row.extra["cycles"] for row in run.layers if row.extra["bound"] == "memory")
        split = " / ".join(f"{100 * s['energy'][k] / s['energy_total']:.0f}" for k in s["energy"])
        lines.append(f"| {r['label']} | " + " | ".join(
            f"{100 * cyc[k] / s['cycles']:.0f} / {100 * en[k] / s['energy_total']:.0f}" for k in kinds)
            + f" | {100 * stalled / s['cycles']:.0f}% | {split} | {s['energy_per_mac']:.1f} |")
    return "\n".join(lines) + "\n"


def sensitivity(results, preset) -> str:
    """The abstract's four ratios for both SqNxt variants under other assumptions, on one array."""
    from converters.profiling import accel

    variants = {
        "defaults": {},
        "DRAM 32 B/cycle": dict(dram_bytes_per_cycle=32),
        "activations kept on chip": dict(activation_reuse=True),
        "both": dict(dram_bytes_per_cycle=32, activation_reuse=True),
        "16-bit words": dict(word_bits=16),
        "GB 512 KiB": dict(gb_kib=512),
    }
    head = [f"{v} vs {ref} ({what})" for ref in (BASE, ALEX) for what in ("speed", "energy")
            for v in ("23", "23v5")]
    lines = [f"Sensitivity on {preset.removeprefix('accel-')} (paper: {PAPER[BASE][0]}x / {PAPER[BASE][1]}x vs "
             f"SqueezeNet, {PAPER[ALEX][0]}x / {PAPER[ALEX][1]}x vs AlexNet):", "",
             "| assumption | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
    for label, overrides in variants.items():
        cfg = accel.preset(preset, **overrides)
        s = {r["label"]: accel.simulate(r["table"], cfg).summary for r in results}
        cells = [f"{s[ref][key] / s[v][key]:.2f}x" for ref in (BASE, ALEX) for key in ("cycles", "energy_total")
                 for v in ("1.0-SqNxt-23", "1.0-SqNxt-23v5")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    from converters.profiling import accel

    start = time.perf_counter()
    results = []
    for label, build in MODELS:
        results.append(profile(label, build, FLAGS.images))
        logging.warning("%s: %.1f s", label, results[-1]["seconds"])
    presets = list(accel.PRESETS)
    for r in results:
        r["runs"] = {name: accel.simulate(r["table"], name) for name in presets}
    cfg = accel.AccelConfig()
    text = tables(results, presets) + "\n" + breakdown(results, "accel-16x16") + "\n" + \
        sensitivity(results, "accel-16x16")
    text += (f"\nint8 .tflite per model (calibrated on {FLAGS.images} random images); GB {cfg.gb_kib:g} KiB, "
             f"RF {cfg.rf_bytes} B/PE, {cfg.word_bits}-bit words, {cfg.clock_mhz:g} MHz, DRAM "
             f"{cfg.dram_bytes_per_cycle:g} B/cycle, activations through DRAM between layers (unless the "
             "sensitivity row says otherwise); energy in MAC units (Eyeriss ISCA 2016 Table IV). Ratios compare "
             f"the same array. Run time {time.perf_counter() - start:.0f} s.\n")
    print(text)
    if FLAGS.markdown:
        with open(FLAGS.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    app.run(main)
