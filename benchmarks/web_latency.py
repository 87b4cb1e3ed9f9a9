"""The web demo's inference time in headless Chromium (LiteRT.js WASM, 1 and 2 threads) beside the host profile's
figure for the same files (LiteRT C API + XNNPACK, as ``squeezekit.profile``'s host target runs them).

    python benchmarks/web_latency.py                      # one model per family and searched variant
    python benchmarks/web_latency.py --models sqnxt23_w1 --rounds 3

Each model is the untrained registry model (seeded) at its default size, exported as ``squeezekit.export`` does
without weights (int8 calibrated on the bundled photos; ``--optimize auto``). The page's figure is what it shows
a user: the mean of its last 10 runs of the model alone (input written, model run, output read), here after 10
runs more; each round compiles every flavour at every thread count once, after one unmeasured pass over all
(V8 runs new WebAssembly code unoptimized until it tiers it up); the table gives the median over rounds. The host
figure is ``profiling.host.interleaved_latency`` (all files of a model side by side, median of round medians).
Both run on this machine's CPU: the ratio is what running in the browser costs over a native app.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import tempfile
import threading

import numpy as np
from absl import app, flags, logging

DEFAULT_MODELS = ("squeezenet1_0", "squeezenet1_1", "sqnxt23_w1", "sqnxt23v5_w1", "sqnxt_cpu1")
FLAVOURS = ("int8", "float32")

flags.DEFINE_list("models", list(DEFAULT_MODELS), "Registered models.")
flags.DEFINE_list("threads", ["1", "2"], "WASM thread counts (the page offers 1 to navigator.hardwareConcurrency).")
flags.DEFINE_integer("rounds", 5, "Rounds per model, flavour and thread count.")
FLAGS = flags.FLAGS


def export(name: str, out: str) -> tuple[dict, int]:
    import keras

    from converters import tflite
    from squeezekit.export import pipeline

    keras.utils.set_random_seed(0)
    source = pipeline.prepare(name)
    files = {}
    with tflite.exported(source.model) as saved:
        for flavour in FLAVOURS:
            result = pipeline.export(source, tflite.Recipe(flavour), os.path.join(out, "scratch"), saved=saved,
                                     log=lambda *a: None, verbose=0)
            files[flavour] = os.path.join(out, f"{name}_{flavour}.tflite")
            os.replace(result.tflite, files[flavour])
    return files, source.input_size


def page_figure(driver, path: str, threads: int) -> float:
    """The page's own figure for ``path`` on WASM with ``threads`` threads: compile, classify the photo, then
    ``benchmark(20)`` (the mean of the last 10 runs, as the timing line shows it)."""
    from squeezekit import webdemo

    webdemo.call(driver, f"window.squeezekit.setOptions({{threads: {threads}}})")
    webdemo.call(driver, f"window.squeezekit.loadModel('models/{os.path.basename(path)}')")
    webdemo.call(driver, "window.squeezekit.classifyUrl('models/photo.png')")
    return webdemo.call(driver, "window.squeezekit.benchmark(20)")["meanMs"]


def main(argv):
    del argv
    logging.set_verbosity(logging.ERROR)
    from PIL import Image
    from sklearn.datasets import load_sample_image

    from converters.profiling.host import interleaved_latency
    from squeezekit import webdemo

    threads = [int(t) for t in FLAGS.threads]
    started = datetime.datetime.now(datetime.timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        demo = webdemo.scratch_copy(os.path.join(tmp, "web_demo"))
        Image.fromarray(load_sample_image("china.jpg")).save(os.path.join(demo, "models", "photo.png"))
        httpd = webdemo.server(demo, port=0)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
        driver = webdemo.chromium()
        rows = []
        try:
            driver.get(url)
            state = webdemo.call(driver, "window.squeezekit.state()")
            assert state["threaded"], "the page is not cross-origin isolated: no threads"
            exported = {name: export(name, os.path.join(demo, "models")) for name in FLAGS.models}
            for path in exported[FLAGS.models[0]][0].values():  # V8 compiles Wasm with Liftoff first and
                for t in threads:                                # tiers hot code up in the background: one
                    page_figure(driver, path, t)                 # pass over every kernel before measuring
            for name, (files, size) in exported.items():
                contents = {f: open(p, "rb").read() for f, p in files.items()}
                host = {t: interleaved_latency(contents, threads=t, rounds=FLAGS.rounds) for t in threads}
                page = {(f, t): [] for f in files for t in threads}
                for _ in range(FLAGS.rounds):  # every flavour and thread count in each round, as the host does
                    for flavour, path in files.items():
                        for t in threads:
                            page[flavour, t].append(page_figure(driver, path, t))
                for flavour in files:
                    rows.append((name, size, flavour, {t: host[t][flavour] / 1000 for t in threads},
                                 {t: float(np.median(page[flavour, t])) for t in threads}))
                    print(rows[-1], flush=True)
            version = driver.capabilities.get("browserVersion", "?")
        finally:
            driver.quit()
            httpd.shutdown()
    head = " | ".join(f"host {t} thr (ms) | page {t} thr (ms)" for t in threads)
    print(f"\n| model | size | flavour | {head} | page / host, {threads[0]} thr |")
    print("|---|---:|---|" + "---:|---:|" * len(threads) + "---:|")
    for name, size, flavour, host, page in rows:
        cells = " | ".join(f"{host[t]:.2f} | {page[t]:.2f}" for t in threads)
        print(f"| {name} | {size} | {flavour} | {cells} | {page[threads[0]] / host[threads[0]]:.2f} |")
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip() or platform.processor()
    print(f"\n{started:%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} CPUs; Chromium {version} headless, LiteRT.js "
          f"2.5.3 (threaded build, relaxed SIMD); ai-edge-litert host; untrained seeded models, median of "
          f"{FLAGS.rounds} rounds.")


if __name__ == "__main__":
    app.run(main)
