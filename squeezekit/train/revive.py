"""A training-time safeguard for SqueezeNet's classifier: bring back class channels that died.

SqueezeNet classifies with conv10 (one channel per class) -> ReLU -> global average pool -> softmax, and has
no BatchNorm. A class channel whose pre-ReLU output is <= 0 at every position for every input passes no
gradient, so nothing in training can raise it again: the class is never predicted. At 32x32 conv10 sees a
1x1 map, so a channel is a single ReLU unit: at initialization (zero bias, non-negative fire9 features with a
large common part) about half the class channels are already dead, and more die in the first epochs; on
digits this left runs at 0.10-0.90 top-1 where a run without dead classes reaches 0.97-0.99.

``ReviveDeadClasses`` checks a fixed probe of training images when training starts and after every epoch,
and raises the bias of each dead channel until it is positive, by ``margin``, on every probe image of its own
class; from there the gradient trains it like any other. The architecture and a healthy channel are left as
they are.
"""

from __future__ import annotations

import keras
import numpy as np

HEAD_LAYER = "conv10"


def has_relu_head(model, layer: str = HEAD_LAYER) -> bool:
    """Whether ``model`` ends in SqueezeNet's ``conv10`` -> ReLU classifier (the kind whose classes can die)."""
    names = {lay.name for lay in model.layers}
    return layer in names and f"{layer}_relu" in names


class ReviveDeadClasses(keras.callbacks.Callback):
    """Revive the dead class channels of a ``conv10`` -> ReLU head, at the start and after every epoch.

    ``dataset`` yields (images, one-hot labels) batches of training data (never the validation data); the first
    ``probe_size`` images are kept as the probe. Put it before ``BackupAndRestore`` so that backups hold the
    revived weights, and pass ``at_start=False`` when resuming (the restored weights were checked). ``log``
    (e.g. ``print``) reports each revival; ``revived`` lists (epoch, classes), epoch -1 before training.
    """

    def __init__(self, dataset, layer: str = HEAD_LAYER, probe_size: int = 256, margin: float = 0.5,
                 at_start: bool = True, log=None):
        super().__init__()
        self.dataset, self.layer, self.probe_size, self.margin, self.log = dataset, layer, probe_size, margin, log
        self.at_start = at_start
        self.revived = []
        self._probe = None
        self._pre = None

    def _take_probe(self):
        xs, ys, count = [], [], 0
        for x, y in self.dataset:
            xs.append(np.asarray(x))
            ys.append(np.asarray(y).argmax(-1))
            count += len(xs[-1])
            if count >= self.probe_size:
                break
        return np.concatenate(xs)[: self.probe_size], np.concatenate(ys)[: self.probe_size]

    def check(self, epoch: int) -> list[int]:
        """Revive the channels that are dead on the whole probe; return their class indices."""
        if self._probe is None:
            self._probe = self._take_probe()
        if self._pre is None:
            self._pre = keras.Model(self.model.input, self.model.get_layer(self.layer).output)
        x, labels = self._probe
        # (images, classes): each image's best position, in chunks of 64 images to bound memory at large sizes
        # keras.ops.convert_to_numpy: a PyTorch tensor needs detaching first (any Keras backend works here)
        pre = np.concatenate([keras.ops.convert_to_numpy(self._pre(x[i:i + 64], training=False)).max(axis=(1, 2))
                              for i in range(0, len(x), 64)])
        dead = np.flatnonzero(pre.max(axis=0) <= 0)
        if not len(dead):
            return []
        bias = self.model.get_layer(self.layer).bias
        values = np.array(keras.ops.convert_to_numpy(bias))
        for c in dead:
            own = pre[labels == c, c]
            values[c] += self.margin - (own if len(own) else pre[:, c]).min()
        bias.assign(values)
        self.revived.append((epoch, dead.tolist()))
        if self.log:
            when = "before training" if epoch < 0 else f"after epoch {epoch + 1}"
            self.log(f"revived dead {self.layer} class channel(s) {', '.join(map(str, dead))} {when} "
                     f"(0 on all {len(x)} probe images)")
        return dead.tolist()

    def on_train_begin(self, logs=None):
        if self.at_start:
            self.check(-1)

    def on_epoch_end(self, epoch, logs=None):
        self.check(epoch)
