"""AlexNet (Caffe bvlc_alexnet, without LRN): the reference builder's shapes and counts at 227."""

import pytest

import squeezekit
from squeezekit.models.accounting import model_stats
from squeezekit.models.alexnet import AlexNet

# Hand counts: params k_h k_w (C_in / groups) C_out + C_out; MACs H_out W_out k_h k_w (C_in / groups) C_out.
LAYERS = {  # name: (output shape, params, MACs)
    "conv1": ((55, 55, 96), 11 * 11 * 3 * 96 + 96, 55 * 55 * 11 * 11 * 3 * 96),  # 105,415,200
    "pool1": ((27, 27, 96), 0, 0),
    "conv2": ((27, 27, 256), 5 * 5 * 48 * 256 + 256, 27 * 27 * 5 * 5 * 48 * 256),  # 223,948,800
    "pool2": ((13, 13, 256), 0, 0),
    "conv3": ((13, 13, 384), 3 * 3 * 256 * 384 + 384, 13 * 13 * 3 * 3 * 256 * 384),  # 149,520,384
    "conv4": ((13, 13, 384), 3 * 3 * 192 * 384 + 384, 13 * 13 * 3 * 3 * 192 * 384),  # 112,140,288
    "conv5": ((13, 13, 256), 3 * 3 * 192 * 256 + 256, 13 * 13 * 3 * 3 * 192 * 256),  # 74,760,192
    "pool5": ((6, 6, 256), 0, 0),
    "fc6": ((4096,), 9216 * 4096 + 4096, 9216 * 4096),
    "fc7": ((4096,), 4096 * 4096 + 4096, 4096 * 4096),
    "fc8": ((1000,), 4096 * 1000 + 1000, 4096 * 1000),
}


@pytest.fixture(scope="module")
def stats():
    model = AlexNet()
    assert model.name == "alexnet" and tuple(model.input_shape) == (None, 227, 227, 3)
    assert tuple(model.output_shape) == (None, 1000)
    return model_stats(model)


def test_params_and_macs_match_caffe(stats):
    assert stats.params == stats.trainable_params == 60_965_224
    assert stats.macs == 724_406_816
    assert sum(p for _, p, _ in LAYERS.values()) == 60_965_224
    assert sum(m for _, _, m in LAYERS.values()) == 724_406_816


def test_per_layer_shapes_and_counts(stats):
    by_name = {l.name: l for l in stats.layers}
    for name, (shape, params, macs) in LAYERS.items():
        layer = by_name[name]
        assert layer.output_shape[1:] == shape, name
        assert (layer.params, layer.macs) == (params, macs), name


def test_features_only_and_not_registered():
    model = AlexNet(include_top=False, pooling="avg", input_shape=(227, 227, 3))
    assert tuple(model.output_shape) == (None, 256)
    assert model.count_params() == 2_334_080  # the five convolutions
    assert not any("alexnet" in name for name in squeezekit.list_models())
