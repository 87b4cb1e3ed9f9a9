"""The browser demo (``web_demo/``) in a real headless Chromium, against ``python -m squeezekit.classify``.

The page is served by ``python -m squeezekit.serve`` (cross-origin isolated, so LiteRT.js runs its threaded
WebAssembly build) from a scratch copy of web_demo/ that shares the repository's node_modules (``npm ci`` from
package-lock.json, once). Three registry models (a SqueezeNet, a SqueezeNext, ``sqnxt_cpu1``), int8 and float32,
classify the Android parity test's photos and photos it has never seen; the page's input tensors and int8
outputs must be the very bytes Python gives, float32 outputs within 1e-5, the top-5 the same classes.

Needs Node.js 18+ (npm) and Chromium with its driver (Debian: ``apt-get install chromium chromium-driver``).
"""

import base64
import functools
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile

import numpy as np
import pytest

from squeezekit.webdemo import PageError

pytestmark = pytest.mark.xdist_group("web")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "web_demo")
INPUT_SIZE = 128  # parity is about arithmetic, not size; small keeps the conversions quick
MODELS = ["squeezenet1_1", "sqnxt23_w1", "sqnxt_cpu1"]
FLAVOURS = ["int8", "float32"]
def _photos(out: str) -> dict:
    """name -> file: lossless PNGs of the Android parity test's photos (scikit-learn, scikit-image), photos it
    never used (a portrait, a grayscale one, a small crop that is upscaled), and two JPEGs as shipped."""
    import skimage.data
    import sklearn.datasets
    from PIL import Image
    from sklearn.datasets import load_sample_image

    os.makedirs(out, exist_ok=True)
    arrays = {"china": load_sample_image("china.jpg"), "flower": load_sample_image("flower.jpg"),
              "astronaut": skimage.data.astronaut(), "coffee": skimage.data.coffee(),
              "chelsea": skimage.data.chelsea(),
              # never used by the Android test:
              "rocket": skimage.data.rocket(), "camera_gray": skimage.data.camera(),
              "astronaut_small": skimage.data.astronaut()[100:193, 50:171]}
    files = {}
    for name, array in arrays.items():
        files[name] = os.path.join(out, f"{name}.png")
        Image.fromarray(np.asarray(array, np.uint8)).save(files[name])
    for name in ("china", "flower"):  # Chromium and Pillow both decode with libjpeg-turbo (islow, fancy upsampling)
        files[f"{name}_jpeg"] = os.path.join(out, f"{name}.jpg")
        shutil.copyfile(os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", f"{name}.jpg"),
                        files[f"{name}_jpeg"])
    return files


def _spread_classifier(source, target: float = 3.0) -> None:
    """Scale the classifier's kernel so that its class scores on the calibration images have a standard deviation
    of ``target`` per image, as a trained network's do. Untrained, SqueezeNet's scores are nearly equal (int8
    outputs tie, and any top-5 order passes) and SqueezeNext's differ by 1e5 (one class takes everything)."""
    import keras

    last = [layer for layer in source.model.layers if getattr(layer, "kernel", None) is not None][-1]
    kernel, *rest = last.get_weights()
    features = np.asarray(keras.Model(source.model.inputs, last.input)([source.calibration]))
    features = features.reshape(len(features), -1, kernel.shape[-2]).mean(axis=1)  # 1x1 conv: pooled first
    scores = features @ kernel.reshape(kernel.shape[-2], kernel.shape[-1])
    last.set_weights([kernel * (target / scores.std(axis=1).mean()), *rest])


def _export(models_dir: str) -> dict:
    """(model, flavour) -> file name in models_dir, exported as the export CLI does."""
    from converters import tflite
    from squeezekit.export import pipeline

    import keras

    files = {}
    for name in MODELS:
        keras.utils.set_random_seed(int(os.environ.get("SQUEEZEKIT_WEB_SEED", "0")))  # the same weights each run
        source = pipeline.prepare(name, input_size=INPUT_SIZE, calibration_images=8)
        _spread_classifier(source)
        with tflite.exported(source.model) as saved:
            for flavour in FLAVOURS:
                result = pipeline.export(source, tflite.Recipe(flavour), os.path.join(models_dir, "scratch"),
                                         saved=saved, log=lambda *a: None, verbose=0)
                files[name, flavour] = f"{name}_{flavour}.tflite"
                shutil.move(result.tflite, os.path.join(models_dir, files[name, flavour]))
    shutil.rmtree(os.path.join(models_dir, "scratch"), ignore_errors=True)
    return files


