"""Reference outputs from tf2cv itself, for the weights-import parity tests. Runs in its own process.

tf2cv's models are subclassed ``tf.keras`` models that only build under legacy Keras, so this script sets
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported (the test runs it with ``subprocess``). For each model
it builds tf2cv's network at 224x224, gives every variable seeded random values (BatchNorm statistics included:
default ones would hide a mix-up of moving mean and variance), saves the weights with tf2cv's save path
(``save_weights`` to a ``.tf2.h5``, as its model store's files were written) and records the logits on the
given inputs.

    python tf2cv_reference.py INPUTS.npy OUT_DIR MODEL [MODEL ...]

writes OUT_DIR/MODEL.tf2.h5 and OUT_DIR/MODEL.logits.npy for each MODEL.
"""

import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tf2cv.model_provider import get_model  # noqa: E402


def randomize(net, seed: int) -> None:
    """Seeded values for every variable, at scales that keep activations and the softmax non-degenerate.

    With ``TF2CV_INIT=he`` in the environment, He-normal kernels and neutral biases and BatchNorm instead: a
    network whose deep features still tell images apart (the fine-tuning test starts from one)."""
    rng = np.random.default_rng(seed)
    he = os.environ.get("TF2CV_INIT") == "he"
    for var in net.weights:
        name, shape = var.name, tuple(var.shape)
        if he:
            if name.endswith("kernel:0"):
                value = rng.normal(0.0, np.sqrt(2.0 / int(np.prod(shape[:-1]))), shape)
            else:
                value = np.ones(shape) if name.endswith(("gamma:0", "moving_variance:0")) else np.zeros(shape)
        elif name.endswith("kernel:0"):
            fan_in = int(np.prod(shape[:-1]))
            value = rng.normal(0.0, np.sqrt(1.0 / fan_in), shape)
        elif name.endswith("gamma:0"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("moving_variance:0"):
            value = rng.uniform(0.5, 2.0, shape)
        elif name.endswith(("beta:0", "bias:0", "moving_mean:0")):
            value = rng.normal(0.0, 0.1, shape)
        else:
            raise SystemExit(f"unexpected variable {name}")
        var.assign(value.astype(np.float32))


def main(argv):
    inputs_path, out_dir, names = argv[1], argv[2], argv[3:]
    x = np.load(inputs_path)
    assert "tf_keras" in type(tf.keras.Model).__module__ or "tf_keras" in tf.keras.Model.__module__, tf.keras.Model
    for i, name in enumerate(names):
        net = get_model(name, pretrained=False)
        net.build((1, 224, 224, 3))
        randomize(net, seed=100 + i)
        if os.environ.get("TF2CV_INIT") == "he":
            # BatchNorm statistics of these inputs, as training would leave them: the moving averages of the
            # batch statistics converge to them after enough training-mode passes.
            for _ in range(40):
                net(x, training=True)
        # Scale the classifier so that the logits spread by about 2: neither a flat nor a saturated softmax, so
        # a 1e-5 softmax tolerance tests something. (SqueezeNet's head is conv -> ReLU -> pool: scale its kernel
        # and bias alike; SqueezeNext's is a Dense.)
        logits = np.asarray(net(x, training=False))
        scale = 2.0 / max(float(logits.std()), 1e-6)
        for var in net.weights:
            if var.name.startswith("output1"):
                var.assign(var * scale)
        logits = np.asarray(net(x, training=False))
        net.save_weights(os.path.join(out_dir, f"{name}.tf2.h5"))
        np.save(os.path.join(out_dir, f"{name}.logits.npy"), logits)
        print(name, logits.shape, flush=True)


if __name__ == "__main__":
    main(sys.argv)
