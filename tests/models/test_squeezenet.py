"""SqueezeNet builders against the official definitions (docs/reference.md)."""

import math

import keras
import numpy as np
import pytest

import squeezekit
from squeezekit.models import common, squeezenet
from squeezekit.models.accounting import model_stats
from squeezekit.models.registry import get_spec

PER_FIRE_PARAMS_V1_0 = {
    "conv1": 14_208, "fire2": 11_920, "fire3": 12_432, "fire4": 45_344, "fire5": 49_440, "fire6": 104_880,
    "fire7": 111_024, "fire8": 188_992, "fire9": 197_184, "conv10": 513_000,
}


def _grouped_params(model):
    sums = {}
    for layer in model_stats(model).layers:
        if layer.trainable_params:
            sums[layer.name.split("_")[0]] = sums.get(layer.name.split("_")[0], 0) + layer.trainable_params
    return sums


@pytest.mark.parametrize("name", ["squeezenet1_0", "squeezenet1_1", "squeezenet1_0_bypass",
                                  "squeezenet1_1_bypass", "squeezenet1_0_complex_bypass",
                                  "squeezenet1_1_complex_bypass"])
@pytest.mark.parametrize("convention", ["torchvision", "caffe"])
def test_params_and_macs_match_reference(name, convention):
    spec = get_spec(name, convention)
    for size in (224, 227):
        stats = model_stats(squeezekit.build(name, convention=convention, input_shape=(size, size, 3)))
        if "trainable_params" in spec.expected:
            assert stats.trainable_params == spec.expected["trainable_params"]
        if f"macs_{size}" in spec.expected:
            assert stats.macs == pytest.approx(spec.expected[f"macs_{size}"], rel=1e-3)


def test_reference_figures_are_registered():
    # The numbers the reference gives, so that a registry edit cannot silently drop a check.
    assert get_spec("squeezenet1_0").expected == {"trainable_params": 1_248_424, "macs_224": 818_924_576}
    assert get_spec("squeezenet1_1").expected == {"trainable_params": 1_235_496, "macs_224": 349_151_936}
    assert get_spec("squeezenet1_0", "caffe").expected["macs_227"] == 861_339_936
    assert get_spec("squeezenet1_1", "caffe").expected["macs_227"] == 387_747_520
    assert get_spec("squeezenet1_0_complex_bypass").expected["trainable_params"] == 1_589_672


def test_per_layer_params_v1_0_and_v1_1():
    assert _grouped_params(squeezekit.build("squeezenet1_0")) == PER_FIRE_PARAMS_V1_0
    v11 = _grouped_params(squeezekit.build("squeezenet1_1"))
    assert v11["conv1"] == 1_792 and v11["fire2"] == 11_408
    assert {k: v for k, v in v11.items() if k not in ("conv1", "fire2")} == {
        k: v for k, v in PER_FIRE_PARAMS_V1_0.items() if k not in ("conv1", "fire2")}


def _map_sizes(model):
    return {l.name: l.output.shape[1] for l in model.layers if l.name.startswith(("conv1", "pool"))}


def test_ceil_mode_shapes():
    v10 = _map_sizes(squeezekit.build("squeezenet1_0", input_shape=(224, 224, 3)))
    assert (v10["conv1"], v10["pool1"], v10["pool4"], v10["pool8"]) == (109, 54, 27, 13)  # floor would give 26
    v11 = _map_sizes(squeezekit.build("squeezenet1_1", input_shape=(227, 227, 3)))
    assert (v11["pool1"], v11["pool3"], v11["pool5"]) == (56, 28, 14)


def _caffe_max_pool(x, k=3, s=2):
    n, h, w, c = x.shape
    oh, ow = math.ceil((h - k) / s) + 1, math.ceil((w - k) / s) + 1
    out = np.zeros((n, oh, ow, c), x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, i, j] = x[:, i * s:min(i * s + k, h), j * s:min(j * s + k, w)].max(axis=(1, 2))
    return out


@pytest.mark.parametrize("hw", [(7, 7), (8, 8), (7, 8), (8, 7), (55, 54), (109, 109)])
def test_max_pool_ceil_equals_caffe(hw):
    inputs = keras.Input((*hw, 4))
    model = keras.Model(inputs, common.max_pool_ceil(keras, keras.layers.ReLU()(inputs), "pool"))
    x = np.random.default_rng(1).uniform(-1, 1, (2, *hw, 4)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), _caffe_max_pool(np.maximum(x, 0)))


def test_metaparameters_reproduce_released_widths_and_explore():
    released = squeezenet.fire_specs()
    assert [(f.squeeze, f.expand1x1, f.expand3x3) for f in released] == [
        (16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
        (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]
    wide = squeezenet.fire_specs(sr=0.75)
    assert [f.squeeze for f in wide] == [96, 96, 192, 192, 288, 288, 384, 384]
    mostly_1x1 = squeezenet.fire_specs(pct_3x3=0.25, freq=4, base_e=64, incr_e=64)
    assert [(f.expand1x1, f.expand3x3) for f in mostly_1x1[:5]] == [(48, 16)] * 4 + [(96, 32)]
    model = squeezekit.build("squeezenet1_1", sr=0.75, input_shape=(64, 64, 3), classes=5)
    assert model.get_layer("fire9_squeeze1x1").filters == 384 and model.output_shape == (None, 5)


def test_bypass_wiring():
    simple = squeezekit.build("squeezenet1_0_bypass")
    adds = sorted(l.name for l in simple.layers if isinstance(l, keras.layers.Add))
    assert adds == ["fire3_add", "fire5_add", "fire7_add", "fire9_add"]
    complex_ = squeezekit.build("squeezenet1_0_complex_bypass")
    bypass_convs = sorted(l.name for l in complex_.layers if l.name.endswith("_bypass"))
    assert bypass_convs == ["fire2_bypass", "fire4_bypass", "fire6_bypass", "fire8_bypass"]
    assert len([l for l in complex_.layers if isinstance(l, keras.layers.Add)]) == 8


def test_caffe_convention_pads_conv10_of_v1_0_only():
    assert squeezekit.build("squeezenet1_0", convention="caffe").get_layer("conv10").output.shape[1] == 15
    assert squeezekit.build("squeezenet1_0").get_layer("conv10").output.shape[1] == 13
    v11 = squeezekit.build("squeezenet1_1", convention="caffe")
    assert v11.get_layer("conv10").output.shape[1] == v11.get_layer("fire9_concat").output.shape[1] == 14


@pytest.mark.parametrize("name,minimum", [("squeezenet1_0", 29), ("squeezenet1_1", 25)])
def test_minimum_input_size(name, minimum):
    assert get_spec(name).min_size == minimum
    assert squeezekit.build(name, input_shape=(minimum, minimum, 3)).output_shape == (None, 1000)
    with pytest.raises(ValueError, match=f"minimum of {minimum}x{minimum}"):
        squeezekit.build(name, input_shape=(minimum - 1, minimum + 10, 3))


def test_bad_arguments_say_what_to_pass():
    with pytest.raises(ValueError, match="version must be one of"):
        squeezenet.SqueezeNet(version="1.2")
    with pytest.raises(ValueError, match="bypass must be one of"):
        squeezenet.SqueezeNet(bypass="resnet")
    with pytest.raises(ValueError, match="empty expand branch"):
        squeezenet.fire_specs(pct_3x3=1.0)
    with pytest.raises(ValueError, match="static input size"):
        squeezenet.SqueezeNet(input_shape=(None, None, 3))
