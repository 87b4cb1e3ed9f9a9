"""tf2cv (osmr/imgclsmob) weights into squeezekit, proven against tf2cv itself.

``tf2cv_reference.py`` runs tf2cv in a subprocess under legacy Keras: it builds each of the ten networks with
seeded random weights (BatchNorm statistics included), saves them with ``save_weights`` as tf2cv's model store
files were written, and records its logits. squeezekit must reproduce them from the file alone.
"""

import ast
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import squeezekit
from squeezekit.weights import WeightsError, imagenet_class_names, imagenet_synsets, published, tf2cv

pytestmark = pytest.mark.xdist_group("tf2cv")

TF2CV_NAMES = list(published())
PARITY_ATOL = 1e-5  # max |softmax difference|, the bound


def _softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _photo(size, tmp_path):
    """scikit-image's astronaut through imgclsmob's preprocessing (RGB, ImageNet mean/std, 256/224 crop)."""
    from PIL import Image
    from skimage import data as skdata

    from squeezekit.classify import load_image
    from squeezekit.data import normalize

    spec = squeezekit.models.get_spec("sqnxt23_w1", "imgclsmob")
    Image.fromarray(skdata.astronaut()).save(tmp_path / "astronaut.png")
    image = load_image(str(tmp_path / "astronaut.png"), size, spec.preprocessing.crop_fraction)
    return np.asarray(normalize(image[None], spec.preprocessing), np.float32)


@pytest.fixture(scope="session")  # session: xdist may interleave modules on a worker
def reference(tmp_path_factory, make_tf2cv_files):
    """tf2cv's files and logits for all ten models, on a real photo and a random image at 224x224."""
    out = tmp_path_factory.mktemp("tf2cv")
    x = np.concatenate([_photo(224, out), np.random.default_rng(0).normal(0, 1, (1, 224, 224, 3)).astype(np.float32)])
    make_tf2cv_files(out, x, TF2CV_NAMES)
    return out, x


