"""SqueezeNext builders against the official Caffe files and the imgclsmob port."""

import keras
import pytest

import squeezekit
from squeezekit.models import squeezenext
from squeezekit.models.accounting import model_stats
from squeezekit.models.registry import get_spec

OFFICIAL = {  # docs/reference.md: trainable params, MACs @227, MACs @224
    "sqnxt23_w1": (717_280, 277_999_808, 268_976_832),
    "g_sqnxt23_w1": (543_072, 224_191_552, 216_810_688),
    "sqnxt23v5_w1": (930_016, 224_916_480, 222_046_464),
    "sqnxt23_w2": (2_361_728, 742_070_464, 719_066_816),
    "sqnxt23v5_w2": (3_222_912, 702_592_000, 697_960_192),
    "sqnxt44_w2": (4_428_096, 1_342_861_504, 1_301_665_472),
}
IMGCLSMOB = {
    "sqnxt23_w1": 724_056, "sqnxt23_w3d2": 1_511_824, "sqnxt23_w2": 2_583_752,
    "sqnxt23v5_w1": 921_816, "sqnxt23v5_w3d2": 1_953_616, "sqnxt23v5_w2": 3_366_344,
}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_params_and_macs(name):
    params, macs_227, macs_224 = OFFICIAL[name]
    assert get_spec(name).expected == dict(trainable_params=params, macs_227=macs_227, macs_224=macs_224)
    at_227 = model_stats(squeezekit.build(name))
    assert at_227.input_shape == (None, 227, 227, 3)  # the Caffe crop is the official default
    assert at_227.trainable_params == params
    assert at_227.macs == pytest.approx(macs_227, rel=1e-3)
    assert model_stats(squeezekit.build(name, input_shape=(224, 224, 3))).macs == pytest.approx(macs_224, rel=1e-3)


@pytest.mark.parametrize("name", sorted(IMGCLSMOB))
def test_imgclsmob_params(name):
    spec = get_spec(name, "imgclsmob")
    assert spec.provenance == "third-party file" and spec.expected["trainable_params"] == IMGCLSMOB[name]
    model = squeezekit.build(name, convention="imgclsmob")
    assert model_stats(model).trainable_params == IMGCLSMOB[name]
    assert model.input_shape == (None, 224, 224, 3)


def test_keras_count_params_includes_moving_statistics():
    assert squeezekit.build("sqnxt23").count_params() == 728_832


def _sep_kernels(model):
    return [model.get_layer(n).kernel_size for n in sorted(
        (l.name for l in model.layers if l.name.endswith("_sep_a")),
        key=lambda n: (int(n.split("_")[0][5:]), int(n.split("_")[1][5:])))]


def test_separable_order_alternates_across_the_whole_network():
    kernels = _sep_kernels(squeezekit.build("sqnxt23"))
    assert len(kernels) == 21
    assert kernels == [(3, 1) if i % 2 == 0 else (1, 3) for i in range(21)]
    assert set(_sep_kernels(squeezekit.build("sqnxt23", convention="imgclsmob"))) == {(1, 3)}


def test_23_and_v5_wiring():
    m23 = squeezekit.build("sqnxt23")
    # "23": the projection and squeeze_a both read the block input, both with stride 2.
    sq = m23.get_layer("stage2_block1_squeeze_a")
    assert sq.strides == (2, 2) and m23.get_layer("stage2_block1_proj").strides == (2, 2)
    assert sq.input.name == m23.get_layer("stage1_block6_relu").output.name
    v5 = squeezekit.build("sqnxt23v5")
    sq5 = v5.get_layer("stage2_block1_squeeze_a")
    assert sq5.strides == (1, 1)
    assert sq5.input.name == v5.get_layer("stage2_block1_proj_relu").output.name
    assert v5.get_layer("stem_conv").kernel_size == (5, 5)


def test_group_variant_groups_squeeze_a_and_separable_convs():
    g = squeezekit.build("g_sqnxt23")
    block = "stage3_block4"
    groups = {p: g.get_layer(f"{block}_{p}").groups for p in ("squeeze_a", "squeeze_b", "sep_a", "sep_b", "expand")}
    assert groups == {"squeeze_a": 2, "squeeze_b": 1, "sep_a": 2, "sep_b": 2, "expand": 1}


def test_stem_and_final_widths_by_convention():
    official = squeezekit.build("sqnxt23_w2")
    assert official.get_layer("stem_conv").filters == 64 and official.get_layer("final_conv").filters == 128
    port = squeezekit.build("sqnxt23_w3d2", convention="imgclsmob")
    assert port.get_layer("stem_conv").filters == 96 and port.get_layer("final_conv").filters == 192
    assert port.get_layer("stem_conv").use_bias and port.get_layer("fc").use_bias
    assert not official.get_layer("fc").use_bias


def test_every_stage_opens_with_a_projection_in_the_official_files():
    # 2.0-SqNxt-23's stage 1 maps 64 -> 64 and still has its projection (4,224 of its params).
    plans = squeezenext.block_plans(width_multiplier=2.0)
    assert [p.name for p in plans if p.project] == [f"stage{s}_block1" for s in (1, 2, 3, 4)]


def test_ida_aggregates_every_stage():
    model = squeezekit.build("sqnxt23_ida", input_shape=(64, 64, 3), classes=3)
    concats = [l for l in model.layers if l.name.endswith("_ida_concat")]
    assert [l.name for l in concats] == ["stage2_ida_concat", "stage3_ida_concat", "stage4_ida_concat"]
    assert model.get_layer("final_conv").input.name == model.get_layer("stage4_ida_relu").output.name
    assert get_spec("sqnxt23_ida").provenance == "reconstruction"


def test_reconstructions_are_labelled_and_34_has_32_blocks():
    assert get_spec("sqnxt34").config["blocks"] == (9, 9, 12, 2)
    for name in ("sqnxt34_w1", "sqnxt44_w1", "sqnxt44_w3d2", "sqnxt23_w3d2", "sqnxt23v5_w3d2"):
        assert get_spec(name).provenance == "reconstruction"
    model = squeezekit.build("sqnxt34", input_shape=(64, 64, 3))
    assert len([l for l in model.layers if l.name.endswith("_add")]) == 32


@pytest.mark.parametrize("name,minimum", [("sqnxt23", 11), ("sqnxt23v5", 9)])
def test_minimum_input_size(name, minimum):
    assert get_spec(name).min_size == minimum
    assert squeezekit.build(name, input_shape=(minimum, minimum, 3)).output_shape == (None, 1000)
    with pytest.raises(ValueError, match=f"minimum of {minimum}x{minimum}"):
        squeezekit.build(name, input_shape=(minimum - 1, minimum - 1, 3))


def test_bad_arguments_say_what_to_pass():
    with pytest.raises(ValueError, match="no grouped or v5-wired"):
        squeezenext.SqueezeNext(convention="imgclsmob", groups=2)
    with pytest.raises(ValueError, match="divisible by groups=3"):
        squeezenext.SqueezeNext(groups=3)
    with pytest.raises(ValueError, match="one positive entry per stage"):
        squeezenext.SqueezeNext(blocks=(6, 6, 8))
    with pytest.raises(ValueError, match="wiring"):
        squeezenext.SqueezeNext(wiring="v4")
    with pytest.raises(ValueError, match="pooling must be"):
        squeezenext.SqueezeNext(include_top=False, pooling="mean")
