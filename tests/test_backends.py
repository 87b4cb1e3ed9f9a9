"""Keras 3's other backends (issue 19): the builders train and evaluate under JAX, and the export from a JAX
environment relays to a TensorFlow-backend process (weights through a .weights.h5, outputs checked equal).

The backend is fixed per process: every JAX step runs in a subprocess with ``KERAS_BACKEND=jax``; this process
(conftest: ``tensorflow``) checks the results against the TensorFlow backend and runs the .tflite files.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest


def _python(*args, backend="jax", timeout=900):
    env = dict(os.environ, KERAS_BACKEND=backend)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)


# Under JAX, for each model: build at 32x32, fit two epochs on a synthetic 4-class set, evaluate, and save what
# the TensorFlow backend needs to check it: parameter count, weights, losses, the evaluation and the outputs.
FIT = r"""
import json, sys
import numpy as np
import keras
import squeezekit

out, results = sys.argv[1], {}
rng = np.random.default_rng(0)
labels = np.arange(64) % 4
patterns = rng.standard_normal((4, 32, 32, 3)).astype("float32")
x = (patterns[labels] + 0.5 * rng.standard_normal((64, 32, 32, 3))).astype("float32")
y = np.eye(4, dtype="float32")[labels]
np.savez(out + "/data.npz", x=x, y=y)
for name in sys.argv[2:]:
    keras.utils.set_random_seed(0)
    model = squeezekit.build(name, classes=4, input_shape=(32, 32, 3))
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy", "mse"])
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    model.save_weights(f"{out}/{name}.weights.h5")
    moved = [float(np.abs(np.array(w) - b).max()) for w, b in zip(model.trainable_weights, before)]
    results[name] = {"params": model.count_params(), "loss": history.history["loss"], "moved": min(moved),
                     "evaluate": model.evaluate(x, y, batch_size=64, verbose=0)}
json.dump({"backend": keras.backend.backend(), "models": results}, open(out + "/result.json", "w"))
"""
MODELS = ("squeezenet1_1", "sqnxt23")


def test_jax_builds_fits_and_evaluates_like_tensorflow(tmp_path):
    result = _python("-c", FIT, str(tmp_path), *MODELS)
    assert result.returncode == 0, result.stderr[-3000:]
    jax = json.loads((tmp_path / "result.json").read_text())
    assert jax["backend"] == "jax" and sorted(jax["models"]) == sorted(MODELS)

    import keras

    import squeezekit

    assert keras.backend.backend() == "tensorflow"
    data = np.load(tmp_path / "data.npz")
    for name in MODELS:
        trained = jax["models"][name]
        # Every trainable weight moved in training, and the losses stayed finite.
        assert np.isfinite(trained["loss"]).all() and trained["moved"] > 0, (name, trained)
        model = squeezekit.build(name, classes=4, input_shape=(32, 32, 3))
        assert model.count_params() == trained["params"], name
        # The JAX-trained weights in the TensorFlow-backend model evaluate the same. Not the loss: on saturated
        # softmax outputs (an untrained sqnxt23's BatchNorm statistics) TensorFlow's crossentropy reads the
        # logits behind the softmax, JAX's the clipped probabilities (measured: 180 against 12.1).
        model.load_weights(tmp_path / f"{name}.weights.h5")
        model.compile("sgd", "categorical_crossentropy", metrics=["accuracy", "mse"])
        _, accuracy, mse = model.evaluate(data["x"], data["y"], batch_size=64, verbose=0)
        assert np.isfinite(trained["evaluate"]).all(), (name, trained)
        assert accuracy == trained["evaluate"][1] and abs(mse - trained["evaluate"][2]) < 1e-5, (name, trained)


# Under JAX: the run's model.keras on the first 64 held-out images, its top-1 on the whole held-out split, and the
# Python API's refusal to convert on this backend.
PREDICT = r"""
import json, sys
import numpy as np
import keras
from squeezekit.data import load
from squeezekit.export import ExportError, pipeline
from squeezekit.runs import RunConfig

weights, out = sys.argv[1], sys.argv[2]
run = RunConfig.beside(weights)
model = keras.models.load_model(weights, compile=False)
data = load(run.data, run.input_size, run.preprocessing, batch_size=64, val_split=run.val_split, seed=run.seed,
            augment=None, cache=False, class_names=run.class_names)
xs, ys = zip(*[(np.asarray(x), np.asarray(y).argmax(-1)) for x, y in data.val])
x, y = np.concatenate(xs), np.concatenate(ys)
probs = np.asarray(model.predict(x, batch_size=64, verbose=0))
np.savez(out + "/keras.npz", x=x[:64], probs=probs[:64])
try:
    pipeline.prepare(None, weights=weights)
    refusal = None
