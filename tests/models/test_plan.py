"""The network plan: the figures it counts are the reference tables' and the Keras accounting's, and the
builders make exactly its layers, for every registry row."""

import pytest

import squeezekit
from squeezekit.models import plan, registry, squeezenet, squeezenext
from squeezekit.models.accounting import model_stats

ROWS = [(name, convention) for name in registry.list_models() for convention in registry.conventions(name)]
ODD_SHAPE = (67, 78, 3)  # odd and even sides: the ceil-mode pools need explicit padding on one axis only


def _plan(name, convention, shape, **kwargs):
    spec = registry.get_spec(name, convention)
    return plan.of(spec.family, shape, **dict(spec.config, **kwargs))


@pytest.mark.parametrize("name,convention", ROWS)
def test_plan_counts_the_reference_figures(name, convention):
    expected = registry.get_spec(name, convention).expected
    for size in (224, 227):
        net = _plan(name, convention, (size, size, 3))
        if f"macs_{size}" in expected:
            assert net.macs == expected[f"macs_{size}"]
        if "trainable_params" in expected:
            assert net.trainable_params == expected["trainable_params"]


@pytest.mark.parametrize("name,convention", ROWS)
def test_builder_makes_the_plan(name, convention):
    model = squeezekit.build(name, convention=convention, input_shape=ODD_SHAPE)
    net = _plan(name, convention, ODD_SHAPE)
    # Keras lists a functional model's layers by graph depth, not in the order they were made.
    assert sorted(layer.name for layer in model.layers) == sorted(["input", *net.keras_names, "predictions"])
    stats = model_stats(model)
    assert (net.macs, net.params, net.trainable_params) == (stats.macs, stats.params, stats.trainable_params)
    by_name = {s.name: s for s in stats.layers}
    for layer in net.layers:
        keras = by_name[layer.act_name if layer.activation else layer.name]
        assert keras.output_shape[1:] == layer.out_shape, layer.name
        if layer.kind in ("conv", "dense"):
            own = by_name[layer.name]
            assert (own.macs, own.kernel_params, own.bias_params) == (layer.macs, layer.kernel_params,
                                                                      layer.bias_params)


def test_stages_blocks_and_wiring_are_data():
    net = squeezenext.network((64, 64, 3), blocks=(2, 1, 1, 1), first_pool="stage1", wiring="v5", ida=True)
    assert [s.name for s in net.stages] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert [b.kind for b in net.stages[1].blocks] == ["sqnxt", "sqnxt", "pool"]
    assert [b.residual for b in net.stages[1].blocks[:2]] == ["projection", "identity"]
    ida = net.stages[2].blocks[-1]
    assert (ida.name, ida.kind, ida.merge) == ("stage2_ida", "aggregation", "concat")
    assert ida.layers[1].inputs == ("stage2_ida_pool", "stage2_block1_add")  # the shallower side is pooled
    assert net.layer("final_conv").inputs == ("stage4_ida",)
    # v5: the branch reads the projection, which has the stride; the squeeze does not.
    assert net.layer("stage2_block1_squeeze_a").inputs == ("stage2_block1_proj",)
    assert net.layer("stage2_block1_squeeze_a").stride == 1 and net.layer("stage2_block1_proj").stride == 2

    fires = squeezenet.network((224, 224, 3), version="1.1", bypass="complex", include_top=False, pooling="max")
    fire2 = fires.stages[1].blocks[0]
    assert (fire2.merge, fire2.residual) == ("concat", "projection")
    assert fires.stages[1].blocks[1].residual == "identity"  # fire3: 128 -> 128
    assert [b.name for b in fires.stages[1].blocks] == ["fire2", "fire3", "pool3"]
    assert fires.layers[-1].kind == "global_max_pool" and fires.output_shape == (512,)


def test_ceil_pools_pad_as_their_convention_does():
    x = plan.source((8, 9, 4))
    end = plan.max_pool_ceil("p", x, ceil_padding="end")
    both = plan.max_pool_ceil("p", x, ceil_padding="both")
    assert [l.kind for l in end] == ["pad", "max_pool"] and end[0].padding == ((0, 1), (0, 0))
    assert both[0].padding == ((1, 1), (0, 0))
    assert end[-1].out_shape == both[-1].out_shape == (4, 4, 4)
    assert plan.max_pool_ceil("p", plan.source((8, 8, 4)))[0].padding == "same"
    with pytest.raises(ValueError, match="ceil_padding must be one of"):
        plan.max_pool_ceil("p", x, ceil_padding="start")
    with pytest.raises(ValueError, match="unknown family 'alexnet'"):
        plan.of("alexnet", (224, 224, 3))
