"""Multiply-accumulates and weights of convolution and fully connected layers, from their shapes.

The one place MACs are counted: the Keras accounting (``squeezekit.models.accounting``), the network plan
(``squeezekit.models.plan``), the search's op rows and the .tflite layer table (``converters.profiling.layers``)
all call these. The convention is the reference tables': only convolution and fully connected
multiply-accumulates count (biases, BatchNorm, pooling, adds and activations are free), so a convolution
costs H_out * W_out * k_h * k_w * (C_in / groups) * C_out and a fully connected layer C_in * C_out per row.
Standard library only: the library below squeezekit and the application above it both import it.
"""

from __future__ import annotations

import math
from typing import Iterable


def _positions(output_positions: int | Iterable[int]) -> int:
    if isinstance(output_positions, int):
        return output_positions
    return math.prod(int(d) for d in output_positions)


def conv_kernel(kernel: Iterable[int], in_channels: int, out_channels: int, groups: int = 1) -> int:
    """Kernel elements of a (grouped) convolution of any rank: k_1 * ... * k_n * (C_in / groups) * C_out."""
    return math.prod(int(k) for k in kernel) * (int(in_channels) // int(groups)) * int(out_channels)


def conv_macs(output_positions: int | Iterable[int], kernel: Iterable[int], in_channels: int, out_channels: int,
              groups: int = 1) -> int:
    """MACs of a (grouped) convolution whose output has ``output_positions`` spatial positions (a count, or the
    output's spatial dimensions)."""
    return _positions(output_positions) * conv_kernel(kernel, in_channels, out_channels, groups)


def depthwise_macs(output_positions: int | Iterable[int], kernel: Iterable[int], in_channels: int,
                   multiplier: int = 1) -> int:
    """MACs of a depthwise convolution: a grouped one with one group per input channel."""
    return conv_macs(output_positions, kernel, in_channels, in_channels * multiplier, groups=in_channels)


def dense_macs(in_features: int, out_features: int, rows: int = 1) -> int:
    """MACs of a fully connected layer applied to ``rows`` rows."""
    return int(rows) * int(in_features) * int(out_features)


def conv_weights(kernel: Iterable[int], in_channels: int, out_channels: int, groups: int = 1,
                 bias: bool = True) -> int:
    """Weights of a convolution: its kernel, plus one bias per output channel when it has a bias."""
    return conv_kernel(kernel, in_channels, out_channels, groups) + (int(out_channels) if bias else 0)


def dense_weights(in_features: int, out_features: int, bias: bool = True) -> int:
    return int(in_features) * int(out_features) + (int(out_features) if bias else 0)


def batchnorm_weights(channels: int) -> tuple[int, int]:
    """(trainable, total) weights of a BatchNorm: gamma and beta train, the moving mean and variance do not."""
    return 2 * channels, 4 * channels
