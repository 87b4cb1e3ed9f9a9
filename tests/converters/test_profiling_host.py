"""Per-op latency on this CPU through the LiteRT C API profiler, and the profile CLI's input checks."""

import ctypes
import functools
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

import squeezekit
from converters import tflite
from converters.profiling import host, layers, litert_c, run

pytestmark = pytest.mark.xdist_group("profiling_host")  # one worker converts the four models once

MODELS = ["squeezenet1_1", "sqnxt23_w1"]


@pytest.fixture(scope="module")
def converted():
    return _convert_all()


@functools.lru_cache(maxsize=None)
def _convert_all():
    """{(model, flavour): (tflite bytes, Keras layer names)} at 224, int8 and float32. Cached for the process:
    pytest-xdist may interleave other modules on this worker, which would rebuild a module fixture."""
    out = {}
    rng = np.random.default_rng(0)
    for name in MODELS:
        model = squeezekit.build(name, input_shape=(224, 224, 3))
        images = rng.normal(size=(8, 224, 224, 3)).astype("float32")
        names = {l.name for l in model.layers}
        with tflite.exported(model) as ex:
            for flavour in ("int8", "float32"):
                recipe = tflite.Recipe(flavour, representative=(lambda: [images]) if flavour == "int8" else None)
                out[name, flavour] = (tflite.convert(ex, recipe).content, names)
    return out


def test_event_struct_matches_the_pinned_library():
    # ProfiledEventData as ai-edge-litert 2.3.0 lays it out: a wrong size would corrupt memory.
    assert ctypes.sizeof(litert_c._ProfiledEventData) == 104
    assert litert_c.library() is litert_c.library()


@pytest.mark.parametrize("flavour", ["int8", "float32"])
@pytest.mark.parametrize("name", MODELS)
def test_per_op_events_cover_every_node_inside_the_run(converted, name, flavour):
    # What the profiler guarantees whatever the load: one event per node (builtin) or per XNNPACK operator
    # (delegate), in execution order, nested inside the one Invoke event, itself inside the wall time of the
    # call. (Whether the per-op sum comes within 10% of an unprofiled run is a measurement of this machine's
    # quiet, not of the code: benchmarks/profile_models.py --profiles prints it for every model.)
    content, keras_names = converted[name, flavour]
    table = layers.read(content)
    for mode in ("delegate", "builtin"):
        with litert_c.CompiledModel(content, kernel_mode=mode, profiling=True) as model:
            model.run()
            wall_us, events = model.profile()
        invoke = [e for e in events if e.kind == litert_c.EVENT_DEFAULT and e.tag == "Invoke"]
        assert len(invoke) == 1 and 0 <= invoke[0].elapsed_us <= wall_us + 1
        if mode == "builtin":
            ops = [e for e in events if e.kind == litert_c.EVENT_OPERATOR]
            assert [e.index for e in ops] == [row.index for row in table]
            assert [e.tag for e in ops] == [row.op for row in table]
        else:
            ops = [e for e in events if e.kind == litert_c.EVENT_DELEGATE_PROFILED_OPERATOR]
            assert [e.index for e in ops] == list(range(len(ops))) and len(ops) >= sum(1 for r in table if r.macs)
        # Sequential children of one parent, on one clock: their sum cannot exceed it (1 µs rounding each).
        assert sum(e.elapsed_us for e in ops) <= invoke[0].elapsed_us + len(ops)

        profile = host.profile_ops(content, kernel_mode=mode, runs=3, table=table)
        s = profile.summary
        assert s["runs"] == 3 and s["op_sum_over_whole_run"] > 0
        assert s["sum_check"] == (abs(1 - s["op_sum_over_whole_run"]) <= host.SUM_TOLERANCE)
        assert ("holds" if s["sum_check"] else "FAILS") in profile.notes[0]
        # Every node that computes something has a time; layer names are the Keras model's.
        timed = {row.index for row in profile.layers}
        assert {row.index for row in table if row.macs} <= timed
        assert all(row.time_us >= 0 and row.extra["min_us"] <= row.time_us <= row.extra["max_us"] + 1e-9
                   for row in profile.layers)
        named = {row.layer for row in profile.layers if row.op in layers.MAC_OPS}
        assert named <= keras_names, named - keras_names
        if mode == "delegate":
            assert s["unmatched_xnnpack_ops"] == 0
            assert profile.target == "host"
        else:
            assert profile.target == "host-builtin" and s["nodes_profiled"] == len(table)


