"""Writing files atomically: a temporary name in the same folder, then a rename, so no reader ever sees
half a file and an interrupted write (even ``kill -9``) leaves the old file (or none).

Every temporary file is named ``.tmp-<random>-<final name>`` (unique per write, so two processes writing
the same final name never share a temporary), is locked (``lockf``) by its writer while it is written, and
is flushed to disk (``fsync``) before the rename; the folder is fsynced after it, where the OS allows.
A writer killed mid-write leaves its temporary behind: nothing reads ``.tmp-*`` names (they are hidden
from ``glob``), and the next write into that folder removes the ones whose writer is gone (unlocked and
older than this process). ``temp_dir`` does the same for temporary folders.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time

try:
    import fcntl
except ImportError:  # Windows: no flock; stale temporaries are then only ignored, never removed
    fcntl = None

TMP_PREFIX = ".tmp-"
_LOCK = ".lock"  # inside a temp_dir folder
_STARTED = time.time()  # temporaries older than this process and unlocked are a dead writer's
_swept: set[str] = set()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _lock(fd: int | None, block: bool = True) -> bool:
    """A POSIX record lock (``lockf``): exclusive when blocking (the writer's, on a writable fd), shared when
    probing (on a read-only one). Not ``flock``: HDF5 flocks the files it writes, and the two would clash."""
    if fcntl is None or fd is None:
        return True
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX if block else fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str, fd: int | None) -> None:
    """fsync ``path`` through ``fd`` when that is still its file (closing another descriptor of the file
    would drop this process's lockf lock)."""
    if fd is not None and os.fstat(fd).st_ino == os.stat(path).st_ino:
        os.fsync(fd)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stale(path: str, lock_name: str | None = None) -> bool:
    """Whether ``path`` (a temporary file, or a temporary folder with its lock file) was left by a dead
    writer: older than this process and not locked. Without fcntl nothing is stale. (The age check comes
    first: a process never probes, so never unlocks, a temporary of its own.)"""
    if fcntl is None:
        return False
    try:
        if os.lstat(path).st_mtime >= _STARTED:
            return False
        fd = os.open(os.path.join(path, lock_name) if lock_name else path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return _lock(fd, block=False)  # the writer's lock died with it
    finally:
        os.close(fd)  # closing releases the probe's lock


def remove_stale_temps(directory: str) -> list[str]:
    """Remove the ``.tmp-*`` files in ``directory`` that a killed writer left; returns their paths."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(TMP_PREFIX) and os.path.isfile(path) and _stale(path):
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    return removed


def _sweep_once(directory: str) -> None:
    if directory not in _swept:
        _swept.add(directory)
        remove_stale_temps(directory)


def publish(path: str, write) -> None:
    """Call ``write(tmp)`` with a fresh temporary name beside ``path`` (same suffix as ``path``), fsync it,
    then rename it onto ``path``; the temporary is removed if anything fails."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    _sweep_once(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TMP_PREFIX, suffix="-" + os.path.basename(path))
    if fcntl is None:  # nothing to hold it open for (and Windows renames no open file)
        os.close(fd)
        fd = None
    try:
        _lock(fd)  # held until the rename: a sweeping process leaves a live temporary alone
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        _fsync_file(tmp, fd)
        os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        if fd is not None:
            os.close(fd)


def write_atomic(path: str, data: str | bytes) -> None:
    """Write text (or bytes) to ``path`` through a temporary file in the same folder."""

    def write(name):
        with open(name, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)

    publish(path, write)


def save_model_atomic(model, path: str) -> None:
    """``model.save`` to a temporary ``.keras`` name beside ``path`` (its folder created if needed), then rename."""
    publish(path, model.save)


@contextlib.contextmanager
def temp_dir(prefix: str, parent: str | None = None):
    """A fresh temporary folder (in ``parent``, default the system's), removed on exit. It holds a locked
    ``.lock`` file while in use, so that the folders of killed processes (unlocked, older than this one)
    are removed when the next one is made."""
    parent = parent or tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(parent):
            path = os.path.join(parent, name)
            if name.startswith(prefix) and os.path.isdir(path) and _stale(path, _LOCK):
                shutil.rmtree(path, ignore_errors=True)
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    fd = os.open(os.path.join(path, _LOCK), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _lock(fd)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
