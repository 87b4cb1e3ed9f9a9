"""SqueezeNext: parametric builder for every SqNxt variant (23, 23v5, G-, 34, 44, IDA).

Reference: Gholami et al., "SqueezeNext: Hardware-Aware Neural Network Design", CVPR Workshops 2018,
arXiv:1803.10615. Official definitions: the Caffe files of amirgholami/SqueezeNext (1.0-SqNxt-23,
1.0-G-SqNxt-23, 1.0-SqNxt-23v5, 2.0-SqNxt-23, 2.0-SqNxt-23v5); 2.0-SqNxt-44 from jolibrain/deepdetect.

``network`` lays a configuration out as a plan (``squeezekit.models.plan``: stages, blocks, layers with their
shapes), which ``SqueezeNext`` builds with Keras 3 or tf_keras and the search reads as op rows.

Network::

    stem conv kxk/2 (64 filters, no padding) -> BN -> ReLU -> max-pool 3x3/2 (Caffe ceil mode)
    four stages of widths (32, 64, 128, 256) x width multiplier; stages 2-4 start with stride 2
    final 1x1 conv (128) -> BN -> ReLU -> global average pool -> fully connected (no bias) -> softmax

Block of output width C (``convention="official"``), every conv without bias, then BN and ReLU::

    squeeze_a 1x1 -> C/2   (carries the stage stride in "23" wiring; groups in G- variants)
    squeeze_b 1x1 -> C/4
    sep_a     3x1 or 1x3 -> C/2   (groups in G- variants)
    sep_b     the other   -> C/2  (groups in G- variants)
    expand    1x1 -> C
    shortcut: identity, or in each stage's first block a 1x1 projection (BN, ReLU)
    add, then ReLU

The 3x1/1x3 order alternates over the whole network: blocks numbered from 0 across stages, even blocks do
3x1 then 1x3. "v5" wiring: only the projection has the stride, and the residual branch reads the
projection's output. The official files do not scale the stem (64) or the final conv (128) by the width.

``convention="imgclsmob"`` reproduces osmr/imgclsmob's widely used port (the names of its third-party
weights): biases on every conv and on the FC, always 1x3 then 3x1, stem 7x7 with padding 1 (also for 23v5),
stem and final conv scaled by the width, the stem pool's ceil-mode window padded on both sides (tf2cv's
``MaxPool2d``; see ``plan.max_pool_ceil``), and its own squeeze widths, computed from the block input:
``den = 1`` at a stride, ``4`` where the width shrinks, else ``2``; squeeze_a -> C_in/den,
squeeze_b -> C_in/(2 den), sep_a, sep_b -> C_in/den, expand -> C.

Reconstructions (no official definition was available; see the registry's provenance):
- SqNxt-34: 32 blocks (depth = blocks + stem + FC, as 23 = 21 + 2 and 44 = 42 + 2), laid out as (9, 9, 12, 2),
  the midpoint of 23's (6, 6, 8, 1) and 44's (12, 12, 16, 2).
- 1.0- and 1.5-width SqNxt-44 and 1.5-width models: the official rule (stem and final conv not scaled).
- IDA ("iterative deep aggregation", Yu et al., "Deep Layer Aggregation", CVPR 2018): the backbone is
  unchanged; aggregation nodes merge stage outputs from shallow to deep,
  ``agg_1 = stage_1``, ``agg_k = ReLU(BN(conv1x1(concat(maxpool2x2(agg_{k-1}), stage_k))))`` with width of
  stage k, and the final conv reads ``agg_4``.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

from squeezekit.models import common, families, plan

CONVENTIONS = families.FAMILIES["squeezenext"].conventions
WIRINGS = ("23", "v5")
SEPARABLE_ORDERS = ("alternate", "1x3_first", "3x1_first")
FIRST_POOLS = ("stem", "stage1")
BN_EPSILON = 1e-5  # Caffe's and PyTorch's default (imgclsmob's weights were trained with it)
BN_MOMENTUM = 0.9


@dataclass(frozen=True)
class BlockPlan:
    """Widths and wiring of one block, resolved from the network's arguments."""

    name: str
    in_channels: int
    out_channels: int
    stride: int
    squeeze_a: int
    squeeze_b: int
    separable: int
    project: bool
    first_kernel: tuple[int, int]  # (3, 1) or (1, 3)
    branch_reads_projection: bool  # "v5" wiring
    stage: int = 1  # 1-based


