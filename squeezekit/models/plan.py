"""The network as plain data: stages of blocks of layers, every layer with its geometry and shapes.

Each family turns its configuration and an input size into a ``Network`` (``squeezenext.network``,
``squeezenet.network``); then the Keras builders create one Keras layer group per plan layer, in plan order
(``common.build_network``, for Keras 3 and tf_keras alike), the search lists a candidate's TFLite ops from it
(``squeezekit.search.space``) and its MACs and parameters are counted from it (``converters.counting``).

A plan layer is what an inference graph fuses into one op: a convolution carries its BatchNorm and
activation (Keras layers ``NAME``, ``NAME_bn`` and ``NAME_relu``); an add may carry the ReLU that follows it.
Layers name their inputs (``inputs``, plan layer names, ``INPUT`` for the network's input), so a plan
expresses residual adds, concatenations and aggregation nodes as well as chains. Shapes are (H, W, C) without
the batch, or (C,) after a global pool. No Keras here: a plan is thousands of times cheaper than a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from converters import counting

INPUT = "input"  # the name layers use for the network's input (the Keras input layer's name too)
KINDS = ("pad", "conv", "max_pool", "add", "concat", "dropout", "global_avg_pool", "global_max_pool", "dense")
CEIL_PADDINGS = ("end", "both")


def out_size(size: int, kernel: int, stride: int, pad: int = 0, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis (Caffe arithmetic)."""
    span = size + 2 * pad - kernel
    if span < 0:
        return 0
    steps = math.ceil(span / stride) if ceil_mode else span // stride
    return steps + 1


@dataclass(frozen=True)
class Layer:
    kind: str  # one of KINDS
    name: str
    inputs: tuple[str, ...]  # the plan layers (or INPUT) it reads, in order
    in_shape: tuple[int, ...]  # of its first input
    out_shape: tuple[int, ...]
    kernel: tuple[int, int] = (1, 1)
    stride: int = 1
    padding: str | tuple = "valid"  # conv, pool: "valid" or "same"; pad: ((top, bottom), (left, right))
    groups: int = 1
    bias: bool = False
    batchnorm: bool = False
    activation: str | None = None  # "relu" or None
    activation_name: str = ""  # the activation layer's name, when not NAME_relu
    initializer: str = ""  # conv/dense kernel initializer (a Keras name, or "normal_0.01"); "" is Keras' default
    rate: float = 0.0  # dropout rate

    @property
    def in_channels(self) -> int:
        return self.in_shape[-1]

    @property
    def out_channels(self) -> int:
        return self.out_shape[-1]

    @property
    def act_name(self) -> str:
        return self.activation_name or f"{self.name}_{self.activation}"

    @property
    def kernel_params(self) -> int:
        if self.kind == "conv":
            return counting.conv_kernel(self.kernel, self.in_channels, self.out_channels, self.groups)
        if self.kind == "dense":
            return counting.dense_weights(self.in_channels, self.out_channels, bias=False)
        return 0

    @property
    def bias_params(self) -> int:
        """Per-output terms of the inference graph (the layer's bias, or the BatchNorm folded into one)."""
        return self.out_channels if self.kind in ("conv", "dense") else 0

    @property
    def trainable_params(self) -> int:
        if self.kind not in ("conv", "dense"):
            return 0
        own = self.kernel_params + (self.out_channels if self.bias else 0)
        return own + (counting.batchnorm_weights(self.out_channels)[0] if self.batchnorm else 0)

    @property
    def params(self) -> int:
        """All weights, the BatchNorm's moving statistics included."""
        if not self.batchnorm:
            return self.trainable_params
        trainable, total = counting.batchnorm_weights(self.out_channels)
        return self.trainable_params + total - trainable

    @property
    def macs(self) -> int:
        if self.kind == "conv":
            return counting.conv_macs(self.out_shape[:2], self.kernel, self.in_channels, self.out_channels,
                                      self.groups)
        if self.kind == "dense":
            return counting.dense_macs(self.in_channels, self.out_channels)
        return 0


