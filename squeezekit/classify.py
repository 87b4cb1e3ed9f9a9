"""Classify images with an exported .tflite: ``python -m squeezekit.classify --model exports/x.tflite IMAGE...``.

Uses only the file: its metadata gives the labels, input size, channel order, normalization, crop and
quantization (the same steps the Android demo's ``ImageClassifier`` takes). Prints the top-5 classes with
their probabilities and the inference time of each image.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from squeezekit import cli  # first: it quiets TensorFlow before anything loads it

from absl import app, flags

flags.DEFINE_string("model", None, "A .tflite written by python -m squeezekit.export.")
flags.DEFINE_integer("top", 5, "How many classes to print.")
flags.DEFINE_integer("num_threads", 2, "CPU threads for the interpreter.")
FLAGS = flags.FLAGS


def load_image(path: str, size: int, crop_fraction: float) -> np.ndarray:
    """RGB float32 HxWx3 in 0-255: short side resized to ``size / crop_fraction``, then center-cropped."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            w, h = image.size
            scale = (size / crop_fraction) / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            image = image.resize((nw, nh), Image.BILINEAR)
            left, top = (nw - size) // 2, (nh - size) // 2
            return np.asarray(image.crop((left, top, left + size, top + size)), np.float32)
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read {path} as an image ({type(err).__name__}).") from None


def preprocess(rgb: np.ndarray, info: dict) -> np.ndarray:
    """0-255 RGB -> the model's normalized input, in its channel order."""
    spec = info["input"]
    x = rgb[..., ::-1] if spec["channel_order"] == "BGR" else rgb
    return (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)


class Classifier:
    """One .tflite and its metadata: ``classify(rgb_image) -> (top [(label, probability)], milliseconds)``."""

    def __init__(self, content: bytes, num_threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        from converters import metadata

        self.info, self.labels = metadata.read(content)
        self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.size = int(self.input["shape"][1])
        # The first invoke packs the weights for XNNPACK; do it here so the times printed are steady ones.
        self.interpreter.set_tensor(self.input["index"], np.zeros(self.input["shape"], self.input["dtype"]))
        self.interpreter.invoke()

    def classify(self, rgb: np.ndarray, top: int = 5):
        from converters.report import dequantize, quantize

        x = quantize(preprocess(rgb, self.info)[None], self.input)
        self.interpreter.set_tensor(self.input["index"], x)
        start = time.perf_counter()
        self.interpreter.invoke()
        ms = (time.perf_counter() - start) * 1000
        probs = dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)[0]
        order = np.argsort(-probs, kind="stable")[:top]
        return [(self.labels[i], float(probs[i])) for i in order], ms


ADVICE = {"tflite": "export it with python -m squeezekit.export."}


def main(argv):
    images = argv[1:]
    if not FLAGS.model:
        raise app.UsageError("pass --model exports/NAME.tflite.")
    if not images:
        raise app.UsageError("pass one or more image files after the flags.")
    if not os.path.isfile(FLAGS.model):
        cli.fail(f"model file not found: {FLAGS.model}; export one with python -m squeezekit.export.")
    from converters.metadata import MetadataError

    with open(FLAGS.model, "rb") as f:
        content = f.read()
    try:
        classifier = Classifier(content, FLAGS.num_threads)
    except MetadataError as err:
        cli.fail(f"{FLAGS.model}: {cli.explain(err, ADVICE)}")
    except ValueError as err:  # not a flatbuffer at all
        cli.fail(f"cannot load {FLAGS.model} as a TFLite model ({str(err).splitlines()[0]}).")
    info = classifier.info
    print(f"{info['paper_name']} ({info['flavour']}, {classifier.size}x{classifier.size} {info['input']['channel_order']}"
          f"{', untrained' if not info['trained'] else ''})")
    failed = 0
    for path in images:
        try:
            rgb = load_image(path, classifier.size, info["input"]["crop_fraction"])
        except ValueError as err:
            cli.error(str(err))
            failed += 1
            continue
        top, ms = classifier.classify(rgb, FLAGS.top)
        print(f"{path}: {ms:.1f} ms")
        for label, p in top:
            print(f"  {p:7.2%}  {label}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main, advice=ADVICE, positional=True)