def _check(convention, wiring, separable_order, groups, stem_kernel, blocks, widths):
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}.")
    if wiring not in WIRINGS:
        raise ValueError(f"wiring must be '23' or 'v5', got {wiring!r}.")
    if separable_order not in SEPARABLE_ORDERS:
        raise ValueError(f"separable_order must be one of {SEPARABLE_ORDERS}, got {separable_order!r}.")
    if convention == "imgclsmob" and (groups != 1 or wiring != "23"):
        raise ValueError(
            "convention='imgclsmob' has no grouped or v5-wired blocks (its 23v5 is wired like 23); "
            "use convention='official' for groups or wiring='v5'."
        )
    if len(blocks) != len(widths) or not blocks or min(blocks) < 1:
        raise ValueError(
            f"blocks and widths need one positive entry per stage; got blocks={tuple(blocks)}, widths={tuple(widths)}."
        )
    if stem_kernel < 1:
        raise ValueError(f"stem_kernel must be positive, got {stem_kernel}.")


def stage_widths(widths, width_multiplier) -> list[int]:
    return [int(w * width_multiplier) for w in widths]


def block_plans(
    blocks=(6, 6, 8, 1),
    widths=(32, 64, 128, 256),
    width_multiplier=1.0,
    stem_filters=64,
    groups=1,
    wiring="23",
    separable_order="alternate",
    convention="official",
) -> list[BlockPlan]:
    """Every block's widths and wiring, from which ``network`` lays out its layers."""
    plans = []
    in_ch = stem_filters
    index = 0
    for s, (n, width) in enumerate(zip(blocks, stage_widths(widths, width_multiplier))):
        for b in range(n):
            stride = 2 if (b == 0 and s > 0) else 1
            if separable_order == "alternate":
                first = (3, 1) if index % 2 == 0 else (1, 3)
            else:
                first = (1, 3) if separable_order == "1x3_first" else (3, 1)
            if convention == "official":
                # Every stage opens with a projection, even where widths match (2.0-SqNxt stage 1: 64 -> 64).
                project = b == 0 or in_ch != width
                sq_a, sq_b, sep = width // 2, width // 4, width // 2
            else:
                den = 1 if stride == 2 else (4 if in_ch > width else 2)
                project = stride == 2 or in_ch > width
                sq_a, sq_b, sep = in_ch // den, in_ch // (2 * den), in_ch // den
            for label, value in (("squeeze_a", sq_a), ("squeeze_b", sq_b), ("separable", sep)):
                if value < 1 or value % groups:
                    raise ValueError(
                        f"stage{s + 1} block{b + 1}: {label} width {value} must be positive and divisible by "
                        f"groups={groups}; use a larger width_multiplier or widths."
                    )
            plans.append(
                BlockPlan(
                    name=f"stage{s + 1}_block{b + 1}",
                    in_channels=in_ch,
                    out_channels=width,
                    stride=stride,
                    squeeze_a=sq_a,
                    squeeze_b=sq_b,
                    separable=sep,
                    project=project,
                    first_kernel=first,
                    branch_reads_projection=(wiring == "v5" and project),
                    stage=s + 1,
                )
            )
            in_ch = width
            index += 1
    return plans


def spatial_ops(stem_kernel=7, convention="official", num_stages=4, stem_stride=2) -> list[common.SpatialOp]:
    stem_pad = 1 if convention == "imgclsmob" else 0
    return [(stem_kernel, stem_stride, stem_pad, False), (3, 2, 0, True)] + [(1, 2, 0, False)] * (num_stages - 1)


def min_input_size(stem_kernel=7, convention="official", num_stages=4, stem_stride=2) -> int:
    return common.min_input_size(spatial_ops(stem_kernel, convention, num_stages, stem_stride))


def configure(width_multiplier=1.0, blocks=(6, 6, 8, 1), widths=(32, 64, 128, 256), stem_kernel=7, groups=1,
              wiring="23", separable_order=None, convention="official", ida=False, stem_filters=64,
              final_filters=128, scale_stem_and_final=None, ceil_padding=None, stem_stride=2,
              first_pool="stem") -> dict:
    """The network's arguments checked, with each None replaced by the convention's choice."""
    blocks, widths = tuple(blocks), tuple(widths)
    if first_pool not in FIRST_POOLS:
        raise ValueError(f"first_pool must be one of {FIRST_POOLS}, got {first_pool!r}.")
    if not isinstance(stem_stride, int) or stem_stride < 1:
        raise ValueError(f"stem_stride must be a positive integer, got {stem_stride!r}.")
    if separable_order is None:
        separable_order = "alternate" if convention == "official" else "1x3_first"
    _check(convention, wiring, separable_order, groups, stem_kernel, blocks, widths)
    if scale_stem_and_final is None:
        scale_stem_and_final = convention == "imgclsmob"
    if ceil_padding is None:
        ceil_padding = families.ceil_padding(convention)
    return dict(width_multiplier=width_multiplier, blocks=blocks, widths=widths, stem_kernel=stem_kernel,
                groups=groups, wiring=wiring, separable_order=separable_order, convention=convention, ida=ida,
                stem_filters=stem_filters, final_filters=final_filters, scale_stem_and_final=scale_stem_and_final,
                ceil_padding=ceil_padding, stem_stride=stem_stride, first_pool=first_pool)


