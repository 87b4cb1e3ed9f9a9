"""Helpers shared by every model family: input validation, Caffe pooling, heads, weights.

Every builder in squeezekit takes a ``keras_module`` argument. Passing ``keras`` (the default) builds a
Keras 3 model; passing ``tf_keras`` builds the same graph with Keras 2, which is what
tensorflow-model-optimization needs (see ``squeezekit.models.twin``). Nothing here touches ``tf.keras``:
importing tfmot flips what that name means for the whole process.
"""

from __future__ import annotations

import json
import os
from typing import Iterable, Sequence

from squeezekit.errors import InputSizeError
from squeezekit.models import plan
from squeezekit.models.plan import out_size

# Conv/pool arithmetic used to find each model's minimum input size: (kernel, stride, pad, ceil_mode).
SpatialOp = tuple[int, int, int, bool]


def get_keras(keras_module=None):
    """Return the Keras module to build with: ``keras`` (Keras 3) unless another one is given."""
    if keras_module is None:
        import keras

        return keras
    if isinstance(keras_module, str):
        if keras_module in ("keras", "keras3"):
            import keras

            return keras
        if keras_module == "tf_keras":
            import tf_keras

            return tf_keras
        raise ValueError(f"keras_module must be 'keras' or 'tf_keras' (or the module itself), got {keras_module!r}.")
    return keras_module


def spatial_trace(size: int, ops: Iterable[SpatialOp]) -> list[int]:
    """Sizes after each op in ``ops``; a zero means the input was too small for that op."""
    sizes = []
    for kernel, stride, pad, ceil_mode in ops:
        size = out_size(size, kernel, stride, pad, ceil_mode)
        sizes.append(size)
        if size <= 0:
            break
    return sizes


def min_input_size(ops: Sequence[SpatialOp], limit: int = 4096) -> int:
    """Smallest square input for which every op in ``ops`` produces at least one output."""
    ops = list(ops)
    for size in range(1, limit):
        # A pooling or conv window must fit inside its (padded) input: every trace value >= 1.
        trace = spatial_trace(size, ops)
        if len(trace) == len(ops) and all(s >= 1 for s in trace):
            return size
    raise ValueError("no input size up to %d fits these ops" % limit)


def resolve_input(K, input_shape, input_tensor, default_size: int, min_size: int, model_label: str):
    """Validate ``input_shape``/``input_tensor`` and return the Keras input tensor (and the graph input).

    squeezekit models need static spatial dimensions: Caffe's ceil-mode pooling pads differently for odd
    and even sizes, so the graph depends on the size.
    """
    if input_tensor is not None:
        shape = tuple(input_tensor.shape[1:])
        if input_shape is not None and tuple(input_shape) != shape:
            raise ValueError(
                f"input_shape {tuple(input_shape)} does not match input_tensor's shape {shape}; pass one of them."
            )
        input_shape = shape
    if input_shape is None:
        input_shape = (default_size, default_size, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape}.")
    height, width, channels = input_shape
    if height is None or width is None:
        raise InputSizeError(
            f"{model_label} needs a static input size (Caffe ceil-mode pooling depends on it); "
            f"got {input_shape}. Pass input_shape=({default_size}, {default_size}, 3) or another fixed size."
        )
    if channels is None:
        raise ValueError(f"input_shape must give the number of channels, got {input_shape}.")
    if min(height, width) < min_size:
        raise InputSizeError(
            f"input size {height}x{width} is below {model_label}'s minimum of {min_size}x{min_size}; "
            f"use input_shape=({min_size}, {min_size}, {channels}) or larger."
        )
    if input_tensor is None:
        inputs = K.Input(shape=input_shape, name="input")
        return inputs, inputs
    if hasattr(K.utils, "get_source_inputs"):
        sources = K.utils.get_source_inputs(input_tensor)
        return input_tensor, sources[0] if len(sources) == 1 else sources
    return input_tensor, input_tensor


def max_pool_ceil(K, x, name: str, pool_size: int = 3, strides: int = 2, ceil_padding: str = "end"):
    """Max pooling with ceil mode on a Keras tensor (see ``plan.max_pool_ceil`` for the two paddings)."""
    layers = plan.max_pool_ceil(name, plan.source(x.shape[1:]), pool_size, strides, ceil_padding)
    return build_layers(K, layers, {plan.INPUT: x})


_INITIALIZERS = {"normal_0.01": lambda K: K.initializers.RandomNormal(mean=0.0, stddev=0.01)}


def _keras_layer(K, layer: plan.Layer):
    name = layer.name
    if layer.kind in ("conv", "dense"):
        init = _INITIALIZERS[layer.initializer](K) if layer.initializer in _INITIALIZERS else layer.initializer
        kwargs = dict(use_bias=layer.bias, name=name, **({"kernel_initializer": init} if init else {}))
        if layer.kind == "dense":
            return K.layers.Dense(layer.out_channels, **kwargs)
        return K.layers.Conv2D(layer.out_channels, layer.kernel, strides=layer.stride, padding=layer.padding,
                               groups=layer.groups, **kwargs)
    if layer.kind == "pad":
        return K.layers.ZeroPadding2D(layer.padding, name=name)
    if layer.kind == "max_pool":
        return K.layers.MaxPooling2D(layer.kernel, strides=layer.stride, padding=layer.padding, name=name)
    if layer.kind == "add":
        return K.layers.Add(name=name)
    if layer.kind == "concat":
        return K.layers.Concatenate(axis=-1, name=name)
    if layer.kind == "dropout":
        return K.layers.Dropout(layer.rate, name=name)
    if layer.kind == "global_avg_pool":
        return K.layers.GlobalAveragePooling2D(name=name)
    if layer.kind == "global_max_pool":
        return K.layers.GlobalMaxPooling2D(name=name)
    raise ValueError(f"plan layer {name!r} has unknown kind {layer.kind!r}; expected one of {plan.KINDS}.")


