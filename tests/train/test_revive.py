"""ReviveDeadClasses: a conv10 class channel that is 0 for every training image comes back; healthy ones stay."""

import keras
import numpy as np
import tensorflow as tf

import squeezekit
from squeezekit.train.revive import ReviveDeadClasses, has_relu_head


def _pre_conv10(model, x):
    pre = np.asarray(keras.Model(model.input, model.get_layer("conv10").output)(x, training=False))
    return pre.reshape(len(x), -1, pre.shape[-1]).max(axis=1)


def test_dead_class_channels_come_back():
    model = squeezekit.build("squeezenet1_1", classes=4, input_shape=(32, 32, 3))
    assert has_relu_head(model) and not has_relu_head(squeezekit.build("sqnxt23", classes=4, input_shape=(32, 32, 3)))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 32, 32, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[np.arange(40) % 4]
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    bias = model.get_layer("conv10").bias
    values = np.full(4, 100.0, "float32")  # classes 0 and 2: alive on every image
    values[[1, 3]] = -100.0  # classes 1 and 3: dead on every image
    bias.assign(values)
    healthy = np.array(bias.numpy())[[0, 2]]

    messages = []
    callback = ReviveDeadClasses(data, probe_size=32, margin=0.5, log=messages.append)
    callback.set_model(model)
    callback.on_train_begin()
    assert callback.revived == [(-1, [1, 3])] and "1, 3 before training" in messages[0]
    pre = _pre_conv10(model, x[:32])
    labels = y[:32].argmax(-1)
    for c in (1, 3):  # positive, by the margin, on every probe image of its own class
        assert pre[labels == c, c].min() >= 0.5 - 1e-4
    np.testing.assert_array_equal(np.asarray(bias.numpy())[[0, 2]], healthy)
    callback.on_epoch_end(0)
    assert callback.revived == [(-1, [1, 3])]  # nothing dead any more: nothing changes
    assert not ReviveDeadClasses(data, at_start=False).at_start
