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

from converters.errors import LiteRtError, SqueezekitError

flags.DEFINE_string("model", None, "A .tflite written by python -m squeezekit.export.")
flags.DEFINE_integer("top", 5, "How many classes to print.")
flags.DEFINE_integer("num_threads", 2, "CPU threads for the interpreter.")
FLAGS = flags.FLAGS


def load_image(path: str, size: int, crop_fraction: float) -> np.ndarray:
    """RGB float32 HxWx3 in 0-255: short side resized to ``size / crop_fraction``, then center-cropped."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            w, h = image.size
            scale = (size / crop_fraction) / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            image = image.resize((nw, nh), Image.BILINEAR)
            left, top = (nw - size) // 2, (nh - size) // 2
            return np.asarray(image.crop((left, top, left + size, top + size)), np.float32)
    except Exception as err:  # PIL raises many types for a damaged image (OSError, SyntaxError, struct.error...)
        raise ValueError(f"cannot read {path} as an image ({type(err).__name__}).") from None


def preprocess(rgb: np.ndarray, info: dict) -> np.ndarray:
    """0-255 RGB -> the model's normalized input, in its channel order."""
    spec = info["input"]
    x = rgb[..., ::-1] if spec["channel_order"] == "BGR" else rgb
    return (x - np.asarray(spec["mean"], np.float32)) / np.asarray(spec["std"], np.float32)


def _first_line(err: Exception) -> str:
    lines = [l.strip() for l in str(err).splitlines() if l.strip()]
    return lines[0].rstrip(".") if lines else type(err).__name__


class Classifier:
    """One .tflite and its metadata: ``classify(rgb_image) -> (top [(label, probability)], milliseconds)``."""

    def __init__(self, content: bytes, num_threads: int = 2, label: str = "the model"):
        """Checks ``content`` before anything native reads it: a ``ModelFileError`` for a file that is not a
        well-formed .tflite, a ``MetadataError`` for missing or damaged metadata, a ``LiteRtError`` ("this
        .tflite cannot run: ...") when the runtime refuses to prepare or run it."""
        from ai_edge_litert.interpreter import Interpreter

        from converters import graph, metadata

        g = graph.verify(content, label)
        self.info, self.labels = metadata.read(content)
        outputs = g.tensors[g.outputs[0]].shape
        if not outputs or outputs[-1] != len(self.labels):
            raise metadata.MetadataError(f"the file's {metadata.LABELS_FILE} has {len(self.labels)} classes but the "
                                         f"model's output is {outputs}", "export the model again.", param="tflite")
        try:
            self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
            self.interpreter.allocate_tensors()
            self.input = self.interpreter.get_input_details()[0]
            self.output = self.interpreter.get_output_details()[0]
            shape = self.input["shape"]
            if len(shape) != 4 or shape[1] != shape[2] or shape[1] < 1 or shape[3] != 3:
                raise LiteRtError(f"this .tflite cannot run: its input is {list(shape)}, not one square RGB image")
            self.size = int(shape[1])
            # The first invoke packs the weights for XNNPACK; do it here so the times printed are steady ones.
            self.interpreter.set_tensor(self.input["index"], np.zeros(shape, self.input["dtype"]))
            self.interpreter.invoke()
        except (RuntimeError, ValueError) as err:
            if isinstance(err, LiteRtError):
                raise
            raise LiteRtError(f"this .tflite cannot run: {_first_line(err)}") from None

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
    with open(FLAGS.model, "rb") as f:
        content = f.read()
    try:
        classifier = Classifier(content, FLAGS.num_threads, label=FLAGS.model)
    except SqueezekitError as err:  # a corrupt file, damaged metadata, or a graph the runtime refuses
        message = cli.explain(err, ADVICE)
        cli.fail(message if FLAGS.model in message else f"{FLAGS.model}: {message}")
    info = classifier.info
    print(f"{info.get('paper_name', '?')} ({info.get('flavour', '?')}, {classifier.size}x{classifier.size} "
          f"{info['input']['channel_order']}{', untrained' if not info.get('trained', True) else ''})")
    failed = 0
    for path in images:
        try:
            rgb = load_image(path, classifier.size, info["input"]["crop_fraction"])
        except ValueError as err:
            cli.error(str(err))
            failed += 1
            continue
        try:
            top, ms = classifier.classify(rgb, FLAGS.top)
        except RuntimeError as err:
            cli.fail(f"{FLAGS.model}: this .tflite cannot run: {_first_line(err)}")
        print(f"{path}: {ms:.1f} ms")
        for label, p in top:
            print(f"  {p:7.2%}  {label}")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main, advice=ADVICE, positional=True)
