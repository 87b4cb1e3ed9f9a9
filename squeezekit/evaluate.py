"""Evaluate a trained model: ``python -m squeezekit.evaluate --weights runs/x/model.keras [--data ...]``.

The run's ``run_config.json`` beside the model gives the input size, preprocessing, class names and data;
``--data`` evaluates on other data instead. On the run's own data the held-out split is used (the fixed
split of a built-in dataset, or the run's seed and val_split for a folder); another folder is used whole.
Prints top-1 / top-5, per-class accuracy and the most frequent confusions; ``--json`` writes the report.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

flags.DEFINE_string("weights", None, "A .keras model written by squeezekit.train (model.keras or best.keras).")
flags.DEFINE_string("data", None, "digits, mnist5k or an image folder; default: the run's data.")
flags.DEFINE_string("model", None, "Registered model name, only for a model without run_config.json beside it.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_string("json", None, "Also write the report as JSON to this file.")
FLAGS = flags.FLAGS


def _fail(message: str):
    sys.exit(f"error: {message}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.weights:
        raise app.UsageError("--weights is required.")
    if not os.path.isfile(FLAGS.weights):
        _fail(f"model file not found: {FLAGS.weights}; pass the model.keras of a run folder.")

    import keras

    import squeezekit
    from squeezekit.data import DataError, load, load_all
    from squeezekit.runs import RUN_CONFIG, RunConfig, RunError, read_labels
    from squeezekit.train.evaluation import evaluate

    try:
        run = RunConfig.beside(FLAGS.weights)
        model = keras.models.load_model(FLAGS.weights, compile=False)
    except RunError as err:
        _fail(str(err))
    except Exception as err:  # Keras raises many types for a bad file; the user needs one line
        _fail(f"cannot read {FLAGS.weights} as a Keras model ({type(err).__name__}); pass a .keras file.")
    size = int(model.inputs[0].shape[1])
    if run is not None:
        preprocessing, class_names = run.preprocessing, run.class_names
    else:
        if not FLAGS.model:
            _fail(f"no {RUN_CONFIG} beside {FLAGS.weights}; pass --model NAME so the preprocessing is known.")
        preprocessing = squeezekit.models.get_spec(FLAGS.model).preprocessing
        class_names = read_labels(os.path.dirname(os.path.abspath(FLAGS.weights)))
    data_source = FLAGS.data or (run and run.data)
    if not data_source:
        _fail("pass --data (digits, mnist5k or an image folder).")
    try:
        if run and data_source == run.data and not run.val_data:
            data = load(data_source, size, preprocessing, batch_size=FLAGS.batch_size, val_split=run.val_split,
                        seed=run.seed, augment=None, cache=False, class_names=class_names)
        else:
            data = load_all(data_source, size, preprocessing, class_names, FLAGS.batch_size)
    except DataError as err:
        _fail(str(err))
    if class_names is None:
        class_names = data.class_names
    if len(class_names) != int(model.outputs[0].shape[-1]):
        _fail(f"the model has {model.outputs[0].shape[-1]} outputs but the data has {len(class_names)} classes.")
    report = evaluate(model, data.val, class_names)
    print(f"{os.path.basename(FLAGS.weights)} on {data.name} ({'held-out split' if run and data_source == run.data else 'all images'})")
    print(report.to_text())
    if FLAGS.json:
        from converters.files import write_atomic

        write_atomic(FLAGS.json, json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