def test_latency_at_one_and_two_threads(converted):
    content, _ = converted["squeezenet1_1", "int8"]
    targets = host.profile_host(content, runs=5, latency_runs=10)
    lat = targets[0].summary["latency"]
    assert set(lat) == {"1_thread", "2_threads"}
    for figures in lat.values():
        assert 0 < figures["min_us"] <= figures["median_us"] <= figures["p90_us"]
        assert figures["gmacs_per_s"] > 0


def test_delegate_operators_map_back_to_nodes():
    def row(i, op):
        return layers.Layer(i, op, f"l{i}", [], [])

    nodes = [row(0, "CONV_2D"), row(1, "CONV_2D"), row(2, "CONCATENATION"), row(3, "ADD"), row(4, "RESHAPE"),
             row(5, "MEAN"), row(6, "FULLY_CONNECTED")]
    tags = ["Convolution (NHWC, QC8) IGEMM", "Fully Connected (NC, QS8, QC8W) GEMM", "Copy (NC, X8)",
            "Copy (NC, X8)", "Add (ND)", "Clamp (NC)", "Mean (ND) Reduce", "Static Reshape (NC)",
            "Fully Connected (NC, QS8, QC8W) GEMM"]
    assignment, unmatched = host.map_delegate_ops(tags, nodes)
    assert assignment == [0, 1, 2, 2, 3, 3, 5, 5, 6] and unmatched == 0
    _, unmatched = host.map_delegate_ops(["Convolution", "Mystery op"], nodes[:2])
    assert unmatched == 1
    # imgclsmob's stem as XNNPACK runs it: the PAD before the VALID 7x7/2 convolution is folded into it, the
    # PAD before the max pooling is not. Every operator after it still reaches its own node.
    nodes = [row(0, "PAD"), row(1, "CONV_2D"), row(2, "PAD"), row(3, "MAX_POOL_2D"), row(4, "CONV_2D"),
             row(5, "CONV_2D"), row(6, "ADD"), row(7, "MEAN"), row(8, "FULLY_CONNECTED")]
    tags = ["Convolution (NHWC, QC8) IGEMM", "Constant Pad (ND, X8)", "Max Pooling (NHWC, S8)",
            "Fully Connected (NC, QS8, QC8W) GEMM", "Convolution (NHWC, QC8) IGEMM", "Add (ND)", "Clamp (NC)",
            "Mean (ND) Reduce", "Static Reshape (NC)", "Fully Connected (NC, QS8, QC8W) GEMM"]
    assignment, unmatched = host.map_delegate_ops(tags, nodes)
    assert assignment == [1, 2, 3, 4, 5, 6, 6, 7, 7, 8] and unmatched == 0


def _cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "squeezekit.profile", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_writes_json_markdown_and_png(converted, tmp_path):
    content, _ = converted["squeezenet1_1", "int8"]
    path = tmp_path / "sn.tflite"
    path.write_bytes(content)
    result = _cli(str(path), "--runs", "5", "--latency_runs", "5")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "INFO" not in result.stderr  # the C library's logging is kept out of the CLI
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["sn.profile.json", "sn.profile.md", "sn.profile.png", "sn.tflite"]
    profile = json.loads((tmp_path / "sn.profile.json").read_text())
    assert [t["target"] for t in profile["targets"]] == ["host", "host-builtin"]
    assert profile["macs"] == sum(r.macs for r in layers.read(content))
    md = (tmp_path / "sn.profile.md").read_text()
    assert "| node | layer | op |" in md and "check holds" in md
    assert (tmp_path / "sn.profile.png").read_bytes()[:4] == b"\x89PNG"


