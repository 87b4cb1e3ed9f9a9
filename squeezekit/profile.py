"""Per-layer latency, energy and memory of a .tflite: ``python -m squeezekit.profile MODEL.tflite --target all``.

    python -m squeezekit.profile exports/sqnxt23_w1_int8.tflite                    # this CPU (XNNPACK + builtin)
    python -m squeezekit.profile exports/sqnxt23_w1_int8.tflite --target accel-16x16
    python -m squeezekit.profile exports/sqnxt23_w1_int8.tflite --target all
    python -m squeezekit.profile model.tflite --target accel-32x32 --device_profile ops.csv --device pixel7

Targets: ``host`` measures per-op times with the LiteRT runtime's own profiler in XNNPACK (delegate) and
builtin-kernel modes, and whole-model latency at 1 and 2 threads; ``accel-8x8``, ``accel-16x16`` and
``accel-32x32`` simulate a spatial PE-array accelerator (weight- or output-stationary per layer, Eyeriss
energy table); ``all`` is every one. ``--device_profile`` imports the op profile LiteRT's ``benchmark_model``
wrote on a phone (CSV or proto; BUILD.md says how); ``--micro_profile`` a TFLM ``MicroProfiler`` log from a
microcontroller (``--ticks_per_second`` the board's clock). Writes ``MODEL.profile.json``, ``.md`` and ``.png``
beside the model (or in ``--out``).

``--explorer DIR`` also writes Model Explorer node-data files (latency per target, energy, live memory, the int8
quantization error from the export report beside the model), plain JSON; ``--serve`` then starts the viewer on
127.0.0.1 (``--port``, default a free one) with the model and those overlays loaded, until Ctrl-C. The viewer is
the optional ``ai-edge-model-explorer`` package (``pip install squeezekit[explorer]``).

    python -m squeezekit.profile exports/sqnxt23_w1_int8.tflite --target all --explorer overlays --serve
"""

from __future__ import annotations

import os
import sys
import time

from squeezekit import cli  # first: it quiets TensorFlow before anything loads it

from absl import app, flags

from converters.profiling import explorer, run

flags.DEFINE_string("target", "host", f"{', '.join(run.TARGETS)} or all; comma-separated for several.")
flags.DEFINE_integer("runs", 20, "Profiled inferences per host kernel mode (per-op mean and spread).")
flags.DEFINE_integer("latency_runs", 50, "Unprofiled inferences per thread count for the whole-model latency.")
flags.DEFINE_multi_string("device_profile", [], "A benchmark_model op profile (CSV or proto) from a phone.")
flags.DEFINE_multi_string("device", [], "Name of the phone for each --device_profile (default: phone).")
flags.DEFINE_multi_string("micro_profile", [], "A TFLM MicroProfiler log (profiler.LogCsv() or Log() output) "
                          "captured on a microcontroller running this .tflite.")
flags.DEFINE_multi_string("micro_device", [], "Name of the board for each --micro_profile (default: mcu).")
flags.DEFINE_float("ticks_per_second", None, "The board's ticks_per_second() (usually its CPU clock in Hz), to "
                   "turn --micro_profile ticks into time.")
flags.DEFINE_string("out", None, "Folder for the reports; default: beside the model.")
flags.DEFINE_boolean("png", True, "Also draw the per-layer chart.")
flags.DEFINE_string("explorer", None, "Folder for Model Explorer node-data files (one per measure: latency per "
                    "target, energy, live memory, quantization error); with --serve and no folder: "
                    "MODEL_explorer beside the reports.")
flags.DEFINE_boolean("serve", False, "Start Model Explorer on 127.0.0.1 with the model and the overlays, until "
                     "Ctrl-C (needs ai-edge-model-explorer).")
flags.DEFINE_integer("port", None, "Port for --serve; default: a free one.")
FLAGS = flags.FLAGS

ADVICE = {"targets": f"pass --target {', '.join(run.TARGETS)} or all (comma-separated).",
          "tflite": "pass a .tflite written by `python -m squeezekit.export`.",
          "report": "export the .tflite again (its .report.json must describe it), or move the report away.",
          "port": "pass another --port, or leave it out to take a free one."}


