"""Fixtures shared by every test module."""

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

DIGITS_RUN_EPOCHS = 8


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """``(folder, stdout)`` of one ``squeezekit.train --model sqnxt23 --data digits --epochs 8`` run at 32x32,
    made once for the whole session: the first pytest-xdist worker to ask trains under a file lock, the others
    wait and read it. Tests treat the folder as read-only (copy it to change it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by every worker of this session
    out, log, done = root / "digits_run", root / "digits_run.stdout", root / "digits_run.json"
    with open(root / "digits_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            result = subprocess.run([sys.executable, "-m", "squeezekit.train", "--model", "sqnxt23", "--data",
                                     "digits", "--epochs", str(DIGITS_RUN_EPOCHS), "--out", str(out)],
                                    capture_output=True, text=True, timeout=1800)
            assert result.returncode == 0, result.stderr[-3000:]
            log.write_text(result.stdout)
            done.write_text(json.dumps({"returncode": result.returncode}))
    return Path(out), log.read_text()
