"""Writing files atomically: a temporary name in the same folder, then a rename, so no reader ever sees
half a file and an interrupted write leaves the old file (or none)."""

from __future__ import annotations

import os
import tempfile


def publish(tmp: str, path: str, write) -> None:
    """Call ``write(tmp)``, then move ``tmp`` onto ``path``; remove ``tmp`` if anything fails."""
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str, data: str | bytes) -> None:
    """Write text (or bytes) to ``path`` through a temporary file in the same folder."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    os.close(fd)

    def write(name):
        with open(name, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.chmod(name, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions

    publish(tmp, path, write)



def save_model_atomic(model, path: str) -> None:
    """``model.save`` to a temporary ``.keras`` name beside ``path`` (its folder created if needed), then rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, ".tmp-" + os.path.basename(path))
    publish(tmp, path, model.save)
