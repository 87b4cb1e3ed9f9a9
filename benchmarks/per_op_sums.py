"""Per-op truth for every registry model in every convention: the host profile's per-op sum against the run.

    python benchmarks/per_op_sums.py [--pattern 'sqnxt23*'] [--flavours int8,float32] [--runs 20] [--size 224]

Each registry model, in each of its conventions (``squeezekit.models.conventions``), is built untrained at
``--size`` (default: the model's own default size), converted (int8 calibrated on 4 random images: the
ranges do not change which ops run) and put in the form the export writes on this CPU
(``converters.rewrite.optimize``, ``auto``: the exact rewrites that measure faster here). Its host profile
(``converters.profiling.host.profile_ops``, XNNPACK, 1 thread) gives every XNNPACK operator to a TFLite node;
the table shows, per file, the median over the profiled runs of the per-op sum against the whole inference
as the runtime timed it, whether that is within the profile's 10% (``host.SUM_TOLERANCE``), how many nodes
received time and how many XNNPACK operators matched no node. Timing figures: run it on a quiet machine.
"""

from __future__ import annotations

import time

import numpy as np
from absl import app, flags, logging

flags.DEFINE_string("pattern", None, "Only registry models matching this pattern.")
flags.DEFINE_list("flavours", ["int8", "float32"], "Flavours to convert and profile.")
flags.DEFINE_integer("runs", 20, "Profiled runs per file.")
flags.DEFINE_integer("size", None, "Input size (default: each model's own).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import squeezekit
    from converters import rewrite, tflite
    from converters.profiling import cpu, host, layers

    start = time.perf_counter()
    here = cpu.describe()
    print(f"{here['model'] or here['machine']}; XNNPACK, 1 thread, {FLAGS.runs} profiled runs per file; "
          f"check: per-op sum within {host.SUM_TOLERANCE:.0%} of the whole run\n")
    print("| model | convention | size | flavour | rewrites kept | op sum / whole run | check | nodes timed | "
          "unmatched XNNPACK ops |")
    print("|---|---|---|---|---|---:|---|---|---:|")
    failures = 0
    for name in squeezekit.list_models(FLAGS.pattern):
        for convention in squeezekit.models.conventions(name):
            spec = squeezekit.models.get_spec(name, convention)
            size = FLAGS.size or spec.default_size
            model = squeezekit.build(name, convention=convention, input_shape=(size, size, 3))
            rng = np.random.default_rng(0)
            images = rng.uniform(-1, 1, size=(4, size, size, 3)).astype(np.float32)
            with tflite.exported(model) as saved:
                for flavour in FLAGS.flavours:
                    content = tflite.convert(saved, tflite.Recipe(flavour, representative=lambda: [images])).content
                    content, decision = rewrite.optimize(content, "auto", list(images))
                    table = layers.read(content)
                    profile = host.profile_ops(content, runs=FLAGS.runs, table=table)
                    s = profile.summary
                    timed = sum(1 for row in profile.layers if row.time_us > 0)
                    failures += not s["sum_check"]
                    print(f"| {name} | {convention} | {size} | {flavour} | {', '.join(decision['applied']) or '-'} "
                          f"| {s['op_sum_over_whole_run']:.3f} | {'holds' if s['sum_check'] else 'FAILS'} "
                          f"| {timed}/{len(table)} | {s.get('unmatched_xnnpack_ops', 0)} |", flush=True)
    print(f"\n{failures} file(s) outside the tolerance; {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    app.run(main)
