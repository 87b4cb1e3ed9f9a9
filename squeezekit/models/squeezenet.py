"""SqueezeNet 1.0 and 1.1, with the paper's bypass variants and microarchitecture metaparameters.

Reference: Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size", arXiv:1602.07360 (2016). The layer table follows the official Caffe definitions
(forresti/SqueezeNet) and torchvision's port; layer names follow Caffe's (``fire2/squeeze1x1`` becomes
``fire2_squeeze1x1`` because Keras 3 forbids ``/`` in names).

Network (v1.0 | v1.1)::

    conv1  7x7/2, 96 | 3x3/2, 64, no padding, ReLU
    pool1  3x3/2 ceil mode
    fire2 .. fire9 (widths from the metaparameters), max-pools after fire4, fire8 | fire3, fire5
    drop9 (0.5) -> conv10 1x1 (classes) -> ReLU -> global average pool -> softmax

Fire module: squeeze1x1 -> ReLU, then expand1x1 -> ReLU and expand3x3 (padding 1) -> ReLU on the squeeze
output, concatenated as [expand1x1, expand3x3]. Every convolution has a bias; there is no BatchNorm.

``network`` lays a configuration out as a plan (``squeezekit.models.plan``), which ``SqueezeNet`` builds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from squeezekit.models import common, families, plan

VERSIONS = {
    # conv1 (kernel, filters) and the fires after which a 3x3/2 ceil-mode max-pool follows.
    "1.0": dict(conv1_kernel=7, conv1_filters=96, pool_after=(4, 8)),
    "1.1": dict(conv1_kernel=3, conv1_filters=64, pool_after=(3, 5)),
}
BYPASSES = ("none", "simple", "complex")
# imgclsmob's port has torchvision's graph, except that its TensorFlow port (tf2cv, whose weights squeezekit
# loads) pads ceil-mode pools on both sides: see plan.max_pool_ceil.
CONVENTIONS = families.FAMILIES["squeezenet"].conventions


@dataclass(frozen=True)
class FireSpec:
    index: int  # Caffe numbering: fire2 .. fire9
    squeeze: int
    expand1x1: int
    expand3x3: int

    @property
    def out_channels(self) -> int:
        return self.expand1x1 + self.expand3x3


def fire_specs(base_e=128, incr_e=128, pct_3x3=0.5, freq=2, sr=0.125, num_fires=8) -> list[FireSpec]:
    """Fire widths from the paper's section 5 metaparameters.

    e_i = base_e + incr_e * floor(i / freq), e3x3_i = pct_3x3 * e_i, e1x1_i = e_i - e3x3_i, s1x1_i = SR * e_i
    for fire i = 0..7. The released SqueezeNet is base_e=128, incr_e=128, pct_3x3=0.5, freq=2, SR=0.125.
    """
    if freq < 1 or base_e < 1 or incr_e < 0 or not 0.0 <= pct_3x3 <= 1.0 or not 0.0 < sr:
        raise ValueError(
            "SqueezeNet metaparameters need base_e >= 1, incr_e >= 0, freq >= 1, 0 <= pct_3x3 <= 1 and SR > 0; "
            f"got base_e={base_e}, incr_e={incr_e}, freq={freq}, pct_3x3={pct_3x3}, sr={sr}."
        )
    specs = []
    for i in range(num_fires):
        e = base_e + incr_e * (i // freq)
        e3 = int(round(pct_3x3 * e))
        squeeze = max(1, int(round(sr * e)))
        specs.append(FireSpec(index=i + 2, squeeze=squeeze, expand1x1=e - e3, expand3x3=e3))
    for spec in specs:
        if spec.expand1x1 == 0 or spec.expand3x3 == 0:
            raise ValueError(
                f"pct_3x3={pct_3x3} leaves fire{spec.index} with an empty expand branch; use 0 < pct_3x3 < 1."
            )
    return specs


def spatial_ops(version="1.0", convention="torchvision") -> list[common.SpatialOp]:
    """The size-changing ops in order, for minimum-size and shape arithmetic."""
    v = _version(version)
    ops: list[common.SpatialOp] = [(v["conv1_kernel"], 2, 0, False), (3, 2, 0, True)]
    ops += [(3, 2, 0, True)] * len(v["pool_after"])
    ops.append((1, 1, _conv10_padding(version, convention), False))
    return ops


def min_input_size(version="1.0", convention="torchvision") -> int:
    return common.min_input_size(spatial_ops(version, convention))


def _version(version):
    key = str(version)
    if key not in VERSIONS:
        raise ValueError(f"SqueezeNet version must be one of {sorted(VERSIONS)}, got {version!r}.")
    return VERSIONS[key]


def _conv10_padding(version, convention) -> int:
    if convention not in CONVENTIONS:
        raise ValueError(f"SqueezeNet convention must be one of {CONVENTIONS}, got {convention!r}.")
    # The released Caffe v1.0 gives conv10 pad: 1 (a ring of bias-only outputs enters the average pool);
    # v1.1 and torchvision's port have none.
    return 1 if (convention == "caffe" and str(version) == "1.0") else 0


def configure(version="1.0", bypass="none", base_e=128, incr_e=128, pct_3x3=0.5, freq=2, sr=0.125, dropout=0.5,
              convention="torchvision", ceil_padding=None) -> dict:
    """The network's arguments checked, with ``ceil_padding=None`` replaced by the convention's choice."""
    _version(version)
    if bypass not in BYPASSES:
        raise ValueError(f"bypass must be one of {BYPASSES}, got {bypass!r}.")
    _conv10_padding(version, convention)
    if ceil_padding is None:
        ceil_padding = families.ceil_padding(convention)
    fire_specs(base_e, incr_e, pct_3x3, freq, sr)
    return dict(version=version, bypass=bypass, base_e=base_e, incr_e=incr_e, pct_3x3=pct_3x3, freq=freq, sr=sr,
                dropout=dropout, convention=convention, ceil_padding=ceil_padding)


def _fire(spec: FireSpec, x: plan.Layer, conv, bypass: str) -> tuple[plan.Block, plan.Layer]:
    """One Fire module (squeeze, then [expand1x1, expand3x3] concatenated), with the bypass around it."""
    prefix = f"fire{spec.index}"
    s = conv(prefix + "_squeeze1x1", x, spec.squeeze, 1)
    e1 = conv(prefix + "_expand1x1", s, spec.expand1x1, 1)
    e3 = conv(prefix + "_expand3x3", s, spec.expand3x3, 3)
    layers = [s, e1, e3, y := plan.concat(prefix + "_concat", e1, e3)]
    residual = ""
    if bypass != "none" and x.out_channels == spec.out_channels:
        layers.append(y := plan.add(prefix + "_add", x, y))
        residual = "identity"
    elif bypass == "complex":
        shortcut = conv(prefix + "_bypass", x, spec.out_channels, 1, activation=None)
        layers += [shortcut, y := plan.add(prefix + "_add", shortcut, y)]
        residual = "projection"
    return plan.Block(prefix, "fire", tuple(layers), merge="concat", residual=residual), y


def network(input_shape, *, include_top=True, pooling=None, classes=1000, **config) -> plan.Network:
    """The plan of a SqueezeNet at ``input_shape`` (H, W, C); ``config`` takes ``SqueezeNet``'s structural
    arguments (``version``, ``bypass``, the metaparameters, ``convention``...)."""
    c = configure(**config)
    v = _version(c["version"])
    # Initialization: Caffe's "xavier" filler (uniform, variance 1/fan_in: lecun_uniform) suits its raw 0-255
    # inputs; torchvision's kaiming_uniform (he_uniform) keeps normalized inputs from fading through 18 ReLU
    # convs, which otherwise lets the ReLU'd conv10 head die under Adam. conv10 is normal(0, 0.01) in both.
    init = "lecun_uniform" if c["convention"] == "caffe" else "he_uniform"
    conv = functools.partial(plan.conv, bias=True, initializer=init)
    x = plan.source(input_shape)
    stem = [x := conv("conv1", x, v["conv1_filters"], v["conv1_kernel"], stride=2, padding="valid")]
    stem += plan.max_pool_ceil("pool1", x, ceil_padding=c["ceil_padding"])
    stages, x = [plan.Stage("stem", (plan.Block("stem", "stem", tuple(stem)),))], stem[-1]
    stage = []
    for spec in fire_specs(c["base_e"], c["incr_e"], c["pct_3x3"], c["freq"], c["sr"]):
        block, x = _fire(spec, x, conv, c["bypass"])
        stage.append(block)
        if spec.index in v["pool_after"]:  # a stage ends at each pool
            pool = plan.max_pool_ceil(f"pool{spec.index}", x, ceil_padding=c["ceil_padding"])
            stage.append(plan.Block(f"pool{spec.index}", "pool", tuple(pool)))
            stages.append(plan.Stage(f"stage{len(stages)}", tuple(stage)))
            stage, x = [], pool[-1]
    if stage:
        stages.append(plan.Stage(f"stage{len(stages)}", tuple(stage)))

    if include_top:
        head = [x := plan.dropout("drop9", x, c["dropout"])]
        conv10_padding = _conv10_padding(c["version"], c["convention"])
        if conv10_padding:
            head.append(x := plan.zero_pad("conv10_pad", x, ((conv10_padding,) * 2,) * 2))
        head.append(x := conv("conv10", x, classes, 1, padding="valid", initializer="normal_0.01"))
        head.append(plan.global_pool("pool10", x))
        blocks = [plan.Block("classifier", "classifier", tuple(head))]
    else:
        blocks = plan.feature_pooling(x, pooling)
    stages.append(plan.Stage("head", tuple(blocks)))
    return plan.Network("squeezenet", tuple(int(d) for d in input_shape), tuple(stages), config=c)


def SqueezeNet(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    *,
    version="1.0",
    bypass="none",
    base_e=128,
    incr_e=128,
    pct_3x3=0.5,
    freq=2,
    sr=0.125,
    dropout=0.5,
    convention="torchvision",
    ceil_padding=None,
    keras_module=None,
):
    """Build a SqueezeNet as a Keras functional model.

    Args:
        include_top: whether to include the classifier (dropout, conv10, ReLU, global average pool).
        weights: None (random initialization) or a path to a ``.weights.h5`` / ``.keras`` file.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: (height, width, channels); defaults to 224x224x3 (227 for ``convention="caffe"``).
            Any static size at or above the minimum (29 for v1.0, 25 for v1.1) works.
        pooling: with ``include_top=False``: None (4D fire9 features), "avg" or "max" (global pooling).
        classes: number of classes of the classifier.
        classifier_activation: activation on the output; None returns the pooled conv10 outputs (logits).
        name: model name; defaults to ``squeezenet{version}`` with the bypass appended.
        version: "1.0" or "1.1".
        bypass: "none", "simple" (identity adds around the fires whose input and output widths match:
            fire3, 5, 7, 9 for the released widths) or "complex" (simple, plus biased 1x1 convolution
            bypasses around the others), as in the paper's section 6.
        base_e, incr_e, pct_3x3, freq, sr: the section 5 microarchitecture metaparameters.
        dropout: dropout rate before conv10.
        convention: "torchvision" (default), "imgclsmob" (the same graph, with tf2cv's pool padding) or "caffe"
            (the released prototxt, whose v1.0 conv10 has padding 1; 227x227 default input).
        ceil_padding: where ceil-mode pools pad: "end" (Caffe, PyTorch) or "both" (tf2cv, whose weights need
            it); None picks the convention's (imgclsmob: "both", else "end"). See ``plan.max_pool_ceil``.
        keras_module: ``keras`` (default) or ``tf_keras`` for the tfmot twin.
    """
    K = common.get_keras(keras_module)
    config = configure(version, bypass, base_e, incr_e, pct_3x3, freq, sr, dropout, convention, ceil_padding)
    common.check_common_args(include_top, weights, pooling, classes, classifier_activation)
    default_size = families.default_size(convention)
    x, inputs = common.resolve_input(
        K, input_shape, input_tensor, default_size, min_input_size(version, convention), f"SqueezeNet {version}"
    )
    net = network(x.shape[1:], include_top=include_top, pooling=pooling, classes=classes, **config)
    x = common.build_network(K, net, x)
    if include_top:
        x = common.classifier_output(K, x, classifier_activation)

    if name is None:
        name = "squeezenet" + str(version).replace(".", "_") + ("" if bypass == "none" else f"_{bypass}_bypass")
    model = K.Model(inputs, x, name=name)
    common.record_build(model, "squeezenet", dict(
            include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
            **config), input_tensor)
    common.load_weights(model, weights)
    return model
