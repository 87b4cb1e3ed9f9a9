"""Training with Keras ``fit``: the papers' recipes, and runs with resumable state and files.

    history = squeezekit.train.fit(model, data, recipe="adamw", epochs=20)

``python -m squeezekit.train`` is the command-line front end of ``squeezekit.train.run.train_run``.
"""

from squeezekit.train.recipes import RECIPES, TrainingRecipe, WarmupDecay, get_recipe, make_optimizer
from squeezekit.train.distribute import allow_multi_worker
from squeezekit.train.revive import ReviveDeadClasses

__all__ = ["RECIPES", "TrainingRecipe", "ReviveDeadClasses", "WarmupDecay", "compile_model", "fit", "get_recipe",
           "make_optimizer"]


def compile_model(model, data, recipe="adamw", epochs=10, lr=None, label_smoothing=None, optimizer=None,
                  phases=None):
    """Compile ``model`` with the recipe's optimizer and schedule, a (smoothed) cross-entropy, top-1/top-5.

    ``optimizer`` reuses one (its state kept: fine-tuning's second phase); ``phases`` see ``make_optimizer``."""
    import keras

    recipe = get_recipe(recipe, label_smoothing=label_smoothing)
    model.compile(
        optimizer=optimizer or make_optimizer(recipe, data.batch_size, data.steps_per_epoch, epochs, lr=lr,
                                              phases=phases),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"),
                 keras.metrics.TopKCategoricalAccuracy(k=min(5, data.num_classes), name="top5")],
    )
    allow_multi_worker(model)  # a no-op unless the model lives under MultiWorkerMirroredStrategy
    return recipe


def fit(model, data, recipe="adamw", epochs=10, lr=None, label_smoothing=None, callbacks=None, verbose="auto",
        initial_epoch=0):
    """Compile ``model`` with ``recipe`` and train it on ``data`` (a ``squeezekit.data.Data``).

    Returns the Keras ``History``. ``lr`` overrides the recipe's batch-scaled peak learning rate.
    """
    compile_model(model, data, recipe, epochs, lr, label_smoothing)
    return model.fit(data.train, validation_data=data.val, epochs=epochs, callbacks=list(callbacks or []),
                     verbose=verbose, initial_epoch=initial_epoch)