def build_layers(K, layers, tensors: dict, bn_epsilon: float = 1e-3, bn_momentum: float = 0.99):
    """Create the Keras layers of plan ``layers`` in order, reading ``tensors`` (plan name -> tensor, updated
    with each layer's output); returns the last output."""
    for layer in layers:
        inputs = [tensors[n] for n in layer.inputs]
        y = _keras_layer(K, layer)(inputs if layer.kind in ("add", "concat") else inputs[0])
        if layer.batchnorm:
            y = K.layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=layer.name + "_bn")(y)
        if layer.activation == "relu":
            y = K.layers.ReLU(name=layer.act_name)(y)
        elif layer.activation:
            y = K.layers.Activation(layer.activation, name=layer.act_name)(y)
        tensors[layer.name] = y
    return y


def build_network(K, network: plan.Network, x):
    """The Keras layers of ``network`` on input tensor ``x``, one group per plan layer in plan order (the
    order their weights are created, which the tf_keras twin and the tf2cv import rely on)."""
    return build_layers(K, network.layers, {plan.INPUT: x}, network.bn_epsilon, network.bn_momentum)


def check_common_args(include_top, weights, pooling, classes, classifier_activation):
    """keras.applications-style argument checks, with errors that say what to pass instead."""
    if not isinstance(include_top, bool):
        raise ValueError(f"include_top must be True or False, got {include_top!r}.")
    if weights is not None:
        if not isinstance(weights, (str, os.PathLike)):
            raise ValueError(f"weights must be None or a path to a weights file, got {weights!r}.")
        if str(weights) == "imagenet":
            raise ValueError(
                "the builders take a weights path; squeezekit.build(NAME, weights='imagenet') fetches a model's "
                "published ImageNet weights (or pass a tf2cv .tf2.h5, a .weights.h5 or a .keras file)."
            )
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"weights file not found: {weights}. Pass an existing .weights.h5 or .keras path.")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max', got {pooling!r}.")
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}.")
    if classifier_activation is not None and not isinstance(classifier_activation, str) and not callable(
        classifier_activation
    ):
        raise ValueError(f"classifier_activation must be None, a name such as 'softmax', or a callable.")


def feature_pooling(K, x, pooling):
    """The ``pooling`` argument of keras.applications for ``include_top=False``."""
    if pooling == "avg":
        return K.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return K.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def classifier_output(K, x, classifier_activation):
    """Apply ``classifier_activation`` as its own named layer (None keeps the logits)."""
    if classifier_activation is None:
        return x
    return K.layers.Activation(classifier_activation, name="predictions")(x)


def load_weights(model, weights) -> None:
    """Load weights into a freshly built model, with a clear one-line error on mismatch.

    ``weights`` is a ``.weights.h5`` or ``.keras`` file saved by Keras, or a tf2cv ``.tf2.h5`` file
    (osmr/imgclsmob's TensorFlow 2 weights; see ``squeezekit.weights``), which needs a model built with
    ``convention="imgclsmob"``.
    """
    if weights is None:
        return
    from squeezekit.weights import tf2cv

    if tf2cv.looks_like_tf2cv(weights):
        record = json.loads(getattr(model, BUILD_RECORD_ATTR, None) or "{}").get("kwargs", {})
        convention = record.get("convention")
        if convention is not None and convention != "imgclsmob":
            raise ValueError(
                f"{weights} holds tf2cv (osmr/imgclsmob) weights, which need convention='imgclsmob', not "
                f"{convention!r}: squeezekit.build(NAME, convention='imgclsmob', weights=...)."
            )
        tf2cv.load_tf2cv(model, weights, expected_name=tf2cv.tf2cv_name_for(model.name))
        return
    try:
        model.load_weights(weights)
    except (ValueError, KeyError, OSError) as err:  # Keras reports mismatches as ValueError deep inside h5.
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"could not load weights from {weights} into {model.name}: {first}. "
            "Build the model with the same name, classes and structural arguments as the file was saved with."
        ) from None


BUILD_RECORD_ATTR = "_squeezekit_build"  # a JSON string: not tracked by Keras, not saved with the model


def record_build(model, family: str, args: dict, input_tensor=None) -> None:
    """Remember the builder and arguments of ``model`` so that its tf_keras twin can be rebuilt.

    Only JSON-able arguments are recorded; a model built on a non-Input tensor or with a callable
    activation gets no record (``to_tf_keras`` then asks for the configuration explicitly).
    """
    if input_tensor is not None and model.inputs[0] is not input_tensor:
        return
    record = {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.items()}
    record["input_shape"] = [int(d) for d in model.inputs[0].shape[1:]]
    record["name"] = model.name
    try:
        text = json.dumps({"builder": family, "kwargs": record})
    except TypeError:
        return
    object.__setattr__(model, BUILD_RECORD_ATTR, text)