def _block(p: BlockPlan, x: plan.Layer, conv, groups: int) -> tuple[plan.Block, plan.Layer]:
    """One SqueezeNext block: two-stage squeeze, separable 3x1/1x3 pair, expand, residual add, ReLU."""
    layers = []
    shortcut = x
    if p.project:
        shortcut = conv(p.name + "_proj", x, p.out_channels, stride=p.stride)
        layers.append(shortcut)
    branch, stride = (shortcut, 1) if p.branch_reads_projection else (x, p.stride)
    y = conv(p.name + "_squeeze_a", branch, p.squeeze_a, stride=stride, groups=groups)
    layers.append(y)
    layers.append(y := conv(p.name + "_squeeze_b", y, p.squeeze_b))
    layers.append(y := conv(p.name + "_sep_a", y, p.separable, p.first_kernel, groups=groups))
    layers.append(y := conv(p.name + "_sep_b", y, p.separable, p.first_kernel[::-1], groups=groups))
    layers.append(y := conv(p.name + "_expand", y, p.out_channels))
    layers.append(out := plan.add(p.name + "_add", shortcut, y, "relu", p.name + "_relu"))
    return plan.Block(p.name, "sqnxt", tuple(layers), residual="projection" if p.project else "identity"), out


def _aggregate(name: str, previous: plan.Layer, current: plan.Layer, conv) -> plan.Block:
    """An IDA aggregation node: bring the shallower tensor to this resolution, concat, 1x1 conv-BN-ReLU."""
    layers = []
    if previous.out_shape[:2] != current.out_shape[:2]:
        layers.append(previous := plan.max_pool(name + "_pool", previous, 2, 2, "same"))
    layers.append(joined := plan.concat(name + "_concat", previous, current))
    layers.append(conv(name, joined, current.out_channels, bias=False))
    return plan.Block(name, "aggregation", tuple(layers), merge="concat")


def network(input_shape, *, include_top=True, pooling=None, classes=1000, **config) -> plan.Network:
    """The plan of a SqueezeNext at ``input_shape`` (H, W, C); ``config`` takes ``SqueezeNext``'s
    structural arguments (``blocks``, ``widths``, ``width_multiplier``, ``convention``...)."""
    c = configure(**config)
    scale = c["width_multiplier"] if c["scale_stem_and_final"] else 1.0
    stem_ch, final_ch = int(c["stem_filters"] * scale), int(c["final_filters"] * scale)
    use_bias = c["convention"] == "imgclsmob"
    conv = functools.partial(plan.conv, bias=use_bias, batchnorm=True, initializer="he_normal")
    blocks = block_plans(c["blocks"], c["widths"], c["width_multiplier"], stem_ch, c["groups"], c["wiring"],
                         c["separable_order"], c["convention"])

    stem = []
    x = plan.source(input_shape)
    if c["convention"] == "imgclsmob":
        stem.append(x := plan.zero_pad("stem_pad", x, ((1, 1), (1, 1))))
    stem.append(x := conv("stem_conv", x, stem_ch, c["stem_kernel"], stride=c["stem_stride"], padding="valid"))
    if c["first_pool"] == "stem":
        stem += plan.max_pool_ceil("stem_pool", x, ceil_padding=c["ceil_padding"])
        x = stem[-1]
    stages = [plan.Stage("stem", (plan.Block("stem", "stem", tuple(stem)),))]

    aggregate = None
    for s, members in itertools.groupby(blocks, key=lambda p: p.stage):
        stage, name = [], f"stage{s}"
        for p in members:
            block, x = _block(p, x, conv, c["groups"])
            stage.append(block)
        if c["first_pool"] == "stage1" and s == 1:
            pool = plan.max_pool_ceil("stage1_pool", x, ceil_padding=c["ceil_padding"])
            stage.append(plan.Block("stage1_pool", "pool", tuple(pool)))
            x = pool[-1]
        if c["ida"] and aggregate is not None:
            stage.append(_aggregate(name + "_ida", aggregate, x, conv))
            aggregate = stage[-1].layers[-1]
        elif c["ida"]:
            aggregate = x
        stages.append(plan.Stage(name, tuple(stage)))
    if c["ida"]:
        x = aggregate

    x = conv("final_conv", x, final_ch)
    head = [plan.Block("final_conv", "conv", (x,))]
    if include_top:
        pooled = plan.global_pool("avg_pool", x)
        head.append(plan.Block("classifier", "classifier", (pooled, plan.dense("fc", pooled, classes, use_bias))))
    else:
        head += plan.feature_pooling(x, pooling)
    stages.append(plan.Stage("head", tuple(head)))
    return plan.Network("squeezenext", tuple(int(d) for d in input_shape), tuple(stages), BN_EPSILON, BN_MOMENTUM,
                        config=c)


