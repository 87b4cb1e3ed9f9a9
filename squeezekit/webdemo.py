"""The browser demo (``web_demo/``): copy an export in, install its pinned runtime, serve it.

The page runs a .tflite with LiteRT.js from ``node_modules`` (``npm ci`` from its package-lock.json); its threaded
WebAssembly build needs SharedArrayBuffer, which a browser allows only on a cross-origin isolated page, i.e. one
served with ``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Embedder-Policy: require-corp``.
``serve`` sends both (and ``application/wasm`` for .wasm, which WebAssembly.instantiateStreaming requires).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess

from converters.errors import SqueezekitError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "web_demo")
PACKAGE = "squeezekit-web-demo"  # package.json's name: how a folder is known to be the demo
MODEL = os.path.join("models", "model.tflite")  # what the page loads when no ?model= is given
RUNTIME = os.path.join("node_modules", "@litertjs", "core", "wasm")
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


class WebDemoError(SqueezekitError):
    pass


def check(demo_dir: str) -> None:
    """``demo_dir`` must be the web demo (its package.json names it), so a typo copies nothing."""
    try:
        with open(os.path.join(demo_dir, "package.json")) as f:
            name = json.load(f).get("name")
    except (OSError, ValueError):
        name = None
    if name != PACKAGE or not os.path.isfile(os.path.join(demo_dir, "index.html")):
        raise WebDemoError(f"{demo_dir} is not the web demo (no package.json named {PACKAGE} with an index.html)",
                           "pass the web_demo/ folder of the squeezekit repository.", param="web_demo")


def copy_model(tflite_path: str, demo_dir: str) -> str:
    """Copy the .tflite to ``models/model.tflite`` of the demo, atomically (the page never reads half a model)."""
    from converters.files import write_atomic

    check(demo_dir)
    target = os.path.join(demo_dir, MODEL)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(tflite_path, "rb") as f:
        write_atomic(target, f.read())
    return target


def installed(demo_dir: str) -> bool:
    return os.path.isdir(os.path.join(demo_dir, RUNTIME))


def install(demo_dir: str, log=print) -> None:
    """``npm ci`` in the demo: LiteRT.js at the versions package-lock.json pins (about 40 MB, once)."""
    check(demo_dir)
    npm = shutil.which("npm")
    if not npm:
        raise WebDemoError("npm is not installed, and the page needs LiteRT.js from npm",
                           "install Node.js 18 or newer (it brings npm), then run this again.")
    log(f"installing LiteRT.js into {os.path.join(demo_dir, 'node_modules')} (npm ci, once)")
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=demo_dir, capture_output=True, text=True)
    if result.returncode != 0 or not installed(demo_dir):
        lines = [l for l in (result.stderr + result.stdout).splitlines() if l.strip()]
        raise WebDemoError(f"npm ci failed in {demo_dir}: {lines[-1].strip() if lines else 'no output'}",
                           "check that npm can reach its registry, then run this again.")


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with the cross-origin isolation headers, no caching (a re-exported model is seen at once)."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".js": "text/javascript", ".mjs": "text/javascript", ".tflite": "application/octet-stream"}

    def end_headers(self):
        for key, value in ISOLATION.items():
            self.send_header(key, value)
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # quiet: errors only
        if len(args) > 1 and str(args[1]).startswith(("4", "5")):
            super().log_message(format, *args)


def server(demo_dir: str, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for ``demo_dir`` (not started; ``serve_forever`` it). Port 0 takes a free one."""
    try:
        return http.server.ThreadingHTTPServer((host, port), functools.partial(Handler, directory=demo_dir))
    except OSError as err:
        raise WebDemoError(f"cannot listen on {host}:{port} ({err.strerror or err})",
                           "choose another port.", param="port") from None


# --- Driving the page from Python (the browser test and benchmarks/web_latency.py) ---------------------------

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900",
                  # a camera for getUserMedia: Chromium's test pattern, allowed without a prompt
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  # WebGPU on the CPU (SwiftShader, shipped with Chromium), for machines without a GPU
                  "--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan",
                  "--use-vulkan=swiftshader")


class PageError(WebDemoError):
    """A ``window.squeezekit`` call the page rejected; ``str()`` is the page's message."""


def chromium(flags=CHROMIUM_FLAGS):
    """Headless Chromium driven by Selenium through the system's chromedriver (Debian: apt-get install chromium
    chromium-driver); Selenium's own driver download is never used."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise WebDemoError("Chromium and chromedriver are needed to drive the page",
                           "install them (Debian: apt-get install chromium chromium-driver).")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in flags:
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.set_script_timeout(600)
    return session


def call(driver, expression: str):
    """Await ``expression`` (on ``window.squeezekit``) in the page once it is ready; its JSON value, or a
    ``PageError`` with the page's message."""
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.squeezekit.ready.then(() => " + expression + ")"
        ".then(value => done({value}), err => done({error: String(err && err.message || err)}));")
    if "error" in result:
        raise PageError(result["error"])
    return result.get("value")


def scratch_copy(target: str) -> str:
    """A copy of web_demo/ at ``target`` whose node_modules links to the repository's (installed first if
    needed): somewhere to put models without touching the repository."""
    if not installed(DEMO):
        install(DEMO)
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("node_modules", "*.tflite"))
    os.symlink(os.path.join(DEMO, "node_modules"), os.path.join(target, "node_modules"))
    return target