def main(argv):
    if len(argv) != 2:
        raise app.UsageError("pass one .tflite: python -m squeezekit.profile MODEL.tflite [--target all]")
    path = argv[1]
    if FLAGS.port is not None and not FLAGS.serve:
        raise app.UsageError("--port is the viewer's: pass --serve too.")
    if FLAGS.serve:  # before the profile, which may take minutes
        explorer.check_viewer()
        if FLAGS.port is not None:
            explorer.check_port(FLAGS.port)
    start = time.perf_counter()
    names = FLAGS.device + ["phone"] * (len(FLAGS.device_profile) - len(FLAGS.device))
    boards = FLAGS.micro_device + ["mcu"] * (len(FLAGS.micro_profile) - len(FLAGS.micro_device))
    try:
        targets = run.parse_targets(FLAGS.target)
        content = run.read_tflite(path)
        base = os.path.splitext(os.path.basename(path))[0]
        out_dir = FLAGS.out or os.path.dirname(os.path.abspath(path))
        result = run.profile(content, name=os.path.basename(path), targets=targets, runs=FLAGS.runs,
                             latency_runs=FLAGS.latency_runs,
                             devices=list(zip(FLAGS.device_profile, names)),
                             micro_logs=[(p, b, FLAGS.ticks_per_second) for p, b in zip(FLAGS.micro_profile, boards)])
        paths = run.write(result, os.path.join(out_dir, base), png=FLAGS.png)
    except OSError as err:
        cli.fail(f"cannot write the reports to {FLAGS.out or 'the model folder'} ({err.strerror}); pass --out DIR.")
    overlays = []
    if FLAGS.explorer or FLAGS.serve:
        folder = FLAGS.explorer or os.path.join(out_dir, base + "_explorer")
        data = explorer.overlays(result, explorer.report_beside(path))
        try:
            overlays = explorer.write(data, folder, base)
        except OSError as err:
            cli.fail(f"cannot write the Model Explorer files to {folder} ({err.strerror}); pass --explorer DIR.")
    print(f"{result.model}: {result.macs / 1e6:,.1f} M MACs, {result.size_bytes / 1024:,.1f} KiB")
    for t in result.targets:
        s = t.summary
        line = f"  {t.target:<14} {t.total_us / 1e3:8.3f} ms"
        if t.kind == "measured":
            line += f"  per-op sum {100 * s['op_sum_over_whole_run']:.1f}% of the whole run ({'ok' if s['sum_check'] else 'FAILS'})"
            lat = s.get("latency", {})
            line += "".join(f"; {k.replace('_', ' ')} median {v['median_us'] / 1e3:.3f} ms" for k, v in lat.items())
        elif t.kind == "simulated":
            line += (f"  energy {s['energy_total']:.3g} MAC units, PE utilization {s['utilization']:.2f} "
                     f"(effective {s['effective_utilization']:.2f}), DRAM {s['dram_bytes'] / 1e6:.1f} MB")
        elif t.kind == "micro":
            line = f"  {t.target:<14} " + (f"arena {s['arena_bytes']:,} bytes, invoke {s['invoke']}"
                                           if s.get("arena_bytes") else f"cannot run: {s.get('why_not')}")
        print(line)
    if result.memory.get("peak_activation_bytes") is not None:
        micro = result.memory.get("tflm") or {}
        print(f"  peak activation memory {result.memory['peak_activation_bytes'] / 1024:,.1f} KiB; TFLM arena "
              + (f"{micro['arena_bytes'] / 1024:,.1f} KiB" if micro.get("arena_bytes") else "n/a"))
    print(f"done in {time.perf_counter() - start:.1f} s; wrote:")
    for p in paths + overlays:
        print(f"  {p}")
    if FLAGS.serve:
        stdout = sys.stdout  # the viewer silences its own messages
        print("starting Model Explorer...", flush=True)
        explorer.serve(os.path.abspath(path), overlays, port=FLAGS.port,
                       ready=lambda url: print(f"Model Explorer (Ctrl-C stops it): {url}", file=stdout, flush=True))
        print("Model Explorer stopped.")


if __name__ == "__main__":
    cli.run(main, advice=ADVICE, positional=True)
