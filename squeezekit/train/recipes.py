"""Training recipes: the papers' schedules as Keras LearningRateSchedules, and a small-data AdamW recipe.

- SqueezeNet (Caffe solver): SGD momentum 0.9, lr 0.04 at batch 512, polynomial decay power 1, weight decay
  2e-4, about 68 epochs.
- SqueezeNext: SGD momentum 0.9, lr 0.4 at batch 1024 with linear warmup from 0.1 over 780 iterations
  (0.62 of an ImageNet epoch at that batch; kept here as that fraction of an epoch), polynomial decay
  power 2, weight decay 1e-4, about 120 epochs.
- sgd_cosine: for small data sets trained from scratch (the train CLI's default for digits and mnist5k):
  SGD momentum 0.9, lr 0.1 at batch 64, weight decay 5e-4, one warmup epoch from a tenth of the peak, cosine
  decay to zero. SqueezeNet (no BatchNorm) needs a fortieth of that lr (0.0025), and its dead classes revived
  (``squeezekit.train.revive``): see ``squeezekit.train.run``.
- adamw: the same shape with AdamW at lr 1e-3. Measured on digits at 32x32 (30 epochs) it learns more slowly
  than sgd_cosine: SqueezeNet 1.1 0.79 top-1 against 0.93, and at lr 3e-3 its conv10 head died.

The learning rate scales linearly with the batch: ``lr = base_lr * batch / reference_batch``. Weight decay is
the optimizer's decoupled decay, applied to kernels only (not biases or BatchNorm), which equals Caffe's L2
decay for plain SGD and differs only through the momentum term.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import keras

IMAGENET_STEPS_PER_EPOCH_AT_1024 = 1_281_167 / 1024


@keras.saving.register_keras_serializable(package="squeezekit")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from ``warmup_start`` to ``peak`` over ``warmup_steps``, then poly or cosine decay to 0.

    poly: ``peak * (1 - t / T) ** power``; cosine: ``peak * (1 + cos(pi t / T)) / 2``, with t counted after
    the warmup and T = total_steps - warmup_steps.
    """

    def __init__(self, peak, total_steps, warmup_steps=0, warmup_start=0.0, decay="poly", power=1.0):
        if decay not in ("poly", "cosine"):
            raise ValueError(f"decay must be 'poly' or 'cosine', got {decay!r}.")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(min(warmup_steps, max(total_steps - 1, 0)))
        self.warmup_start = float(warmup_start)
        self.decay = decay
        self.power = float(power)

    def __call__(self, step):
        from keras import ops

        step = ops.cast(step, "float32")
        warm = float(max(self.warmup_steps, 1))
        warm_lr = self.warmup_start + (self.peak - self.warmup_start) * ops.minimum(step / warm, 1.0)
        span = float(max(self.total_steps - self.warmup_steps, 1))
        t = ops.clip((step - self.warmup_steps) / span, 0.0, 1.0)
        if self.decay == "poly":
            decayed = self.peak * ops.power(1.0 - t, self.power)
        else:
            decayed = self.peak * 0.5 * (1.0 + ops.cos(math.pi * t))
        return ops.where(step < self.warmup_steps, warm_lr, decayed)

    def get_config(self):
        return dict(peak=self.peak, total_steps=self.total_steps, warmup_steps=self.warmup_steps,
                    warmup_start=self.warmup_start, decay=self.decay, power=self.power)


@keras.saving.register_keras_serializable(package="squeezekit")
class Phases(keras.optimizers.schedules.LearningRateSchedule):
    """``first`` for steps below ``boundary``, then ``second`` counted from ``boundary`` (fine-tuning's head phase,
    then the whole network's)."""

    def __init__(self, first, second, boundary):
        self.first = first if isinstance(first, WarmupDecay) else WarmupDecay(**first)
        self.second = second if isinstance(second, WarmupDecay) else WarmupDecay(**second)
        self.boundary = int(boundary)

    def __call__(self, step):
        from keras import ops

        step = ops.cast(step, "float32")
        return ops.where(step < self.boundary, self.first(step), self.second(ops.maximum(step - self.boundary, 0.0)))

    def get_config(self):
        return dict(first=self.first.get_config(), second=self.second.get_config(), boundary=self.boundary)