@dataclass(frozen=True)
class Block:
    name: str
    kind: str  # "stem", "sqnxt", "fire", "pool", "aggregation", "conv", "classifier", "pooling"
    layers: tuple[Layer, ...]
    merge: str = ""  # how parallel branches inside join: "concat" or ""
    residual: str = ""  # the residual add's other input: "identity", "projection" (a conv) or "" (no add)


@dataclass(frozen=True)
class Stage:
    name: str  # "stem", "stage1", ..., "head"
    blocks: tuple[Block, ...]

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(layer for block in self.blocks for layer in block.layers)


@dataclass(frozen=True)
class Network:
    family: str
    input_shape: tuple[int, int, int]
    stages: tuple[Stage, ...]
    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99
    config: dict = field(default_factory=dict, compare=False)  # the resolved family configuration

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(layer for stage in self.stages for layer in stage.layers)

    @property
    def blocks(self) -> tuple[Block, ...]:
        return tuple(block for stage in self.stages for block in stage.blocks)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r} in this {self.family} plan.")

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def keras_names(self) -> list[str]:
        """The Keras layers a builder makes from this plan, in the order it makes them (Keras' ``model.layers``
        sorts them by graph depth instead); the input and a classifier activation are not in the plan."""
        names = []
        for layer in self.layers:
            names.append(layer.name)
            if layer.batchnorm:
                names.append(layer.name + "_bn")
            if layer.activation:
                names.append(layer.act_name)
        return names


# ---------------------------------------------------------------------------------------------------------------
# Layer constructors: each takes the layer(s) it reads and works out its output shape.

