"""Per-op truth for every registry model in every convention: the host profile's per-op sum against the run.

    python benchmarks/per_op_sums.py [--pattern 'sqnxt23*'] [--flavours int8,float32] [--runs 30] [--size 224]

Each registry model, in each of its conventions (``squeezekit.models.conventions``), is built untrained at
``--size`` (default: the model's own default size), converted (int8 calibrated on 4 random images: the
ranges do not change which ops run) and put in the form the export writes on this CPU
(``converters.rewrite.optimize``, ``auto``: the exact rewrites that measure faster here). Its host profile
(``converters.profiling.host.profile_ops``, XNNPACK, 1 thread, in a process of its own as the profile CLI
runs it, after 5 warm-up runs) gives every XNNPACK operator to a TFLite node;
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
flags.DEFINE_integer("runs", 30, "Profiled runs per file.")
flags.DEFINE_integer("size", None, "Input size (default: each model's own).")
FLAGS = flags.FLAGS


PROFILE = r"""
import json, sys
from converters.profiling import host, layers
content = open(sys.argv[1], "rb").read()
table = layers.read(content)
host.profile_ops(content, runs=5, table=table)  # warm-up: the first runs after loading are slow
profile = host.profile_ops(content, runs=int(sys.argv[2]), table=table)
s = profile.summary
print(json.dumps(dict(ratio=s["op_sum_over_whole_run"], check=s["sum_check"],
                      timed=sum(1 for row in profile.layers if row.time_us > 0), nodes=len(table),
                      unmatched=s.get("unmatched_xnnpack_ops", 0))))
"""


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import json
    import os
    import subprocess
    import sys
    import tempfile

    import squeezekit
    from converters import rewrite, tflite
    from converters.profiling import cpu, host

    start = time.perf_counter()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""), TF_CPP_MIN_LOG_LEVEL="3")
    here = cpu.describe()
    rows, failures = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in squeezekit.list_models(FLAGS.pattern):
            for convention in squeezekit.models.conventions(name):
                spec = squeezekit.models.get_spec(name, convention)
                size = FLAGS.size or spec.default_size
                model = squeezekit.build(name, convention=convention, input_shape=(size, size, 3))
                images = np.random.default_rng(0).uniform(-1, 1, size=(4, size, size, 3)).astype(np.float32)
                with tflite.exported(model) as saved:
                    for flavour in FLAGS.flavours:
                        recipe = tflite.Recipe(flavour, representative=lambda: [images])
                        content = tflite.convert(saved, recipe).content
                        content, decision = rewrite.optimize(content, "auto", list(images))
                        path = os.path.join(tmp, f"{name}_{convention}_{flavour}.tflite")
                        with open(path, "wb") as f:
                            f.write(content)
                        rows.append((name, convention, size, flavour, decision["applied"], path))
                print(f"converted {name} ({convention})", flush=True)
        # Profiled as the profile CLI does: in a small process of its own (no TensorFlow loaded beside it).
        print(f"\n{here['model'] or here['machine']}; XNNPACK, 1 thread, {FLAGS.runs} profiled runs per file after 5 "
              f"warm-up runs, each file in its own process; check: per-op sum within {host.SUM_TOLERANCE:.0%} "
              "of the whole run\n")
        print("| model | convention | size | flavour | rewrites kept | op sum / whole run | check | nodes timed | "
              "unmatched XNNPACK ops |")
        print("|---|---|---|---|---|---:|---|---|---:|")
        for name, convention, size, flavour, applied, path in rows:
            out = subprocess.run([sys.executable, "-c", PROFILE, path, str(FLAGS.runs)], capture_output=True,
                                 text=True, env=env, check=True).stdout.strip().splitlines()[-1]
            r = json.loads(out)
            failures += not r["check"]
            print(f"| {name} | {convention} | {size} | {flavour} | {', '.join(applied) or '-'} | {r['ratio']:.3f} "
                  f"| {'holds' if r['check'] else 'FAILS'} | {r['timed']}/{r['nodes']} | {r['unmatched']} |",
                  flush=True)
    print(f"\n{failures} of {len(rows)} file(s) outside the tolerance; {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    app.run(main)
