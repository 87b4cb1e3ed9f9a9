"""The SqueezeNext design space the search explores, and each candidate's network as TFLite-like op rows.

A ``Candidate`` is a full configuration of ``squeezekit.models.squeezenext.SqueezeNext`` (official convention):
blocks and width per stage, stem kernel, stride and filters, groups, 23/v5 wiring and where the first max-pool
goes. ``ops(candidate, size, classes)`` lists, without Keras, the ops the int8 .tflite of that model has
(BatchNorm folded and ReLUs fused, as the converter does), with the geometry ``converters.profiling.layers.read``
gives a real file: what the cost table and the accelerator simulator read, thousands of candidates a second.
The rows are read off the candidate's network plan (``squeezekit.models.plan``, the one the Keras builder
walks); ``tests/search`` holds them to the converted model, row by row.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from converters import counting
from converters.profiling.layers import Layer
from squeezekit.models import plan, squeezenext

STAGES = 4
# Choices per gene. Widths per stage bracket the paper's (32, 64, 128, 256) at 1.0 width.
CHOICES = dict(
    blocks=((1, 2, 3, 4, 5, 6, 7, 8), (1, 2, 3, 4, 5, 6, 7, 8), (2, 4, 6, 8, 10, 12, 14, 16, 18), (1, 2, 3)),
    widths=((16, 24, 32, 48), (32, 48, 64, 96), (64, 96, 128, 160, 192), (128, 192, 256, 320)),
    stem_kernel=(3, 5, 7),
    stem_stride=(2, 4),
    stem_filters=(32, 48, 64),
    groups=(1, 2),
    wiring=("23", "v5"),
    first_pool=("stem", "stage1"),
)


@dataclass(frozen=True)
class Candidate:
    blocks: tuple[int, ...] = (6, 6, 8, 1)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    stem_kernel: int = 7
    stem_stride: int = 2
    stem_filters: int = 64
    groups: int = 1
    wiring: str = "23"
    first_pool: str = "stem"
    final_filters: int = 128

    def builder_kwargs(self) -> dict:
        """Arguments of ``SqueezeNext`` (official convention) that build this candidate."""
        return dict(blocks=tuple(self.blocks), widths=tuple(self.widths), width_multiplier=1.0,
                    stem_kernel=self.stem_kernel, stem_stride=self.stem_stride, stem_filters=self.stem_filters,
                    final_filters=self.final_filters, groups=self.groups, wiring=self.wiring,
                    first_pool=self.first_pool, convention="official")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["blocks"], d["widths"] = list(self.blocks), list(self.widths)
        return d

    @classmethod
    def from_dict(cls, raw: dict) -> "Candidate":
        raw = dict(raw)
        raw["blocks"], raw["widths"] = tuple(raw["blocks"]), tuple(raw["widths"])
        return cls(**raw)

    @property
    def key(self) -> str:
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    def describe(self) -> str:
        g = f" g{self.groups}" if self.groups > 1 else ""
        pool = "" if self.first_pool == "stem" else f" pool@{self.first_pool}"
        return (f"blocks {'-'.join(map(str, self.blocks))} widths {'-'.join(map(str, self.widths))} "
                f"stem {self.stem_kernel}x{self.stem_kernel}/{self.stem_stride}x{self.stem_filters} "
                f"{self.wiring}{g}{pool}")


BASELINE = Candidate()  # 1.0-SqNxt-23, the official file
BASELINE_V5 = Candidate(blocks=(2, 4, 14, 1), stem_kernel=5, wiring="v5")  # 1.0-SqNxt-23v5


def min_input_size(c: Candidate) -> int:
    from squeezekit.models import families

    return families.family("squeezenext").min_size(c.builder_kwargs())


def network(c: Candidate, size: int = 224, classes: int = 1000) -> plan.Network:
    """The plan of candidate ``c`` at ``size`` x ``size`` with ``classes`` outputs."""
    return squeezenext.network((size, size, 3), classes=classes, **c.builder_kwargs())


def _row(op, layer: plan.Layer, *, macs=0, weights=0, weight_bytes=0) -> Layer:
    in_shape, out_shape = layer.in_shape, layer.out_shape
    elements = math.prod(out_shape)
    geometric = op in ("CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED")
    return Layer(index=0, op=op, layer=layer.name, input_shape=[1, *in_shape], output_shape=[1, *out_shape],
                 kernel=tuple(layer.kernel), stride=(layer.stride, layer.stride), groups=layer.groups,
                 in_channels=in_shape[-1] if geometric else 0, out_channels=out_shape[-1] if geometric else 0,
                 macs=macs, weights=weights, weight_bytes=weight_bytes,
                 input_bytes=len(layer.inputs) * math.prod(in_shape), output_bytes=elements, elements=elements,
                 dtype="INT8")


def rows(net: plan.Network) -> list[Layer]:
    """The int8 TFLite ops of plan ``net``, in order: convolutions with their BatchNorm folded into a bias and
    their ReLU fused, int8 kernels and int32 biases."""
    out = []
    for layer in net.layers:
        if layer.kind == "conv":  # BatchNorm folds into a bias: one per output channel
            out.append(_row("CONV_2D", layer, macs=layer.macs,
                            weights=counting.conv_weights(layer.kernel, layer.in_channels, layer.out_channels,
                                                          layer.groups),
                            weight_bytes=layer.kernel_params + 4 * layer.out_channels))
        elif layer.kind == "max_pool":
            out.append(_row("MAX_POOL_2D", layer))
        elif layer.kind == "add":
            out.append(_row("ADD", layer))
        elif layer.kind == "global_avg_pool":
            out.append(_row("MEAN", layer))
        elif layer.kind == "dense":
            bias = layer.out_channels if layer.bias else 0
            out.append(_row("FULLY_CONNECTED", layer, macs=layer.macs,
                            weights=counting.dense_weights(layer.in_channels, layer.out_channels, layer.bias),
                            weight_bytes=layer.kernel_params + 4 * bias))
        else:
            raise ValueError(f"op rows of plan layer {layer.name!r} ({layer.kind}) are not modelled; the search "
                             "lays out square inputs with official SqueezeNext blocks only.")
    last = net.layers[-1]
    out.append(_row("SOFTMAX", plan.Layer("activation", "predictions", (last.name,), last.out_shape, last.out_shape)))
    for i, r in enumerate(out):
        r.index = i
    return out


def ops(c: Candidate, size: int = 224, classes: int = 1000) -> list[Layer]:
    """The int8 TFLite ops of candidate ``c`` at ``size`` x ``size`` with ``classes`` outputs, in order."""
    return rows(network(c, size, classes))


def trainable_params(c: Candidate, classes: int = 1000) -> int:
    return network(c, max(64, min_input_size(c)), classes).trainable_params


def macs(c: Candidate, size: int = 224, classes: int = 1000) -> int:
    return network(c, size, classes).macs


# ---------------------------------------------------------------------------------------------------------------
# Sampling and mutation.

def _valid(c: Candidate) -> bool:
    try:
        squeezenext.block_plans(c.blocks, c.widths, 1.0, c.stem_filters, c.groups, c.wiring, "alternate",
                                "official")
    except ValueError:
        return False
    return True


def random_candidate(rng: np.random.Generator) -> Candidate:
    while True:
        c = Candidate(
            blocks=tuple(int(rng.choice(CHOICES["blocks"][s])) for s in range(STAGES)),
            widths=tuple(int(rng.choice(CHOICES["widths"][s])) for s in range(STAGES)),
            stem_kernel=int(rng.choice(CHOICES["stem_kernel"])),
            stem_stride=int(rng.choice(CHOICES["stem_stride"])),
            stem_filters=int(rng.choice(CHOICES["stem_filters"])),
            groups=int(rng.choice(CHOICES["groups"])),
            wiring=str(rng.choice(CHOICES["wiring"])),
            first_pool=str(rng.choice(CHOICES["first_pool"])),
        )
        if _valid(c):
            return c


def mutate(c: Candidate, rng: np.random.Generator) -> Candidate:
    """One gene changed to a neighbouring (or, for categorical genes, another) value."""
    while True:
        gene = str(rng.choice(["blocks", "blocks", "widths", "widths", "stem_kernel", "stem_stride",
                               "stem_filters", "groups", "wiring", "first_pool"]))
        if gene in ("blocks", "widths"):
            s = int(rng.integers(STAGES))
            options = CHOICES[gene][s]
            current = options.index(getattr(c, gene)[s]) if getattr(c, gene)[s] in options else 0
            step = int(rng.choice([-1, 1]))
            value = options[min(max(current + step, 0), len(options) - 1)]
            values = list(getattr(c, gene))
            values[s] = value
            new = replace(c, **{gene: tuple(values)})
        else:
            options = [v for v in CHOICES[gene] if v != getattr(c, gene)]
            new = replace(c, **{gene: type(getattr(c, gene))(rng.choice(options))})
        if new != c and _valid(new):
            return new


# ---------------------------------------------------------------------------------------------------------------
# Microcontroller memory: TFLM's arena and the file's bytes, estimated without converting.

# TFLM's persistent allocations (its arena tail) for a SqueezeNext int8 file, as the TFLM interpreter records
# them (``converters.profiling.tflm``; tflite-micro 0.dev20261023182759, reference kernels): an eval tensor
# per tensor, a node-and-registration struct per op, a TfLiteTensor (and its int8 quantization) per graph
# input and output, and the kernels' persistent data: a multiplier and a shift per output channel of each
# CONV_2D and of the classifier, plus a fixed part per convolution (its op data; the block's ADD, one per five
# convolutions in SqueezeNext, folds into it). The kernel part is a least-squares fit to 16 files (8
# candidates x 2 sizes and class counts; largest miss 44 bytes); the rest is exact.
TFLM_PER_TENSOR = 24
TFLM_PER_OP = 64
TFLM_IO = 2 * 64 + 64
TFLM_PER_CONV = 91
TFLM_PER_CHANNEL = 8
TFLM_FIXED = 382
# And what the interpreter's allocation record does not itemize (allocator and graph bookkeeping), fitted on
# 14 more files (7 candidates at 96/10 classes and 160/1000; largest miss 3 bytes).
TFLM_UNRECORDED_PER_OP = 24.675
TFLM_UNRECORDED = 514


def micro_arena(net: plan.Network, ops: list[Layer] | None = None) -> tuple[int, int]:
    """(activations, persistent) bytes TFLM needs for the int8 .tflite of ``net`` (plain form, no rewrite):
    the greedy plan of the tensor lifetimes (``converters.profiling.memory``, as TFLM plans its head) and the
    persistent tail from the per-allocation figures above. ``ops``: ``rows(net)``, when the caller has them."""
    from converters.profiling import memory

    layers = net.layers
    index = {layer.name: i for i, layer in enumerate(layers)}
    end = len(layers)  # the SOFTMAX after the last layer
    last = {name: i for i, layer in enumerate(layers) for name in layer.inputs}
    last[layers[-1].name] = end
    buffers = [memory.Buffer([-1], math.prod(net.input_shape), 0,
                             max((i for i, l in enumerate(layers) if l.inputs[0] not in index), default=0))]
    for i, layer in enumerate(layers):
        buffers.append(memory.Buffer([i], math.prod(layer.out_shape), i, last.get(layer.name, i)))
    buffers.append(memory.Buffer([end], math.prod(layers[-1].out_shape), end, end))
    _, head = memory.plan(buffers)
    ops = ops if ops is not None else rows(net)
    weighted = [r for r in ops if r.op in ("CONV_2D", "FULLY_CONNECTED")]
    tensors = len(ops) + 2 * len(weighted) + sum(r.op == "MEAN" for r in ops)  # activations, kernels, biases, axes
    tail = TFLM_PER_TENSOR * tensors + TFLM_PER_OP * len(ops) + TFLM_IO + TFLM_FIXED
    tail += round(TFLM_UNRECORDED_PER_OP * len(ops)) + TFLM_UNRECORDED
    tail += sum(TFLM_PER_CHANNEL * r.out_channels + (TFLM_PER_CONV if r.op == "CONV_2D" else 0) for r in weighted)
    return head, tail


# What an int8 .tflite holds beyond its weight and bias bytes: per output channel a float32 scale and an
# int64 zero point of the kernel, per-op tables and tensor names, and squeezekit's metadata (labels).
# Least-squares fit to 16 files (8 candidates x 96/10 classes and 160/1000, converted and with repeated vectors
# stored once as the export does; largest miss 12 KB).
FLASH_PER_CHANNEL = 5.28
FLASH_PER_OP = 366
FLASH_FIXED = 15844


def micro_flash(net: plan.Network, ops: list[Layer] | None = None) -> int:
    """Bytes of the int8 .tflite of ``net`` as squeezekit's export writes it (its flash; labels and the model
    card aside), estimated: weights and biases, per-channel scales and a per-op allowance (tables, names)."""
    ops = ops if ops is not None else rows(net)
    channels = sum(r.out_channels for r in ops if r.op == "CONV_2D")
    return round(sum(r.weight_bytes for r in ops) + FLASH_PER_CHANNEL * channels + FLASH_PER_OP * len(ops)
                 + FLASH_FIXED)
