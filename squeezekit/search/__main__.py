"""Hardware-aware SqueezeNext search: ``python -m squeezekit.search``.

    python -m squeezekit.search --target host --max_params 720000 --data mnist5k --epochs 10 --out search/
    python -m squeezekit.search --target accel-16x16 --time_budget 120 --out search_accel/
    python -m squeezekit.search --input_size 96 --classes 10 --max_arena_kb 256 --max_flash_kb 1024 --data mnist5k

Explores SqueezeNext configurations (blocks and width per stage, stem kernel/stride/filters, groups, 23/v5
wiring, first-pool placement) under a parameter budget (and, for microcontrollers, a TFLM arena and flash
budget: ``--max_arena_kb``, ``--max_flash_kb``), scoring latency on the target: for ``host``, int8 on
this CPU from a per-op cost table measured through LiteRT's profiler (most candidates need no conversion; the
finalists are converted and timed for real beside 1.0-SqNxt-23); for ``accel-*``, the PE-array simulator.
With ``--data`` the finalists and 1.0-SqNxt-23 are trained with the same recipe, epochs and seed.
Writes ``search.json``, ``search.md``, ``search.png``, ``variants.json`` (the finalists as registry rows:
``squeezekit.models.load_variants("search/variants.json")`` or ``SQUEEZEKIT_VARIANTS=search/variants.json``
makes them buildable by name) and, for host, ``cost_table.json`` (reused by ``--cost_table``).
"""

from __future__ import annotations

import os
import sys
import time

from squeezekit import cli  # first: it quiets TensorFlow before anything loads it

from absl import flags

from squeezekit.search import engine

flags.DEFINE_enum("family", "sqnxt", ["sqnxt"], "Model family to search (SqueezeNext).")
flags.DEFINE_string("target", "host", f"host (int8 on this CPU) or {cli.one_of(engine.TARGETS_ACCEL)} (simulated).")
flags.DEFINE_integer("max_params", 720_000, "Parameter budget (trainable, at --classes classes; 1.0-SqNxt-23 has "
                     "717,280 at 1000).")
flags.DEFINE_integer("input_size", 224, "Input size for latency and MACs.")
flags.DEFINE_integer("classes", 1000, "Classes for parameters and latency (the ImageNet setting of the paper).")
flags.DEFINE_string("data", None, "digits, mnist5k or an image folder: train the finalists and 1.0-SqNxt-23 on it.")
flags.DEFINE_integer("epochs", 10, "Training epochs for each finalist and the baseline (same recipe: sgd_cosine).")
flags.DEFINE_integer("train_size", None, "Training input size (default: 32 for digits/mnist5k, else 224).")
flags.DEFINE_integer("seed", 0, "Seed of the search and of the training runs.")
flags.DEFINE_float("time_budget", 600, "Seconds of exploration (finalists' conversion and training come after).")
flags.DEFINE_integer("max_candidates", 3000, "Stop after scoring this many candidates.")
flags.DEFINE_integer("finalists", 3, "Candidates measured for real (and trained with --data).")
flags.DEFINE_float("speedup", 1.5, "Latency goal as a speedup over 1.0-SqNxt-23 on the target.")
flags.DEFINE_integer("max_measure", 40, "host: at most this many candidates converted and profiled for the table.")
flags.DEFINE_string("cost_table", None, "host: a cost_table.json to start from (default: OUT/cost_table.json if "
                    "present).")
flags.DEFINE_integer("threads", 1, "host: CPU threads for the latency measurements.")
flags.DEFINE_string("prefix", None, "Registry names of the finalists: PREFIX_1, PREFIX_2... (default: "
                    "sqnxt_<target>).")
flags.DEFINE_integer("max_arena_kb", None, "Microcontroller SRAM budget: the TFLM tensor arena at --input_size, in "
                     "KiB (estimated per candidate; measured in the TFLM interpreter for the finalists).")
flags.DEFINE_integer("max_flash_kb", None, "Microcontroller flash budget: the int8 file's bytes, in KiB.")
flags.DEFINE_string("out", "search", "Output folder.")
FLAGS = flags.FLAGS


