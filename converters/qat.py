"""Quantization-aware training with tensorflow-model-optimization, on the model's tf_keras twin.

tfmot accepts only tf_keras (Keras 2) functional models, so ``quantize_aware`` takes the float tf_keras twin
of the model (the application builds it with the same builder code, copies the weights and checks both give
the same float outputs: ``squeezekit.models.twin``), wraps it with ``quantize_model`` (8-bit, per-channel
weights) and fine-tunes it. The result converts to full int8 without representative data
(``converters.tflite``).

tfmot's activation ranges start at [-6, 6] and follow an exponential moving average with a fixed decay of
0.999, so a fine-tune of a few dozen steps (all of digits is 23 batches an epoch) leaves them near [-6, 6]:
the QAT model of a trained 1.0-SqNxt-23 scored 10% before fine-tuning and 34% after two epochs. So
``calibrate_ranges`` first sets every range to the running mean of per-batch minima and maxima over the
training data (97% on the same model), with the float weights and BatchNorm statistics left as they were.

Importing tfmot switches ``tf.keras`` to tf_keras for the whole process, so it is imported here, lazily.
"""

from __future__ import annotations

import contextlib
import re

_RANGE = re.compile(r"_(min|max)(:0)?$")


@contextlib.contextmanager
def _ema_decay(state: dict):
    """Make tfmot's moving-average quantizers use ``state["decay"]`` (read at each eager call)."""
    from tensorflow_model_optimization.python.core.quantization.keras import quantizers

    original = quantizers.quant_ops.MovingAvgQuantize

    def moving_average_quantize(*args, **kwargs):
        kwargs["ema_decay"] = state["decay"]
        return original(*args, **kwargs)

    quantizers.quant_ops.MovingAvgQuantize = moving_average_quantize
    try:
        yield
    finally:
        quantizers.quant_ops.MovingAvgQuantize = original


def calibrate_ranges(qat_model, batches, max_batches: int = 50) -> int:
    """Set the activation ranges of a fresh QAT model from data; returns the number of batches used.

    Forward passes in training mode update the ranges (batch ``i`` with decay i/(i+1): a running mean);
    every other variable they touch (BatchNorm moving statistics) is restored afterwards.
    """
    keep = [(v, v.numpy()) for v in qat_model.weights if not _RANGE.search(v.name)]
    state = {"decay": 0.0}
    used = 0
    with _ema_decay(state):
        for i, batch in enumerate(batches):
            if i >= max_batches:
                break
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            state["decay"] = i / (i + 1)
            qat_model(images, training=True)
            used += 1
    for variable, value in keep:
        variable.assign(value)
    return used


def quantize_aware(twin, train, epochs: int, *, lr: float = 1e-3, calibration_batches: int = 50,
                   verbose="auto", log=print):
    """Return the QAT model of ``twin``, ranges calibrated and fine-tuned.

    ``twin`` is a float tf_keras (Keras 2) model, as tfmot requires: the caller builds it (for a Keras 3 model,
    squeezekit's ``to_tf_keras`` makes the same network with the same weights). ``train`` yields (images,
    one-hot labels) batches, preprocessed as the model expects. Fine-tuning is SGD
    with momentum 0.9 and a cosine decay from ``lr`` to 0 over ``epochs``: QAT starts from a trained model,
    and small steps let the weights settle on the quantization grid without forgetting.
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras

    qat = tfmot.quantization.keras.quantize_model(twin)
    used = calibrate_ranges(qat, train, calibration_batches)
    log(f"quantization ranges calibrated on {used} batches")
    if epochs > 0:
        steps = int(train.cardinality()) if hasattr(train, "cardinality") else -1
        steps = steps if steps > 0 else None
        schedule = tf_keras.optimizers.schedules.CosineDecay(lr, max(1, (steps or 100) * epochs))
        qat.compile(optimizer=tf_keras.optimizers.SGD(schedule, momentum=0.9),
                    loss=tf_keras.losses.CategoricalCrossentropy(from_logits=_ends_in_logits(twin)),
                    metrics=["accuracy"])
        qat.fit(train, epochs=epochs, steps_per_epoch=steps, verbose=verbose)
    return qat


def _ends_in_logits(model) -> bool:
    """Whether the model's output is logits (built with ``classifier_activation=None``), not probabilities."""
    names = [layer.name for layer in model.layers]
    if "predictions" not in names:
        return True
    activation = model.get_layer("predictions").activation
    return getattr(activation, "__name__", "") not in ("softmax", "sigmoid")
