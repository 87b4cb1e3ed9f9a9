"""Deep Compression of the 1000-class SqueezeNet 1.0 at 224x224: sizes against the paper's table.

    nice -n 19 python benchmarks/compress_squeezenet.py [--bits 6 8] [--json out.json]

The SqueezeNet paper (table 2): 4.8 MB float32; 0.66 MB with Deep Compression at 8 bits; 0.47 MB at 6 bits,
33% density. Size depends on sparsity, clusters and index statistics, not on accuracy, so the untrained model
is compressed one shot (0 epochs: magnitude pruning, k-means++ clustering, PCQAT with calibrated ranges) and
converted to int8; every figure is read back from the .tflite (converters/coded_size.py). MB = 2**20 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PAPER_MB = {6: 0.47, 8: 0.66}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[6, 8])
    parser.add_argument("--sparsity", type=float, default=0.67)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from converters import coded_size, compress, tflite
    from squeezekit.export import pipeline

    source = pipeline.prepare("squeezenet1_0")
    params = source.trainable_params
    calibration = [source.calibration[i:i + 8] for i in range(0, len(source.calibration), 8)]
    print(f"squeezenet1_0: {params:,} parameters, float32 {4 * params / coded_size.MB:.2f} MB")
    results = {}
    for bits in args.bits:
        config = compress.CompressionConfig(bits, args.sparsity)
        start = time.perf_counter()
        qat = compress.compress(source.twin(), None, config, calibration=calibration, log=lambda m: print("  " + m))
        content = tflite.convert(qat, tflite.Recipe("int8")).content
        size = coded_size.measure(content)
        seconds = time.perf_counter() - start
        results[bits] = size
        print(f"\n{config.describe()} ({seconds:.0f} s)\n")
        print("| layer | weights | sparsity | int8 values (layer / max per channel) | codebook | gap bits | coded KiB |")
        print("|---|---|---|---|---|---|---|")
        for layer in size.layers:
            print(f"| {layer.name} | {layer.weights:,} | {layer.sparsity:.1%} | {layer.unique_int8} / "
                  f"{layer.unique_per_channel_max} | {layer.codebook} | {layer.gap_bits} | "
                  f"{layer.coded_bits / 8 / 1024:.1f} |")
        terms = {t: sum(getattr(l, t) for l in size.layers) / 8 / coded_size.MB
                 for t in ("index_bits", "position_bits", "table_bits", "codebook_bits", "scale_bits", "bias_bits",
                           "header_bits")}
        print("\nterms (MB): " + ", ".join(f"{k.replace('_bits', '')} {v:.4f}" for k, v in terms.items()))
        print(f"all exact: {all(l.exact for l in size.layers)}; other constants {size.other_constant_bytes} bytes")
    print("\n| bits | sparsity | raw MB | gzip MB | coded MB | paper MB | coded <= paper |")
    print("|---|---|---|---|---|---|---|")
    for bits, size in results.items():
        mb = size.to_dict()["mb"]
        print(f"| {bits} | {size.sparsity:.1%} | {mb['raw_bytes']:.3f} | {mb['gzip_bytes']:.3f} | "
              f"{mb['coded_bytes']:.3f} | {PAPER_MB[bits]} | {mb['coded_bytes'] <= PAPER_MB[bits]} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(b): s.to_dict() for b, s in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
