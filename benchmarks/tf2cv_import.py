"""tf2cv weights import, all ten models: parity with tf2cv at 224, then 160x160 and int8, measured in one run.

    python benchmarks/tf2cv_import.py [--models sqnxt23_w1,squeezenet_v1_1] [--runs 30]

For each model: tf2cv (in a subprocess, legacy Keras) builds it with seeded random weights, saves the
``.tf2.h5`` and records logits on two 224x224 images (a photo and noise); squeezekit imports the file and
the table gives the max |softmax difference| (bound: 1e-5). The imported model is then rebuilt at 160x160,
converted to full int8 (post-training, calibrated on 32 crops of the bundled photos), run through ai_edge_litert
on 16 other crops (top-1 agreement with the float Keras model at 160; random weights, so a plumbing check,
not an accuracy figure), and timed: median of ``--runs`` single-thread invocations, with the XNNPACK
partition count (1 = the whole graph in one delegate).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags, logging

flags.DEFINE_string("models", None, "Comma-separated tf2cv names; default: all ten.")
flags.DEFINE_integer("runs", 30, "Timed int8 invocations per model (median reported).")
FLAGS = flags.FLAGS

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "tests", "weights", "tf2cv_reference.py")


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    import squeezekit
    from ai_edge_litert.interpreter import Interpreter
    from converters import tflite
    from squeezekit.data import normalize
    from squeezekit.data.builtin import sample_photo_crops
    from squeezekit.weights import published

    names = FLAGS.models.split(",") if FLAGS.models else list(published())
    work = tempfile.mkdtemp(prefix="tf2cv-bench-")
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (2, 224, 224, 3)).astype(np.float32)
    spec0 = squeezekit.models.get_spec("sqnxt23_w1", "imgclsmob")
    x[0] = np.asarray(normalize(sample_photo_crops(224, 1).astype(np.float32), spec0.preprocessing))[0]
    np.save(os.path.join(work, "x.npy"), x)
    start = time.perf_counter()
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, REFERENCE, os.path.join(work, "x.npy"), work, *names], env=env, check=True,
                   capture_output=True)
    print(f"tf2cv reference files and logits for {len(names)} models: {time.perf_counter() - start:.1f} s")

    crops = sample_photo_crops(160, 48).astype(np.float32)
    rows = []
    for name in names:
        ours = published()[name].name
        path = os.path.join(work, f"{name}.tf2.h5")
        spec = squeezekit.models.get_spec(ours, "imgclsmob")
        t0 = time.perf_counter()
        model = squeezekit.build(ours, weights=path)
        load_s = time.perf_counter() - t0
        diff = float(np.abs(np.asarray(model(x, training=False)) - _softmax(np.load(
            os.path.join(work, f"{name}.logits.npy")).astype(np.float64))).max())
        small = squeezekit.build(ours, weights=path, input_shape=(160, 160, 3))
        images = np.asarray(normalize(crops, spec.preprocessing), np.float32)
        calibration, held_out = images[:32], images[32:]
        t0 = time.perf_counter()
        content = tflite.convert(small, tflite.Recipe("int8", representative=lambda: [calibration])).content
        convert_s = time.perf_counter() - t0
        interpreter = Interpreter(model_content=content, num_threads=1)
        interpreter.allocate_tensors()
        partitions = sum(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        scale, zero = inp["quantization"]
        agree = 0
        for image in held_out:
            q = np.clip(np.round(image / scale + zero), -128, 127).astype(np.int8)[None]
            interpreter.set_tensor(inp["index"], q)
            interpreter.invoke()
            agree += int(interpreter.get_tensor(out["index"]).argmax() == np.asarray(small(image[None])).argmax())
        times = []
        for _ in range(FLAGS.runs):
            t0 = time.perf_counter()
            interpreter.invoke()
            times.append(time.perf_counter() - t0)
        rows.append((name, ours, diff, load_s, convert_s, len(content), partitions, agree / len(held_out),
                     float(np.median(times)) * 1e3))

    print(f"\n{'tf2cv model':<20} {'squeezekit model':<22} {'max|dsoftmax| 224':>18} {'load s':>7} "
          f"{'int8@160 s':>10} {'int8 KiB':>9} {'XNNPACK parts':>13} {'top-1 agree':>11} {'int8 ms':>8}")
    for name, ours, diff, load_s, convert_s, size, parts, agree, ms in rows:
        print(f"{name:<20} {ours:<22} {diff:>18.2e} {load_s:>7.1f} {convert_s:>10.1f} {size / 1024:>9,.0f} "
              f"{parts:>13} {agree:>11.0%} {ms:>8.2f}")
    worst = max(r[2] for r in rows)
    print(f"\nworst softmax difference {worst:.2e} (bound 1e-5): {'PASS' if worst <= 1e-5 else 'FAIL'}")


if __name__ == "__main__":
    app.run(main)
