"""tf2cv files made by tf2cv itself, for the weights tests (see tf2cv_reference.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def _make_tf2cv_files(out, x: np.ndarray, names) -> None:
    """Write OUT/NAME.tf2.h5 (seeded random weights, saved by tf2cv) and OUT/NAME.logits.npy for ``x``."""
    np.save(os.path.join(out, "x.npy"), x)
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, os.path.join(HERE, "tf2cv_reference.py"), os.path.join(out, "x.npy"),
                             str(out), *names], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="session")
def make_tf2cv_files():
    """``make_tf2cv_files(out, x, names)``: tf2cv's own files and logits, built in a legacy-Keras subprocess."""
    return _make_tf2cv_files
