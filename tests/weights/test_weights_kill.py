"""``kill -9`` at any moment of ``python -m squeezekit.weights`` leaves only complete files, and the same command
then works with no cleanup. The assertions hold wherever the kills land."""

import os

import numpy as np

import kill_checks as kc


def test_import_killed_while_writing_then_rerun(tmp_path, make_tf2cv_files):
    source = tmp_path / "tf2cv"
    source.mkdir()
    make_tf2cv_files(source, np.zeros((1, 224, 224, 3), np.float32), ["sqnxt23_w1"])
    run = tmp_path / "imported"
    args = ["--model", "sqnxt23_w1", "--from_tf2cv", str(source / "sqnxt23_w1.tf2.h5"),
            "--out", str(run / "model.keras"), "--input_size", "64"]
    # Killed the moment its first temporary appears (writing labels.txt, run_config.json or model.keras)...
    proc = kc.start("squeezekit.weights", *args)
    kc.kill_when(proc, lambda: bool(kc.temps(run)), seed=0, max_delay=0.0)
    kc.check_folder(run)
    # ...then at a seeded moment once the folder has a file, wherever it lands.
    proc = kc.start("squeezekit.weights", *args)
    kc.kill_when(proc, lambda: run.is_dir() and any(not n.startswith(".") for n in os.listdir(run)), seed=1,
                 max_delay=1.0)
    kc.check_folder(run)
    result = kc.run("squeezekit.weights", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert kc.check_folder(run) == ["labels.txt", "model.keras", "run_config.json"]
    assert kc.temps(run) == []
