"""The tf_keras twin: same builder code, weights copied, outputs equal."""

import keras
import numpy as np
import pytest
import tf_keras

import squeezekit
from squeezekit.models import twin

FAMILIES = ["squeezenet1_0", "squeezenet1_1_complex_bypass", "sqnxt23", "g_sqnxt23", "sqnxt23v5",
            "sqnxt23_ida"]


def _randomize(model, seed=0):
    """Random weights everywhere, BatchNorm statistics included, so equal outputs mean a real copy."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if "variance" in v.path
        else rng.normal(0, 0.2, w.shape).astype(w.dtype)
        for v, w in zip(model.weights, model.get_weights())
    ])


@pytest.mark.parametrize("name", FAMILIES)
def test_twin_outputs_equal(name):
    model = squeezekit.build(name, input_shape=(64, 64, 3), classes=6)
    _randomize(model)
    other = twin.to_tf_keras(model)
    assert isinstance(other, tf_keras.Model) and not isinstance(other, keras.Model)
    assert other.count_params() == model.count_params()
    assert twin.max_output_difference(model, other, seed=3, batch=4) < 1e-5


def test_imgclsmob_convention_twin():
    model = squeezekit.build("sqnxt23v5", convention="imgclsmob", input_shape=(64, 64, 3), classes=6)
    _randomize(model, seed=1)
    assert twin.max_output_difference(model, twin.to_tf_keras(model)) < 1e-5


def test_loaded_model_needs_its_build_config(tmp_path):
    model = squeezekit.build("sqnxt23", input_shape=(64, 64, 3), classes=6)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="carries no squeezekit build record"):
        twin.to_tf_keras(loaded)
    other = twin.to_tf_keras(loaded, {"model": "sqnxt23", "input_shape": [64, 64, 3], "classes": 6})
    assert twin.max_output_difference(loaded, other) < 1e-5


def test_family_builder_models_have_twins_too():
    from squeezekit.models.squeezenext import SqueezeNext

    model = SqueezeNext(width_multiplier=0.5, blocks=(1, 2, 2, 1), groups=2, input_shape=(48, 40, 3), classes=3)
    _randomize(model, seed=2)
    other = twin.to_tf_keras(model)
    assert other.input_shape == (None, 48, 40, 3)
    assert twin.max_output_difference(model, other) < 1e-5


def test_copy_weights_refuses_a_different_architecture():
    a = squeezekit.build("sqnxt23", input_shape=(64, 64, 3), classes=6)
    b = squeezekit.build("sqnxt23", input_shape=(64, 64, 3), classes=7, keras_module=tf_keras)
    with pytest.raises(ValueError, match="layer 'fc'"):
        twin.copy_weights(a, b)
