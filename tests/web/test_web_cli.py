"""``--web_demo`` of the export CLI and ``python -m squeezekit.serve``: what they copy, serve and refuse."""

import os
import shutil
import subprocess
import sys
import urllib.request

import pytest

pytestmark = pytest.mark.xdist_group("web")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "web_demo")


def _cli(*args, timeout=600):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout)


def _one_error_line(result, expected: str):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and lines[-1].startswith("error: ") and expected in lines[-1], \
        result.stderr[-2000:]


def _demo_copy(tmp_path):
    target = tmp_path / "web_demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("node_modules", "*.tflite"))
    return target


def test_export_copies_the_int8_file_into_the_web_demo(tmp_path):
    demo = _demo_copy(tmp_path)
    args = ["squeezekit.export", "--model", "squeezenet1_1", "--input_size", "64", "--int8", "--float32",
            "--qat_epochs", "0", "--profile", "none", "--out", str(tmp_path / "exports")]
    result = _cli(*args, "--web_demo", str(demo))
    assert result.returncode == 0, result.stderr[-3000:]
    copied = demo / "models" / "model.tflite"
    assert copied.read_bytes() == (tmp_path / "exports" / "squeezenet1_1_int8.tflite").read_bytes()
    assert f"copied squeezenet1_1_int8.tflite to {copied}" in result.stdout
    assert not [p for p in os.listdir(demo / "models") if p.startswith(".")]  # no temp file left behind
    # A folder that is not the demo: refused before anything is converted.
    result = _cli(*args, "--web_demo", str(tmp_path / "exports"))
    _one_error_line(result, "is not the web demo")
    result = _cli("squeezekit.export", "--model", "squeezenet1_1", "--input_size", "64", "--int16x8",
                  "--profile", "none", "--out", str(tmp_path / "x"), "--web_demo", str(demo))
    _one_error_line(result, "--web_demo needs a file the page reads")
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").glob("*.tflite"))


def _serve(*args):
    return subprocess.Popen([sys.executable, "-m", "squeezekit.serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))


def test_serve_sends_the_isolation_headers_and_refuses_bad_folders(tmp_path):
    demo = _demo_copy(tmp_path)
    # Not installed and told not to install: the fix is named.
    result = _cli("squeezekit.serve", str(demo), "--noinstall", "--port", "0", timeout=60)
    _one_error_line(result, "LiteRT.js is not installed in")
    _one_error_line(_cli("squeezekit.serve", str(tmp_path), timeout=60), "is not the web demo")
    _one_error_line(_cli("squeezekit.serve", str(demo), str(demo), timeout=60), "pass one folder, the web demo (web_demo/), not 2")

    from squeezekit import webdemo

    if not webdemo.installed(DEMO):
        webdemo.install(DEMO)
    os.symlink(os.path.join(DEMO, "node_modules"), demo / "node_modules")
    proc = _serve(str(demo), "--port", "0")
    try:
        first = proc.stdout.readline()
        assert first.startswith(f"serving {demo} at http://127.0.0.1:"), first
        url = first.split(" at ")[1].split()[0]
        assert "no model yet" in proc.stdout.readline()
        with urllib.request.urlopen(url) as response:
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert b"squeezekit web demo" in response.read()
        port = url.rstrip("/").rsplit(":", 1)[1]
        _one_error_line(_cli("squeezekit.serve", str(demo), "--port", port, timeout=60), "cannot listen on")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