except ExportError as err:
    refusal = str(err)
json.dump({"backend": keras.backend.backend(), "top1": float((probs.argmax(-1) == y).mean()),
           "refusal": refusal}, open(out + "/keras.json", "w"))
"""


def test_jax_trained_run_evaluates_and_exports_through_tensorflow(tmp_path):
    run, exports = tmp_path / "run", tmp_path / "exports"
    trained = _python("-m", "squeezekit.train", "--model", "squeezenet1_1", "--data", "digits", "--epochs", "1",
                      "--out", str(run))
    assert trained.returncode == 0, trained.stderr[-3000:]

    # The user's command, unchanged, from the JAX environment.
    exported = _python("-m", "squeezekit.export", "--weights", str(run / "model.keras"), "--int8", "--float32",
                       "--qat_epochs", "0", "--calibration_images", "64", "--profile", "none", "--optimize", "none",
                       "--out", str(exports))
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "weights from the Keras jax process" in exported.stdout and "assign_variable" not in exported.stderr
    for flavour in ("float32", "int8"):
        rep = json.loads((exports / f"squeezenet1_1_{flavour}.report.json").read_text())
        assert any(n.startswith("Weights from a Keras jax process") for n in rep["notes"]), rep["notes"]

    evaluated = _python("-m", "squeezekit.evaluate", "--weights", str(run / "model.keras"))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    keras_run = _python("-c", PREDICT, str(run / "model.keras"), str(tmp_path))
    assert keras_run.returncode == 0, keras_run.stderr[-3000:]
    info = json.loads((tmp_path / "keras.json").read_text())
    assert info["backend"] == "jax"
    assert f"top-1: {info['top1']:.4f}" in evaluated.stdout.splitlines()
    # The library under JAX refuses in one line, in library terms, and says where to convert.
    assert info["refusal"] and "TensorFlow backend" in info["refusal"] and "--" not in info["refusal"]

    # The .tflite files against the JAX Keras model on the same held-out images.
    from converters import report

    keras_out = np.load(tmp_path / "keras.npz")
    x, probs = keras_out["x"], keras_out["probs"]
    float32 = report.run((exports / "squeezenet1_1_float32.tflite").read_bytes(), x)
    assert np.abs(float32 - probs).max() < 1e-4  # measured: 1.3e-7
    int8 = report.run((exports / "squeezenet1_1_int8.tflite").read_bytes(), x)
    # Within quantization: a few steps of the int8 softmax output's 1/256 scale (measured: 1 step). After one
    # epoch the outputs are still flat (top-2 margins 0.0002-0.023), so top-1 must agree where the Keras model's
    # top-2 margin is over two steps (measured: 39 of 64 images, all agreeing; 64 of 64 agree in all).
    step = 1 / 256
    assert np.abs(int8 - probs).max() <= 3 * step
    top2 = np.sort(probs, axis=-1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 2 * step
    assert decided.sum() >= 10 and (int8.argmax(-1) == probs.argmax(-1))[decided].mean() >= 0.95


def test_staged_weights_are_checked_before_converting(tmp_path):
    """The relay's check can fail: outputs that differ from the staging process's are refused, in one line."""
    import squeezekit
    from squeezekit.export import ExportError, pipeline

    staged = pipeline.stage_for_tensorflow("squeezenet1_1", str(tmp_path), input_size=32)
    assert staged["backend"] == "tensorflow" and staged["inputs"] == pipeline.RELAY_INPUTS
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3))  # other random weights, until restored
    with np.load(tmp_path / pipeline.RELAY_OUTPUTS) as f:
        inputs, expected = f["inputs"], f["outputs"]
    fresh = np.asarray(model.predict(inputs, verbose=0))
    assert not np.allclose(fresh, expected, rtol=pipeline.RELAY_RTOL, atol=pipeline.RELAY_ATOL)
    check = pipeline.restore_staged(model, str(tmp_path))
    assert check["max_abs_difference"] <= check["atol"] and check["top1_agreement"] == 1.0

    path = tmp_path / pipeline.RELAY_OUTPUTS
    with np.load(path) as f:
        staged_arrays = dict(f)
    # Off by 3e-5 on 1000 probabilities near 0.001: more than float32 round-off, less than a class's worth.
    staged_arrays["outputs"] = staged_arrays["outputs"] * (1 + 0.03)
    np.savez(path, **staged_arrays)
    with pytest.raises(ExportError, match="differ on 8 seeded inputs") as err:
        pipeline.restore_staged(model, str(tmp_path))
    assert "--" not in str(err.value) and "\n" not in str(err.value)
