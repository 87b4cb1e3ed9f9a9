"""Fine-tuning (``train --weights``): the two phases, the errors, and the whole road from a tf2cv file to an app.

The end-to-end test is the one a user walks: a tf2cv-format file (seeded weights, saved by tf2cv itself as
tests/weights makes them) -> ``python -m squeezekit.weights`` -> ``python -m squeezekit.train --weights`` on a
small folder of bundled photos -> ``python -m squeezekit.export --int8`` (quantization-aware training on the
run's data) -> ``python -m squeezekit.classify`` names each photo's folder.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.weights.conftest import make_tf2cv_files  # noqa: F401  (the fixture)

CLASSES = ("astronaut", "chelsea", "coffee")  # three unlike photos that ship with scikit-image
SIZE = 64  # the imported model's input size: the test is about the road, not the resolution


def _cli(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)


def _photo_folder(root, per_class=8, seed=0):
    """``root/<class>/<i>.png``: random square crops (60-100% of the short side) of each class's photo."""
    import skimage.data
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = {}
    for name in CLASSES:
        photo = getattr(skimage.data, name)()
        os.makedirs(os.path.join(root, name))
        h, w = photo.shape[:2]
        for i in range(per_class):
            side = int(rng.uniform(0.6, 1.0) * min(h, w))
            top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            path = os.path.join(root, name, f"{i}.png")
            Image.fromarray(photo[top:top + side, left:left + side]).resize((96, 96), Image.BILINEAR).save(path)
            paths.setdefault(name, []).append(path)
    return paths


def test_phases_freeze_the_backbone_then_train_all_but_batchnorm():
    import keras

    import squeezekit
    from squeezekit.train import finetune
    from squeezekit.train.recipes import FreezableSGD

    model = squeezekit.build("sqnxt23", classes=4, input_shape=(32, 32, 3))
    finetune.set_phase(model, head_only=False)
    optimizer = FreezableSGD(0.05, momentum=0.9, weight_decay=1e-3)
    model.compile(optimizer, "categorical_crossentropy")
    optimizer.build(model.trainable_variables)  # every variable, as train_run does: one layout in both phases
    x = np.random.default_rng(0).normal(size=(16, 32, 32, 3)).astype("float32")
    y = np.eye(4)[np.arange(16) % 4]

    def snapshot():
        return {l.name: [np.array(w) for w in l.get_weights()] for l in model.layers if l.weights}

    def changed(before):
        return {n for n, ws in snapshot().items() if any(not np.array_equal(a, b) for a, b in zip(ws, before[n]))}

    finetune.set_phase(model, head_only=True)
    model.compile(optimizer, "categorical_crossentropy")
    before = snapshot()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert changed(before) == {"fc"}  # no gradient step, no weight decay, BatchNorm's statistics as they were

    finetune.set_phase(model, head_only=False)
    model.compile(optimizer, "categorical_crossentropy")  # the same optimizer, its state kept
    before = snapshot()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    bn = {l.name for l in model.layers if isinstance(l, keras.layers.BatchNormalization)}
    moved = changed(before)
    assert not moved & bn and "fc" in moved and "stem_conv" in moved
    assert len(moved) == len([l for l in model.layers if l.weights]) - len(bn)
    assert int(optimizer.iterations) == 4


def test_phases_under_jax(tmp_path, digits_run):
    """Keras' JAX trainer needs the optimizer's variables at every step: both phases run, and only the head
    moves in the first."""
    run, _ = digits_run
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "squeezekit.train", "--weights", str(run / "model.keras"),
                             "--data", "mnist5k[:2%]", "--epochs", "2", "--freeze_epochs", "1", "--out", str(out)],
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model.keras").exists() and "classifier kept" in result.stdout