@pytest.mark.parametrize("tf2cv_name", TF2CV_NAMES)
def test_parity_with_tf2cv_at_224_then_runs_at_160(reference, tf2cv_name):
    out, x = reference
    ours = published()[tf2cv_name].name
    path = str(out / f"{tf2cv_name}.tf2.h5")
    model = squeezekit.build(ours, convention="imgclsmob", weights=path)
    expected = _softmax(np.load(out / f"{tf2cv_name}.logits.npy").astype(np.float64))
    got = np.asarray(model(x, training=False), np.float64)
    # The softmax is neither flat nor saturated (the reference scales its classifier), so 1e-5 can fail.
    assert 0.02 < expected.max() < 0.95
    assert np.abs(got - expected).max() <= PARITY_ATOL, (tf2cv_name, np.abs(got - expected).max())
    assert (got.argmax(-1) == expected.argmax(-1)).all()
    # Any input size: tf2cv's own model only runs at 224 (its final pooling is fixed).
    small = squeezekit.build(ours, weights=path, input_shape=(160, 160, 3))
    assert squeezekit.models.get_spec(ours, "imgclsmob").convention == "imgclsmob"
    y = np.asarray(small(x[:, 32:192, 32:192], training=False))
    assert y.shape == (2, 1000) and np.isfinite(y).all()
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    for a, b in zip(model.get_weights(), small.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_tf2cv_pooling_is_what_parity_needs(reference):
    """tf2cv's ceil-mode pools pad both sides: with Caffe/PyTorch's end padding the outputs differ (1e-3)."""
    out, x = reference
    path = str(out / "sqnxt23_w1.tf2.h5")
    expected = _softmax(np.load(out / "sqnxt23_w1.logits.npy").astype(np.float64))
    end = squeezekit.build("sqnxt23_w1", convention="imgclsmob", weights=path, ceil_padding="end")
    assert np.abs(np.asarray(end(x, training=False)) - expected).max() > 1e-4
    model = squeezekit.build("sqnxt23_w1", convention="imgclsmob")
    assert model.get_layer("stem_pool_pad").padding == ((1, 1), (1, 1))


def test_report_position_matching_and_tf_keras_twin(reference, tmp_path):
    out, x = reference
    path = str(out / "sqnxt23v5_w1.tf2.h5")
    model = squeezekit.build("sqnxt23v5_w1", convention="imgclsmob")
    report = tf2cv.load_tf2cv(model, path)
    assert report.matched_by == "names" and report.classifier == "loaded"
    assert report.loaded == sum(len(layer.weights) for layer in model.layers)
    assert report.loaded_params == model.count_params()
    assert report.tf2cv_name is None  # random weights: not a file of tf2cv's store

    # A file whose variable names carry no structure loads by position in tf2cv's order, as tf_keras would.
    renamed = tmp_path / "renamed.h5"
    with h5py.File(path, "r") as src, h5py.File(renamed, "w") as dst:
        dst.attrs.update(dict(src.attrs))
        counter = 0
        for group in src.attrs["layer_names"]:
            group = group.decode() if isinstance(group, bytes) else group
            names = [n.decode() if isinstance(n, bytes) else n for n in src[group].attrs["weight_names"]]
            new = []
            for name in names:
                new.append(f"var_{counter}:0")
                dst.create_dataset(f"{group}/{new[-1]}", data=src[group][name][()])
                counter += 1
            dst[group].attrs["weight_names"] = [n.encode() for n in new]
    by_position = squeezekit.build("sqnxt23v5_w1", convention="imgclsmob")
    report = tf2cv.load_tf2cv(by_position, str(renamed))
    assert report.matched_by == "position"
    for a, b in zip(model.get_weights(), by_position.get_weights()):
        np.testing.assert_array_equal(a, b)

    # The tf_keras twin (what QAT runs on) loads the same file to the same outputs.
    twin = squeezekit.build("sqnxt23v5_w1", convention="imgclsmob", keras_module="tf_keras", weights=path)
    np.testing.assert_allclose(np.asarray(twin(x, training=False)), np.asarray(model(x, training=False)), atol=1e-6)


def test_include_top_false_and_other_classes_load_all_but_the_classifier(reference):
    import keras

    out, x = reference
    for tf2cv_name, head in (("sqnxt23_w1", "avg_pool"), ("squeezenet_v1_1", "drop9")):
        ours = published()[tf2cv_name].name
        path = str(out / f"{tf2cv_name}.tf2.h5")
        full = squeezekit.build(ours, weights=path)
        features = keras.Model(full.input, full.get_layer(head).output)
        reference_features = np.asarray(features(x, training=False))
        pooling = "avg" if head == "avg_pool" else None
        bare = squeezekit.build(ours, weights=path, include_top=False, pooling=pooling)
        report = tf2cv.load_tf2cv(bare, path)
        assert report.classifier == "absent (include_top=False)"
        np.testing.assert_allclose(np.asarray(bare(x, training=False)), reference_features, rtol=1e-5, atol=1e-5)

        ten = squeezekit.build(ours, weights=path, classes=10)
        report = tf2cv.load_tf2cv(ten, path)
        assert report.classifier == "not loaded (1000 classes in the file, 10 in the model)"
        assert ten.output_shape == (None, 10)
        ten_features = keras.Model(ten.input, ten.get_layer(head).output)
        np.testing.assert_allclose(np.asarray(ten_features(x, training=False)), reference_features, rtol=1e-5,
                                   atol=1e-5)


def test_mismatched_files_give_one_line_errors(reference, tmp_path):
    out, _ = reference
    plain = tmp_path / "weights.h5"  # no tf2cv model name in the file name: the structure must speak
    plain.write_bytes((out / "sqnxt23_w1.tf2.h5").read_bytes())
    with pytest.raises(WeightsError) as err:
        squeezekit.build("sqnxt23v5_w1", weights=str(plain))
    message = str(err.value)
    assert "\n" not in message and "does not fit sqnxt23v5_w1" in message
    assert "the file holds sqnxt23_w1 weights: build sqnxt23_w1 instead" in message
    with pytest.raises(WeightsError, match=r"init_block/conv/conv/conv/kernel:0 is \(7, 7, 3, 64\) in the file "
                                           r"but stem_conv.kernel is \(7, 7, 3, 96\) in the model"):
        squeezekit.build("sqnxt23_w3d2", weights=str(plain))
    with pytest.raises(WeightsError, match="is tf2cv's sqnxt23_w1, not sqnxt23_w2; build sqnxt23_w1"):
        squeezekit.build("sqnxt23_w2", weights=str(out / "sqnxt23_w1.tf2.h5"))
    sqn = tmp_path / "sqn.h5"
    sqn.write_bytes((out / "squeezenet_v1_1.tf2.h5").read_bytes())
    with pytest.raises(WeightsError, match="holds squeezenet_v1_1 or squeezeresnet_v1_1 weights: build "
                                           "squeezenet1_1 or squeezenet1_1_bypass instead"):
        squeezekit.build("squeezenet1_0", weights=str(sqn))
    with pytest.raises(ValueError, match="need convention='imgclsmob', not 'official'"):
        squeezekit.build("sqnxt23_w1", convention="official", weights=str(out / "sqnxt23_w1.tf2.h5"))
    keras_file = tmp_path / "other.weights.h5"
    squeezekit.build("squeezenet1_1", input_shape=(64, 64, 3)).save_weights(keras_file)
    with pytest.raises(WeightsError, match="is not a tf2cv weights file"):
        tf2cv.read(str(keras_file))
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(WeightsError, match="is not an HDF5 file"):
        tf2cv.read(str(text))


def _cli(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=900)


def test_cli_imports_at_160_then_export_int8_with_imagenet_labels(reference, tmp_path):
    from converters import metadata

    out, _ = reference
    run = tmp_path / "imported"
    result = _cli("squeezekit.weights", "--model", "sqnxt23_w1", "--from_tf2cv", str(out / "sqnxt23_w1.tf2.h5"),
                  "--out", str(run / "model.keras"), "--input_size", "160")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "matched by names; classifier loaded" in result.stdout
    assert sorted(os.listdir(run)) == ["labels.txt", "model.keras", "run_config.json"]
    assert (run / "labels.txt").read_text().splitlines() == imagenet_class_names()
    config = json.loads((run / "run_config.json").read_text())["run"]
    assert (config["model"], config["convention"], config["input_size"]) == ("sqnxt23_w1", "imgclsmob", 160)
    assert config["extra"]["preprocessing"]["channel_order"] == "RGB"

    exports = tmp_path / "exports"
    result = _cli("squeezekit.export", "--weights", str(run / "model.keras"), "--int8", "--profile", "none",
                  "--out", str(exports))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "post-training calibration" in result.stdout
    content = (exports / "sqnxt23_w1_int8.tflite").read_bytes()
    info, labels = metadata.read(content)
    assert labels == imagenet_class_names()
    assert info["input"]["shape"][1:3] == [160, 160] and info["input"]["channel_order"] == "RGB"
    assert info["input"]["crop_fraction"] == 0.875 and info["model"] == "sqnxt23_w1"
    report = json.loads((exports / "sqnxt23_w1_int8.report.json").read_text())
    assert report["agreement"]["top1_agreement"] >= 0.5

    # Bad input: one line on stderr, exit status 1, nothing written.
    bad = _cli("squeezekit.weights", "--model", "sqnxt23v5_w1", "--from_tf2cv", str(out / "sqnxt23_w1.tf2.h5"),
               "--out", str(tmp_path / "bad" / "model.keras"))
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]  # TF's C++ log lines aside
    assert bad.returncode == 1 and len(errors) == 1 and "Traceback" not in bad.stderr
    assert "is tf2cv's sqnxt23_w1, not sqnxt23v5_w1" in errors[0]
    assert not (tmp_path / "bad").exists()
    missing = _cli("squeezekit.weights", "--model", "sqnxt44_w1", "--from_tf2cv", str(out / "sqnxt23_w1.tf2.h5"),
                   "--out", str(tmp_path / "bad" / "model.keras"))
    assert missing.returncode == 1 and "tf2cv publishes no sqnxt44_w1 weights" in missing.stderr


