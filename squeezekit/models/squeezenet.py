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
"""

from __future__ import annotations

from dataclasses import dataclass

from squeezekit.models import common, families

VERSIONS = {
    # conv1 (kernel, filters) and the fires after which a 3x3/2 ceil-mode max-pool follows.
    "1.0": dict(conv1_kernel=7, conv1_filters=96, pool_after=(4, 8)),
    "1.1": dict(conv1_kernel=3, conv1_filters=64, pool_after=(3, 5)),
}
BYPASSES = ("none", "simple", "complex")
# imgclsmob's port has torchvision's graph, except that its TensorFlow port (tf2cv, whose weights squeezekit
# loads) pads ceil-mode pools on both sides: see common.max_pool_ceil.
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


def _conv(K, x, filters, kernel, name, strides=1, padding="same", initializer="he_uniform"):
    return K.layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, kernel_initializer=initializer, name=name
    )(x)


def fire_module(K, x, spec: FireSpec, init="he_uniform"):
    """One Fire module; returns the concatenated [expand1x1, expand3x3] tensor."""
    prefix = f"fire{spec.index}"
    s = _conv(K, x, spec.squeeze, 1, prefix + "_squeeze1x1", initializer=init)
    s = K.layers.ReLU(name=prefix + "_squeeze1x1_relu")(s)
    e1 = _conv(K, s, spec.expand1x1, 1, prefix + "_expand1x1", initializer=init)
    e1 = K.layers.ReLU(name=prefix + "_expand1x1_relu")(e1)
    e3 = _conv(K, s, spec.expand3x3, 3, prefix + "_expand3x3", initializer=init)
    e3 = K.layers.ReLU(name=prefix + "_expand3x3_relu")(e3)
    return K.layers.Concatenate(axis=-1, name=prefix + "_concat")([e1, e3])


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
            it); None picks the convention's (imgclsmob: "both", else "end"). See ``common.max_pool_ceil``.
        keras_module: ``keras`` (default) or ``tf_keras`` for the tfmot twin.
    """
    K = common.get_keras(keras_module)
    v = _version(version)
    if bypass not in BYPASSES:
        raise ValueError(f"bypass must be one of {BYPASSES}, got {bypass!r}.")
    conv10_padding = _conv10_padding(version, convention)
    if ceil_padding is None:
        ceil_padding = families.ceil_padding(convention)
    common.check_common_args(include_top, weights, pooling, classes, classifier_activation)
    specs = fire_specs(base_e, incr_e, pct_3x3, freq, sr)
    default_size = families.default_size(convention)
    label = f"SqueezeNet {version}"
    x, inputs = common.resolve_input(
        K, input_shape, input_tensor, default_size, min_input_size(version, convention), label
    )

    # Initialization: Caffe's "xavier" filler (uniform, variance 1/fan_in: lecun_uniform) suits its raw 0-255
    # inputs; torchvision's kaiming_uniform (he_uniform) keeps normalized inputs from fading through 18 ReLU
    # convs, which otherwise lets the ReLU'd conv10 head die under Adam. conv10 is normal(0, 0.01) in both.
    init = "lecun_uniform" if convention == "caffe" else "he_uniform"
    x = _conv(K, x, v["conv1_filters"], v["conv1_kernel"], "conv1", strides=2, padding="valid", initializer=init)
    x = K.layers.ReLU(name="conv1_relu")(x)
    x = common.max_pool_ceil(K, x, "pool1", ceil_padding=ceil_padding)
    for spec in specs:
        identity = x
        x = fire_module(K, x, spec, init)
        in_channels = int(identity.shape[-1])
        if bypass != "none" and in_channels == spec.out_channels:
            x = K.layers.Add(name=f"fire{spec.index}_add")([identity, x])
        elif bypass == "complex":
            shortcut = _conv(K, identity, spec.out_channels, 1, f"fire{spec.index}_bypass", initializer=init)
            x = K.layers.Add(name=f"fire{spec.index}_add")([shortcut, x])
        if spec.index in v["pool_after"]:
            x = common.max_pool_ceil(K, x, f"pool{spec.index}", ceil_padding=ceil_padding)

    if include_top:
        x = K.layers.Dropout(dropout, name="drop9")(x)
        if conv10_padding:
            x = K.layers.ZeroPadding2D(conv10_padding, name="conv10_pad")(x)
        x = _conv(
            K, x, classes, 1, "conv10", padding="valid",
            initializer=K.initializers.RandomNormal(mean=0.0, stddev=0.01),
        )
        x = K.layers.ReLU(name="conv10_relu")(x)
        x = K.layers.GlobalAveragePooling2D(name="pool10")(x)
        x = common.classifier_output(K, x, classifier_activation)
    else:
        x = common.feature_pooling(K, x, pooling)

    if name is None:
        name = "squeezenet" + str(version).replace(".", "_") + ("" if bypass == "none" else f"_{bypass}_bypass")
    model = K.Model(inputs, x, name=name)
    common.record_build(model, "squeezenet", dict(
            include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
            version=version, bypass=bypass, base_e=base_e, incr_e=incr_e, pct_3x3=pct_3x3, freq=freq, sr=sr,
            dropout=dropout, convention=convention, ceil_padding=ceil_padding,
        ), input_tensor)
    common.load_weights(model, weights)
    return model
