"""Import tf2cv (osmr/imgclsmob) ImageNet weights into a Keras 3 model: ``python -m squeezekit.weights``.

    python -m squeezekit.weights --model sqnxt23_w1 --from_tf2cv sqnxt23_w1-1861-379975eb.tf2.h5 --out model.keras
    python -m squeezekit.weights --model squeezenet1_1 --from_tf2cv FILE --out runs/sqn/model.keras --input_size 160
    python -m squeezekit.weights --model sqnxt23_w1 --from_tf2cv FILE --out ft/model.keras --classes 10
    python -m squeezekit.weights --list        # the models whose registry rows publish weights, with URLs

``--out`` gets the model (``keras.models.load_model`` reads it without squeezekit) and, beside it, the files of a
run folder: ``labels.txt`` (the ImageNet class names) and ``run_config.json`` (model, convention, preprocessing,
where the weights came from). ``python -m squeezekit.export --weights OUT --int8`` and
``python -m squeezekit.evaluate --weights OUT --data FOLDER`` then need no other flag.
"""

from __future__ import annotations

import os

from squeezekit import cli  # first: it quiets TensorFlow before anything loads it

from absl import app, flags

flags.DEFINE_string("model", None, "squeezekit model name (or tf2cv's: sqnxt23_w1, squeezenet_v1_1, "
                    "squeezeresnet_v1_0...).")
flags.DEFINE_string("from_tf2cv", None, "The unzipped .tf2.h5 from tf2cv's model store (--list gives the URLs).")
flags.DEFINE_string("out", None, "Where to write the Keras 3 model (.keras); labels.txt and run_config.json go "
                    "beside it.")
flags.DEFINE_integer("input_size", None, "Input height and width of the written model; default: the convention's "
                     "(224, what tf2cv's files were trained at). Any size from the model's minimum works.")
flags.DEFINE_integer("classes", None, "Classes of the written model; default: the file's (1000). Another number "
                     "keeps every weight but the classifier, which starts from its initialization (for fine-tuning).")
flags.DEFINE_boolean("include_top", True, "Keep the classifier; --noinclude_top writes the feature extractor.")
flags.DEFINE_boolean("list", False, "List the models with published weights: download URL and ImageNet error.")
FLAGS = flags.FLAGS

ADVICE = {
    "model": lambda err: (f"pass --model {err.suggestion}, or --from_tf2cv the file of the model you named."
                          if err.suggestion else "--list gives the models tf2cv publishes."),
}


def _resolve(name: str) -> str:
    """A squeezekit registry name from ours or tf2cv's (squeezeresnet_v1_0 -> squeezenet1_0_bypass)."""
    import squeezekit
    from squeezekit.weights import published

    rows = published()
    return rows[name].name if name in rows else squeezekit.models.resolve_name(name)


def _list() -> None:
    from squeezekit.models import registry

    print("squeezekit model        store name           top-1/top-5 err  file (download, then unzip)")
    for spec in registry.published():
        w = spec.weights
        print(f"{spec.name:23s} {w.store_name:20s} {w.top1_error:5.2f} / {w.top5_error:5.2f}    {w.url}")


def main(argv):
    if FLAGS.list:
        _list()
        return
    for flag in ("model", "from_tf2cv", "out"):
        if not FLAGS[flag].value:
            raise app.UsageError(f"--{flag} is required (or --list).")
    if not FLAGS.out.endswith(".keras"):
        cli.fail(f"--out must be a .keras path (e.g. {os.path.join(os.path.dirname(FLAGS.out), 'model.keras')}), "
                 f"got {FLAGS.out}.")
    if not os.path.isfile(FLAGS.from_tf2cv):
        cli.fail(f"weights file not found: {FLAGS.from_tf2cv}; download and unzip it first "
                 "(python -m squeezekit.weights --list gives the URLs).")
    from squeezekit.runs import RUN_CONFIG, RunConfig, RunError, write_labels

    out_dir = os.path.dirname(os.path.abspath(FLAGS.out))
    if RunConfig.exists(out_dir):
        try:
            imported = RunConfig.load(out_dir).imported
        except RunError:
            imported = False
        if not imported:
            cli.fail(f"{out_dir} already holds a training run ({RUN_CONFIG}); choose another --out folder.")

    import squeezekit
    from squeezekit.weights import imagenet_class_names, tf2cv

    name = _resolve(FLAGS.model)
    if "imgclsmob" not in squeezekit.models.conventions(name):
        have = ", ".join(spec.name for spec in tf2cv.published().values())
        cli.fail(f"tf2cv publishes no {name} weights; it has: {have}.")
    spec = squeezekit.models.get_spec(name, "imgclsmob")
    file = tf2cv.read(FLAGS.from_tf2cv)
    output = [w for w in file.weights if w.group == "output1"]
    file_classes = int(output[0].shape[-1]) if output else None
    classes = FLAGS.classes or file_classes or 1000
    if classes < 1:
        cli.fail(f"--classes must be positive, got {classes}.")
    size = FLAGS.input_size or spec.default_size
    model = squeezekit.build(name, convention="imgclsmob", input_shape=(size, size, 3), classes=classes,
                             include_top=FLAGS.include_top)
    report = tf2cv.load_tf2cv(model, FLAGS.from_tf2cv, expected_name=tf2cv.tf2cv_name_for(name), file=file)
    print(report.summary())
    if report.tf2cv_name is None and tf2cv.named_for(FLAGS.from_tf2cv) is not None:
        print("note: the file's SHA-1 is not the model store's: a fine-tuned file, or a damaged download.")

    if FLAGS.include_top and classes == 1000 and report.classifier == "loaded":
        class_names = imagenet_class_names()
    else:
        class_names = [f"class_{i:03d}" for i in range(classes)]
    from converters.files import save_model_atomic

    run = RunConfig(
        model=spec.name, data=None, out=out_dir, input_size=size, convention="imgclsmob", epochs=0,
        batch_size=64, recipe=None, lr=None, label_smoothing=None, val_data=None, val_split=0.2, seed=0,
        strategy="default", augment=True,
        extra=dict(
            class_names=class_names, preprocessing=spec.preprocessing.to_dict(), convention="imgclsmob",
            paper_name=spec.paper_name, squeezekit_version=squeezekit.__version__,
            weights_source=dict(format="tf2cv", file=os.path.basename(FLAGS.from_tf2cv), sha1=report.sha1,
                                tf2cv_model=report.tf2cv_name or tf2cv.tf2cv_name_for(spec.name),
                                classifier=report.classifier, include_top=FLAGS.include_top),
        ),
    )
    if not FLAGS.include_top:
        save_model_atomic(model, FLAGS.out)
        print(f"wrote {FLAGS.out} ({spec.paper_name} features, {size}x{size}; no classifier, so no labels.txt or "
              f"{RUN_CONFIG}: build a head on it in Python)")
        return
    # Each file atomically, the model last: a kill at any moment leaves complete files, and the folder is an
    # imported run (one a rerun may overwrite) before it holds a model.
    write_labels(out_dir, class_names)
    run.save()
    save_model_atomic(model, FLAGS.out)
    p = spec.preprocessing
    print(f"wrote {FLAGS.out} ({spec.paper_name}, imgclsmob convention, {size}x{size}, {classes} classes), "
          f"labels.txt and {RUN_CONFIG}")
    print(f"preprocessing: {p.channel_order}, mean {list(p.mean)}, std {list(p.std)} (0-255 units), "
          f"resize the short side to {round(size / p.crop_fraction)} and center-crop {size}")


if __name__ == "__main__":
    cli.run(main, advice=ADVICE)
