"""For the kill tests: run a CLI, ``kill -9`` it at a seeded moment, and check what it left.

The checks hold wherever the kill lands: every file under a final name is complete (whatever its kind),
only ``.tmp-*`` names may be partial. None of them depends on timing.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile

TMP = ".tmp-"
PNG_END = b"IEND\xaeB`\x82"


def start(module: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def run(module: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout)


def temps(folder) -> list[str]:
    found = []
    for root, _, names in os.walk(folder):
        found += [os.path.join(root, n) for n in names if n.startswith(TMP)]
    return sorted(found)


def kill_when(proc: subprocess.Popen, ready, *, seed: int, max_delay: float, timeout: float = 600) -> bool:
    """Wait until ``ready()`` (polled every 10 ms), then a seeded random delay up to ``max_delay`` s, then
    ``kill -9``. Returns True if the kill landed, False if the process had already ended (its own exit)."""
    deadline = time.time() + timeout
    while proc.poll() is None and not ready() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0, max_delay))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def check_file(path: str) -> None:
    """``path`` (a final name) is a complete file of its kind."""
    name = os.path.basename(path)
    with open(path, "rb") as f:
        data = f.read()
    assert data, f"{path} is empty"
    if name.endswith(".json"):
        json.loads(data)
    elif name.endswith(".png"):
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(PNG_END), f"{path} is a partial PNG"
    elif name.endswith(".keras"):
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None and "config.json" in z.namelist(), f"{path} is a damaged .keras"
    elif name.endswith(".h5"):
        import h5py

        with h5py.File(path, "r") as h5:
            list(h5.keys())
    elif name.endswith(".tflite"):
        from ai_edge_litert.interpreter import Interpreter

        from converters import graph

        graph.verify(data, label=str(path))
        Interpreter(model_content=data).allocate_tensors()
    elif name.endswith(".csv"):
        text = data.decode()
        assert text.endswith("\n"), f"{path} ends in a torn line"
        rows = list(csv.reader(text.splitlines()))
        assert all(len(r) == len(rows[0]) for r in rows), f"{path} has incomplete rows"
    elif name.endswith((".md", ".txt")):
        data.decode()


def check_folder(folder, skip=("logs",)) -> list[str]:
    """Check every file under a final name in ``folder`` (TensorBoard's append-only ``logs`` aside);
    returns their paths relative to ``folder``."""
    checked = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in skip]
        for n in names:
            if not n.startswith(TMP):
                check_file(os.path.join(root, n))
                checked.append(os.path.relpath(os.path.join(root, n), folder))
    return sorted(checked)