def _copy_demo(target: str) -> str:
    from squeezekit import webdemo

    assert webdemo.installed(webdemo.DEMO) or shutil.which("npm"), \
        "Node.js with npm is needed for the web demo's LiteRT.js (README: prerequisites)"
    return webdemo.scratch_copy(target)


def _serve(demo: str):
    """``python -m squeezekit.serve DEMO --port 0``: the process and the URL it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "squeezekit.serve", demo, "--port", "0", "--noinstall"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    assert line.startswith("serving "), line + proc.stderr.read() if proc.poll() is not None else line
    return proc, line.split(" at ")[1].split()[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    demo = _copy_demo(str(root / "web_demo"))
    models = _export(os.path.join(demo, "models"))
    photos = _photos(os.path.join(demo, "photos"))
    proc, url = _serve(demo)
    try:
        yield {"dir": demo, "url": url, "models": models, "photos": photos}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from squeezekit import webdemo

    driver = webdemo.chromium()  # WebDemoError names the packages when Chromium or its driver is missing
    try:
        yield driver
    finally:
        driver.quit()


def call(driver, expression: str):
    from squeezekit import webdemo

    return webdemo.call(driver, expression)


def _open(driver, url: str, query: str = ""):
    driver.get(url + "index.html" + query)
    call(driver, "Promise.resolve()")


@functools.lru_cache(maxsize=None)
def _classifier(model_path: str):
    from squeezekit.classify import Classifier

    with open(model_path, "rb") as f:
        return Classifier(f.read(), num_threads=1)


def _reference(model_path: str, photo_path: str):
    """What python -m squeezekit.classify computes: input tensor, output tensor, top-5 class indices."""
    from converters.report import dequantize, quantize
    from squeezekit.classify import load_image, preprocess

    classifier = _classifier(model_path)
    rgb = load_image(photo_path, classifier.size, classifier.info["input"]["crop_fraction"])
    x = quantize(preprocess(rgb, classifier.info)[None], classifier.input)
    classifier.interpreter.set_tensor(classifier.input["index"], x)
    classifier.interpreter.invoke()
    y = classifier.interpreter.get_tensor(classifier.output["index"])
    probs = dequantize(y, classifier.output)[0]
    return x, y, [int(i) for i in np.argsort(-probs, kind="stable")[:5]], probs


def test_the_page_is_cross_origin_isolated_and_runs_threads(site, browser):
    with urllib.request.urlopen(site["url"] + "index.html") as response:
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    with urllib.request.urlopen(site["url"] + "node_modules/@litertjs/core/wasm/litert_wasm_internal.wasm") as r:
        assert r.headers["Content-Type"] == "application/wasm"
    _open(browser, site["url"])
    state = call(browser, "window.squeezekit.state()")
    cores = browser.execute_script("return navigator.hardwareConcurrency")
    assert state["crossOriginIsolated"] and state["threaded"] and state["maxThreads"] == cores, state
    assert state["state"] == "empty" and not state["message"]  # no models/model.tflite in this copy yet


@pytest.mark.parametrize("model", MODELS)
def test_int8_and_float32_match_the_python_classifier(site, browser, model):
    _open(browser, site["url"])
    distinct, outputs = [], set()
    for flavour in FLAVOURS:
        name = site["models"][model, flavour]
        loaded = call(browser, f"window.squeezekit.loadModel('models/{name}')")
        assert loaded["accelerator"] == "wasm" and loaded["size"] == INPUT_SIZE, loaded
        for photo, path in site["photos"].items():
            page = call(browser, f"window.squeezekit.classifyUrl('photos/{os.path.basename(path)}')")
            x, y, top5, probs = _reference(os.path.join(site["dir"], "models", name), path)
            where = f"{name} on {photo}"
            assert base64.b64decode(page["input"]) == x.tobytes(), f"{where}: input tensors differ"
            out = base64.b64decode(page["output"])
            if flavour == "int8":
                assert out == y.tobytes(), f"{where}: int8 outputs differ"
            else:
                diff = np.abs(np.frombuffer(out, np.float32) - y.ravel()).max()
                assert diff <= 1e-5, f"{where}: float32 outputs differ by {diff}"
            assert [t["index"] for t in page["top5"]] == top5, where
            # int8: the same bytes dequantized the same way; float32: the outputs' tolerance
            assert [t["probability"] for t in page["top5"]] == pytest.approx(
                probs[top5].tolist(), abs=1e-5 if flavour == "float32" else 1e-7), where
            distinct.append(len({t["probability"] for t in page["top5"]}))
            outputs.add(out)
    # The comparison means something: every photo gives its own output (the JPEGs decode to their PNGs' pixels),
    # and top-5 ranks are rarely ties.
    pictures = {name.removesuffix("_jpeg") for name in site["photos"]}
    assert len(outputs) == len(FLAVOURS) * len(pictures) and np.mean(distinct) >= 3.5, (model, distinct)


def _wait(driver, condition, what: str, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _shown_top5(driver):
    from selenium.webdriver.common.by import By

    return [int(li.get_attribute("data-index")) for li in driver.find_elements(By.CSS_SELECTOR, "#top5 li")]


def test_the_page_as_a_user_sees_it(site, browser):
    """models/model.tflite loads by itself; a photo chosen in the picker shows the Python top-5 and the time;
    the threads switch recompiles; the camera classifies frames."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    name = site["models"]["sqnxt23_w1", "int8"]
    shutil.copyfile(os.path.join(site["dir"], "models", name), os.path.join(site["dir"], "models", "model.tflite"))
    try:
        _open(browser, site["url"])
        _wait(browser, lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "ready",
              "the default model")
        assert "1.0-SqNxt-23 (int8)" in browser.find_element(By.ID, "model-info").text
        photo = site["photos"]["chelsea"]
        browser.find_element(By.ID, "photo-file").send_keys(photo)
        _wait(browser, lambda: len(_shown_top5(browser)) == 5, "the top-5")
        assert _shown_top5(browser) == _reference(os.path.join(site["dir"], "models", name), photo)[2]
        timing = browser.find_element(By.ID, "timing").text
        assert "ms (mean of the last 1 run) · WASM, " in timing and float(timing.split()[1]) > 0, timing

        Select(browser.find_element(By.ID, "threads")).select_by_value("1")
        _wait(browser, lambda: call(browser, "window.squeezekit.state()")["threads"] == 1, "one thread")
        browser.find_element(By.ID, "photo-file").send_keys(site["photos"]["coffee"])
        _wait(browser, lambda: "WASM, 1 thread" in browser.find_element(By.ID, "timing").text, "the 1-thread time")

        bench = call(browser, "window.squeezekit.benchmark(5)")
        assert len(bench["times"]) == 5 and bench["meanMs"] > 0
        assert bench["shown"] == browser.find_element(By.ID, "timing").text  # the figure benchmarks report

        browser.find_element(By.ID, "camera").click()
        _wait(browser, lambda: call(browser, "window.squeezekit.state()")["cameraFrames"] >= 3, "camera frames")
        assert browser.find_element(By.ID, "photo-name").text.startswith("camera ")
        browser.find_element(By.ID, "camera").click()
        assert not browser.find_element(By.ID, "message").is_displayed()
    finally:
        os.unlink(os.path.join(site["dir"], "models", "model.tflite"))