def test_two_phase_schedule():
    from squeezekit.train.recipes import RECIPES, Phases, make_optimizer

    opt = make_optimizer(RECIPES["sgd_cosine"], 64, steps_per_epoch=10, epochs=6, phases=(2, 0.1))
    schedule = opt.learning_rate if isinstance(opt.learning_rate, Phases) else opt._learning_rate
    assert isinstance(schedule, Phases) and schedule.boundary == 20
    lr = [float(schedule(s)) for s in (0, 10, 19, 20, 30)]
    assert lr[0] == pytest.approx(0.01) and lr[1] == pytest.approx(0.1)  # warmup, then the peak
    assert lr[2] < 0.01 and lr[3] == pytest.approx(0.001) and lr[4] == pytest.approx(0.01)  # again at a tenth
    assert Phases.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_bad_weights_are_one_line(tmp_path, digits_run):
    run, _ = digits_run
    cases = [
        (("--weights", str(tmp_path / "missing.keras")), "weights file not found"),
        (("--weights", str(run / "model.keras"), "--model", "squeezenet1_1"), "holds sqnxt23 weights, not squeezenet1_1"),
        (("--weights", str(run / "model.keras"), "--epochs", "2", "--freeze_epochs", "2"), "freeze_epochs is 2"),
    ]
    for i, (args, text) in enumerate(cases):
        result = _cli("squeezekit.train", *args, "--data", "digits[:10%]", "--out", str(tmp_path / f"r{i}"))
        assert result.returncode == 1, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and text in last and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert not (tmp_path / f"r{i}" / "run_config.json").exists()


