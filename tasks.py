#!/usr/bin/env python3
"""The README's two commands, with nothing but Python 3.10+ and pip on the machine.

    python3 tasks.py run    # set up .venv if needed, then run the main job (the sqnxt23 int8 export)
    python3 tasks.py test   # set up .venv if needed, then run the test suite on 2 workers (extra args go to pytest)

The virtualenv is (re)installed whenever requirements.txt or pyproject.toml change.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".squeezekit-installed"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if STAMP.exists() and STAMP.read_text() == _fingerprint() and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing requirements (first run downloads TensorFlow, about 600 MB)", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    subprocess.run(pip + ["-r", str(ROOT / "requirements.txt"), "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    commands = {
        "run": ["-m", "squeezekit.export", "--model", "sqnxt23", "--int8"],
        "test": ["-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup"],
    }
    if not argv or argv[0] not in commands:
        print(f"usage: python3 tasks.py {{{','.join(commands)}}} [args...]", file=sys.stderr)
        return 2
    ensure_venv()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    return subprocess.run([str(PY)] + commands[argv[0]] + argv[1:], cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
