"""Deep Compression on the tf_keras twin: magnitude pruning, weight clustering, then sparsity- and
cluster-preserving quantization-aware training (PCQAT), so the int8 .tflite keeps both.

Han et al., "Deep Compression" (ICLR 2016), as the SqueezeNet paper applied it: prune to about 33% density,
share weights (6-bit or 8-bit codebooks), Huffman-code the rest (``converters.coded_size`` measures that).
The tfmot ingredients, in order, each fine-tuned on the user's data when epochs are given:

1. ``prune_low_magnitude`` with a ``PolynomialDecay`` schedule (0 -> target over 70% of the steps) and one
   target per layer; with 0 epochs the same magnitude criterion is applied one shot (numpy), since tfmot
   only updates masks inside ``fit``.
2. ``cluster_weights`` with k-means++ centroids and ``preserve_sparsity`` (the zeros stay zeros and one of
   the ``clusters`` centroids is pinned to 0), then ``strip_clustering``.
3. ``quantize_apply`` with ``Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)``: QAT that
   trains the centroids, not the weights, so the converter sees at most ``clusters`` values per layer.

Per-layer targets (``CompressionConfig.targets``): the first conv is kept denser (it has few weights and
every later feature depends on it: Deep Compression pruned AlexNet's conv1 least, to 84% density); the
classifier gets the default, because in SqueezeNet 1.0 conv10 holds 41% of the weights (512x1000), so
sparing it would cost most of the size; ``classifier_sparsity`` overrides that.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass

import numpy as np

BITS = {"6bit": 6, "8bit": 8}
# Default fine-tuning lengths, in optimizer steps (the epochs follow from the data's steps per epoch). Pruning
# needs real retraining: a SqueezeNet 1.0 trained on digits (98.06% held out) kept 96.9% after pruning to 67%
# over 30 epochs (690 steps) at lr 0.0025, 10% over 3 epochs, and 98.6% as int8 after 80 / 10 / 5 epochs
# (about 1840 / 230 / 115 steps) of pruning / clustering / QAT.
PRUNE_STEPS, CLUSTER_STEPS, QAT_STEPS = 1800, 230, 115
DEFAULT_LR = 0.0025  # SqueezeNet's small-data training lr; 0.01 diverged while pruning (49% held out)


def default_epochs(train, steps: int, minimum: int = 1) -> int:
    """Epochs of ``train`` that make at least ``steps`` optimizer steps."""
    per_epoch = _steps(train) or 100
    return max(minimum, -(-steps // per_epoch))


class CompressionError(ValueError):
    """Bad compression settings; the message names the problem and the fix."""


@dataclass(frozen=True)
class CompressionConfig:
    """``bits`` 6 or 8 -> 64 or 256 clusters per layer (zero included); sparsity = fraction of zeros."""

    bits: int = 6
    sparsity: float = 0.67  # the paper's 33% density
    first_sparsity: float = 0.35
    classifier_sparsity: float | None = None  # None: ``sparsity``

    def __post_init__(self):
        if self.bits not in (6, 8):
            raise CompressionError(f"bits must be 6 or 8, got {self.bits}.")
        for name in ("sparsity", "first_sparsity", "classifier_sparsity"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0:
                raise CompressionError(f"{name} must be in [0, 1), got {value}.")

    @classmethod
    def parse(cls, name: str, sparsity: float | None = None) -> "CompressionConfig":
        """``"6bit"`` or ``"8bit"`` (the CLI's ``--compress``), with an optional overall sparsity."""
        if name not in BITS:
            raise CompressionError(f"--compress must be one of {', '.join(BITS)}, got {name!r}.")
        return cls(BITS[name]) if sparsity is None else cls(BITS[name], sparsity)

    @property
    def clusters(self) -> int:
        return 2 ** self.bits

    def targets(self, layer_names: list[str]) -> dict[str, float]:
        """Sparsity per prunable layer (in model order): first, middle, classifier."""
        out = {name: self.sparsity for name in layer_names}
        if layer_names:
            out[layer_names[-1]] = self.sparsity if self.classifier_sparsity is None else self.classifier_sparsity
            out[layer_names[0]] = self.first_sparsity
        return out

    def describe(self) -> str:
        return (f"{self.bits}-bit ({self.clusters} clusters), sparsity {self.sparsity:.0%} "
                f"(first conv {self.first_sparsity:.0%})")

    def to_dict(self) -> dict:
        return asdict(self) | {"clusters": self.clusters}


def prunable_layers(model) -> list[str]:
    """Names of the Conv2D and Dense layers (the ones Deep Compression prunes and clusters), in order."""
    return [layer.name for layer in model.layers if type(layer).__name__ in ("Conv2D", "Dense")]


def prune_one_shot(model, targets: dict[str, float]) -> None:
    """Zero the smallest-magnitude ``round(s * n)`` kernel weights of each layer in place."""
    for name, sparsity in targets.items():
        layer = model.get_layer(name)
        weights = layer.get_weights()
        kernel = weights[0]
        k = int(round(sparsity * kernel.size))
        if k:
            order = np.argsort(np.abs(kernel), axis=None, kind="stable")
            flat = kernel.reshape(-1).copy()
            flat[order[:k]] = 0.0
            weights[0] = flat.reshape(kernel.shape)
            layer.set_weights(weights)


def _steps(data) -> int | None:
    steps = int(data.cardinality()) if hasattr(data, "cardinality") else -1
    return steps if steps > 0 else None


def _fit(model, train, epochs: int, lr: float, logits: bool, verbose, callbacks=()):
    import tf_keras

    steps = _steps(train)
    schedule = tf_keras.optimizers.schedules.CosineDecay(lr, max(1, (steps or 100) * epochs))
    model.compile(optimizer=tf_keras.optimizers.SGD(schedule, momentum=0.9),
                  loss=tf_keras.losses.CategoricalCrossentropy(from_logits=logits), metrics=["accuracy"])
    model.fit(train, epochs=epochs, steps_per_epoch=steps, verbose=verbose, callbacks=list(callbacks))


def _wrap(model, names, wrap_layer):
    """Clone ``model`` with ``wrap_layer`` applied to the layers in ``names`` (weights are carried over)."""
    import tf_keras

    def clone(layer):
        return wrap_layer(layer) if layer.name in names else layer.__class__.from_config(layer.get_config())

    clone_model = tf_keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:  # clone_model leaves fresh weights in the unwrapped layers
        if layer.name not in names and layer.get_weights():
            clone_model.get_layer(layer.name).set_weights(layer.get_weights())
    return clone_model


def prune(twin, train, targets: dict[str, float], epochs: int, *, lr: float, logits: bool, verbose="auto"):
    """Magnitude-prune ``twin`` to ``targets``: during ``epochs`` of fine-tuning, or one shot."""
    if epochs <= 0 or train is None:
        prune_one_shot(twin, targets)
        return twin
    import tensorflow_model_optimization as tfmot

    sparsity = tfmot.sparsity.keras
    steps = (_steps(train) or 100) * epochs
    end = max(1, int(0.7 * steps))  # the last 30% fine-tune at the final sparsity

    def wrap(layer):
        schedule = sparsity.PolynomialDecay(0.0, targets[layer.name], 0, end, frequency=max(1, end // 10))
        return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)

    pruned = _wrap(twin, set(targets), wrap)
    _fit(pruned, train, epochs, lr, logits, verbose, [sparsity.UpdatePruningStep()])
    stripped = sparsity.strip_pruning(pruned)
    prune_one_shot(stripped, targets)  # tfmot's last mask update can trail the schedule's end by < frequency
    return stripped


def cluster(twin, train, names: list[str], clusters: int, epochs: int, *, lr: float, logits: bool,
            verbose="auto"):
    """Share weights: ``clusters`` values per layer (0 among them), zeros kept; fine-tuned if asked."""
    import tensorflow_model_optimization as tfmot

    clustering = tfmot.clustering.keras

    def wrap(layer):
        return clustering.cluster_weights(
            layer, number_of_clusters=clusters,
            cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS, preserve_sparsity=True)

    clustered = _wrap(twin, set(names), wrap)
    if epochs > 0 and train is not None:
        _fit(clustered, train, epochs, lr, logits, verbose)
    return clustering.strip_clustering(clustered)


@contextlib.contextmanager
def _cluster_preserving_weights():
    """Make quantize_apply fake-quantize, cluster- and sparsity-preserve the weights of a Conv2D or Dense
    followed by a ReLU layer, as every SqueezeNet conv is.

    tfmot's ``LayerReLUQuantize`` transform gives such a layer ``NoOpQuantizeConfig`` (meant to drop the
    fake-quant between the conv and its ReLU), which drops its weight quantizer too, so (P)CQAT wraps no
    SqueezeNet conv: the QAT fine-tune then moves the zeros and the shared values freely (measured: 70% ->
    32% zeros and thousands of values per layer). Here the layer gets a config with the cluster-preserving
    weight quantizer and no output quantizer, a fresh quantizer per layer (tfmot's registry shares one,
    whose ``preserve_sparsity`` one dense layer would switch off for all). tfmot also turns a Conv2D whose
    channels hold nearly equal numbers of unique values into per-channel centroids, each channel training
    apart: one per-layer codebook is what clustering made, so that switch is off.
    """
    from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.cluster_preserve import (
        cluster_preserve_quantize_registry as registry)
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as configs, default_8bit_transforms as transforms)

    original_replacement = transforms.LayerReLUQuantize.replacement
    original_centroids = registry.get_centroids

    def replacement(self, match_layer):
        node = match_layer.input_layers[0]
        kind = node.layer.get("class_name") if isinstance(node.layer, dict) else None
        if kind == "Conv2D":
            config = configs.Default8BitConvQuantizeConfig(["kernel"], [], False)
            config.weight_quantizer = registry.ClusterPreserveDefault8BitConvWeightsQuantizer(True)
        elif kind == "Dense":
            config = configs.Default8BitQuantizeConfig(["kernel"], [], False)
            config.weight_quantizer = registry.ClusterPreserveDefault8BitWeightsQuantizer(True)
        else:  # Add -> ReLU: tfmot's rule
            return original_replacement(self, match_layer)
        node.metadata["quantize_config"] = config
        return match_layer

    def per_layer(layer, weight, data_format):
        centroids, index = registry.get_unique(weight)
        return centroids, registry.tf.size(centroids), index, False

    transforms.LayerReLUQuantize.replacement = replacement
    registry.get_centroids = per_layer
    try:
        yield
    finally:
        transforms.LayerReLUQuantize.replacement = original_replacement
        registry.get_centroids = original_centroids


def compress(twin, train, config: CompressionConfig, *, prune_epochs: int | None = 0,
             cluster_epochs: int | None = 0, qat_epochs: int | None = 0, lr: float = DEFAULT_LR, calibration=None,
             calibration_batches: int = 50, verbose="auto", log=print):
    """The PCQAT model of the float tf_keras ``twin``: pruned, clustered, quantization-aware trained.

    ``train`` yields (images, one-hot labels) batches (may be None when every epoch count is 0); an epoch
    count of None means the default length (``PRUNE_STEPS``, ``CLUSTER_STEPS``, ``QAT_STEPS`` optimizer steps);
    ``calibration`` (batches of images) sets the activation ranges, default ``train``. The result converts
    with ``converters.tflite.convert(result, Recipe("int8"))``.
    """
    import tensorflow_model_optimization as tfmot

    from converters.qat import _ends_in_logits, calibrate_ranges
    logits = _ends_in_logits(twin)
    if train is not None:
        prune_epochs = default_epochs(train, PRUNE_STEPS, 3) if prune_epochs is None else prune_epochs
        cluster_epochs = default_epochs(train, CLUSTER_STEPS) if cluster_epochs is None else cluster_epochs
        qat_epochs = default_epochs(train, QAT_STEPS) if qat_epochs is None else qat_epochs
    prune_epochs, cluster_epochs, qat_epochs = (e or 0 for e in (prune_epochs, cluster_epochs, qat_epochs))
    names = prunable_layers(twin)
    if not names:
        raise CompressionError(f"{twin.name} has no Conv2D or Dense layer to compress.")
    targets = config.targets(names)
    log(f"pruning {len(names)} layers to {config.sparsity:.0%} sparsity (first conv {targets[names[0]]:.0%}), "
        + (f"{prune_epochs} epoch(s)" if prune_epochs and train is not None else "one shot"))
    twin = prune(twin, train, targets, prune_epochs, lr=lr, logits=logits, verbose=verbose)
    log(f"clustering to {config.clusters} values per layer"
        + (f", {cluster_epochs} epoch(s)" if cluster_epochs and train is not None else ""))
    twin = cluster(twin, train, names, config.clusters, cluster_epochs, lr=lr / 2, logits=logits,
                   verbose=verbose)
    scheme = tfmot.experimental.combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)
    annotated = tfmot.quantization.keras.quantize_annotate_model(twin)
    with tfmot.quantization.keras.quantize_scope(), _cluster_preserving_weights():
        qat = tfmot.quantization.keras.quantize_apply(annotated, scheme)
    used = calibrate_ranges(qat, calibration if calibration is not None else train, calibration_batches)
    log(f"sparsity- and cluster-preserving QAT: ranges calibrated on {used} batches"
        + (f", {qat_epochs} epoch(s)" if qat_epochs and train is not None else ""))
    if qat_epochs > 0 and train is not None:
        from absl import logging as absl_logging

        level = absl_logging.get_verbosity()
        absl_logging.set_verbosity(absl_logging.ERROR)  # PCQAT trains the centroids: every kernel "has no gradient"
        try:
            _fit(qat, train, qat_epochs, lr / 2, logits, verbose)
        finally:
            absl_logging.set_verbosity(level)
    return qat
