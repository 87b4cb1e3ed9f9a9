"""The tf_keras twin: the same builder code run with Keras 2, for tensorflow-model-optimization.

tfmot only accepts tf_keras functional models, while users hold Keras 3 models. ``to_tf_keras`` rebuilds a
squeezekit model with ``keras_module=tf_keras`` (every builder records its arguments on the model it
returns), copies every layer's weights by name and checks that both give the same float outputs before
anything is quantized.
"""

from __future__ import annotations

import json

import numpy as np

from squeezekit.models.common import BUILD_RECORD_ATTR


def build_config(model) -> dict | None:
    """``{"builder": family, "kwargs": {...}}`` recorded by the builder, or None (e.g. after load_model)."""
    raw = getattr(model, BUILD_RECORD_ATTR, None)
    return json.loads(raw) if raw else None


def builder(family: str):
    if family == "squeezenet":
        from squeezekit.models.squeezenet import SqueezeNet

        return SqueezeNet
    if family == "squeezenext":
        from squeezekit.models.squeezenext import SqueezeNext

        return SqueezeNext
    raise ValueError(f"unknown model family {family!r}; expected 'squeezenet' or 'squeezenext'.")


def copy_weights(source, target) -> int:
    """Copy weights layer by layer, matched by name; every weighted layer must match. Returns the count."""
    target_layers = {layer.name: layer for layer in target.layers}
    copied = 0
    for layer in source.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        other = target_layers.get(layer.name)
        if other is None:
            raise ValueError(f"layer {layer.name!r} of {source.name} has no counterpart in {target.name}.")
        shapes = [w.shape for w in other.get_weights()]
        if shapes != [w.shape for w in weights]:
            raise ValueError(
                f"layer {layer.name!r}: weight shapes {[w.shape for w in weights]} vs {shapes} in {target.name}."
            )
        other.set_weights(weights)
        copied += 1
    return copied


def max_output_difference(a, b, seed: int = 0, batch: int = 2, relative: bool = False) -> float:
    """Largest absolute difference of two models' inference outputs on the same random input; with
    ``relative``, divided by the largest output magnitude of ``a`` when that is above 1 (logits)."""
    shape = (batch,) + tuple(int(d) for d in a.inputs[0].shape[1:])
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype("float32")
    ya = np.asarray(a(x, training=False))
    yb = np.asarray(b(x, training=False))
    diff = float(np.max(np.abs(ya - yb)))
    return diff / max(1.0, float(np.max(np.abs(ya)))) if relative else diff


def to_tf_keras(model, config: dict | None = None, rtol: float = 1e-3):
    """Return the tf_keras twin of a squeezekit Keras 3 model, weights copied and outputs checked equal.

    ``config`` is needed only for a model that carries no build record (one loaded with
    ``keras.models.load_model``): either a registry build, ``{"model": "sqnxt23", "input_shape":
    [224, 224, 3], "classes": 10}``, or a family build, ``{"builder": "squeezenext", "kwargs": {...}}``.
    """
    import tf_keras

    config = config or build_config(model)
    if not config:
        raise ValueError(
            f"{model.name} carries no squeezekit build record (was it loaded from a file?); pass "
            "config={'model': NAME, 'input_shape': [H, W, 3], 'classes': N, ...}."
        )
    if "model" in config:
        from squeezekit.models import registry

        kwargs = {k: v for k, v in config.items() if k != "model"}
        kwargs.setdefault("name", model.name)
        twin = registry.build(config["model"], keras_module=tf_keras, **kwargs)
    else:
        twin = builder(config["builder"])(**config["kwargs"], keras_module=tf_keras)
    copy_weights(model, twin)
    # Relative to the output scale: a wrong weight mapping is off by O(1), while float32 rounding through
    # 23 BatchNorm blocks gave 4e-5 of logits in the hundreds (Keras 3 and tf_keras pick different kernels), and
    # 1.24e-4 on a fine-tuned SqNxt-23 started from He-normal random weights (activations growing block by block:
    # tests/train/test_finetune.py); 1e-4 refused that one about one run in three.
    diff = max_output_difference(model, twin, relative=True)
    if not diff <= rtol:
        raise ValueError(f"tf_keras twin of {model.name} differs from it by {diff:.3g} of its output scale "
                         f"(> {rtol}).")
    return twin