def test_published_rows_match_tf2cv_store_and_readme():
    """The rows' weights are tf2cv's own model-store table for these ten models, with their preprocessing."""
    import importlib.util

    spec = importlib.util.find_spec("tf2cv")  # not imported: importing tf2cv would touch tf.keras
    store_py = os.path.join(os.path.dirname(spec.origin), "models", "model_store.py")
    tree = ast.parse(open(store_py).read())
    rows = next(node for node in ast.walk(tree) if isinstance(node, ast.List) and len(node.elts) > 100)
    table = {row[0]: row[1:] for row in ast.literal_eval(rows)}
    rows = published()
    assert len(rows) == 10
    for name, spec in rows.items():
        error, sha1, release = table[name][:3]
        w = spec.weights
        assert (w.format, w.store_name, w.sha1, spec.convention) == ("tf2cv", name, sha1, "imgclsmob")
        assert (table[name][3], table[name][4]) == ("in1k", 0.875)
        assert w.file_name == f"{name}-{error}-{sha1[:8]}.tf2.h5"
        assert w.url == f"https://github.com/osmr/imgclsmob/releases/download/{release}/{w.file_name}.zip"
        # The store's error field is the top-5 error in hundredths of a percent; the README rounds the same way.
        assert int(error) == round(w.top5_error * 100) and 15 < w.top1_error < 45, name
        assert w is squeezekit.models.get_spec(spec.name, "imgclsmob").weights
        p = spec.preprocessing
        assert p.channel_order == "RGB" and p.crop_fraction == table[name][4]  # resize 256, crop 224
        np.testing.assert_allclose(p.mean, np.array([0.485, 0.456, 0.406]) * 255)
        np.testing.assert_allclose(p.std, np.array([0.229, 0.224, 0.225]) * 255)


def test_imagenet_labels_ship_with_the_package():
    rows = imagenet_synsets()
    wnids = [wnid for wnid, _ in rows]
    assert len(rows) == 1000 and wnids == sorted(wnids) and len(set(wnids)) == 1000
    names = imagenet_class_names()
    assert (names[0], names[1], names[281], names[409], names[999]) == (
        "tench", "goldfish", "tabby", "analog clock", "toilet tissue")
    assert rows[0] == ("n01440764", "tench, Tinca tinca")