def main(argv):
    from squeezekit.search import report
    from squeezekit.search import cost as cost_lib

    target = FLAGS.target
    if target != "host" and target not in engine.TARGETS_ACCEL:
        cli.fail(f"--target must be host or one of {', '.join(engine.TARGETS_ACCEL)}, got {target!r}.")
    for flag in ("max_params", "input_size", "classes", "epochs", "finalists", "max_candidates", "threads"):
        if FLAGS[flag].value < (0 if flag == "epochs" else 1):
            cli.fail(f"--{flag} must be positive, got {FLAGS[flag].value}.")
    for flag in ("max_arena_kb", "max_flash_kb"):
        if FLAGS[flag].value is not None and FLAGS[flag].value < 1:
            cli.fail(f"--{flag} must be positive, got {FLAGS[flag].value}.")
    if FLAGS.time_budget <= 0 or FLAGS.speedup <= 0:
        cli.fail("--time_budget and --speedup must be positive.")
    from squeezekit.data import builtin

    small = builtin.base_name(FLAGS.data) is not None
    train_size = FLAGS.train_size or (32 if small else 224) if FLAGS.data else None
    data = None
    if FLAGS.data:
        import squeezekit.data
        from squeezekit.models.registry import get_spec

        data = squeezekit.data.load(FLAGS.data, train_size, get_spec("sqnxt23_w1").preprocessing,
                                    batch_size=64, seed=FLAGS.seed, augment="default")
    table = None
    table_path = FLAGS.cost_table or os.path.join(FLAGS.out, "cost_table.json")
    if target == "host":
        if os.path.exists(table_path):
            try:
                table = cost_lib.HostCostTable.load(table_path)
            except (OSError, ValueError, KeyError) as err:
                cli.fail(f"cannot read the cost table {table_path} ({type(err).__name__}); delete it or pass "
                         "another --cost_table.")
            if table.threads != FLAGS.threads:
                cli.fail(f"{table_path} was measured with {table.threads} thread(s), not {FLAGS.threads}; pass "
                         "another --cost_table or --out.")
            print(f"cost table: {len(table.times)} ops from {table_path}")
        else:
            if FLAGS.cost_table:
                cli.fail(f"cost table not found: {FLAGS.cost_table}.")
            table = cost_lib.HostCostTable(threads=FLAGS.threads)

    cfg = engine.SearchConfig(
        target=target, max_params=FLAGS.max_params, size=FLAGS.input_size, classes=FLAGS.classes,
        min_size=train_size, seed=FLAGS.seed, time_budget=FLAGS.time_budget, max_candidates=FLAGS.max_candidates,
        speedup=FLAGS.speedup, max_measure=FLAGS.max_measure, threads=FLAGS.threads,
        max_arena_bytes=FLAGS.max_arena_kb * 1024 if FLAGS.max_arena_kb else None,
        max_flash_bytes=FLAGS.max_flash_kb * 1024 if FLAGS.max_flash_kb else None)
    command = "python -m squeezekit.search " + " ".join(a for a in sys.argv[1:])
    start = time.perf_counter()
    result = engine.search(cfg, table, log=print)
    print(f"explored {len(result.scored)} candidates in {result.seconds:.0f} s ({result.measured} profiled)")
    prefix = FLAGS.prefix or f"sqnxt_{target.replace('-', '_')}"
    finals = [report.Finalist(f"{prefix}_{i + 1}", s) for i, s in enumerate(engine.finalists(result, FLAGS.finalists))]
    if not finals:
        cli.fail("no admissible candidate: raise --max_params, --max_arena_kb, --max_flash_kb or --time_budget.")
    extra = dict(command=command, notes=[])
    if cfg.max_arena_bytes or cfg.max_flash_bytes:
        extra.update(report.verify_micro(result, finals, log=print, table=table))
    if target == "host":
        extra.update(report.measure_for_real(result, finals, log=print, table=table))
        from converters import rewrite

        decided = rewrite.describe(table.rewrite_decision) if table.rewrite_decision else []
        extra["notes"].append("Host times are of the files as `python -m squeezekit.export` writes them on this CPU "
                              f"(--optimize auto): rewrites {', '.join(table.rewrites) or 'none'}"
                              + (f"; decided on the first measured candidate: {'; '.join(decided)}" if decided
                                 else "") + ".")
        for f in finals:
            print(f"  {f.name}: {f.measured_us / 1e3:.3f} ms measured ({f.speedup:.2f}x), "
                  f"{f.scored.latency_us / 1e3:.3f} ms predicted")
        print(f"  1.0-SqNxt-23: {extra['baseline_us'] / 1e3:.3f} ms measured, "
              f"{result.baseline.latency_us / 1e3:.3f} ms predicted")
    if data is not None:
        print(f"training 1.0-SqNxt-23 and {len(finals)} finalists: {FLAGS.epochs} epochs each on {data.name} at "
              f"{train_size}x{train_size} (sgd_cosine, seed {FLAGS.seed})")
        t0 = time.perf_counter()
        extra["baseline_top1"] = report.train_and_score(result.baseline.candidate, data, FLAGS.epochs, FLAGS.seed)
        print(f"  1.0-SqNxt-23: top-1 {extra['baseline_top1']:.2%} ({time.perf_counter() - t0:.0f} s)")
        for f in finals:
            t0 = time.perf_counter()
            f.top1 = report.train_and_score(f.scored.candidate, data, FLAGS.epochs, FLAGS.seed)
            f.top1_delta = 100 * (f.top1 - extra["baseline_top1"])
            print(f"  {f.name}: top-1 {f.top1:.2%} ({f.top1_delta:+.2f} points; {time.perf_counter() - t0:.0f} s)")
        extra["training"] = (f"Training: {data.name} at {train_size}x{train_size}, {FLAGS.epochs} epochs, recipe "
                             f"sgd_cosine (label smoothing 0.1, batch 64), seed {FLAGS.seed}, held-out top-1 of the "
                             "final weights; the same for every row.")
    extra["direction"] = report.direction_analysis(result, finals)
    paths = report.write(FLAGS.out, result, finals, extra, table)
    print(extra["direction"])
    print(f"done in {time.perf_counter() - start:.0f} s; wrote:")
    for p in paths:
        print(f"  {p}")


if __name__ == "__main__":
    cli.run(main)
