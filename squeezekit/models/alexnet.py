"""AlexNet as Caffe's bvlc_alexnet defines it: the baseline SqueezeNet and SqueezeNext compare against.

Reference: Krizhevsky, Sutskever and Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, in the single-tower form of BVLC's Caffe model (``models/bvlc_alexnet``), which keeps
the two-GPU split as ``group: 2`` on conv2, conv4 and conv5. This is a reference builder for cost
comparisons (the accelerator benchmark); it is not in the registry and ships no weights.

Network (227x227 input)::

    conv1  11x11/4, 96, ReLU              -> 55x55   pool1 3x3/2 -> 27x27
    conv2  5x5, pad 2, 256, groups 2, ReLU -> 27x27   pool2 3x3/2 -> 13x13
    conv3  3x3, pad 1, 384, ReLU
    conv4  3x3, pad 1, 384, groups 2, ReLU
    conv5  3x3, pad 1, 256, groups 2, ReLU -> 13x13   pool5 3x3/2 -> 6x6
    fc6 4096, ReLU, dropout 0.5 -> fc7 4096, ReLU, dropout 0.5 -> fc8 (classes) -> softmax

Caffe's local response normalization after conv1 and conv2 (norm1, norm2) is left out: it has no
weights and no multiply-accumulates, so it changes neither count, and TFLite has no int8 kernel for it.
Pools are Caffe's ceil mode (the same windows as floor mode at 227). Parameters: 60,965,224 (weights and
biases); MACs at 227: 724,406,816.
"""

from __future__ import annotations

from squeezekit.models import common

# (name, filters, kernel, stride, groups); "same" padding gives Caffe's pads (2 for 5x5, 1 for 3x3).
CONVS = (
    ("conv1", 96, 11, 4, 1),
    ("conv2", 256, 5, 1, 2),
    ("conv3", 384, 3, 1, 1),
    ("conv4", 384, 3, 1, 2),
    ("conv5", 256, 3, 1, 2),
)
POOL_AFTER = ("conv1", "conv2", "conv5")
FC_UNITS = (4096, 4096)
SPATIAL_OPS: list[common.SpatialOp] = [(11, 4, 0, False), (3, 2, 0, True), (3, 2, 0, True), (3, 2, 0, True)]


def min_input_size() -> int:
    return common.min_input_size(SPATIAL_OPS)


def AlexNet(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="alexnet",
    *,
    dropout=0.5,
    keras_module=None,
):
    """Build Caffe's bvlc_alexnet (without LRN) as a Keras functional model.

    Args:
        include_top: whether to include fc6, fc7 and fc8. The fully connected layers fix the input size:
            with them, any input other than one that pools to 6x6 (e.g. 227x227) gives a different fc6.
        weights: None (random initialization) or a path to a ``.weights.h5`` / ``.keras`` file.
        input_tensor: optional Keras tensor to use as the model's input.
        input_shape: (height, width, channels); defaults to 227x227x3, Caffe's crop.
        pooling: with ``include_top=False``: None (4D pool5 features), "avg" or "max" (global pooling).
        classes: number of classes of fc8.
        classifier_activation: activation on the output; None returns fc8's logits.
        name: model name.
        dropout: dropout rate after fc6 and fc7.
        keras_module: ``keras`` (default) or ``tf_keras``.
    """
    K = common.get_keras(keras_module)
    common.check_common_args(include_top, weights, pooling, classes, classifier_activation)
    x, inputs = common.resolve_input(K, input_shape, input_tensor, 227, min_input_size(), "AlexNet")
    for layer, filters, kernel, stride, groups in CONVS:
        x = K.layers.Conv2D(filters, kernel, strides=stride, padding="valid" if stride > 1 else "same",
                            groups=groups, name=layer)(x)
        x = K.layers.ReLU(name=layer + "_relu")(x)
        if layer in POOL_AFTER:
            x = common.max_pool_ceil(K, x, "pool" + layer[-1])
    if include_top:
        x = K.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(FC_UNITS, start=6):
            x = K.layers.Dense(units, name=f"fc{i}")(x)
            x = K.layers.ReLU(name=f"fc{i}_relu")(x)
            x = K.layers.Dropout(dropout, name=f"drop{i}")(x)
        x = K.layers.Dense(classes, name="fc8")(x)
        x = common.classifier_output(K, x, classifier_activation)
    else:
        x = common.feature_pooling(K, x, pooling)
    model = K.Model(inputs, x, name=name)
    common.load_weights(model, weights)
    return model
