"""The Android demo's logic, compiled and tested on the JVM, and its parity with the Python classifier.

Python writes, for real photos and exported models, the input tensor ``squeezekit.classify`` feeds the model
and the output tensor the model gives; the Kotlin code must rebuild the same input bytes from the same
decoded pixels and read the same top-5 from the same output (``ParityTest`` in android_demo). Maven compiles
the plain-Kotlin core, runs its JUnit tests, and compile-checks the Android-facing classes against Android's
framework classes (Robolectric's android-all) and the TFLite Java API from Maven Central.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytestmark = pytest.mark.xdist_group("android")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "android_demo")
INPUT_SIZE = 128  # parity is about arithmetic, not size; small keeps the conversions quick
# (registry model, flavour, input type, output type): SqueezeNet is RGB with ImageNet mean/std, SqNxt-23 is BGR
# with Caffe means; int8, uint8 and float32 tensors all appear.
MODELS = [("squeezenet1_1", "int8", "int8", "int8"), ("squeezenet1_1", "float32", "int8", "int8"),
          ("sqnxt23_w1", "int8", "int8", "int8"), ("sqnxt23_w1", "float32", "int8", "int8"),
          ("squeezenet1_1", "int8", "uint8", "float32")]


def _photos() -> dict:
    """Real photos that ship inside scikit-learn and scikit-image, as decoded RGB arrays."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    return {"china": load_sample_image("china.jpg"), "flower": load_sample_image("flower.jpg"),
            "astronaut": skimage.data.astronaut(), "coffee": skimage.data.coffee(),
            "chelsea": skimage.data.chelsea()}


def make_parity_fixtures(out: str) -> dict:
    """Write models, lossless PNGs of the photos, and per (model, photo) the input and output tensors."""
    from PIL import Image

    from converters import tflite
    from squeezekit.export import pipeline
    from squeezekit.classify import Classifier, load_image, preprocess
    from converters.report import dequantize, quantize

    os.makedirs(out, exist_ok=True)
    photos = {}
    for name, rgb in _photos().items():
        photos[name] = os.path.join(out, f"{name}.png")
        Image.fromarray(np.asarray(rgb, np.uint8)).save(photos[name])
    cases, exported = [], []
    for model_name in dict.fromkeys(m[0] for m in MODELS):  # one SavedModel per model for all its flavours
        source = pipeline.prepare(model_name, input_size=INPUT_SIZE, calibration_images=8)
        with tflite.exported(source.model) as saved:
            for _, flavour, in_type, out_type in [m for m in MODELS if m[0] == model_name]:
                scratch = os.path.join(out, "scratch")
                result = pipeline.export(source, tflite.Recipe(flavour, in_type, out_type), scratch, saved=saved,
                                         log=lambda *a: None)
                stem = f"{source.spec.name}_{flavour}"
                if flavour == "int8" and (in_type, out_type) != ("int8", "int8"):
                    stem += f"_{in_type}_{out_type}"
                shutil.move(result.tflite, os.path.join(out, stem + ".tflite"))
                exported.append(stem)
    for stem in exported:
        model_file = stem + ".tflite"
        with open(os.path.join(out, model_file), "rb") as f:
            classifier = Classifier(f.read(), num_threads=1)
        interp, inp, outp = classifier.interpreter, classifier.input, classifier.output
        for photo, path in photos.items():
            rgb = load_image(path, classifier.size, classifier.info["input"]["crop_fraction"])
            x = quantize(preprocess(rgb, classifier.info)[None], inp)
            interp.set_tensor(inp["index"], x)
            interp.invoke()
            y = interp.get_tensor(outp["index"])
            probs = dequantize(y, outp)[0]
            top = np.argsort(-probs, kind="stable")[:5]
            case = {"model": model_file, "photo": os.path.basename(path),
                    "input": f"{stem}__{photo}.input.bin", "output": f"{stem}__{photo}.output.bin",
                    "top5": [{"index": int(i), "label": classifier.labels[i], "probability": float(probs[i])}
                             for i in top]}
            with open(os.path.join(out, case["input"]), "wb") as f:
                f.write(np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<")).tobytes())
            with open(os.path.join(out, case["output"]), "wb") as f:
                f.write(np.ascontiguousarray(y).astype(y.dtype.newbyteorder("<")).tobytes())
            cases.append(case)
    shutil.rmtree(os.path.join(out, "scratch"), ignore_errors=True)
    fixture = {"cases": cases}
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(fixture, f, indent=1)
    return fixture


def _pom() -> str:
    for candidate in ("jvm/pom.xml", "pom.xml"):
        path = os.path.join(DEMO, candidate)
        if os.path.exists(path):
            return path
    raise AssertionError("android_demo has no Maven build (jvm/pom.xml)")


@pytest.fixture(scope="session")
def parity_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("parity"))
    make_parity_fixtures(out)
    return out


def test_jvm_build_compile_check_and_parity(parity_dir):
    mvn = shutil.which("mvn")
    assert mvn, "Maven (mvn) is needed to build and test android_demo's JVM code; install it (BUILD.md)."
    cases = json.load(open(os.path.join(parity_dir, "cases.json")))["cases"]
    assert len({c["photo"] for c in cases}) >= 3 and len({c["model"] for c in cases}) == len(MODELS)
    pom = _pom()
    reports = os.path.join(os.path.dirname(pom), "target", "surefire-reports")
    shutil.rmtree(reports, ignore_errors=True)
    result = subprocess.run([mvn, "-B", "-q", "-f", pom, "verify", f"-Dsqueezekit.parity.dir={parity_dir}"],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    # Every JUnit test ran and none was skipped; the parity test saw every case.
    totals = {"tests": 0, "skipped": 0, "failures": 0, "errors": 0}
    names = []
    for xml in glob.glob(os.path.join(reports, "TEST-*.xml")):
        suite = ET.parse(xml).getroot()
        for key in totals:
            totals[key] += int(suite.get(key, 0))
        names += [f"{c.get('classname')}.{c.get('name')}" for c in suite.iter("testcase")]
    assert totals["tests"] > 0 and totals["skipped"] == totals["failures"] == totals["errors"] == 0, totals
    assert any("Parity" in n for n in names), names


def test_export_copies_the_model_into_the_android_demo(tmp_path):
    demo = tmp_path / "demo"
    (demo / "app" / "src" / "main").mkdir(parents=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    args = [sys.executable, "-m", "squeezekit.export", "--model", "squeezenet1_1", "--input_size", "64",
            "--float32", "--profile", "none", "--out", str(tmp_path / "exports")]
    result = subprocess.run(args + ["--android_demo", str(demo)], capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    asset = demo / "app" / "src" / "main" / "assets" / "model.tflite"
    assert asset.read_bytes() == (tmp_path / "exports" / "squeezenet1_1_float32.tflite").read_bytes()
    result = subprocess.run(args + ["--android_demo", str(tmp_path / "exports")], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 1 and "is not the Android demo project" in result.stderr
    assert result.stderr.strip().count("\n") == 0  # one line, no traceback
