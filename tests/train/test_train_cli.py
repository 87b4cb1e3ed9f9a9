"""``python -m squeezekit.train`` and ``python -m squeezekit.evaluate``: files, resumption, bad input."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

# One worker runs this module under pytest-xdist; the trained run is conftest's digits_run, made once.
pytestmark = pytest.mark.xdist_group("train_run")


def _cli(module, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout)


def _epochs(run):
    if not (run / "history.csv").exists():
        return []
    with open(run / "history.csv") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


@pytest.fixture(scope="session")
def trained_run(digits_run):
    """conftest's 8-epoch sqnxt23 digits run (shared with other modules): the folder and the CLI's stdout."""
    return digits_run


def test_run_writes_every_file(trained_run):
    out, stdout = trained_run
    for name in ("model.keras", "best.keras", "labels.txt", "run_config.json", "history.csv"):
        assert (out / name).is_file(), name
        assert f"wrote {out / name}" in stdout
    assert os.listdir(out / "logs") and not (out / "backup").exists()
    assert not [p for p in os.listdir(out) if p.startswith(".tmp")]
    assert (out / "labels.txt").read_text().split() == [str(i) for i in range(10)]
    run = json.loads((out / "run_config.json").read_text())["run"]
    assert (run["model"], run["input_size"], run["recipe"], run["epochs"]) == ("sqnxt23", 32, "sgd_cosine", 8)
    assert run["extra"]["preprocessing"]["channel_order"] == "BGR" and run["extra"]["class_names"][3] == "3"
    assert _epochs(out) == list(range(8))
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[-1]["val_accuracy"]) >= 0.8  # the full 30-epoch default reaches >= 0.95 (benchmarks/)


def test_saved_model_loads_without_squeezekit(trained_run):
    out, _ = trained_run
    code = ("import keras, numpy as np; m = keras.models.load_model(%r); "
            "print(m(np.zeros((1, 32, 32, 3), 'float32')).shape)" % str(out / "model.keras"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "(1, 10)" in result.stdout, result.stderr[-2000:]


def test_evaluate_prints_top1_top5_and_confusions(trained_run, tmp_path):
    out, _ = trained_run
    result = _cli("squeezekit.evaluate", "--weights", str(out / "model.keras"), "--json", str(tmp_path / "e.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["count"] == 360 and report["top1"] >= 0.8 and report["top5"] >= report["top1"]
    assert f"top-1: {report['top1']:.4f}" in result.stdout and "held-out split" in result.stdout
    assert np.trace(np.array(report["confusion"])) == round(report["top1"] * 360)


def test_resume_after_a_real_kill(tmp_path):
    """kill -9 in the middle of writing the first backup, then at a seeded moment after epoch 2: each time
    every file is complete and --resume continues from the last finished epoch. The assertions hold wherever
    the kills land (even after the run finished, on a very fast machine)."""
    import kill_checks as kc
    from squeezekit.train.run import read_backup

    out = tmp_path / "run"
    backup = out / "backup"
    args = ["--model", "sqnxt23", "--data", "digits", "--epochs", "3", "--out", str(out)]
    finished = lambda: (out / "model.keras").exists()  # noqa: E731
    in_backup = lambda: kc.temps(backup) or (backup / "training_metadata.json").exists()  # noqa: E731
    proc = kc.start("squeezekit.train", *args)
    kc.kill_when(proc, in_backup, seed=0, max_delay=0.0)
    kc.check_folder(out)
    assert read_backup(backup)[0] in (0, 1) and not finished()
    proc = kc.start("squeezekit.train", "--out", str(out), "--resume")
    kc.kill_when(proc, lambda: len(_epochs(out)) >= 2 and read_backup(backup)[0] >= 2, seed=1, max_delay=1.5)
    kc.check_folder(out)
    if not finished():
        done = read_backup(backup)[0]
        assert 2 <= done <= 3 and _epochs(out)[:done] == list(range(done))  # history never lags the backup
        result = _cli("squeezekit.train", "--out", str(out), "--resume")
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"resuming {out} at epoch {done + 1} of 3" in result.stdout
    assert _epochs(out) == [0, 1, 2]
    assert finished() and not backup.exists() and kc.temps(out) == []
    assert {"model.keras", "best.keras", "history.csv", "labels.txt", "run_config.json"} <= set(kc.check_folder(out))
    again = _cli("squeezekit.train", "--out", str(out), "--resume")
    assert again.returncode != 0 and "nothing to resume" in again.stderr


def _one_line_error(result, text):
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and text in last, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("data,text", [
    ("missing_folder", "data folder not found"),
    ("EMPTY", "no images found"),
    ("ONE", "only one class with images"),
    ("digitz", "data folder not found: digitz; pass --data digits"),
])
def test_bad_data_is_one_line(tmp_path, data, text):
    if data == "EMPTY":
        (tmp_path / "empty" / "a").mkdir(parents=True)
        data = str(tmp_path / "empty")
    elif data == "ONE":
        (tmp_path / "one" / "cats").mkdir(parents=True)
        (tmp_path / "one" / "cats" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
        data = str(tmp_path / "one")
    elif data == "missing_folder":
        data = str(tmp_path / "nope")
    _one_line_error(_cli("squeezekit.train", "--model", "sqnxt23", "--data", data, "--out", str(tmp_path / "r")),
                    text)


def test_other_bad_input_is_one_line(tmp_path, trained_run):
    out, _ = trained_run
    _one_line_error(_cli("squeezekit.train", "--model", "sqnxt25", "--data", "digits", "--out", str(tmp_path / "r")),
                    "unknown model 'sqnxt25'")
    _one_line_error(_cli("squeezekit.train", "--model", "sqnxt23", "--data", "digits", "--out", str(out)),
                    "already holds a run; pass --resume")
    _one_line_error(_cli("squeezekit.train", "--out", str(tmp_path / "none"), "--resume"), "nothing to resume")
    _one_line_error(_cli("squeezekit.evaluate", "--weights", str(tmp_path / "no.keras")), "model file not found")
    (tmp_path / "bad.keras").write_bytes(b"junk")
    _one_line_error(_cli("squeezekit.evaluate", "--weights", str(tmp_path / "bad.keras")), "cannot read")


def test_strategies(tmp_path):
    result = _cli("squeezekit.train", "--model", "squeezenet1_1", "--data", "digits", "--epochs", "1",
                  "--strategy", "mirrored", "--out", str(tmp_path / "mirrored"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert _epochs(tmp_path / "mirrored") == [0]
    env_free = _cli("squeezekit.train", "--model", "squeezenet1_1", "--data", "digits", "--strategy",
                    "multi_worker", "--out", str(tmp_path / "mw"))
    _one_line_error(env_free, "needs the TF_CONFIG environment variable")
