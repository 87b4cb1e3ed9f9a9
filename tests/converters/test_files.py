"""converters.files: unique locked temporaries, atomic renames, and the removal of a killed writer's leftovers."""

import os
import subprocess
import sys
import time

import pytest

from converters import files


def _old(path):
    os.utime(path, (time.time() - 3600,) * 2)
    return path


def test_write_atomic_leaves_only_the_final_name(tmp_path):
    path = tmp_path / "sub" / "a.json"
    files.write_atomic(str(path), "{}\n")
    files.write_atomic(str(path), b"[]\n")
    assert path.read_bytes() == b"[]\n" and os.listdir(path.parent) == ["a.json"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~files._umask())


def test_temporaries_are_unique_keep_the_suffix_and_vanish_on_failure(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert os.path.basename(tmp).startswith(".tmp-") and tmp.endswith("-model.keras")
        raise RuntimeError("disk full")

    for _ in range(2):
        with pytest.raises(RuntimeError):
            files.publish(str(tmp_path / "model.keras"), write)
    assert seen[0] != seen[1] and os.listdir(tmp_path) == []


def test_a_killed_writers_temporaries_go_a_live_writers_stay(tmp_path):
    dead = tmp_path / ".tmp-x1-a.tflite"
    dead.write_bytes(b"half")
    _old(dead)
    young = tmp_path / ".tmp-x2-a.tflite"  # newer than this process: maybe a writer that just started
    young.write_bytes(b"half")
    other = tmp_path / "keep.txt"
    other.write_text("x")
    _old(other)
    # A live writer in another process: holds its temporary locked (as publish does) while it writes.
    live = tmp_path / ".tmp-x3-b.tflite"
    live.write_bytes(b"half")
    _old(live)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(60)"), str(live)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        removed = files.remove_stale_temps(str(tmp_path))
    finally:
        holder.kill()
        holder.wait()
    assert removed == [str(dead)]
    assert sorted(os.listdir(tmp_path)) == sorted([young.name, other.name, live.name])


def test_temp_dir_removes_a_killed_processes_folder(tmp_path):
    with files.temp_dir("sk-test-", parent=str(tmp_path)) as first:
        assert os.path.isfile(os.path.join(first, ".lock"))
        with files.temp_dir("sk-test-", parent=str(tmp_path)) as second:  # the first is live (locked): kept
            assert os.path.isdir(first) and second != first
    assert os.listdir(tmp_path) == []
    stale = tmp_path / "sk-test-dead"  # what a killed process leaves: an unlocked lock file
    stale.mkdir()
    (stale / ".lock").write_text("")
    _old(stale)
    with files.temp_dir("sk-test-", parent=str(tmp_path)):
        assert not stale.exists()