def _bad_files(site) -> dict:
    """name -> (bytes, what the page must say)."""
    with open(os.path.join(site["dir"], "models", site["models"]["squeezenet1_1", "int8"]), "rb") as f:
        good = f.read()
    with zipfile.ZipFile(os.path.join(site["dir"], "models", site["models"]["squeezenet1_1", "int8"])) as zf:
        zip_start = min(info.header_offset for info in zf.infolist())
    damaged = bytearray(good)
    damaged[8:4000] = np.random.default_rng(0).integers(0, 256, 3992, dtype=np.uint8).tobytes()
    return {"random.tflite": (np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes(),
                              "random.tflite is not a TFLite model (no TFL3 file identifier)"),
            "empty.tflite": (b"", "empty.tflite is empty"),
            "plain.tflite": (good[:zip_start], "plain.tflite has no squeezekit metadata: export it with "
                                               "python -m squeezekit.export"),
            "cut.tflite": (good[:len(good) // 2], "cut.tflite has no squeezekit metadata"),
            "damaged.tflite": (bytes(damaged), "LiteRT.js cannot run damaged.tflite: Failed to load model")}


def test_a_bad_file_gets_a_message_on_the_page(site, browser):
    from selenium.webdriver.common.by import By

    bad = _bad_files(site)
    for name, (content, _) in bad.items():
        with open(os.path.join(site["dir"], "models", name), "wb") as f:
            f.write(content)
    _open(browser, site["url"])
    for name, (_, expected) in bad.items():
        with pytest.raises(PageError, match="^" + expected.replace("(", r"\(").replace(")", r"\)")):
            call(browser, f"window.squeezekit.loadModel('models/{name}')")
        message = browser.find_element(By.ID, "message")
        assert message.is_displayed() and message.text.startswith(expected), (name, message.text)
        assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "error"
    # Through the picker, as a user drops it; then a good file still loads.
    browser.find_element(By.ID, "model-file").send_keys(os.path.join(site["dir"], "models", "plain.tflite"))
    _wait(browser, lambda: "plain.tflite has no squeezekit metadata" in browser.find_element(By.ID, "message").text,
          "the message")
    call(browser, f"window.squeezekit.loadModel('models/{site['models']['squeezenet1_1', 'int8']}')")
    assert not browser.find_element(By.ID, "message").is_displayed()
    page = call(browser, f"window.squeezekit.classifyUrl('photos/coffee.png')")
    assert len(page["top5"]) == 5
    with pytest.raises(PageError, match="^cannot read package.json as an image"):
        call(browser, "window.squeezekit.classifyUrl('package.json')")
    # ?model= a file that is not there
    _open(browser, site["url"], "?model=models/missing.tflite")
    assert call(browser, "window.squeezekit.state()")["message"] == "cannot fetch models/missing.tflite: HTTP 404"


def test_webgpu_runs_float32_and_refuses_int8_with_a_reason(site, browser):
    _open(browser, site["url"], "?accelerator=webgpu")
    state = call(browser, "window.squeezekit.state()")
    assert state["webgpu"], "Chromium offered no WebGPU adapter (SwiftShader) with the test's flags"
    name = site["models"]["squeezenet1_1", "float32"]
    assert call(browser, f"window.squeezekit.loadModel('models/{name}')")["accelerator"] == "webgpu"
    path = site["photos"]["chelsea"]
    page = call(browser, "window.squeezekit.classifyUrl('photos/chelsea.png')")
    x, y, top5, _ = _reference(os.path.join(site["dir"], "models", name), path)
    assert base64.b64decode(page["input"]) == x.tobytes()
    assert np.abs(np.frombuffer(base64.b64decode(page["output"]), np.float32) - y.ravel()).max() <= 1e-5
    assert [t["index"] for t in page["top5"]] == top5
    with pytest.raises(PageError, match="feeds WebGPU float32 tensors only; run this model on WASM"):
        call(browser, f"window.squeezekit.loadModel('models/{site['models']['squeezenet1_1', 'int8']}')")


def test_without_isolation_headers_the_page_runs_on_one_thread(site, browser):
    """Any static server works: without COOP/COEP the page loads LiteRT.js's single-threaded build."""
    import http.server
    import threading

    class Plain(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Plain, directory=site["dir"]))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        _open(browser, f"http://127.0.0.1:{httpd.server_address[1]}/")
        state = call(browser, "window.squeezekit.state()")
        assert not state["crossOriginIsolated"] and not state["threaded"] and state["maxThreads"] == 1, state
        name = site["models"]["sqnxt_cpu1", "int8"]
        assert call(browser, f"window.squeezekit.loadModel('models/{name}')")["threads"] == 1
        page = call(browser, "window.squeezekit.classifyUrl('photos/rocket.png')")
        x, y, top5, _ = _reference(os.path.join(site["dir"], "models", name), site["photos"]["rocket"])
        assert base64.b64decode(page["input"]) == x.tobytes() and base64.b64decode(page["output"]) == y.tobytes()
    finally:
        httpd.shutdown()
