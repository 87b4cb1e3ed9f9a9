"""Helpers shared by every model family: input validation, Caffe pooling, heads, weights.

Every builder in squeezekit takes a ``keras_module`` argument. Passing ``keras`` (the default) builds a
Keras 3 model; passing ``tf_keras`` builds the same graph with Keras 2, which is what
tensorflow-model-optimization needs (see ``squeezekit.models.twin``). Nothing here touches ``tf.keras``:
importing tfmot flips what that name means for the whole process.
"""

from __future__ import annotations

import json
import math
import os
from typing import Iterable, Sequence

from squeezekit.errors import InputSizeError

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


def is_tf_keras(K) -> bool:
    return K.__name__.split(".")[0] == "tf_keras"


def out_size(size: int, kernel: int, stride: int, pad: int = 0, ceil_mode: bool = False) -> int:
    """Output length of a convolution or pooling window along one axis (Caffe arithmetic)."""
    span = size + 2 * pad - kernel
    if span < 0:
        return 0
    steps = math.ceil(span / stride) if ceil_mode else span // stride
    return steps + 1


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


CEIL_PADDINGS = ("end", "both")


def max_pool_ceil(K, x, name: str, pool_size: int = 3, strides: int = 2, ceil_padding: str = "end"):
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
    height, width = int(x.shape[1]), int(x.shape[2])
    extra_h = out_size(height, pool_size, strides, 0, True) - out_size(height, pool_size, strides)
    extra_w = out_size(width, pool_size, strides, 0, True) - out_size(width, pool_size, strides)
    if extra_h == extra_w == 0:
        padding = "valid"
    elif ceil_padding == "both":
        x = K.layers.ZeroPadding2D((int(extra_h > 0), int(extra_w > 0)), name=name + "_pad")(x)
        padding = "valid"
    elif extra_h == extra_w == 1 and (pool_size, strides) == (3, 2):
        padding = "same"
    else:
        pad_h = (out_size(height, pool_size, strides, 0, True) - 1) * strides + pool_size - height
        pad_w = (out_size(width, pool_size, strides, 0, True) - 1) * strides + pool_size - width
        x = K.layers.ZeroPadding2D(((0, max(pad_h, 0)), (0, max(pad_w, 0))), name=name + "_pad")(x)
        padding = "valid"
    return K.layers.MaxPooling2D(pool_size, strides=strides, padding=padding, name=name)(x)


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
