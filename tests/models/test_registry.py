"""The registry: names, aliases, metadata and errors."""

import pytest

import squeezekit
from squeezekit.models import registry

REQUIRED = [
    "squeezenet1_0", "squeezenet1_1", "squeezenet1_0_bypass", "squeezenet1_1_bypass",
    "squeezenet1_0_complex_bypass", "squeezenet1_1_complex_bypass", "sqnxt23_w1", "sqnxt23_w3d2", "sqnxt23_w2",
    "sqnxt23v5_w1", "sqnxt23v5_w3d2", "sqnxt23v5_w2", "g_sqnxt23_w1", "sqnxt44_w1", "sqnxt44_w3d2", "sqnxt44_w2",
    "sqnxt34_w1", "sqnxt23_ida_w1",
]


def test_every_required_name_is_registered():
    assert set(REQUIRED) <= set(squeezekit.list_models())


@pytest.mark.parametrize("alias,name", [
    ("sqnxt23", "sqnxt23_w1"), ("SQNXT23", "sqnxt23_w1"), ("sqnxt23v5", "sqnxt23v5_w1"),
    ("g_sqnxt23", "g_sqnxt23_w1"), ("1.0-SqNxt-23", "sqnxt23_w1"), ("1.0-G-SqNxt-23", "g_sqnxt23_w1"),
    ("2.0-SqNxt-23v5", "sqnxt23v5_w2"), ("2.0-SqNxt-44", "sqnxt44_w2"), ("1.0-SqNxt-23-IDA", "sqnxt23_ida_w1"),
    ("SqueezeNet 1.1", "squeezenet1_1"), ("squeezenet1.0", "squeezenet1_0"),
    ("squeezeresnet_v1_1", "squeezenet1_1_bypass"),
])
def test_aliases_are_case_insensitive(alias, name):
    assert registry.resolve_name(alias) == name


def test_unknown_name_lists_the_closest():
    with pytest.raises(ValueError, match=r"unknown model 'sqnxt24'\. Closest: .*sqnxt23"):
        squeezekit.build("sqnxt24")
    with pytest.raises(ValueError, match="has no convention 'imgclsmob'; it has: official"):
        squeezekit.build("g_sqnxt23", convention="imgclsmob")


def test_list_models_pattern():
    assert squeezekit.list_models("sqnxt23v5*") == ["sqnxt23v5_w1", "sqnxt23v5_w2", "sqnxt23v5_w3d2"]
    assert squeezekit.list_models("nothing*") == []


@pytest.mark.parametrize("name", REQUIRED)
def test_metadata_is_complete(name):
    for convention in registry.conventions(name):
        info = squeezekit.model_info(name, convention)
        assert info["provenance"] in ("official file", "third-party file", "reconstruction")
        assert info["paper_name"] and info["source"]
        assert info["default_size"] in (224, 227) and 1 < info["min_size"] < 64
        pre = info["preprocessing"]
        assert pre["channel_order"] in ("RGB", "BGR") and len(pre["mean"]) == len(pre["std"]) == 3
        assert 0.8 < pre["crop_fraction"] <= 1.0
        if info["provenance"] != "reconstruction":
            assert info["expected"]["trainable_params"] > 0


def test_conventions_carry_their_preprocessing():
    official = squeezekit.model_info("sqnxt23")
    assert official["preprocessing"]["channel_order"] == "BGR" and official["default_size"] == 227
    port = squeezekit.model_info("sqnxt23", "imgclsmob")
    assert port["preprocessing"]["mean"] == [123.675, 116.28, 103.53] and port["default_size"] == 224


def test_build_kwargs_override_the_row():
    model = squeezekit.build("sqnxt23v5", input_shape=(96, 96, 3), classes=7, name="mine")
    assert model.name == "mine" and model.output_shape == (None, 7) and model.input_shape == (None, 96, 96, 3)
