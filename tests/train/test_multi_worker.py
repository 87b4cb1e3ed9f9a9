"""Two real ``python -m squeezekit.train --strategy multi_worker`` processes on localhost: train, kill, resume.

The kill waits for the chief's backup of a finished epoch, not for a time; every wait is bounded only by a
generous timeout, so the test holds on a slow or loaded machine.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

EPOCHS = 4
TIMEOUT = 900


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(tmp_path, phase, args_per_worker):
    """Start worker 0 (the chief) and worker 1 with a TF_CONFIG on fresh localhost ports; each its own TMPDIR."""
    cluster = {"worker": [f"localhost:{p}" for p in _free_ports(2)]}
    procs = []
    for index, args in enumerate(args_per_worker):
        tmp = tmp_path / f"tmp{index}"
        tmp.mkdir(exist_ok=True)
        env = dict(os.environ, TMPDIR=str(tmp),
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        log = open(tmp_path / f"{phase}{index}.log", "w")
        procs.append(subprocess.Popen([sys.executable, "-m", "squeezekit.train", *args], env=env,
                                      stdout=log, stderr=subprocess.STDOUT))
        log.close()
    return procs


def _finish(tmp_path, phase, procs):
    logs = []
    for index, proc in enumerate(procs):
        proc.wait(timeout=TIMEOUT)
        logs.append((tmp_path / f"{phase}{index}.log").read_text())
    for index, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f"worker {index} of {phase}:\n{log[-4000:]}"
    return logs


def _backed_up_epoch(out):
    try:
        return json.loads((out / "backup" / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):  # not there yet, or being written
        return 0


def _worker_scratch(tmp_path, index):
    return sorted(p for p in (tmp_path / f"tmp{index}").iterdir() if p.name.startswith("squeezekit-worker-"))


def _kill(procs):
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    for proc in procs:
        proc.wait()


def test_two_workers_train_and_resume_after_a_kill(tmp_path):
    out, elsewhere = tmp_path / "run", tmp_path / "worker1_out"
    common = ["--strategy", "multi_worker", "--model", "squeezenet1_1", "--data", "digits", "--noaugment",
              "--epochs", str(EPOCHS)]
    # The non-chief is given its own --out: it must never create it.
    procs = _start(tmp_path, "first", [[*common, "--out", str(out)], [*common, "--out", str(elsewhere)]])
    try:
        deadline = time.time() + TIMEOUT
        # Both backups written (the chief's in the run folder, the other's in its scratch folder): a kill then
        # finds each worker with an epoch to resume, wherever the kill lands in the next one.
        while time.time() < deadline and all(p.poll() is None for p in procs) and (
                _backed_up_epoch(out) < 1 or not any((d / "training_metadata.json").is_file()
                                                     for d in _worker_scratch(tmp_path, 1))):
            time.sleep(0.1)
        running = [p.poll() is None for p in procs]
        scratch = _worker_scratch(tmp_path, 1)
    finally:
        _kill(procs)
    logs = [(tmp_path / f"first{i}.log").read_text()[-4000:] for i in range(2)]
    assert all(running), f"a worker ended before the kill:\n{logs[0]}\n{logs[1]}"
    done = _backed_up_epoch(out)
    assert 1 <= done < EPOCHS and not (out / "model.keras").exists()
    assert not elsewhere.exists(), "the non-chief wrote into its --out"
    # The non-chief's backup lived in a temporary folder (left behind by SIGKILL), the chief had none.
    assert len(scratch) == 1 and (scratch[0] / "training_metadata.json").is_file()
    assert [p.name for p in scratch[0].glob("epoch-*.weights.h5")]
    assert _worker_scratch(tmp_path, 0) == []

    # The whole cluster restarts; both workers read the chief's run folder and resume from its backup.
    resume = ["--out", str(out), "--resume"]
    logs = _finish(tmp_path, "resumed", _start(tmp_path, "resumed", [resume, resume]))
    for log in logs:
        assert f"resuming {out} at epoch {done + 1} of {EPOCHS}" in log
        assert "final: " in log
    assert f"wrote {out / 'model.keras'}" in logs[0] and "wrote " not in logs[1]
    with open(out / "history.csv") as f:
        assert [int(line.split(",", 1)[0]) for line in f.read().splitlines()[1:]] == list(range(EPOCHS))
    assert (out / "model.keras").is_file() and (out / "best.keras").is_file() and not (out / "backup").exists()
    assert _worker_scratch(tmp_path, 1) == scratch, "the resumed non-chief left its backup behind"
    assert not elsewhere.exists()

    result = subprocess.run([sys.executable, "-m", "squeezekit.evaluate", "--weights", str(out / "model.keras"),
                             "--json", str(tmp_path / "eval.json")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["count"] == 360 and 0.0 <= report["top1"] <= report["top5"] <= 1.0


def test_two_workers_train_on_tfrecord_shards(tmp_path):
    """Each worker reads its own shard (sharding by file: two shards, two workers); the chief's model evaluates."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (36, 40, 3), dtype=np.uint8)).save(folder / c / f"{i}.png")
    shards = tmp_path / "shards"
    result = subprocess.run([sys.executable, "-m", "squeezekit.data.shard", str(folder), str(shards), "--shards", "2"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "run"
    args = ["--strategy", "multi_worker", "--model", "sqnxt23", "--data", f"tfrecord:{shards}/train-*",
            "--input_size", "32", "--epochs", "1", "--batch_size", "8", "--out", str(out)]
    logs = _finish(tmp_path, "tfrecord", _start(tmp_path, "tfrecord", [args, args]))
    for log in logs:  # each shard of 10 holds out 2
        assert "16 train / 4 validation images, 2 classes" in log, log[-3000:]
        # Validation ran on every worker. Its loss is not checked: after two steps BatchNorm's moving statistics
        # are still near their initial values, so inference-mode logits on noise can overflow (1e32, or nan).
        [final] = [line for line in log.splitlines() if line.startswith("final: ")]
        assert "val_accuracy " in final and "val_loss " in final, final
    assert f"wrote {out / 'model.keras'}" in logs[0] and "wrote " not in logs[1]
    assert json.loads((out / "run_config.json").read_text())["run"]["data"] == f"tfrecord:{shards}/train-*"

    result = subprocess.run([sys.executable, "-m", "squeezekit.evaluate", "--weights", str(out / "model.keras"),
                             "--json", str(tmp_path / "eval.json")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["count"] == 4 and 0.0 <= report["top1"] <= report["top5"] <= 1.0
