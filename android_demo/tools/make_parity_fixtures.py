"""Parity fixtures for the Android demo's JVM tests, by hand (the project's generator is ``python -m pytest
tests/android``; this script writes the same format and is kept as the documented manual way).

    .venv/bin/python android_demo/tools/make_parity_fixtures.py OUT_DIR [MODEL.tflite ...]

For every model and photo it writes, into OUT_DIR:

* the model (copied under its own name),
* ``<photo>.png``: the decoded photo as a lossless RGB PNG (what the Kotlin side reads with ImageIO),
* ``<model>__<photo>.input.bin``: the raw input tensor bytes Python fed the model (NHWC, batch 1),
* ``<model>__<photo>.output.bin``: the raw output tensor bytes the model produced,
* ``cases.json``: ``{"cases": [{"model", "photo", "input", "output", "top5": [{"index", "label",
  "probability"}]}]}`` with file names relative to OUT_DIR.

Photos: scikit-learn's two sample photos (china, flower: 640x427), plus crops of them with odd, portrait and
tiny sizes, so that upscaling, downscaling and rounding of the resize are all exercised.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)


def photos() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_sample_images

    data = load_sample_images()
    china, flower = (np.asarray(img, np.uint8) for img in data.images)
    return {
        "china": china,  # 640x427 landscape
        "flower": flower,
        "china_portrait": china[10:411, 101:338],  # 237x401: odd sizes, portrait
        "flower_small": flower[200:293, 300:421],  # 121x93: upscaled to the model's size
        "china_square": china[0:300, 0:300],
    }


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    out = os.path.abspath(argv[1])
    models = argv[2:] or [os.path.join(ROOT, "exports", "sqnxt23_w1_int8.tflite")]
    os.makedirs(out, exist_ok=True)

    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    from converters import metadata
    from converters.report import quantize
    from squeezekit.classify import load_image, preprocess

    cases = []
    images = photos()
    for name, rgb in images.items():
        Image.fromarray(rgb, "RGB").save(os.path.join(out, f"{name}.png"))
    for model_path in models:
        model = os.path.basename(model_path)
        stem = os.path.splitext(model)[0]
        if os.path.abspath(model_path) != os.path.join(out, model):
            shutil.copyfile(model_path, os.path.join(out, model))
        with open(model_path, "rb") as f:
            content = f.read()
        info, labels = metadata.read(content)
        it = Interpreter(model_content=content, num_threads=2)
        it.allocate_tensors()
        inp, outp = it.get_input_details()[0], it.get_output_details()[0]
        size = int(inp["shape"][1])
        for name in images:
            photo = f"{name}.png"
            x = quantize(preprocess(load_image(os.path.join(out, photo), size, info["input"]["crop_fraction"]),
                                    info)[None], inp)
            assert x.dtype == inp["dtype"], (x.dtype, inp["dtype"])
            it.set_tensor(inp["index"], x)
            it.invoke()
            y = it.get_tensor(outp["index"])
            if outp["dtype"] == np.float32:
                probs = y.astype(np.float32)[0]
            else:
                scale, zero = outp["quantization"]
                probs = ((y.astype(np.float32) - zero) * scale)[0]
            order = np.argsort(-probs, kind="stable")[:5]
            case = {"model": model, "photo": photo, "input": f"{stem}__{name}.input.bin",
                    "output": f"{stem}__{name}.output.bin",
                    "top5": [{"index": int(i), "label": labels[i], "probability": float(probs[i])} for i in order]}
            with open(os.path.join(out, case["input"]), "wb") as f:
                f.write(np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<")).tobytes())
            with open(os.path.join(out, case["output"]), "wb") as f:
                f.write(np.ascontiguousarray(y).astype(y.dtype.newbyteorder("<")).tobytes())
            cases.append(case)
            print(f"{model} {photo}: {case['top5'][0]}")
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"cases": cases}, f, indent=1)
    print(f"{len(cases)} cases in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
