"""Fine-tuning: start a training run from weights instead of a random initialization.

    python -m squeezekit.train --weights runs/mnist/model.keras --data photos --out runs/photos
    python -m squeezekit.train --model sqnxt23_w1 --weights sqnxt23_w1-1861-379975eb.tf2.h5 --data photos --out x
    python -m squeezekit.train --model sqnxt23_w1 --weights imagenet --data photos --out x

What ``weights`` may be (``resolve``):

- a run's ``model.keras`` (``python -m squeezekit.train`` or ``python -m squeezekit.weights`` wrote it): the model,
  convention, preprocessing, input size and class names come from the run's ``run_config.json``;
- any other Keras file of a squeezekit model (``.keras``): the model must be named, the preprocessing is the
  registry row's;
- a tf2cv ``.tf2.h5`` (osmr/imgclsmob): the imgclsmob row of the model it is named or hashed for (or the one
  named), its preprocessing;
- ``imagenet``: the registry row's published file (``squeezekit.weights.store``: Keras' cache, hash-checked).

The classifier (``conv10`` of SqueezeNet, ``fc`` of SqueezeNext, ``fc8`` of AlexNet) is kept when the weights
were trained on the same class names in the same order, and rebuilt (its initialization) otherwise; every
other layer must match the weights by name and shape.

The recipe (Keras' transfer-learning guide, https://keras.io/guides/transfer_learning/, is the reference):

1. ``freeze_epochs`` with only the classifier trainable, at the recipe's peak rate: a new, random head would
   otherwise send large gradients through the pretrained features and wreck them. Default: a third of the epochs
   (at least one) when the classifier is new, none when it is kept.
2. The rest with everything trainable at a tenth of that rate (``FINETUNE_LR_FACTOR``; the guide uses a "very
   low" rate), each phase with the recipe's warmup and decay.

BatchNorm layers stay in inference mode throughout (``trainable = False``: in Keras 3 that also freezes their
moving statistics), as the guide advises: a few hundred images give worse statistics than the ones the
weights were trained with. The backbone is frozen by the optimizer (``recipes.FreezableMixin``: zero gradients,
no weight decay), not by ``trainable = False``, so the optimizer has the same variables in both phases: Keras'
JAX trainer needs that, and a ``--resume`` backup from either phase loads into the other. (So the head-only
phase still computes the backbone's gradients: it costs what a full epoch costs.)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from squeezekit.errors import WeightsError

CLASSIFIER_LAYERS = ("conv10", "fc", "fc8")  # the layers whose shape depends on the number of classes
FINETUNE_LR_FACTOR = 0.1  # the second phase's peak rate, as a fraction of the first's
FINETUNE_EPOCHS = 20  # the default length of a fine-tuning run on a folder (Keras' guide: 20 + 10 on 2,000 images)
IMAGENET = "imagenet"


@dataclass
class Start:
    """What a fine-tuning run starts from, and what it implies for the run."""

    weights: str  # as the user gave it
    kind: str  # "run", "keras", "tf2cv" or "imagenet"
    path: str  # the file read
    model: str  # registry name
    convention: str | None
    preprocessing: object  # registry Preprocessing
    input_size: int | None = None  # the weights' run's input size, when there is a run
    class_names: list[str] | None = None  # the classes the weights' classifier was trained on, when known
    source: dict = field(default_factory=dict)  # what run_config.json records about the weights

    def describe(self) -> str:
        classes = f", {len(self.class_names)} classes" if self.class_names else ""
        return f"starting from {self.kind} weights {self.path} ({self.model}, {self.convention} convention{classes})"


def _named(model: str | None, found: str, what: str) -> None:
    import squeezekit

    if model and squeezekit.models.resolve_name(model) != squeezekit.models.resolve_name(found):
        raise WeightsError(f"{what} holds {found} weights, not {model}", f"leave the model out (it is {found}), "
                           "or pass weights of the model you named.", param="model", suggestion=found)


def resolve(weights: str, model: str | None = None, convention: str | None = None) -> Start:
    """Where fine-tuning ``weights`` come from and what run they imply (see the module docstring)."""
    import squeezekit
    from squeezekit.runs import RunConfig
    from squeezekit.weights import tf2cv

    weights = os.fspath(weights)
    if weights == IMAGENET:
        if not model:
            raise WeightsError("imagenet weights need a model name", "name one of the models that publish them "
                               "(squeezekit.weights.published() lists them).", param="model")
        spec = squeezekit.models.registry._row_for(model, convention, IMAGENET)
        from squeezekit.weights import store, imagenet_class_names

        path = store.fetch(spec)
        return Start(weights, "imagenet", path, spec.name, spec.convention, spec.preprocessing,
                     class_names=imagenet_class_names(),
                     source=dict(kind="imagenet", file=os.path.basename(path), sha1=spec.weights.sha1))
    if not os.path.isfile(weights):
        raise WeightsError(f"weights file not found: {weights}", "pass a run's model.keras, a tf2cv .tf2.h5, or "
                           "imagenet.", param="weights")
    if tf2cv.looks_like_tf2cv(weights):
        sha1 = tf2cv.file_digest(weights)
        rows = tf2cv.published()
        known = next((n for n, spec in rows.items() if spec.weights.sha1 == sha1), None) or tf2cv.named_for(weights)
        if known:
            _named(model, rows[known].name, os.path.basename(weights))
            model = rows[known].name
        if not model:
            raise WeightsError(f"{os.path.basename(weights)} is a tf2cv file of no model tf2cv publishes by that "
                               "name or hash", "name its model.", param="model")
        if convention not in (None, "imgclsmob"):
            raise WeightsError(f"tf2cv weights fit the imgclsmob convention, not {convention}",
                               "leave the convention out.", param="convention")
        spec = squeezekit.models.get_spec(model, "imgclsmob")
        return Start(weights, "tf2cv", weights, spec.name, "imgclsmob", spec.preprocessing,
                     source=dict(kind="tf2cv", file=os.path.basename(weights), sha1=sha1))
    if not weights.endswith(".keras"):
        raise WeightsError(f"{weights} is neither a Keras model (.keras) nor a tf2cv .tf2.h5 file",
                           "pass a run's model.keras, a tf2cv .tf2.h5, or imagenet.", param="weights")
    run = RunConfig.beside(weights)
    if run is not None:
        _named(model, run.model, os.path.dirname(os.path.abspath(weights)))
        run_convention = run.extra.get("convention") or run.convention
        if convention and run_convention and convention != run_convention:
            raise WeightsError(f"the weights' run uses the {run_convention} convention, not {convention}",
                               "leave the convention out.", param="convention")
        # An imported run whose file's classifier was not loaded has class names but no trained classifier.
        head_loaded = run.extra.get("weights_source", {}).get("classifier", "loaded") == "loaded"
        names = run.class_names if head_loaded or not run.imported else None
        return Start(weights, "run", weights, run.model, run_convention, run.preprocessing,
                     input_size=run.input_size, class_names=names,
                     source=dict(kind="run", file=os.path.abspath(weights), model=run.model, data=run.data))
    if not model:
        raise WeightsError(f"{weights} has no run_config.json beside it, so its model is unknown",
                           "name its model.", param="model")
    spec = squeezekit.models.get_spec(model, convention)
    return Start(weights, "keras", weights, spec.name, spec.convention, spec.preprocessing,
                 source=dict(kind="keras", file=os.path.abspath(weights)))


def load_into(model, start: Start, class_names: list[str]) -> dict:
    """Copy ``start``'s weights into ``model`` (built for ``class_names``); returns what happened.

    The classifier is kept only when the weights' class names are ``class_names``; every other layer must
    match by name and shape (a one-line ``WeightsError`` names the first that does not)."""
    keep_head = start.class_names is not None and list(start.class_names) == list(class_names)
    if start.kind in ("tf2cv", "imagenet"):
        from squeezekit.weights import tf2cv

        report = tf2cv.load_tf2cv(model, start.path, expected_name=tf2cv.tf2cv_name_for(start.model))
        kept = report.classifier == "loaded" and keep_head
        if report.classifier == "loaded" and not keep_head:  # same count, other classes: start the head afresh
            _reinitialize(model)
        return dict(layers=report.loaded, classifier="kept" if kept else "new")

    import keras

    try:
        source = keras.models.load_model(start.path, compile=False)
    except Exception as err:  # Keras raises many types for a damaged or foreign .keras file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise WeightsError(f"cannot load {start.path} as a Keras model ({first[:200]})",
                           "pass a model.keras written by squeezekit.", param="weights") from None
    by_name = {layer.name: layer for layer in source.layers}
    copied, head = 0, "kept"
    for layer in model.layers:
        if not layer.weights:
            continue
        other = by_name.get(layer.name)
        ours = [tuple(w.shape) for w in layer.weights]
        theirs = [tuple(w.shape) for w in other.weights] if other is not None else None
        if layer.name in CLASSIFIER_LAYERS:
            if keep_head and theirs == ours:
                layer.set_weights(other.get_weights())
                copied += 1
            else:
                head = "new"
            continue
        if theirs != ours:
            what = "has no such layer" if other is None else f"has {theirs} where the model has {ours}"
            raise WeightsError(f"{start.path} does not fit {model.name}: its layer {layer.name} {what}",
                               f"pass weights of {model.name}, or name the model they belong to.", param="weights")
        layer.set_weights(other.get_weights())
        copied += 1
    return dict(layers=copied, classifier=head)


def _reinitialize(model) -> None:
    """Give the classifier layers fresh values from their own initializers."""
    for layer in model.layers:
        if layer.name in CLASSIFIER_LAYERS and layer.weights:
            for variable, init in ((getattr(layer, "kernel", None), getattr(layer, "kernel_initializer", None)),
                                   (getattr(layer, "bias", None), getattr(layer, "bias_initializer", None))):
                if variable is not None and init is not None:
                    variable.assign(init(variable.shape, variable.dtype))


def default_freeze_epochs(epochs: int, classifier: str) -> int:
    """A third of the epochs (at least one, leaving at least one) for a new classifier; none for a kept one."""
    if classifier == "kept" or epochs < 2:
        return 0
    return min(epochs - 1, max(1, math.ceil(epochs / 3)))


def set_phase(model, head_only: bool) -> None:
    """Train only the classifier (``head_only``), or everything; BatchNorm never (inference mode).

    Every other layer stays trainable in both phases, so the optimizer (a ``FreezableMixin`` one, from
    ``make_optimizer(..., phases=...)``) always sees the same variables; in the head-only phase it leaves the
    backbone's untouched. Call it after ``compile`` and before ``fit``; between two fits, compile again (the
    train step is traced with the frozen set)."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    frozen = frozenset(v.path for layer in model.layers if layer.name not in CLASSIFIER_LAYERS
                       for v in layer.trainable_weights) if head_only else frozenset()
    optimizer = getattr(model, "optimizer", None)  # none before compile
    if optimizer is not None:
        optimizer.frozen = frozen