def SqueezeNext(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    *,
    width_multiplier=1.0,
    blocks=(6, 6, 8, 1),
    widths=(32, 64, 128, 256),
    stem_kernel=7,
    groups=1,
    wiring="23",
    separable_order=None,
    convention="official",
    ida=False,
    stem_filters=64,
    final_filters=128,
    scale_stem_and_final=None,
    ceil_padding=None,
    stem_stride=2,
    first_pool="stem",
    keras_module=None,
):
    """Build a SqueezeNext as a Keras functional model.

    Args:
        include_top: whether to include global average pooling and the fully connected classifier.
        weights: None (random initialization) or a path to a ``.weights.h5`` / ``.keras`` file.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: (height, width, channels); defaults to 227x227x3 for the official convention (the
            Caffe crops) and 224x224x3 for imgclsmob. Any static size at or above the minimum works.
        pooling: with ``include_top=False``: None (4D features after the final conv), "avg" or "max".
        classes: number of classes.
        classifier_activation: activation on the output; None returns logits.
        name: model name.
        width_multiplier: scales the stage widths (1.0, 1.5, 2.0 in the paper).
        blocks: blocks per stage, e.g. (6, 6, 8, 1) for 23 and (2, 4, 14, 1) for 23v5.
        widths: stage widths before the multiplier.
        stem_kernel: 7 for 23, 5 for the official 23v5.
        groups: 2 for the G- variants (squeeze_a and both separable convs grouped).
        wiring: "23" (projection and squeeze_a both read the block input with the stride) or "v5".
        separable_order: "alternate" (official), "1x3_first" (imgclsmob) or "3x1_first"; None picks the
            convention's.
        convention: "official" (the Caffe files) or "imgclsmob" (osmr/imgclsmob's port, for its weights).
        ida: add iterative deep aggregation nodes across the stages (a reconstruction; see module docs).
        stem_filters, final_filters: widths of the stem and final conv before any scaling.
        scale_stem_and_final: scale stem and final conv by ``width_multiplier``; None picks the
            convention's (official: no, imgclsmob: yes).
        ceil_padding: where the stem pool's ceil-mode window pads: "end" (Caffe, PyTorch) or "both"
            (osmr/imgclsmob's TensorFlow port, tf2cv, whose weights need it); None picks the convention's
            (official: "end", imgclsmob: "both"). See ``plan.max_pool_ceil``.
        stem_stride: the stem convolution's stride (2 in every published model; the search also tries 4).
        first_pool: where the 3x3/2 max-pool goes: after the stem ("stem", every published model) or after
            stage 1 ("stage1": stage 1 runs at the stem's resolution).
        keras_module: ``keras`` (default) or ``tf_keras`` for the tfmot twin.
    """
    K = common.get_keras(keras_module)
    config = configure(width_multiplier, blocks, widths, stem_kernel, groups, wiring, separable_order, convention,
                       ida, stem_filters, final_filters, scale_stem_and_final, ceil_padding, stem_stride, first_pool)
    common.check_common_args(include_top, weights, pooling, classes, classifier_activation)
    default_size = families.default_size(convention)
    x, inputs = common.resolve_input(
        K, input_shape, input_tensor, default_size,
        min_input_size(stem_kernel, convention, len(config["blocks"]), stem_stride), "this SqueezeNext",
    )
    net = network(x.shape[1:], include_top=include_top, pooling=pooling, classes=classes, **config)
    x = common.build_network(K, net, x)
    if include_top:
        x = common.classifier_output(K, x, classifier_activation)

    model = K.Model(inputs, x, name=name or "squeezenext")
    common.record_build(model, "squeezenext", dict(
            include_top=include_top, pooling=pooling, classes=classes, classifier_activation=classifier_activation,
            **config), input_tensor)
    common.load_weights(model, weights)
    return model
