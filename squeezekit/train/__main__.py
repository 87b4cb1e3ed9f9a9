"""Train a registered model: ``python -m squeezekit.train --model sqnxt23 --data digits --out runs/x``.

Data: ``digits`` or ``mnist5k`` (built in, offline) or a folder with one subfolder of images per class.
Defaults depend on the data: for digits and mnist5k, 32x32 inputs, the sgd_cosine recipe (lr 0.1, or 0.0025 for
SqueezeNet, which has no BatchNorm), 40 epochs (60 for SqueezeNet) and label smoothing 0.1; for folders, the
model's default size and its paper's recipe. SqueezeNet's dead class channels are revived while it trains
(``squeezekit.train.revive``). ``--weights`` fine-tunes from a run's model.keras, a tf2cv file or ``imagenet``
(``squeezekit.train.finetune``: the classifier alone for ``--freeze_epochs``, then everything at a tenth of the
rate; on a folder the sgd_cosine recipe for 20 epochs). ``--resume`` continues an interrupted run from its last finished epoch.
"""

from __future__ import annotations

from squeezekit import cli  # first (though the squeezekit.train package has loaded Keras already)

from absl import app, flags

from squeezekit.train.recipes import RECIPES
from squeezekit.train.run import STRATEGIES, RunConfig, train_run

flags.DEFINE_string("model", None, "Registered model name or alias, e.g. sqnxt23, squeezenet1_1, 1.0-SqNxt-23v5.")
flags.DEFINE_string("convention", None, "Model convention (official, imgclsmob, torchvision, caffe); default: the model's.")
flags.DEFINE_string("data", None, "digits, mnist5k (digits[:10%]: a tenth of each class), an image folder (one "
                    "subfolder per class), tfrecord:GLOB (ImageNet-style shards) or tfds:NAME[/CONFIG][:SPLIT].")
flags.DEFINE_string("val_data", None, "Separate validation data (a folder with the same class folders, tfrecord:GLOB or "
                    "tfds:NAME:SPLIT); default: split --data.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data_dir for --data tfds:NAME (prepared data only).")
flags.DEFINE_float("val_split", 0.2, "Fraction of each class held out when --val_data is not given.")
flags.DEFINE_integer("input_size", None, "Input height and width (default: 32 for digits/mnist5k, else the model's).")
flags.DEFINE_integer("epochs", None, "Epochs (default for digits/mnist5k: 40, 60 for SqueezeNet; else the recipe's).")
flags.DEFINE_integer("batch_size", 64, "Global batch size.")
flags.DEFINE_enum("recipe", None, list(RECIPES),
                  "Training recipe (default: sgd_cosine for digits/mnist5k, else the model family's paper recipe).")
flags.DEFINE_float("lr", None, "Peak learning rate (default: the recipe's, scaled by batch size).")
flags.DEFINE_float("label_smoothing", None, "Label smoothing (default: 0.1 for digits/mnist5k, else 0).")
flags.DEFINE_boolean("augment", True, "Random resized crops (and flips for folders) while training.")
flags.DEFINE_integer("seed", 0, "Seed for the split, shuffling and initialization.")
flags.DEFINE_enum("strategy", "default", STRATEGIES,
                  "tf.distribute strategy: mirrored for several GPUs, multi_worker (TF_CONFIG) for several machines.")
flags.DEFINE_string("weights", None, "Fine-tune from these weights: a run's model.keras (python -m squeezekit.train "
                    "or squeezekit.weights), a tf2cv .tf2.h5, or imagenet (the model's published file). The classifier "
                    "is kept when the classes match, else rebuilt; --model is then optional for a run's model.keras.")
flags.DEFINE_integer("freeze_epochs", None, "With --weights: epochs training the classifier alone (backbone frozen) "
                     "before fine-tuning everything at a tenth of the rate (default: a third of --epochs for a new "
                     "classifier, 0 for a kept one).")
flags.DEFINE_string("out", None, "Run folder for model.keras, labels.txt, run_config.json, history.csv, logs.")
flags.DEFINE_boolean("resume", False, "Continue the interrupted run in --out from its last finished epoch.")
FLAGS = flags.FLAGS

ADVICE = {
    "out": "pass --resume to continue it, or choose another --out.",
    "shared_out": "every worker resumes from the chief's run folder: give all workers the same --out, on a "
                  "filesystem they share.",
    "resume": "start the run without --resume.",
    "strategy": "see BUILD.md (training on several machines), or pass another --strategy.",
    "val_split": "pass --val_split between 0 and 1, or --val_data FOLDER.",
    "weights": "pass --weights RUN/model.keras, a tf2cv .tf2.h5 file, or --weights imagenet with --model.",
    "freeze_epochs": "pass --freeze_epochs below --epochs (at least one epoch trains everything).",
    "convention": "leave --convention out: the weights decide it.",
}


def main(argv):
    if not FLAGS.out:
        raise app.UsageError("--out is required (the run folder).")
    if not FLAGS.resume and not (FLAGS.model or FLAGS.weights) or not (FLAGS.data or FLAGS.resume):
        raise app.UsageError("--model (or --weights) and --data are required (unless --resume).")
    if FLAGS.freeze_epochs is not None and not FLAGS.weights:
        raise app.UsageError("--freeze_epochs needs --weights (it freezes the pretrained backbone).")
    config = RunConfig(
        model=FLAGS.model or "", data=FLAGS.data or "", out=FLAGS.out, input_size=FLAGS.input_size,
        convention=FLAGS.convention, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, recipe=FLAGS.recipe,
        lr=FLAGS.lr, label_smoothing=FLAGS.label_smoothing, val_data=FLAGS.val_data, data_dir=FLAGS.data_dir, val_split=FLAGS.val_split,
        seed=FLAGS.seed, strategy=FLAGS.strategy, augment=FLAGS.augment, weights=FLAGS.weights,
        freeze_epochs=FLAGS.freeze_epochs,
    )
    model, history, files = train_run(config, resume=FLAGS.resume, verbose=2)
    final = {k: v[-1] for k, v in history.history.items()} if history.history else {}
    if final:
        print("final: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(final.items())))
    for name, path in files.items():
        print(f"wrote {path}")


if __name__ == "__main__":
    cli.run(main, advice=ADVICE)
