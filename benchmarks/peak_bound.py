"""How close each registry model can come to this CPU's int8 peak through LiteRT/XNNPACK, measured and bounded.

    python benchmarks/peak_bound.py [--pattern 'squeezenet*'] [--cache /tmp/sk_bench] [--rounds 15]

``profile_models.py`` divides a model's GMAC/s by the int8 peak (a 1x1 convolution 14x14x1024 -> 1024, one deep
GEMM). This script asks what fraction is reachable at all. An int8 convolution's time has two floors:

- its MACs at the peak rate;
- its output elements at the runtime's cheapest cost per int8 output: every output is accumulated, requantized
  and stored, whatever the depth of its sum.

Both are measured here, in the same run, on 1x1 convolutions (one GEMM each, the cheapest form of a
convolution): the MAC rate is the highest over the peak probe and every probe shape below (a deep probe can beat
the peak probe: 13x13x512 -> 1000 did by 14% on this Xeon), the output cost the lowest time per output element
over them. On an AMX-INT8 Xeon the output cost does not change between 4 and 64 input channels, so it is the
runtime's, not the arithmetic's.

A model's bound is the sum over its MAC ops (the file as the export writes it, exact rewrites included) of the
larger floor. Every other op (pooling, concatenation, softmax) counts zero. No form of the network can run
faster than the bound on this runtime; its MACs over the bound, over the peak probe's rate (the peak
``profile_models.py`` reports), is the highest reachable fraction of that peak.

Latencies are medians of interleaved rounds at 1 thread (every round runs every file in turn). The models and
the peak come from ``profile_models.py`` (same flags, same ``--cache``).
"""

from __future__ import annotations

import time

import numpy as np
from absl import app, logging

import profile_models as pm  # same folder: its flags (--pattern, --cache, --rounds, --runs, --optimize) are ours

FLAGS = pm.FLAGS
# 1x1 convolutions (height = width, input channels, output channels): shallow sums at the sizes and widths of
# SqueezeNet's and SqueezeNeXt's layers, plus a deeper one for contrast.
PROBES = [(111, 4, 64), (111, 16, 64), (111, 64, 64), (55, 16, 64), (55, 16, 128), (55, 64, 256),
          (27, 32, 128), (27, 64, 256), (13, 64, 256), (111, 256, 64),
          (13, 512, 1000), (28, 512, 512), (14, 512, 1024), (7, 1024, 1024), (14, 2048, 1024)]


def _probe(size: int, cin: int, cout: int) -> bytes:
    import keras

    from converters import tflite

    inputs = keras.Input((size, size, cin))
    model = keras.Model(inputs, keras.layers.Conv2D(cout, 1, activation="relu")(inputs))
    images = np.random.default_rng(0).uniform(-1, 1, size=(4, size, size, cin)).astype(np.float32)
    with tflite.exported(model) as saved:
        return tflite.convert(saved, tflite.Recipe("int8", representative=lambda: [images])).content


def bound_us(rows, rate_gmacs: float, floor_ns: float) -> tuple[float, float]:
    """(bound µs, the part of it set by output elements) for a file's layer rows (``profiling.layers``), at
    ``rate_gmacs`` (the fastest MAC rate measured) and ``floor_ns`` (the cheapest int8 output)."""
    total = by_outputs = 0.0
    for row in rows:
        if not row.macs:
            continue
        macs_us = row.macs / rate_gmacs / 1e3
        out_us = row.elements * floor_ns / 1e3 if row.op in ("CONV_2D", "FULLY_CONNECTED") else 0.0
        total += max(macs_us, out_us)
        by_outputs += out_us if out_us > macs_us else 0.0
    return total, by_outputs


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import squeezekit
    from converters.profiling import host, layers

    start = time.perf_counter()
    names = squeezekit.list_models(FLAGS.pattern)
    files = {pm.PEAK: pm._load(pm.PEAK)["int8"]}
    for name in names:
        files[name] = pm._load(name)["int8"]
    probes = {f"1x1 {s}x{s}x{i}->{o}": (s * s * o, _probe(s, i, o)) for s, i, o in PROBES}
    print(f"converted {len(files)} models and {len(probes)} probes ({time.perf_counter() - start:.0f} s)", flush=True)
    medians = host.interleaved_latency({**files, **{k: v for k, (_, v) in probes.items()}}, threads=1,
                                       rounds=FLAGS.rounds, runs=FLAGS.runs)
    peak_macs = layers.totals(layers.read(files[pm.PEAK]))["macs"]
    peak = peak_macs / medians[pm.PEAK] / 1e3  # GMAC/s
    per_output = {k: medians[k] * 1e3 / outputs for k, (outputs, _) in probes.items()}  # ns per output element
    rates = {k: s * s * i * o / medians[k] / 1e3 for (s, i, o), k in zip(PROBES, probes)}  # GMAC/s
    rate_name = max(rates, key=rates.get)
    rate = max(peak, rates[rate_name])
    floor_name = min(per_output, key=per_output.get)
    floor = per_output[floor_name]

    print(f"\nint8 peak ({pm.PEAK}): {peak:.0f} GMAC/s at 1 thread; fastest probe: {rates[rate_name]:.0f} GMAC/s "
          f"({rate_name}); cheapest int8 output: {floor:.3f} ns ({floor_name})\n")
    print("| probe (int8, 1 thread) | µs | ns per output | GMAC/s |")
    print("|---|---:|---:|---:|")
    for key in probes:
        print(f"| {key} | {medians[key]:.1f} | {per_output[key]:.3f} | {rates[key]:.0f} |")
    print("\n| model (int8, 224, 1 thread) | MACs (M) | measured ms | of peak | bound ms | of it set by outputs "
          "| reachable fraction of peak | measured / bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        rows = layers.read(files[name])
        macs = layers.totals(rows)["macs"]
        bound, by_out = bound_us(rows, rate, floor)
        measured = medians[name]
        print(f"| {name} | {macs / 1e6:.1f} | {measured / 1e3:.3f} | {macs / measured / 1e3 / peak:.0%} "
              f"| {bound / 1e3:.3f} | {by_out / bound:.0%} | {macs / bound / 1e3 / peak:.0%} | {measured / bound:.2f}x |")
    print(f"\n{FLAGS.rounds} rounds x {FLAGS.runs} runs per file, interleaved; medians. "
          f"Total {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    app.run(main)
