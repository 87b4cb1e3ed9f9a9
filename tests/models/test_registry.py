"""The registry: every row builds to its expected counts; names, aliases, metadata, variants and errors."""

import json
from dataclasses import replace

import pytest

import squeezekit
from squeezekit.models import families, registry
from squeezekit.models.accounting import model_stats

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


def check_row(spec) -> None:
    """A row's metadata is complete and the model it builds has the row's expected counts."""
    info = squeezekit.model_info(spec.name, spec.convention)
    assert info["provenance"] in ("official file", "third-party file", "reconstruction", "search")
    assert info["paper_name"] and info["source"] and info["config"]["convention"] == spec.convention
    assert info["default_size"] == families.CONVENTIONS[spec.convention].default_size in (224, 227)
    assert 1 < info["min_size"] < 64
    pre = info["preprocessing"]
    assert pre["channel_order"] in ("RGB", "BGR") and len(pre["mean"]) == len(pre["std"]) == 3
    assert 0.8 < pre["crop_fraction"] <= 1.0
    assert set(spec.expected) <= {"trainable_params", "macs_224", "macs_227"}
    if info["provenance"] != "reconstruction":
        assert spec.expected["trainable_params"] > 0
    for size in (224, 227):
        if size == 224 or f"macs_{size}" in spec.expected:
            stats = model_stats(squeezekit.build(spec.name, convention=spec.convention, input_shape=(size, size, 3)))
            if "trainable_params" in spec.expected:
                assert stats.trainable_params == spec.expected["trainable_params"], (spec.name, spec.convention)
            if f"macs_{size}" in spec.expected:
                assert stats.macs == spec.expected[f"macs_{size}"], (spec.name, spec.convention, size)


ROWS = registry.all_specs()


def test_every_row_is_walked():
    from squeezekit.models import zoo

    declared = {(s.name, s.convention) for s in zoo.ROWS}
    assert len(zoo.ROWS) == 35 and declared <= {(s.name, s.convention) for s in ROWS}
    # Other tests in this process may have loaded a search's variants.json: only those add names.
    added = set(squeezekit.list_models()) - {s.name for s in zoo.ROWS}
    assert all(registry.get_spec(n).provenance == registry.SEARCH for n in added), added
    assert {"sqnxt_cpu1", *REQUIRED} <= {s.name for s in ROWS}


@pytest.mark.parametrize("spec", ROWS, ids=[f"{s.name}-{s.convention}" for s in ROWS])
def test_every_row_builds_to_its_expected_counts(spec):
    check_row(spec)


@pytest.fixture
def isolated(monkeypatch):
    """A copy of the registry for the test to change."""
    monkeypatch.setattr(registry, "_REGISTRY", {k: list(v) for k, v in registry._REGISTRY.items()})
    monkeypatch.setattr(registry, "_ALIASES", dict(registry._ALIASES))
    monkeypatch.setattr(registry, "_FROM_FILES", set(registry._FROM_FILES))


def test_search_variants_load_build_and_replace_only_variants(isolated, tmp_path):
    cpu1 = squeezekit.model_info("sqnxt_cpu1")
    row = dict(name="sqnxt_test_cpu", family="squeezenext", convention="official", provenance="search",
               source="written by the test", config=cpu1["config"], expected=cpu1["expected"])
    path = tmp_path / "variants.json"
    path.write_text(json.dumps([row]))
    assert squeezekit.models.load_variants(str(path)) == ["sqnxt_test_cpu"]
    spec = registry.get_spec("sqnxt_test_cpu")
    assert spec.provenance == "search" and spec.expected == dict(trainable_params=695_888, macs_224=240_592_896)
    for spec in registry.all_specs("sqnxt_test*"):
        check_row(spec)
    assert squeezekit.models.load_variants(str(path)) == ["sqnxt_test_cpu"]  # a second search run replaces it
    assert registry.conventions("sqnxt_test_cpu") == ["official"]

    path.write_text(json.dumps([dict(row, name="sqnxt_cpu1")]))
    with pytest.raises(ValueError, match=r"would replace the built-in model sqnxt_cpu1; rename it"):
        squeezekit.models.load_variants(str(path))
    path.write_text(json.dumps([dict(row, name="twice"), dict(row, name="twice")]))
    with pytest.raises(ValueError, match=r"twice \(official\) is already registered"):
        squeezekit.models.load_variants(str(path))
    assert "twice" not in squeezekit.list_models()


def test_register_refuses_duplicates_and_clashes(isolated):
    spec = registry.get_spec("sqnxt23_w1")
    with pytest.raises(ValueError, match=r"^sqnxt23_w1 \(official\) is already registered; give the new row"):
        registry.register(spec)
    with pytest.raises(ValueError, match="sqnxt_mine's alias 'sqnxt23' already names sqnxt23_w1"):
        registry.register(replace(spec, name="sqnxt_mine", paper_name="mine"))
    with pytest.raises(ValueError, match="the squeezenext family has no convention 'caffe'"):
        registry.register(replace(spec, name="sqnxt_mine", paper_name="mine", aliases=(), convention="caffe"))
    registry.register(replace(spec, name="sqnxt_mine", paper_name="mine", aliases=()))
    assert registry.get_spec("sqnxt_mine").config == spec.config


def test_conventions_carry_their_preprocessing():
    official = squeezekit.model_info("sqnxt23")
    assert official["preprocessing"]["channel_order"] == "BGR" and official["default_size"] == 227
    port = squeezekit.model_info("sqnxt23", "imgclsmob")
    assert port["preprocessing"]["mean"] == [123.675, 116.28, 103.53] and port["default_size"] == 224


def test_build_kwargs_override_the_row():
    model = squeezekit.build("sqnxt23v5", input_shape=(96, 96, 3), classes=7, name="mine")
    assert model.name == "mine" and model.output_shape == (None, 7) and model.input_shape == (None, 96, 96, 3)