def _malformed(content: bytes, tmp_path) -> dict:
    cases = {"empty": b"", "junk": bytes(random.Random(0).randrange(256) for _ in range(4096)),
             "truncated": content[: len(content) // 2], "header_only": content[:64]}
    for seed in range(3):
        flipped = bytearray(content)
        rng = random.Random(seed)
        for _ in range(50):
            flipped[rng.randrange(0, min(len(content), 40000))] = rng.randrange(256)
        cases[f"flipped{seed}"] = bytes(flipped)
    paths = {}
    for name, data in cases.items():
        paths[name] = tmp_path / f"{name}.tflite"
        paths[name].write_bytes(data)
    return paths


def test_malformed_tflite_is_a_clear_error_in_process(converted, tmp_path):
    content, _ = converted["squeezenet1_1", "int8"]
    for name, path in _malformed(content, tmp_path).items():
        data = path.read_bytes()
        try:
            run.profile(data, name=path.name, targets=["host", "accel-16x16"], runs=2, latency_runs=2)
        except run.ProfileError as err:
            message = str(err)
            assert path.name in message and "\n" not in message, message
        else:  # a flip that only touched weights still runs: that is not an error
            assert name.startswith("flipped"), name


def test_malformed_tflite_cli_one_line(converted, tmp_path):
    content, _ = converted["squeezenet1_1", "int8"]
    out = tmp_path / "out"
    for name in ("empty", "junk", "truncated"):
        path = _malformed(content, tmp_path)[name]
        result = _cli(str(path), "--out", str(out))
        assert result.returncode == 1, result.stderr
        lines = [l for l in result.stderr.strip().splitlines() if l]
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, lines
    assert not out.exists() or not os.listdir(out)
    result = _cli(str(tmp_path / "missing.tflite"))
    assert result.returncode == 1 and "does not exist" in result.stderr
    result = _cli(str(_malformed(content, tmp_path)["junk"]), "--target", "gpu")
    assert result.returncode == 1 and "unknown target gpu" in result.stderr


@pytest.mark.parametrize("flavour", ["int8", "float32"])
def test_a_padded_stem_is_profiled_per_op(flavour):
    # imgclsmob's SqueezeNext starts with an explicit PAD, which XNNPACK folds into the stem convolution: every
    # node after it must still get its own operators (the profile once put the whole run on the first two).
    model = squeezekit.build("sqnxt23_w1", convention="imgclsmob", input_shape=(64, 64, 3))
    images = np.random.default_rng(0).normal(size=(4, 64, 64, 3)).astype("float32")
    recipe = tflite.Recipe(flavour, representative=(lambda: [images]) if flavour == "int8" else None)
    content = tflite.convert(model, recipe).content
    table = layers.read(content)
    assert table[0].op == "PAD"
    profile = host.profile_ops(content, runs=2, table=table)
    assert profile.summary["unmatched_xnnpack_ops"] == 0
    ops = {row.index: row.extra["xnnpack_ops"] for row in profile.layers if "xnnpack_ops" in row.extra}
    assert {row.index for row in table if row.macs} <= set(ops)
    assert all(len(ops[row.index]) <= 3 for row in table if row.macs)  # no node swallows its successors
    assert table[0].index not in ops and any("PAD node(s) ran inside" in note for note in profile.notes)


def test_an_int8_profile_compares_itself_with_the_float_flavours(converted):
    # The comparison itself is logic: a float32 "measured" at 1 µs is faster than any real int8 run.
    int8, _ = converted["squeezenet1_1", "int8"]
    float32, _ = converted["squeezenet1_1", "float32"]
    assert run.computes_in_int8(run.check_tflite(int8, "int8")[0])
    assert not run.computes_in_int8(run.check_tflite(float32, "float32")[0])
    result = run.profile(int8, name="int8", targets=["host"], runs=2, latency_runs=3, compare={"float32": 1.0})
    measured = result.target("host")
    assert measured.summary["cpu"]["int8_dot_product"] in (True, False, None)
    assert any(n.startswith("int8 is the slower choice on this CPU") and "against float32 0.00 ms" in n
               for n in measured.notes)
    result = run.profile(float32, name="float32", targets=["host"], runs=2, latency_runs=3)
    assert "cpu" in result.target("host").summary
    assert not any("int8" in n for n in result.target("host").notes)
