"""Evaluate a trained model: ``python -m squeezekit.evaluate --weights runs/x/model.keras [--data ...]``.

The run's ``run_config.json`` beside the model gives the input size, preprocessing, class names and data;
``--data`` evaluates on other data instead. On the run's own data the held-out split is used (the fixed
split of a built-in dataset, or the run's seed and val_split for a folder); another folder is used whole.
Prints top-1 / top-5, per-class accuracy and the most frequent confusions; ``--json`` writes the report.
"""

from __future__ import annotations

import json
import os

from squeezekit import cli  # first: it quiets TensorFlow before anything loads it

from absl import app, flags

flags.DEFINE_string("weights", None, "A .keras model written by squeezekit.train (model.keras or best.keras).")
flags.DEFINE_string("data", None, "digits, mnist5k or an image folder; default: the run's data.")
flags.DEFINE_string("model", None, "Registered model name, only for a model without run_config.json beside it.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_string("json", None, "Also write the report as JSON to this file.")
FLAGS = flags.FLAGS


def main(argv):
    if not FLAGS.weights:
        raise app.UsageError("--weights is required.")
    if not os.path.isfile(FLAGS.weights):
        cli.fail(f"model file not found: {FLAGS.weights}; pass the model.keras of a run folder.")

    import keras

    import squeezekit
    from squeezekit.data import load, load_all
    from squeezekit.runs import RUN_CONFIG, RunConfig, read_labels
    from squeezekit.train.evaluation import evaluate

    run = RunConfig.beside(FLAGS.weights)  # a malformed run_config.json is a RunError: one line from cli.run
    try:
        model = keras.models.load_model(FLAGS.weights, compile=False)
    except Exception as err:  # Keras raises many types for a bad file; the user needs one line
        cli.fail(f"cannot read {FLAGS.weights} as a Keras model ({type(err).__name__}); pass a .keras file.")
    size = int(model.inputs[0].shape[1])
    if run is not None:
        preprocessing, class_names = run.preprocessing, run.class_names
    else:
        if not FLAGS.model:
            cli.fail(f"no {RUN_CONFIG} beside {FLAGS.weights}; pass --model NAME so the preprocessing is known.")
        preprocessing = squeezekit.models.get_spec(FLAGS.model).preprocessing
        class_names = read_labels(os.path.dirname(os.path.abspath(FLAGS.weights)))
    data_source = FLAGS.data or (run and run.data)
    if not data_source:
        cli.fail("pass --data (digits, mnist5k or an image folder).")
    if run and data_source == run.data and not run.val_data:
        data = load(data_source, size, preprocessing, batch_size=FLAGS.batch_size, val_split=run.val_split,
                    data_dir=run.data_dir,
                    seed=run.seed, augment=None, cache=False, class_names=class_names)
    else:
        data = load_all(data_source, size, preprocessing, class_names, FLAGS.batch_size,
                        data_dir=run.data_dir if run else None)
    if class_names is None:
        class_names = data.class_names
    if len(class_names) != int(model.outputs[0].shape[-1]):
        cli.fail(f"the model has {model.outputs[0].shape[-1]} outputs but the data has {len(class_names)} classes.")
    # Outputs as numpy on any Keras backend: np.asarray cannot read a PyTorch tensor that requires grad.
    report = evaluate(lambda x, training=False: keras.ops.convert_to_numpy(model(x, training=training)), data.val,
                      class_names)
    print(f"{os.path.basename(FLAGS.weights)} on {data.name} ({'held-out split' if run and data_source == run.data else 'all images'})")
    print(report.to_text())
    if FLAGS.json:
        from converters.files import write_atomic

        write_atomic(FLAGS.json, json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    cli.run(main)