def test_resume_at_the_phase_boundary(tmp_path, digits_run):
    """kill -9 once the head-only epoch's backup exists: --resume continues in the second phase (everything
    trainable) from that backup, whose optimizer state has every variable, and finishes the run."""
    import csv

    import kill_checks as kc
    from squeezekit.train.run import read_backup

    run, _ = digits_run
    out, backup = tmp_path / "run", tmp_path / "run" / "backup"
    proc = kc.start("squeezekit.train", "--weights", str(run / "model.keras"), "--data", "mnist5k[:5%]",
                    "--epochs", "3", "--freeze_epochs", "1", "--out", str(out))
    kc.kill_when(proc, lambda: read_backup(backup)[0] >= 1, seed=0, max_delay=0.0)
    done = read_backup(backup)[0]
    if not (out / "model.keras").exists():
        assert done in (1, 2)
        result = _cli("squeezekit.train", "--out", str(out), "--resume")
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"resuming {out} at epoch {done + 1} of 3" in result.stdout
    with open(out / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [0, 1, 2]
    config = json.loads((out / "run_config.json").read_text())["run"]
    assert config["freeze_epochs"] == 1 and config["extra"]["fine_tuned_from"]["classifier"] == "kept"


@pytest.mark.xdist_group("finetune_e2e")
def test_tf2cv_file_to_weights_to_finetune_to_int8_to_classify(tmp_path, make_tf2cv_files, monkeypatch):  # noqa: F811
    """The road a user walks, and SqueezeNet's revived ReLU head on the way.

    The "pretrained" files are tf2cv's own networks with seeded He-normal weights and BatchNorm statistics
    gathered on the photos (``TF2CV_INIT=he`` in tf2cv_reference.py): with tests/weights' default seeding
    (biases of 0.1 everywhere) the deep features of every photo come out nearly equal (measured: between-class
    spread 0.0004 at fire9 against a mean of 0.05), and no head can learn from them. Random deep features are
    still poor ones, and the backbone of such a network is unstable to train (gradient norms of 1e4 at the
    stem): the run trains the new classifier for 11 of its 12 epochs, without augmentation (see below)."""
    from PIL import Image

    photos = _photo_folder(tmp_path / "photos", per_class=16)
    images = [p for name in CLASSES for p in photos[name]]
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    # BatchNorm statistics from 6 photos, two a class (tf2cv's networks take 224x224 only: a fixed 7x7 final pool).
    x = np.stack([(np.asarray(Image.open(p).convert("RGB").resize((224, 224)), np.float32) - mean) / std
                  for p in images[::8]]).astype(np.float32)
    monkeypatch.setenv("TF2CV_INIT", "he")
    make_tf2cv_files(tmp_path, x, ["sqnxt23_w1", "squeezenet_v1_1"])

    runs = {}
    for model, tf2cv_name in (("sqnxt23_w1", "sqnxt23_w1"), ("squeezenet1_1", "squeezenet_v1_1")):
        imported = tmp_path / f"imported_{model}" / "model.keras"
        result = _cli("squeezekit.weights", "--model", model, "--from_tf2cv", str(tmp_path / f"{tf2cv_name}.tf2.h5"),
                      "--out", str(imported), "--input_size", str(SIZE))
        assert result.returncode == 0, result.stderr[-3000:]
        runs[model] = run = tmp_path / f"run_{model}"
        # SqueezeNet (no BatchNorm) at the kit's own small rate; 0.05 sent it to NaN.
        # SqueezeNext: with random crops (not bit-reproducible here), 6 head epochs at 0.05 left the Keras model
        # naming 31 and 36 of the 48 photos in two runs, the int8 file 21 to 40 in CI and past runs; on the
        # photos as they are, 11 head epochs at 0.02 fit the training photos (47 of 48, the same in two runs).
        epochs, freeze, extra = (12, 11, ("--lr", "0.02", "--noaugment")) if model == "sqnxt23_w1" else (3, 1, ())
        result = _cli("squeezekit.train", "--weights", str(imported), "--data", str(tmp_path / "photos"),
                      "--epochs", str(epochs), "--freeze_epochs", str(freeze), *extra, "--batch_size", "8",
                      "--val_split", "0.25", "--out", str(run))
        assert result.returncode == 0, result.stderr[-3000:]
        assert "classifier new" in result.stdout
        config = json.loads((run / "run_config.json").read_text())["run"]
        assert config["model"] == model and config["convention"] == "imgclsmob" and config["weights"] == str(imported)
        assert config["input_size"] == SIZE and config["freeze_epochs"] == freeze
        assert config["extra"]["fine_tuned_from"]["classifier"] == "new"
        assert config["extra"]["class_names"] == list(CLASSES)
        assert (run / "labels.txt").read_text().split() == list(CLASSES)

    # SqueezeNet: every class channel of the new ReLU head is alive at the end (the reviver ran with the phases).
    import keras

    import squeezekit.data
    from squeezekit.runs import RunConfig

    model = keras.models.load_model(runs["squeezenet1_1"] / "model.keras", compile=False)
    data = squeezekit.data.load_all(str(tmp_path / "photos"), SIZE, RunConfig.load(runs["squeezenet1_1"]).preprocessing)
    pre = keras.Model(model.input, model.get_layer("conv10").output)
    best = np.concatenate([np.asarray(pre(x)).max(axis=(1, 2)) for x, _ in data.val]).max(axis=0)
    assert (best > 0).all(), best

    # SqueezeNext: QAT on the run's data, int8, then the app's classifier names the photos' folders.
    exports = tmp_path / "exports"
    # QAT at a small rate: at the default 1e-3 this network's exploding gradients wreck it in two epochs
    # (measured: int8 top-1 33% against Keras' 92%; at 1e-5, and with post-training calibration, 92% and 92%).
    result = _cli("squeezekit.export", "--weights", str(runs["sqnxt23_w1"] / "model.keras"), "--int8",
                  "--qat_epochs", "2", "--qat_lr", "1e-5", "--profile", "none", "--out", str(exports))
    assert result.returncode == 0, result.stderr[-3000:]
    [tflite] = [f for f in os.listdir(exports) if f.endswith("_int8.tflite")]
    result = _cli("squeezekit.classify", "--model", str(exports / tflite), "--top", "1", *images)
    assert result.returncode == 0, result.stderr[-3000:]
    predicted = {}
    for path in images:
        block = result.stdout.split(path + ":", 1)[1].splitlines()[1]  # "  97.12%  chelsea"
        predicted[path] = block.split()[-1]
    assert set(predicted.values()) <= set(CLASSES) and len(set(predicted.values())) >= 2, predicted
    right = sum(predicted[p] == os.path.basename(os.path.dirname(p)) for p in images)
    # Chance is a third. The Keras model named 47 of the 48 (the same in two runs); the int8 file after QAT,
    # which is not bit-reproducible here, 41, 42 and 43 in three exports of one run.
    assert right >= 2 / 3 * len(images), (right, predicted)
