"""Keras 3 ``fit`` and ``evaluate`` under ``tf.distribute.MultiWorkerMirroredStrategy``.

Before its first step, Keras 3's TensorFlow trainer (``TensorFlowTrainer._maybe_symbolic_build``, up to at least
3.15) takes one batch from the distributed dataset and, to learn the input shapes, reduces the whole ``(x, y)``
structure of ``PerReplica`` values with ``strategy.reduce("MEAN", batch, axis=None)``. MirroredStrategy accepts
that; MultiWorkerMirroredStrategy's collective reduce takes one value, not a structure, and fails with
``Attempt to convert a value (PerReplica:{...}) ... to a Tensor`` (compare keras-team/keras#20585). Only the shapes and
dtypes of that batch are used, so ``allow_multi_worker`` gives the model a build step that reads them from the
worker's own first replica: no reduce and no collective op.

Then every step averages its logs (loss and metric values, scalars) over the workers with
``strategy.reduce("MEAN", value, axis=0)`` (``reduce_per_replica``), which fails on a scalar (``Invalid
reduction dimension 0 for input with 0 dimensions``). So ``train_step`` and ``test_step`` return each scalar as a
vector of one: the reduce then takes the mean over the workers' values, a scalar again, as Keras means it to.
"""

from __future__ import annotations


def check_backend(strategy: str) -> None:
    """A ``RunError`` for a tf.distribute ``strategy`` other than the default under a Keras backend other than
    TensorFlow's: JAX and PyTorch ignore tf.distribute, so the run would train on one device as if asked to."""
    import keras

    from squeezekit.errors import RunError

    backend = keras.backend.backend()
    if strategy != "default" and backend != "tensorflow":
        raise RunError(f"the {strategy} strategy is TensorFlow's (tf.distribute) and this process runs Keras' "
                       f"{backend} backend, which ignores it", "train with KERAS_BACKEND=tensorflow, or use the "
                       "default strategy.", param="strategy")


def is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def allow_multi_worker(model):
    """Let ``model.fit`` and ``model.evaluate`` run under MultiWorkerMirroredStrategy (see the module docstring).

    Does nothing unless the model's variables were created under that strategy. Returns ``model``.
    """
    import tensorflow as tf

    strategy = getattr(model, "_distribute_strategy", None)
    if strategy is None or not is_multi_worker(strategy):
        return model

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:  # keras' TFEpochIterator: (first step, last step, iterator)
                data_batch = tf.nest.map_structure(local, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    def as_vector(value):
        return value[None] if isinstance(value, tf.Tensor) and value.shape.rank == 0 else value

    def vector_logs(step):
        return lambda data: tf.nest.map_structure(as_vector, step(data))

    model._maybe_symbolic_build = symbolic_build
    model.train_step = vector_logs(model.train_step)
    model.test_step = vector_logs(model.test_step)
    return model
