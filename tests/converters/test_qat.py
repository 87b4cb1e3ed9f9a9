"""Quantization-aware training on the tf_keras twin: range calibration, fine-tuning, conversion routes."""

import numpy as np
import pytest

import squeezekit
from converters import graph, qat, report, tflite


def _data(n=64, classes=3):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 60.0, size=(n, 32, 32, 3)).astype(np.float32)  # Caffe-range inputs
    labels = tf.one_hot(rng.integers(0, classes, size=n), classes)
    return images, tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)


@pytest.fixture(scope="module")
def setup():
    import keras

    keras.utils.set_random_seed(0)
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=10)
    images, train = _data(classes=10)
    # An untrained conv10 -> ReLU head can be dead for every class (uniform outputs): not this seed.
    assert np.asarray(model(images)).max() > 0.5
    return model, images, train


def test_calibrated_ranges_make_the_qat_model_follow_the_float_one(setup):
    import tensorflow_model_optimization as tfmot

    from squeezekit.models.twin import to_tf_keras

    model, images, train = setup
    reference = np.asarray(model(images, training=False))
    fresh = tfmot.quantization.keras.quantize_model(to_tf_keras(model))
    # tfmot's ranges start at [-6, 6]: inputs around +-100 are clipped and the outputs are far off.
    assert np.abs(reference - np.asarray(fresh(images, training=False))).max() > 0.3
    assert qat.calibrate_ranges(fresh, train) == 4
    assert np.abs(reference - np.asarray(fresh(images, training=False))).max() < 0.1


def test_calibration_leaves_batchnorm_statistics_alone():
    import tensorflow_model_optimization as tfmot

    from squeezekit.models.twin import to_tf_keras

    model = squeezekit.build("sqnxt23", input_shape=(32, 32, 3), classes=3)
    fresh = tfmot.quantization.keras.quantize_model(to_tf_keras(model))
    stats = [(w, w.numpy()) for w in fresh.weights if "moving" in w.name]
    assert len(stats) == 2 * 111  # mean and variance of all 111 BatchNorms
    qat.calibrate_ranges(fresh, _data()[1])
    assert all(np.array_equal(before, w.numpy()) for w, before in stats)


def test_qat_model_converts_to_int8_through_the_fast_route(setup, monkeypatch):
    from tensorflow.lite.python import lite

    from squeezekit.models.twin import to_tf_keras

    model, images, train = setup
    qat_model = qat.quantize_aware(to_tf_keras(model), train, epochs=1, verbose=0, log=lambda *_: None)
    fast = tflite.convert(qat_model, tflite.Recipe("int8")).content
    assert graph.int8_problems(graph.read(fast)) == []
    # The traced function, frozen in memory, gives the bytes of the SavedModel route (once both record the same
    # model type), and tf_keras' own legacy route the same outputs, much more slowly.
    monkeypatch.setattr(tflite, "_model_type", lambda: lite.conversion_metadata_fb.ModelType.TF_SAVED_MODEL)
    relabelled = tflite.convert(qat_model, tflite.Recipe("int8")).content
    with tflite.exported(qat_model, saved_model=True) as ex:
        assert tflite.convert(ex, tflite.Recipe("int8")).content == relabelled
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(qat_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    public = bytes(converter.convert())
    np.testing.assert_array_equal(report.run(fast, images), report.run(public, images))
    # The int8 file computes what the fake-quantized Keras model computes.
    simulated = np.asarray(qat_model(images, training=False))
    assert np.mean(report.run(fast, images).argmax(-1) == simulated.argmax(-1)) >= 0.9


def test_qat_model_converts_only_to_int8(setup):
    model, _, train = setup
    from squeezekit.models.twin import to_tf_keras

    qat_model = qat.quantize_aware(to_tf_keras(model), train, epochs=0, log=lambda *_: None)
    with pytest.raises(tflite.ConversionError, match="converts only to int8"):
        tflite.convert(qat_model, tflite.Recipe("float16"))
