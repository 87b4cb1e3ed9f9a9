"""``squeezekit.build(name, weights="imagenet")``: a row's published file through Keras' cache.

No store file can be downloaded here, so one tf2cv file is made the way test_tf2cv.py makes them (tf2cv itself,
seeded random weights) and the row's hash (and, for downloads, its URL) is pointed at it: a pre-seeded cache, a
``file://`` URL of the zip as tf2cv publishes it, a wrong hash and an unreachable URL.
"""

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import replace

import numpy as np
import pytest

import squeezekit
from squeezekit.models import registry
from squeezekit.weights import WeightsError, store

pytestmark = pytest.mark.xdist_group("tf2cv")

NAME, TF2CV_NAME = "squeezenet1_1", "squeezenet_v1_1"  # the smallest published model
FILE_NAME = "squeezenet_v1_1-1742-95b61448.tf2.h5"
OFFLINE_URL = "http://127.0.0.1:9/" + FILE_NAME + ".zip"  # the discard port: refused at once


@pytest.fixture(scope="module")
def made(tmp_path_factory, make_tf2cv_files):
    out = tmp_path_factory.mktemp("store")
    x = np.random.default_rng(1).normal(0, 1, (1, 224, 224, 3)).astype(np.float32)
    make_tf2cv_files(out, x, [TF2CV_NAME])
    path = out / f"{TF2CV_NAME}.tf2.h5"
    with zipfile.ZipFile(out / (FILE_NAME + ".zip"), "w") as archive:  # tf2cv's store zips the file alone
        archive.write(path, FILE_NAME)
    probs = np.load(out / f"{TF2CV_NAME}.logits.npy").astype(np.float64)
    probs = np.exp(probs - probs.max(-1, keepdims=True))
    return dict(path=path, zip=out / (FILE_NAME + ".zip"), x=x, probs=probs / probs.sum(-1, keepdims=True),
                sha1=hashlib.sha1(path.read_bytes()).hexdigest(), sha256=hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home" / "models"


def _publish(monkeypatch, **changes):
    """Point the published row's weights elsewhere (the registry holds frozen rows: swap in edited copies)."""
    rows = [replace(s, weights=replace(s.weights, **changes)) if s.weights else s for s in registry._REGISTRY[NAME]]
    monkeypatch.setitem(registry._REGISTRY, NAME, rows)
    return next(s for s in rows if s.weights)


def _assert_reference(model, made):
    assert model.name == NAME and model.input_shape == (None, 224, 224, 3)
    got = np.asarray(model(made["x"], training=False), np.float64)
    assert np.abs(got - made["probs"]).max() <= 1e-5


def test_the_rows_declare_tf2cv_files_in_keras_cache(keras_home):
    spec = registry.get_spec(NAME, "imgclsmob")
    assert spec.weights.file_name == FILE_NAME and spec.weights.url.endswith(FILE_NAME + ".zip")
    assert store.cache_path(spec.weights) == str(keras_home / FILE_NAME)
    assert [s.name for s in registry.published(NAME)] == [NAME]


def test_imagenet_from_a_pre_seeded_cache(made, keras_home, monkeypatch):
    _publish(monkeypatch, sha1=made["sha1"], url=OFFLINE_URL)  # nothing to download: the URL is never opened
    keras_home.mkdir(parents=True)
    (keras_home / FILE_NAME).write_bytes(made["path"].read_bytes())
    model = squeezekit.build(NAME, weights="imagenet")  # no convention: the row that publishes weights
    _assert_reference(model, made)
    assert squeezekit.build("SqueezeNet 1.1", weights="imagenet", include_top=False).output_shape[-1] == 512


def test_finetuning_from_imagenet(made, keras_home, monkeypatch):
    """``train --weights imagenet``: the row's cached file, the imgclsmob convention and preprocessing, the
    ImageNet class names; the classifier is kept for the 1000 ImageNet classes in order and new for others."""
    from squeezekit.train import finetune
    from squeezekit.weights import imagenet_class_names

    _publish(monkeypatch, sha1=made["sha1"], url=OFFLINE_URL)
    keras_home.mkdir(parents=True)
    (keras_home / FILE_NAME).write_bytes(made["path"].read_bytes())
    start = finetune.resolve("imagenet", "SqueezeNet 1.1")
    assert (start.kind, start.model, start.convention, start.path) == ("imagenet", NAME, "imgclsmob",
                                                                         str(keras_home / FILE_NAME))
    assert start.preprocessing == registry.get_spec(NAME, "imgclsmob").preprocessing
    kept = squeezekit.build(NAME, convention="imgclsmob", classifier_activation="softmax")
    assert finetune.load_into(kept, start, imagenet_class_names())["classifier"] == "kept"
    _assert_reference(kept, made)
    new = squeezekit.build(NAME, convention="imgclsmob", classes=3)
    assert finetune.load_into(new, start, ["a", "b", "c"])["classifier"] == "new"
    for layer in ("conv1", "fire9_expand3x3"):
        for a, b in zip(kept.get_layer(layer).get_weights(), new.get_layer(layer).get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(WeightsError, match="imagenet weights need a model name"):
        finetune.resolve("imagenet")


def test_imagenet_through_a_file_url_then_from_the_cache(made, keras_home, monkeypatch):
    _publish(monkeypatch, sha1=made["sha1"], sha256=made["sha256"], url=made["zip"].as_uri())
    _assert_reference(squeezekit.build(NAME, weights="imagenet"), made)
    assert sorted(os.listdir(keras_home)) == [FILE_NAME]  # unzipped into the cache, the zip gone
    _publish(monkeypatch, sha1=made["sha1"], url=OFFLINE_URL)
    _assert_reference(squeezekit.build(NAME, convention="imgclsmob", weights="imagenet"), made)

    # A publisher that does not zip: the file itself, checked by SHA-256 too.
    os.remove(keras_home / FILE_NAME)
    _publish(monkeypatch, sha1=made["sha1"], sha256=made["sha256"], url=made["path"].as_uri())
    _assert_reference(squeezekit.build(NAME, weights="imagenet"), made)
    assert sorted(os.listdir(keras_home)) == [FILE_NAME]


def test_a_wrong_hash_is_refused_and_leaves_nothing_in_the_cache(made, keras_home, monkeypatch):
    _publish(monkeypatch, sha1="0" * 40, url=made["zip"].as_uri())
    with pytest.raises(WeightsError) as err:
        squeezekit.build(NAME, weights="imagenet")
    message = str(err.value)
    assert "\n" not in message and f"has SHA1 {made['sha1']}, not the published {'0' * 40}" in message
    assert "removed from the cache" in message and not (keras_home / FILE_NAME).exists()
    assert os.listdir(keras_home) == []

    keras_home.joinpath(FILE_NAME).write_bytes(made["path"].read_bytes())  # a seeded file is checked too
    _publish(monkeypatch, sha1=made["sha1"], sha256="f" * 64, url=OFFLINE_URL)
    with pytest.raises(WeightsError, match=f"has SHA256 {made['sha256']}, not the published f{{64}}"):
        squeezekit.build(NAME, weights="imagenet")
    assert os.listdir(keras_home) == []


def test_offline_names_the_url_and_the_cache_path(keras_home, monkeypatch):
    spec = _publish(monkeypatch, url=OFFLINE_URL)
    with pytest.raises(WeightsError) as err:
        squeezekit.build(NAME, weights="imagenet")
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"cannot download {NAME}'s weights from {OFFLINE_URL} (")
    assert message.endswith(f"download it, unzip it and put {FILE_NAME} at {keras_home / FILE_NAME}.")
    assert store.cache_path(spec.weights) == str(keras_home / FILE_NAME)
    assert os.listdir(keras_home) == []


def test_models_without_published_weights_say_which_have_them():
    with pytest.raises(WeightsError) as err:
        squeezekit.build("sqnxt44_w1", weights="imagenet")
    message = str(err.value)
    assert "\n" not in message and message.startswith("sqnxt44_w1 has no published ImageNet weights; these models")
    assert all(s.name in message for s in registry.published()) and "sqnxt23v5_w3d2" in message
    with pytest.raises(WeightsError, match=r"sqnxt23_w1 \(official\) has no published ImageNet weights; its "
                                           r"imgclsmob convention has: build\('sqnxt23_w1', convention='imgclsmob'"):
        squeezekit.build("sqnxt23", convention="official", weights="imagenet")


def test_docs_reference_lists_every_published_file():
    """docs/reference.md copies the rows' weights: file, SHA-1 and the publisher's errors, one line each."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "docs", "reference.md")) as f:
        lines = f.read().splitlines()
    for spec in registry.published():
        w = spec.weights
        cells = [f"| {spec.name} | {w.store_name} | {w.file_name} | {w.sha1} |", f"{w.top1_error:.2f} / {w.top5_error:.2f}"]
        assert any(all(c in line for c in cells) for line in lines), spec.name


def test_weights_cli_list_reads_the_rows():
    # A subprocess: importing a CLI module here would define its absl flags in the test process.
    done = subprocess.run([sys.executable, "-m", "squeezekit.weights", "--list"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()[1:]
    assert len(lines) == len(registry.published()) == 10
    spec = registry.get_spec(NAME, "imgclsmob")
    assert f"{NAME:23s} {TF2CV_NAME:20s} 39.12 / 17.42    {spec.weights.url}" in lines
