"""The SqueezeNext design space the search explores, and each candidate's network as TFLite-like op rows.

A ``Candidate`` is a full configuration of ``squeezekit.models.squeezenext.SqueezeNext`` (official convention):
blocks and width per stage, stem kernel, stride and filters, groups, 23/v5 wiring and where the first max-pool
goes. ``ops(candidate, size, classes)`` lists, without Keras, the ops the int8 .tflite of that model has
(BatchNorm folded and ReLUs fused, as the converter does), with the geometry ``converters.profiling.layers.read``
gives a real file: what the cost table and the accelerator simulator read, thousands of candidates a second.
``tests/search`` holds it to the converted model, row by row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

import numpy as np

from converters.profiling.layers import Layer
from squeezekit.models import common, squeezenext

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


def _row(op, name, in_shape, out_shape, *, kernel=(1, 1), stride=(1, 1), groups=1, macs=0, weights=0,
         weight_bytes=0, inputs=1) -> Layer:
    elements = int(np.prod(out_shape))
    return Layer(index=0, op=op, layer=name, input_shape=[1, *in_shape], output_shape=[1, *out_shape],
                 kernel=tuple(kernel), stride=tuple(stride), groups=groups,
                 in_channels=in_shape[-1] if op in ("CONV_2D", "MAX_POOL_2D") else 0,
                 out_channels=out_shape[-1] if op in ("CONV_2D", "MAX_POOL_2D") else 0,
                 macs=macs, weights=weights, weight_bytes=weight_bytes,
                 input_bytes=inputs * int(np.prod(in_shape)), output_bytes=elements, elements=elements, dtype="INT8")


def _conv(name, hw, cin, cout, kernel, stride=1, groups=1, padding="same"):
    kh, kw = kernel
    h, w = hw
    if padding == "same":
        ho, wo = -(-h // stride), -(-w // stride)
    else:
        ho, wo = common.out_size(h, kh, stride), common.out_size(w, kw, stride)
    k = kh * kw * (cin // groups) * cout
    row = _row("CONV_2D", name, (h, w, cin), (ho, wo, cout), kernel=(kh, kw), stride=(stride, stride),
               groups=groups, macs=ho * wo * k, weights=k + cout, weight_bytes=k + 4 * cout)
    row.in_channels, row.out_channels = cin, cout
    return row, (ho, wo)


def _pool(name, hw, channels):
    h, w = hw
    ho, wo = common.out_size(h, 3, 2, 0, True), common.out_size(w, 3, 2, 0, True)
    row = _row("MAX_POOL_2D", name, (h, w, channels), (ho, wo, channels), kernel=(3, 3), stride=(2, 2))
    return row, (ho, wo)


def ops(c: Candidate, size: int = 224, classes: int = 1000) -> list[Layer]:
    """The int8 TFLite ops of candidate ``c`` at ``size`` x ``size`` with ``classes`` outputs, in order."""
    plans = squeezenext.block_plans(c.blocks, c.widths, 1.0, c.stem_filters, c.groups, c.wiring, "alternate",
                                    "official")
    rows = []
    row, hw = _conv("stem_conv", (size, size), 3, c.stem_filters, (c.stem_kernel,) * 2, c.stem_stride,
                    padding="valid")
    rows.append(row)
    channels = c.stem_filters
    if c.first_pool == "stem":
        row, hw = _pool("stem_pool", hw, channels)
        rows.append(row)
    for i, p in enumerate(plans):
        start_hw = hw
        if p.project:
            row, proj_hw = _conv(p.name + "_proj", hw, p.in_channels, p.out_channels, (1, 1), p.stride)
            rows.append(row)
        if p.branch_reads_projection:
            branch_hw, branch_in, stride = proj_hw, p.out_channels, 1
        else:
            branch_hw, branch_in, stride = start_hw, p.in_channels, p.stride
        row, y = _conv(p.name + "_squeeze_a", branch_hw, branch_in, p.squeeze_a, (1, 1), stride, c.groups)
        rows.append(row)
        row, y = _conv(p.name + "_squeeze_b", y, p.squeeze_a, p.squeeze_b, (1, 1))
        rows.append(row)
        row, y = _conv(p.name + "_sep_a", y, p.squeeze_b, p.separable, p.first_kernel, 1, c.groups)
        rows.append(row)
        row, y = _conv(p.name + "_sep_b", y, p.separable, p.separable, p.first_kernel[::-1], 1, c.groups)
        rows.append(row)
        row, y = _conv(p.name + "_expand", y, p.separable, p.out_channels, (1, 1))
        rows.append(row)
        rows.append(_row("ADD", p.name + "_add", (*y, p.out_channels), (*y, p.out_channels), inputs=2))
        hw, channels = y, p.out_channels
        last_of_stage1 = p.name.startswith("stage1_") and (i + 1 == len(plans) or
                                                            not plans[i + 1].name.startswith("stage1_"))
        if c.first_pool == "stage1" and last_of_stage1:
            row, hw = _pool("stage1_pool", hw, channels)
            rows.append(row)
    row, hw = _conv("final_conv", hw, channels, c.final_filters, (1, 1))
    rows.append(row)
    rows.append(_row("MEAN", "avg_pool", (*hw, c.final_filters), (c.final_filters,)))
    k = c.final_filters * classes
    fc = _row("FULLY_CONNECTED", "fc", (c.final_filters,), (classes,), macs=k, weights=k, weight_bytes=k)
    fc.in_channels, fc.out_channels = c.final_filters, classes
    rows.append(fc)
    rows.append(_row("SOFTMAX", "predictions", (classes,), (classes,)))
    for i, r in enumerate(rows):
        r.index = i
    return rows


def params_of(rows: list[Layer]) -> int:
    """Trainable parameters of the Keras model behind ``ops`` rows (at any size): conv kernels (no bias), BN
    gamma and beta, the FC (no bias)."""
    total = 0
    for r in rows:
        if r.op == "CONV_2D":
            total += r.weights - r.out_channels + 2 * r.out_channels  # kernel + BN gamma/beta (the bias is folded BN)
        elif r.op == "FULLY_CONNECTED":
            total += r.weights
    return total


def trainable_params(c: Candidate, classes: int = 1000) -> int:
    return params_of(ops(c, max(64, min_input_size(c)), classes))


def macs(c: Candidate, size: int = 224, classes: int = 1000) -> int:
    return sum(r.macs for r in ops(c, size, classes))


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
