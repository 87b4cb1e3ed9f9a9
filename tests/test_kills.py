"""``kill -9`` at any moment of export or search leaves only complete files under final names, and the next
run works with no cleanup; two exports into one folder at once both finish with complete files.
(Training: test_resume_after_a_real_kill in tests/train/test_train_cli.py; weights: tests/weights/test_weights_kill.py.)

Kill moments are seeded; the assertions hold wherever a kill lands, so none depends on the machine's speed.
"""

import os
import time

import kill_checks as kc

EXPORT = ["--model", "sqnxt23", "--float32", "--input_size", "32", "--profile", "host"]
EXPORT_FILES = sorted(f"sqnxt23_w1_float32.{ext}" for ext in
                      ("tflite", "report.json", "report.md", "profile.json", "profile.md", "profile.png"))


def _plant_stale_temp(folder):
    """A temporary like the one a killed writer leaves: unlocked, older than any process to come."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, ".tmp-abc123-sqnxt23_w1_float32.tflite")
    with open(path, "wb") as f:
        f.write(b"TFL3 half a model")
    os.utime(path, (time.time() - 3600,) * 2)
    return path


def test_export_killed_while_writing_then_two_exports_at_once(tmp_path):
    out = str(tmp_path / "exports")
    stale = _plant_stale_temp(out)
    # 1. Killed the moment its first temporary file appears (mid-write: the .tflite).
    proc = kc.start("squeezekit.export", *EXPORT, "--out", out)
    fresh = lambda: any(p != stale for p in kc.temps(out))  # noqa: E731
    kc.kill_when(proc, fresh, seed=0, max_delay=0.0)
    kc.check_folder(out)
    # 2. Two exports into the same folder at once, with no cleanup first: both finish, every file complete.
    procs = [kc.start("squeezekit.export", *EXPORT, "--out", out) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    assert kc.check_folder(out) == EXPORT_FILES
    assert kc.temps(out) == [], "a killed export's temporaries outlived the next export"


def test_search_killed_at_seeded_moments_then_reruns(tmp_path):
    out = str(tmp_path / "search")
    args = ["--target", "accel-16x16", "--time_budget", "5", "--max_candidates", "300", "--out", out]
    for seed in range(3):  # the whole run takes 2-4 s: kills land in start-up, the search and the writes
        proc = kc.start("squeezekit.search", *args)
        landed = kc.kill_when(proc, lambda: True, seed=seed, max_delay=4.0)
        assert landed or proc.returncode == 0, proc.stderr.read()[-2000:]
        kc.check_folder(out)
    result = kc.run("squeezekit.search", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert kc.check_folder(out) == ["search.json", "search.md", "search.png", "variants.json"]
    assert kc.temps(out) == []
