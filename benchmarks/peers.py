"""squeezekit's int8 exports against the same networks converted by others, timed side by side in one run.

    python benchmarks/peers.py [--runs 45] [--threads 1,2] [--pairs squeezenet1_0,sqnxt23_w1] [--size 224]

Peers: osmr/imgclsmob's tf2cv models (the same networks: SqueezeNet 1.0 / 1.1, 1.0-SqNxt-23 and its v5), built
in a subprocess under legacy Keras (``TF_USE_LEGACY_KERAS=1``, as tests/weights runs them) and converted there
with ``TFLiteConverter`` to full int8 (random weights, 16 random representative images, the converter's
defaults), and keras.applications' MobileNetV2 as a landmark. squeezekit's files come from the export CLI
(``python -m squeezekit.export --model M --int8 --profile none``) twice: with the default ``--optimize auto``
(the exact rewrites of ``converters.rewrite`` that measured faster during the export; the ratio that counts)
and with ``--optimize none``; plus the plain file with the space-to-depth stem applied regardless. Every file runs through the LiteRT C API with
XNNPACK (``squeezekit.search.cost.interleaved_latency``); the timing interleaves all files run by run
(``--runs`` rounds, each file once per round, so a burst of load hits them all), and the table gives medians and the ratio to tf2cv. Random weights: latency
does not depend on the values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from absl import app, flags

flags.DEFINE_integer("runs", 45, "Interleaved timing rounds (median reported).")
flags.DEFINE_list("threads", ["1", "2"], "Thread counts to time.")
flags.DEFINE_list("pairs", None, "squeezekit models to compare (default: every pair below).")
flags.DEFINE_integer("size", 224, "Input size.")
flags.DEFINE_bool("mobilenet", True, "Time keras.applications' MobileNetV2 (int8) as a landmark.")
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# squeezekit model (convention) -> tf2cv name
PAIRS = {
    "squeezenet1_0": (None, "squeezenet_v1_0"),
    "squeezenet1_1": (None, "squeezenet_v1_1"),
    "sqnxt23_w1": ("imgclsmob", "sqnxt23_w1"),
    "sqnxt23v5_w1": ("imgclsmob", "sqnxt23v5_w1"),
}

TF2CV_CONVERT = r"""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np
import tensorflow as tf
from tf2cv.model_provider import get_model
out, size, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
rng = np.random.default_rng(0)
for name in names:
    net = get_model(name, pretrained=False)
    net.build((1, size, size, 3))
    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
    def serve(x):
        return net(x, training=False)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], net)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.normal(size=(1, size, size, 3)).astype("float32")]
                                                for _ in range(16))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with open(os.path.join(out, name + ".tflite"), "wb") as f:
        f.write(converter.convert())
"""

MOBILENET = r"""
import sys
import numpy as np
import keras
sys.path.insert(0, sys.argv[3])
from converters import tflite
size = int(sys.argv[2])
model = keras.applications.MobileNetV2(input_shape=(size, size, 3), weights=None)
images = np.random.default_rng(0).normal(size=(16, size, size, 3)).astype("float32")
content = tflite.convert(model, tflite.Recipe("int8", representative=lambda: [images])).content
open(sys.argv[1], "wb").write(content)
"""


def _run(args, env=None, what=""):
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode:
        sys.exit(f"error: {what} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def main(argv):
    del argv
    from converters import rewrite
    from converters.profiling import cpu
    from squeezekit.search.cost import interleaved_latency

    pairs = {m: PAIRS[m] for m in (FLAGS.pairs or PAIRS)}
    size = FLAGS.size
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    files: dict[str, bytes] = {}
    kept: dict[str, list[str]] = {}  # model -> the rewrites the export kept (--optimize auto)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"converting tf2cv's {', '.join(t for _, t in pairs.values())} (legacy Keras subprocess)", flush=True)
        _run([sys.executable, "-c", TF2CV_CONVERT, tmp, str(size)] + [t for _, t in pairs.values()],
             dict(env, TF_USE_LEGACY_KERAS="1"), "tf2cv conversion")
        for model, (convention, tf2cv_name) in pairs.items():
            with open(os.path.join(tmp, tf2cv_name + ".tflite"), "rb") as f:
                files[f"tf2cv {tf2cv_name}"] = f.read()
            for optimize in ("auto", "none"):  # the default, and the converter's graph as it is
                print(f"exporting {model} with the squeezekit CLI (--optimize {optimize})", flush=True)
                out = os.path.join(tmp, optimize)
                args = [sys.executable, "-m", "squeezekit.export", "--model", model, "--int8", "--out", out,
                        "--profile", "none", "--input_size", str(size), "--optimize", optimize]
                _run(args + (["--convention", convention] if convention else []), env, f"export {model}")
                with open(os.path.join(out, f"{model}_int8.tflite"), "rb") as f:
                    files[f"squeezekit {model} {optimize}"] = f.read()
                with open(os.path.join(out, f"{model}_int8.report.json")) as f:
                    kept[model] = kept.get(model) or json.load(f)["optimization"]["applied"]
            rewritten, done = rewrite.space_to_depth_stem(files[f"squeezekit {model} none"])
            if done:
                files[f"squeezekit {model} s2d"] = rewritten
        if FLAGS.mobilenet:
            print("converting keras.applications MobileNetV2", flush=True)
            path = os.path.join(tmp, "mobilenet_v2.tflite")
            _run([sys.executable, "-c", MOBILENET, path, str(size), ROOT], env, "MobileNetV2 conversion")
            with open(path, "rb") as f:
                files["keras.applications MobileNetV2"] = f.read()

    here = cpu.describe()
    print(f"\n{here['model'] or here['machine']}; int8 dot product: "
          f"{', '.join(here['int8_features']) or here['int8_dot_product']}; int8, {size}x{size}, "
          f"{FLAGS.runs} interleaved rounds, median ms")
    # Side by side through the LiteRT C API (XNNPACK), as the search's cost table times candidates.
    results = {int(n): {name: us / 1e3 for name, us in
                        interleaved_latency(files, threads=int(n), rounds=FLAGS.runs, runs=1).items()}
               for n in FLAGS.threads}
    for threads, ms in results.items():
        print(f"\n{threads} thread(s)\n")
        print("| network | squeezekit (default: --optimize auto) | rewrites kept | --optimize none | s2d stem always "
              "| tf2cv | **ratio** | ratio none | ratio s2d |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
        for model, (_, tf2cv_name) in pairs.items():
            auto, plain = ms[f"squeezekit {model} auto"], ms[f"squeezekit {model} none"]
            peer = ms[f"tf2cv {tf2cv_name}"]
            s2d = ms.get(f"squeezekit {model} s2d")
            print(f"| {model} | {auto:.2f} | {', '.join(kept[model]) or 'none'} | {plain:.2f} | "
                  + (f"{s2d:.2f}" if s2d is not None else "-") + f" | {peer:.2f} | **{auto / peer:.2f}** | "
                  f"{plain / peer:.2f} | " + (f"{s2d / peer:.2f}" if s2d is not None else "-") + " |")
        if "keras.applications MobileNetV2" in ms:
            print(f"| MobileNetV2 (keras.applications) | {ms['keras.applications MobileNetV2']:.2f} | | | | | | | |")


if __name__ == "__main__":
    app.run(main)
