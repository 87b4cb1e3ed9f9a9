"""Every registered model: output shapes, save/load round trip and one training step."""

import keras
import numpy as np
import pytest

import squeezekit
from squeezekit.models.common import out_size
from squeezekit.models.registry import get_spec

ALL = squeezekit.list_models()


def _feature_size(name, size):
    """The final feature map size, from the paper's arithmetic written out independently of the builders."""
    spec = get_spec(name)
    if spec.family == "squeezenet":
        kernel = 7 if spec.config["version"] == "1.0" else 3
        size = out_size(size, kernel, 2)
        for _ in range(3):
            size = -(-(size - 3) // 2) + 1  # ceil-mode 3x3/2 max-pool
        return size
    size = out_size(size, spec.config["stem_kernel"], 2)
    size = -(-(size - 3) // 2) + 1
    for _ in range(3):
        size = (size + 1) // 2  # stride-2 1x1 conv
    return size


@pytest.mark.parametrize("name", ALL)
def test_output_shapes(name):
    spec = get_spec(name)
    for size in (224, 227, 160, spec.min_size):
        model = squeezekit.build(name, input_shape=(size, size, 3), classes=7)
        assert model.output_shape == (None, 7), (name, size)
    channels = 512 if spec.family == "squeezenet" else 128
    f = _feature_size(name, 160)
    for pooling, shape in ((None, (None, f, f, channels)), ("avg", (None, channels)), ("max", (None, channels))):
        model = squeezekit.build(name, include_top=False, pooling=pooling, input_shape=(160, 160, 3))
        assert model.output_shape == shape, (name, pooling)


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip_and_one_fit_step(name, tmp_path):
    model = squeezekit.build(name, input_shape=(64, 64, 3), classes=4)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (8, 64, 64, 3)).astype("float32")
    y = rng.integers(0, 4, 8)
    # Eagerly: one step of every model checks that gradients reach every weight. Tracing the graph-mode train
    # step took 5-15 s per SqueezeNext (175 s for the zoo) against about 1 s eagerly; graph-mode training runs in
    # the train CLI, notebook, search and QAT tests.
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", run_eagerly=True)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    path = tmp_path / "x.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), np.asarray(loaded(x, training=False)))


def test_logits_and_softmax():
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    logits = squeezekit.build("sqnxt23", input_shape=(64, 64, 3), classes=5, classifier_activation=None)
    probs = squeezekit.build("sqnxt23", input_shape=(64, 64, 3), classes=5)
    probs.set_weights(logits.get_weights())
    z = np.asarray(logits(x)).astype("float64")
    e = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(np.asarray(probs(x)), e / e.sum(-1, keepdims=True), rtol=1e-4, atol=1e-7)
    assert probs.get_layer("predictions").activation.__name__ == "softmax" and "predictions" not in [
        l.name for l in logits.layers]


def test_weights_argument(tmp_path):
    model = squeezekit.build("squeezenet1_1", input_shape=(64, 64, 3), classes=3)
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    again = squeezekit.build("squeezenet1_1", input_shape=(64, 64, 3), classes=3, weights=path)
    x = np.ones((1, 64, 64, 3), "float32")
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(again(x)))
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        squeezekit.build("squeezenet1_1", weights=str(tmp_path / "missing.weights.h5"))
    from squeezekit.models.squeezenet import SqueezeNet

    with pytest.raises(ValueError, match="the builders take a weights path; squeezekit.build"):
        SqueezeNet(weights="imagenet")  # squeezekit.build fetches: tests/weights/test_store.py
    with pytest.raises(ValueError, match="could not load weights"):
        squeezekit.build("squeezenet1_1", input_shape=(64, 64, 3), classes=5, weights=path)


def test_input_tensor():
    inputs = keras.Input((96, 96, 3))
    model = squeezekit.build("sqnxt23v5", input_tensor=inputs, classes=2)
    assert model.input_shape == (None, 96, 96, 3) and model.output_shape == (None, 2)


@pytest.mark.parametrize("name", ["squeezenet1_0", "sqnxt23"])
def test_non_square_input_of_mixed_parity(name):
    # 224 needs a ceil-mode padding row at the first pool, 227 does not: both axes must still be exact.
    model = squeezekit.build(name, input_shape=(224, 227, 3), include_top=False)
    assert model.output_shape[1:3] == (_feature_size(name, 224), _feature_size(name, 227))
