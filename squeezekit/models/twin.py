"""The tf_keras twin: the same builder code run with Keras 2, for tensorflow-model-optimization.

tfmot only accepts tf_keras functional models, while users hold Keras 3 models. ``to_tf_keras`` rebuilds a
squeezekit model with ``keras_module=tf_keras``, copies every layer's weights by name and checks that both
give the same float outputs before anything is quantized.
"""

from __future__ import annotations

import json

import numpy as np

_ATTR = "_squeezekit_build"  # a JSON string: not tracked by Keras, not saved with the model

# Builder arguments that describe the graph and can be recorded (tensors and callables cannot).
_RECORDABLE = ("include_top", "input_shape", "pooling", "classes", "classifier_activation", "name")


def remember_build(model, name: str, convention: str, kwargs: dict) -> None:
    """Record how ``model`` was built so that ``to_tf_keras`` can rebuild it."""
    record = {"model": name, "convention": convention}
    for key, value in kwargs.items():
        if key in ("weights", "keras_module", "input_tensor"):
            continue
        try:
            json.dumps(value)
        except TypeError:
            return  # a callable activation or similar: the caller must pass build_config to to_tf_keras
        record[key] = list(value) if isinstance(value, tuple) else value
    record["input_shape"] = [int(d) for d in model.inputs[0].shape[1:]]
    object.__setattr__(model, _ATTR, json.dumps(record))


def build_config(model) -> dict | None:
    """The recorded build configuration of a squeezekit model, or None (e.g. after load_model)."""
    raw = getattr(model, _ATTR, None)
    return json.loads(raw) if raw else None


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


def max_output_difference(a, b, seed: int = 0, batch: int = 2) -> float:
    """Largest absolute difference of two models' inference outputs on the same random input."""
    shape = (batch,) + tuple(int(d) for d in a.inputs[0].shape[1:])
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, size=shape).astype("float32")
    ya = np.asarray(a(x, training=False))
    yb = np.asarray(b(x, training=False))
    return float(np.max(np.abs(ya - yb)))


def to_tf_keras(model, build_config_override: dict | None = None, atol: float = 1e-5):
    """Return the tf_keras twin of a squeezekit Keras 3 model, weights copied and outputs checked equal.

    ``build_config_override`` is needed only for models that carry no build record (e.g. loaded with
    ``keras.models.load_model``): ``{"model": "sqnxt23", "input_shape": [224, 224, 3], "classes": 10, ...}``,
    as ``squeezekit.build`` takes it.
    """
    import tf_keras

    from squeezekit.models import registry

    config = dict(build_config_override or build_config(model) or {})
    if not config:
        raise ValueError(
            f"{model.name} carries no squeezekit build record (was it loaded from a file?); pass "
            "build_config_override={'model': NAME, 'input_shape': [H, W, 3], 'classes': N, ...}."
        )
    registered = config.pop("model")
    config.setdefault("name", model.name)
    twin = registry.build(registered, keras_module=tf_keras, **config)
    copy_weights(model, twin)
    diff = max_output_difference(model, twin)
    if not diff <= atol:
        raise ValueError(f"tf_keras twin of {model.name} differs from it by {diff:.3g} (> {atol}).")
    return twin
