"""Conversion time of the kit's route against the SavedModel route, side by side, and whether the files agree.

    python benchmarks/conversion_routes.py [--models squeezenet1_1,sqnxt23_w1] [--rounds 3] [--size 224]

For each model (untrained, seeded) and each round, in alternation:
- the SavedModel route (``converters.tflite.exported(model, saved_model=True)``): ``model.export(dir)``, then
  ``TFLiteConverter.from_saved_model(dir)`` for each of the four --all flavours (int8 calibrated on 4 random
  images), as converting a Keras 3 model is documented;
- the kit's route: ``converters.tflite.exported`` (the inference function traced once) and ``convert`` for the
  same four flavours, frozen in memory.
Both go through ``converters.tflite.convert`` with the same recipes, so only the route differs. Prints the median
seconds of each route, the ratio, and for each flavour whether the files are the same bytes once both record the
same model type in their conversion metadata, else whether they hold the same graph with tensors numbered in
another order (same ops in the same order, tensors with the same names, shapes, types, quantization and data;
the constants MLIR merges, named ``arith.constant<N>``, may take another N).

The biases are set to random values first, as training leaves them. With a fresh SqueezeNet's zero biases the
converter merges the equal constants, and the two routes meet them in another order: two constant tensors swap
places (float16: their DEQUANTIZE ops too), the same network.
"""

from __future__ import annotations

import re
import statistics
import time

import numpy as np
from absl import app, flags, logging

flags.DEFINE_list("models", ["squeezenet1_1", "sqnxt23_w1", "sqnxt23v5_w1"], "Registered models to convert.")
flags.DEFINE_integer("rounds", 3, "Rounds of both routes, in alternation.")
flags.DEFINE_integer("size", 224, "Input height and width.")
FLAGS = flags.FLAGS


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in sorted(vars(value).items())}
    return value


def canonical(content: bytes):
    """The graph with its tensors numbered by first use (inputs, then each op's inputs and outputs in order)."""
    from converters import flatbuffer

    model = flatbuffer.unpack(content)
    sub = model.subgraphs[0]
    order = {}

    def number(i):
        if i < 0:
            return -1
        return order.setdefault(int(i), len(order))

    for i in sub.inputs:
        number(i)
    ops = []
    for op in sub.operators:
        code = model.operatorCodes[op.opcodeIndex]
        ops.append((max(code.builtinCode, code.deprecatedBuiltinCode), code.version, _plain(op.builtinOptions),
                    [number(i) for i in op.inputs], [number(i) for i in op.outputs]))
    outputs = [number(i) for i in sub.outputs]

    def tensor(t):
        data = model.buffers[t.buffer].data
        name = b"arith.constant" if re.fullmatch(rb"arith\.constant\d*", t.name) else t.name
        return (name, _plain(t.shape), _plain(t.shapeSignature), t.type, _plain(t.quantization),
                None if data is None else bytes(np.asarray(data, np.uint8)))

    tensors = {order[i]: tensor(sub.tensors[i]) for i in order}
    signatures = [(s.signatureKey, [(m.name, order.get(m.tensorIndex)) for m in s.inputs],
                   [(m.name, order.get(m.tensorIndex)) for m in s.outputs]) for s in model.signatureDefs or []]
    metadata = {m.name: bytes(np.asarray(model.buffers[m.buffer].data, np.uint8)) for m in model.metadata or []
                if m.name != b"CONVERSION_METADATA"}
    return ops, outputs, tensors, signatures, metadata


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keras' SavedModel export logs every signature at INFO
    import keras
    from tensorflow.lite.python import lite

    import squeezekit
    from converters import tflite

    size = FLAGS.size
    rows = []
    for name in FLAGS.models:
        keras.utils.set_random_seed(0)
        model = squeezekit.build(name, input_shape=(size, size, 3))
        rng = np.random.default_rng(0)
        for layer in model.layers:  # biases as training leaves them (a fresh model's are zeros; see the docstring)
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(rng.normal(0.0, 0.1, size=layer.bias.shape))
        images = np.random.default_rng(0).normal(0, 60, size=(4, size, size, 3)).astype(np.float32)
        recipes = [tflite.Recipe(f, representative=lambda: [images]) for f in tflite.ALL]
        times = {"saved_model": [], "traced": []}
        files = {}
        kit_type = tflite._model_type
        for _ in range(FLAGS.rounds):
            start = time.perf_counter()
            with tflite.exported(model, saved_model=True) as ex:
                files["saved_model"] = [tflite.convert(ex, r).content for r in recipes]
            times["saved_model"].append(time.perf_counter() - start)
            start = time.perf_counter()
            with tflite.exported(model) as ex:
                files["traced"] = [tflite.convert(ex, r).content for r in recipes]
            times["traced"].append(time.perf_counter() - start)
        tflite._model_type = lambda: lite.conversion_metadata_fb.ModelType.TF_SAVED_MODEL
        try:
            with tflite.exported(model) as ex:
                relabelled = [tflite.convert(ex, r).content for r in recipes]
        finally:
            tflite._model_type = kit_type
        same = []
        for ours, theirs in zip(relabelled, files["saved_model"]):
            same.append("bytes" if ours == theirs else "graph" if canonical(ours) == canonical(theirs) else "DIFFER")
        rows.append((name, statistics.median(times["saved_model"]), statistics.median(times["traced"]), same))
    print(f"{'model':<16} {'SavedModel s':>12} {'traced s':>9} {'ratio':>6}  " +
          " ".join(f"{f:>8}" for f in tflite.ALL))
    for name, saved, traced, same in rows:
        print(f"{name:<16} {saved:>12.1f} {traced:>9.1f} {saved / traced:>5.2f}x  " + " ".join(f"{s:>8}" for s in same))
    print(f"(medians of {FLAGS.rounds} rounds at {size}x{size}, four flavours each; bytes: the same file once both "
          "record the same model type; graph: the same graph, tensors numbered in another order)")


if __name__ == "__main__":
    app.run(main)
