"""Recipes and schedules: the papers' numbers and the schedule's shape."""

import keras
import numpy as np
import pytest

from squeezekit.train import RECIPES, WarmupDecay, get_recipe, make_optimizer


def test_paper_recipes():
    sqn, sqnxt = RECIPES["squeezenet"], RECIPES["squeezenext"]
    assert (sqn.optimizer, sqn.base_lr, sqn.reference_batch, sqn.power, sqn.weight_decay) == ("sgd", 0.04, 512, 1, 2e-4)
    assert (sqnxt.base_lr, sqnxt.reference_batch, sqnxt.power, sqnxt.weight_decay) == (0.4, 1024, 2, 1e-4)
    assert sqnxt.warmup_start_fraction * sqnxt.base_lr == pytest.approx(0.1)
    assert sqnxt.warmup_epochs * 1_281_167 / 1024 == pytest.approx(780)
    assert sqnxt.lr_for_batch(256) == pytest.approx(0.1)  # linear scaling with the batch


def test_warmup_then_poly_and_cosine():
    poly = WarmupDecay(0.4, total_steps=110, warmup_steps=10, warmup_start=0.1, decay="poly", power=2)
    lr = lambda s, sched=poly: float(sched(s))
    assert lr(0) == pytest.approx(0.1) and lr(5) == pytest.approx(0.25) and lr(10) == pytest.approx(0.4)
    assert lr(60) == pytest.approx(0.4 * 0.5 ** 2) and lr(110) == pytest.approx(0.0)
    cosine = WarmupDecay(1.0, total_steps=100, decay="cosine")
    assert float(cosine(50)) == pytest.approx(0.5) and float(cosine(100)) == pytest.approx(0.0, abs=1e-7)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(poly))
    assert float(again(60)) == pytest.approx(lr(60))


def test_optimizer_and_overrides():
    recipe = get_recipe("squeezenext", label_smoothing=0.1)
    assert recipe.label_smoothing == 0.1 and RECIPES["squeezenext"].label_smoothing == 0.0
    opt = make_optimizer(recipe, batch_size=128, steps_per_epoch=100, epochs=10)
    assert isinstance(opt, keras.optimizers.SGD) and opt.momentum == 0.9 and opt.weight_decay == 1e-4
    assert float(opt.learning_rate) == pytest.approx(0.4 * 128 / 1024 * 0.25)  # step 0: warmup start
    assert isinstance(make_optimizer(RECIPES["adamw"], 64, 10, 2), keras.optimizers.AdamW)
    with pytest.raises(ValueError, match="unknown recipe 'lamb'"):
        get_recipe("lamb")


def test_weight_decay_skips_biases_and_batchnorm():
    opt = make_optimizer(RECIPES["squeezenext"], 64, 10, 1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()])
    opt.build(model.trainable_variables)
    decayed = {v.path.split("/")[-1]: opt._use_weight_decay(v) for v in model.trainable_variables}
    assert decayed == {"kernel": True, "bias": False, "gamma": False, "beta": False}
    assert np.isfinite(float(opt.learning_rate))