def source(shape) -> Layer:
    """A stand-in for the network's input, to pass where a constructor takes the layer it reads."""
    shape = tuple(int(d) for d in shape)
    return Layer("input", INPUT, (), shape, shape)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _window(x: Layer, kernel, stride: int, padding: str) -> tuple[int, int]:
    h, w = x.out_shape[:2]
    kh, kw = kernel
    if padding == "same":
        return -(-h // stride), -(-w // stride)
    return out_size(h, kh, stride), out_size(w, kw, stride)


def conv(name: str, x: Layer, filters: int, kernel=1, *, stride: int = 1, padding: str = "same", groups: int = 1,
         bias: bool = False, batchnorm: bool = False, activation: str | None = "relu", initializer: str = "") -> Layer:
    kernel = _pair(kernel)
    return Layer("conv", name, (x.name,), x.out_shape, (*_window(x, kernel, stride, padding), filters), kernel=kernel,
                 stride=stride, padding=padding, groups=groups, bias=bias, batchnorm=batchnorm, activation=activation,
                 initializer=initializer)


def max_pool(name: str, x: Layer, pool: int, stride: int, padding: str = "valid") -> Layer:
    kernel = _pair(pool)
    return Layer("max_pool", name, (x.name,), x.out_shape, (*_window(x, kernel, stride, padding), x.out_channels),
                 kernel=kernel, stride=stride, padding=padding)


def zero_pad(name: str, x: Layer, padding) -> Layer:
    (top, bottom), (left, right) = padding
    h, w, c = x.out_shape
    return Layer("pad", name, (x.name,), x.out_shape, (h + top + bottom, w + left + right, c), padding=padding)


def add(name: str, a: Layer, b: Layer, activation: str | None = None, activation_name: str = "") -> Layer:
    if a.out_shape != b.out_shape:
        raise ValueError(f"{name}: cannot add shapes {a.out_shape} and {b.out_shape}.")
    return Layer("add", name, (a.name, b.name), a.out_shape, a.out_shape, activation=activation,
                 activation_name=activation_name)


def concat(name: str, *parts: Layer) -> Layer:
    if len({p.out_shape[:-1] for p in parts}) != 1:
        raise ValueError(f"{name}: cannot concatenate shapes {[p.out_shape for p in parts]}.")
    shape = (*parts[0].out_shape[:-1], sum(p.out_channels for p in parts))
    return Layer("concat", name, tuple(p.name for p in parts), parts[0].out_shape, shape)


def dropout(name: str, x: Layer, rate: float) -> Layer:
    return Layer("dropout", name, (x.name,), x.out_shape, x.out_shape, rate=rate)


def global_pool(name: str, x: Layer, kind: str = "global_avg_pool") -> Layer:
    return Layer(kind, name, (x.name,), x.out_shape, (x.out_channels,))


def dense(name: str, x: Layer, units: int, bias: bool = True) -> Layer:
    return Layer("dense", name, (x.name,), x.out_shape, (units,), bias=bias)


def max_pool_ceil(name: str, x: Layer, pool: int = 3, stride: int = 2, ceil_padding: str = "end") -> list[Layer]:
    """Max pooling with ceil mode: an extra window where ``(size - k)`` is not a multiple of the stride.

    ``ceil_padding="end"`` is Caffe's, PyTorch's (``ceil_mode=True``) and MXNet's ("full" convention): the
    last window hangs over the bottom/right edge. For k=3, s=2 that is every even size, where TF's "same"
    padding (0 before, 1 after) gives the identical window set, padded cells ignored; odd sizes need no
    padding ("valid"). Height and width of different parity are padded explicitly with zeros, which is exact
    here because the pools follow a ReLU.

    ``ceil_padding="both"`` is osmr/imgclsmob's TensorFlow port (tf2cv ``MaxPool2d(ceil_mode=True)``): on an
    axis that needs the extra window it pads one zero on *each* side and pools "valid", so every window on
    that axis starts one cell earlier. Same output size, different windows: weights published by tf2cv
    reproduce tf2cv's outputs only with this alignment.
    """
    if ceil_padding not in CEIL_PADDINGS:
        raise ValueError(f"ceil_padding must be one of {CEIL_PADDINGS}, got {ceil_padding!r}.")
    height, width = x.out_shape[:2]
    extra_h = out_size(height, pool, stride, 0, True) - out_size(height, pool, stride)
    extra_w = out_size(width, pool, stride, 0, True) - out_size(width, pool, stride)
    if extra_h == extra_w == 0:
        return [max_pool(name, x, pool, stride, "valid")]
    if ceil_padding == "both":
        a, b = int(extra_h > 0), int(extra_w > 0)
        pad = zero_pad(name + "_pad", x, ((a, a), (b, b)))
        return [pad, max_pool(name, pad, pool, stride, "valid")]
    if extra_h == extra_w == 1 and (pool, stride) == (3, 2):
        return [max_pool(name, x, pool, stride, "same")]
    pad_h = (out_size(height, pool, stride, 0, True) - 1) * stride + pool - height
    pad_w = (out_size(width, pool, stride, 0, True) - 1) * stride + pool - width
    pad = zero_pad(name + "_pad", x, ((0, max(pad_h, 0)), (0, max(pad_w, 0))))
    return [pad, max_pool(name, pad, pool, stride, "valid")]


def feature_pooling(x: Layer, pooling: str | None) -> list[Block]:
    """keras.applications' ``pooling`` for ``include_top=False``: None, "avg" or "max"."""
    if pooling in ("avg", "max"):
        return [Block("pooling", "pooling", (global_pool(f"{pooling}_pool", x, f"global_{pooling}_pool"),))]
    return []


def of(family: str, input_shape, **config) -> Network:
    """The plan of a ``family`` ("squeezenet" or "squeezenext") network from its builder's structural
    arguments (a registry row's ``config``) and ``include_top``, ``pooling``, ``classes``: the ``network``
    function of the family's builder module."""
    import importlib

    from squeezekit.models import families

    module = families.family(family).builder_path.split(":")[0]
    return importlib.import_module(module).network(input_shape, **config)