class FreezableMixin:
    """An optimizer that leaves the variables whose paths are in ``frozen`` as they are: zero gradients (so no
    momentum builds up either) and no weight decay. Fine-tuning's head-only phase freezes the backbone this way
    rather than with ``layer.trainable = False``, so that the optimizer keeps one set of variables in both
    phases: Keras' JAX trainer requires the variables an optimizer was built with at every step, and a backup
    written in either phase loads into the other. ``fit`` reads ``frozen`` when it traces its step: after changing it
    between fits, ``compile`` again to retrace."""

    frozen: frozenset = frozenset()

    def apply(self, grads, trainable_variables=None):
        if self.frozen:
            from keras import ops

            variables = self._trainable_variables if trainable_variables is None else trainable_variables
            grads = [ops.zeros_like(g) if g is not None and v.path in self.frozen else g
                     for g, v in zip(grads, variables)]
        return super().apply(grads, trainable_variables)

    def _apply_weight_decay(self, variables):
        if self.frozen:
            variables = [v for v in variables if v.path not in self.frozen]
        return super()._apply_weight_decay(variables)


class FreezableSGD(FreezableMixin, keras.optimizers.SGD):
    pass


class FreezableAdamW(FreezableMixin, keras.optimizers.AdamW):
    pass


@dataclass(frozen=True)
class TrainingRecipe:
    name: str
    optimizer: str  # "sgd" or "adamw"
    base_lr: float
    reference_batch: int
    weight_decay: float
    momentum: float = 0.9
    decay: str = "poly"  # "poly" or "cosine"
    power: float = 1.0
    warmup_epochs: float = 0.0
    warmup_start_fraction: float = 0.0  # warmup starts at this fraction of the peak
    label_smoothing: float = 0.0
    epochs: int = 0  # the paper's length, for reference

    def lr_for_batch(self, batch_size: int) -> float:
        return self.base_lr * batch_size / self.reference_batch

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


RECIPES = {
    "squeezenet": TrainingRecipe("squeezenet", "sgd", 0.04, 512, 2e-4, decay="poly", power=1.0, epochs=68),
    "squeezenext": TrainingRecipe("squeezenext", "sgd", 0.4, 1024, 1e-4, decay="poly", power=2.0,
                          warmup_epochs=780 / IMAGENET_STEPS_PER_EPOCH_AT_1024, warmup_start_fraction=0.25,
                          epochs=120),
    "sgd_cosine": TrainingRecipe("sgd_cosine", "sgd", 0.1, 64, 5e-4, decay="cosine", warmup_epochs=1.0,
                         warmup_start_fraction=0.1),
    "adamw": TrainingRecipe("adamw", "adamw", 1e-3, 64, 5e-4, decay="cosine", warmup_epochs=1.0,
                    warmup_start_fraction=0.1),
}


def get_recipe(recipe, **overrides) -> TrainingRecipe:
    """A recipe by name (or as given), with fields replaced by the non-None ``overrides``."""
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}.")
        recipe = RECIPES[recipe]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(recipe, **overrides) if overrides else recipe


def _schedule(recipe: TrainingRecipe, peak: float, steps_per_epoch: int, epochs: int) -> WarmupDecay:
    return WarmupDecay(peak, max(1, steps_per_epoch * epochs),
                       warmup_steps=int(round(recipe.warmup_epochs * steps_per_epoch)),
                       warmup_start=peak * recipe.warmup_start_fraction, decay=recipe.decay, power=recipe.power)


def make_optimizer(recipe: TrainingRecipe, batch_size: int, steps_per_epoch: int, epochs: int, lr: float | None = None,
                   phases: tuple[int, float] | None = None):
    """The recipe's optimizer with its schedule, for ``epochs`` of ``steps_per_epoch`` steps.

    ``phases=(first_epochs, factor)``: the recipe's schedule over the first ``first_epochs``, then again over the
    rest at ``factor`` times the peak (fine-tuning: the head, then everything at a lower rate), on an optimizer
    that can freeze variables (``FreezableMixin``)."""
    peak = lr if lr is not None else recipe.lr_for_batch(batch_size)
    if phases and 0 < phases[0] < epochs:
        first, factor = phases
        schedule = Phases(_schedule(recipe, peak, steps_per_epoch, first),
                          _schedule(recipe, peak * factor, steps_per_epoch, epochs - first), steps_per_epoch * first)
    else:
        schedule = _schedule(recipe, peak * (phases[1] if phases else 1.0), steps_per_epoch, epochs)
    if recipe.optimizer == "sgd":
        sgd = FreezableSGD if phases else keras.optimizers.SGD
        opt = sgd(schedule, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    elif recipe.optimizer == "adamw":
        opt = (FreezableAdamW if phases else keras.optimizers.AdamW)(schedule, weight_decay=recipe.weight_decay)
    else:
        raise ValueError(f"recipe optimizer must be 'sgd' or 'adamw', got {recipe.optimizer!r}.")
    opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return opt
