"""Per-layer parameters, multiply-accumulates and output shapes of a built model.

MACs count convolution and fully connected multiply-accumulates only (the convention of the reference
tables), with ``converters.counting``'s arithmetic: a convolution costs H_out * W_out * k_h * k_w *
(C_in / groups) * C_out, a depthwise one H_out * W_out * k_h * k_w * C_in * multiplier, a dense layer
C_in * C_out. Biases, BatchNorm, pooling, adds and activations are free. Works on Keras 3 and tf_keras models
alike, squeezekit's or not; a squeezekit network's plan (``squeezekit.models.plan``) gives the same totals
without building it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from converters import counting


@dataclass
class LayerStats:
    name: str
    kind: str  # the Keras class name
    output_shape: tuple
    params: int  # all weights, trainable or not
    trainable_params: int
    macs: int
    kernel_params: int = 0  # conv / dense kernel elements (what int8 stores at one byte each)
    bias_params: int = 0  # per-output-channel terms left after folding BatchNorm into the layer


@dataclass
class ModelStats:
    name: str
    input_shape: tuple
    layers: list[LayerStats] = field(default_factory=list)

    @property
    def params(self) -> int:
        return sum(l.params for l in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(l.trainable_params for l in self.layers)

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def float32_weight_bytes(self) -> int:
        """Weights of the inference graph in float32: kernels plus one bias per output (BN folded)."""
        return 4 * sum(l.kernel_params + l.bias_params for l in self.layers)

    @property
    def int8_weight_bytes(self) -> int:
        """Estimate for full-integer TFLite: int8 kernels, int32 biases; quantization parameters excluded."""
        return sum(l.kernel_params + 4 * l.bias_params for l in self.layers)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(
            params=self.params,
            trainable_params=self.trainable_params,
            macs=self.macs,
            float32_weight_bytes=self.float32_weight_bytes,
            int8_weight_bytes=self.int8_weight_bytes,
        )
        return out


def _count(weights) -> int:
    return int(sum(math.prod(int(d) for d in w.shape) for w in weights))


def _shape(tensor_shape) -> tuple:
    return tuple(None if d is None else int(d) for d in tensor_shape)


def _output_shape(layer) -> tuple:
    out = layer.output
    if isinstance(out, (list, tuple)):
        return tuple(_shape(o.shape) for o in out)
    return _shape(out.shape)


def _spatial(shape) -> int:
    return math.prod(d for d in shape[1:-1] if d is not None) if len(shape) > 2 else 1


def layer_stats(layer) -> LayerStats:
    kind = type(layer).__name__
    out_shape = _output_shape(layer)
    macs = kernel = bias = 0
    if kind in ("Conv2D", "Conv1D", "Conv3D", "DepthwiseConv2D", "Dense"):
        # tf_keras names the depthwise weight depthwise_kernel, Keras 3 names it kernel.
        shape = [int(d) for d in (layer.depthwise_kernel if hasattr(layer, "depthwise_kernel") else layer.kernel).shape]
        if kind == "Dense":
            macs = counting.dense_macs(shape[0], shape[1], rows=_spatial(out_shape))
        elif kind == "DepthwiseConv2D":  # kernel (k_h, k_w, C_in, multiplier)
            macs = counting.depthwise_macs(_spatial(out_shape), shape[:-2], shape[-2], shape[-1])
        else:  # kernel (k..., C_in / groups, C_out)
            groups = int(getattr(layer, "groups", 1) or 1)
            macs = counting.conv_macs(_spatial(out_shape), shape[:-2], shape[-2] * groups, shape[-1], groups)
        kernel = math.prod(shape)
        bias = int(out_shape[-1])
    elif kind == "BatchNormalization":
        bias = 0  # folded into the previous layer's bias, already counted there
    return LayerStats(
        name=layer.name,
        kind=kind,
        output_shape=out_shape,
        params=_count(layer.weights),
        trainable_params=_count(layer.trainable_weights),
        macs=int(macs),
        kernel_params=int(kernel),
        bias_params=int(bias),
    )


def model_stats(model) -> ModelStats:
    """Walk ``model`` (nested models included) and return its per-layer and total figures."""
    stats = ModelStats(name=model.name, input_shape=_shape(model.inputs[0].shape))

    def walk(m):
        for layer in m.layers:
            if hasattr(layer, "layers") and type(layer).__name__ in ("Functional", "Sequential", "Model"):
                walk(layer)
            elif type(layer).__name__ != "InputLayer":
                stats.layers.append(layer_stats(layer))

    walk(model)
    return stats
