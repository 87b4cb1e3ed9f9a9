"""Accounting of params and MACs, checked against hand-computed layers in both Keras worlds."""

import keras
import pytest
import tf_keras

from squeezekit.models.accounting import model_stats


@pytest.mark.parametrize("K", [keras, tf_keras], ids=["keras3", "tf_keras"])
def test_small_layers_by_hand(K):
    x = inputs = K.Input((10, 12, 4))
    x = K.layers.Conv2D(8, 3, padding="same", name="conv")(x)  # 10*12 * 3*3*4*8 MACs, 3*3*4*8 + 8 params
    x = K.layers.BatchNormalization(name="bn")(x)  # 2*8 trainable, 2*8 moving
    x = K.layers.Conv2D(8, (3, 1), strides=2, groups=2, use_bias=False, name="grouped")(x)  # 4x6 out
    x = K.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)  # 16 out channels
    x = K.layers.GlobalAveragePooling2D(name="gap")(x)
    x = K.layers.Dense(5, use_bias=False, name="fc")(x)
    stats = model_stats(K.Model(inputs, x))
    by_name = {l.name: l for l in stats.layers}
    assert by_name["conv"].macs == 10 * 12 * 3 * 3 * 4 * 8 and by_name["conv"].params == 3 * 3 * 4 * 8 + 8
    assert by_name["bn"].trainable_params == 16 and by_name["bn"].params == 32 and by_name["bn"].macs == 0
    assert by_name["grouped"].output_shape == (None, 4, 6, 8)
    assert by_name["grouped"].macs == 4 * 6 * 3 * 1 * (8 // 2) * 8 and by_name["grouped"].params == 3 * 4 * 8
    assert by_name["dw"].macs == 4 * 6 * 3 * 3 * 8 * 2 and by_name["dw"].params == 3 * 3 * 8 * 2 + 16
    assert by_name["fc"].macs == 16 * 5 and by_name["gap"].macs == 0
    assert stats.macs == sum(l.macs for l in stats.layers)
    assert stats.trainable_params == 296 + 16 + 96 + 160 + 80
    # Inference weights: kernels, plus one bias per output channel of conv/dense layers (BN folded in).
    kernels = 288 + 96 + 144 + 80
    biases = 8 + 8 + 16 + 5
    assert stats.float32_weight_bytes == 4 * (kernels + biases)
    assert stats.int8_weight_bytes == kernels + 4 * biases
    assert stats.to_dict()["macs"] == stats.macs
