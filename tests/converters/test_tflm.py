"""TensorFlow Lite Micro: the ``tflm`` profile target (arena measured by the real interpreter, ops, outputs
against LiteRT's reference kernels) and the ``--micro`` firmware export."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from converters import graph, micro, tflite
from converters.flatbuffer import pack, unpack
from converters.profiling import memory, run, tflm

pytestmark = pytest.mark.xdist_group("tflm")


def _cli(module, *args, timeout=900):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout)


def _int8(model, shape, seed=0):
    rng = np.random.default_rng(seed)
    data = [rng.uniform(-1, 1, size=(1, *shape)).astype(np.float32) for _ in range(8)]
    return tflite.convert(model, tflite.Recipe("int8", representative=lambda: data)).content


def _classifier(classes, kernel_scale=None, size=16):
    """conv (ReLU) -> global average -> dense(classes) -> softmax; ``kernel_scale`` shrinks the dense kernel
    so every class scores about the same (a flat softmax)."""
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    h = keras.layers.GlobalAveragePooling2D()(h)
    dense = keras.layers.Dense(classes)
    out = keras.layers.Softmax()(dense(h))
    model = keras.Model(x, out)
    if kernel_scale is not None:
        kernel, bias = dense.get_weights()
        dense.set_weights([kernel * kernel_scale, bias])
    return _int8(model, (size, size, 3))


def _invoke_at(content, arena):
    """Whether TFLM allocates and invokes ``content`` in exactly ``arena`` bytes (in a child process)."""
    g = graph.read(content)
    state = tflm.run_child(content, tflm.sample_inputs(g, 1), len(g.outputs), arena, bisect=False)
    return state["stage"] == "done"


@pytest.fixture(scope="module")
def ten_classes():
    return _classifier(10)


def test_arena_is_the_smallest_that_runs_and_outputs_match_the_reference_kernels(ten_classes):
    g = graph.read(ten_classes)
    mem = memory.summarize(ten_classes, g)
    target = tflm.measure(ten_classes, g, mem)
    s = target.summary
    assert target.target == "tflm" and target.kind == "micro" and s["supported"]
    arena = s["arena_bytes"]
    assert arena % tflm.ALIGNMENT == 0 and s["arena_fails_at"] == arena - tflm.ALIGNMENT
    # TFLM's head is its memory plan of the activations: at least the lifetime lower bound.
    assert s["activation_bytes"] >= mem["peak_activation_bytes"]
    assert s["activation_bytes"] + s["persistent_bytes"] == arena
    assert s["persistent_bytes"] >= sum(s["allocations"].values()) > 0
    assert _invoke_at(ten_classes, arena) and not _invoke_at(ten_classes, arena - tflm.ALIGNMENT)
    # A first guess far too small (TFLM's failure paths crash down there) grows, then bisects to the same size.
    assert tflm.run_child(ten_classes, [], 1, 1024)["arena_bytes"] == arena
    assert s["invoke"] == "ok"
    assert s["compare"]["max_lsb"] == 0 and s["compare"]["identical"] and s["compare"]["outputs"] == "model outputs"
    ops = {r["op"]: r for r in s["ops"]}
    assert set(ops) == {op.name for op in g.ops} and all(r["in_tflm"] for r in ops.values())
    assert ops["CONV_2D"]["resolver"] == "AddConv2D" and ops["FULLY_CONNECTED"]["count"] == 1


def test_every_profile_states_activations_and_the_tflm_arena(ten_classes):
    result = run.profile(ten_classes, name="c.tflite", targets=["accel-8x8"])
    mem = result.memory
    assert mem["tflm"]["arena_bytes"] > mem["tflm"]["activation_bytes"] >= mem["peak_activation_bytes"]
    from converters.profiling import render

    text = render.to_markdown(result)
    assert "TFLM arena (measured by the TFLM interpreter" in text and f"{mem['tflm']['arena_bytes']:,}" in text


def test_a_flat_1000_class_softmax_stops_tflm_and_is_reported_not_raised():
    content = _classifier(1000, kernel_scale=1e-4)
    g = graph.read(content)
    sums = tflm.softmax_sums(content, g, tflm.sample_inputs(g))
    assert min(sums) >= tflm.SOFTMAX_STOP_SUM  # every class within a step or two of the top one
    s = tflm.measure(content, g, memory.summarize(content, g)).summary
    assert s["invoke"].startswith("stopped by SIGABRT")
    assert s["arena_bytes"] > 0  # found before the invoke that stopped
    assert s["compare"]["outputs"] == "logits" and s["compare"]["max_lsb"] <= 1  # 1 LSB seen on this FC
    # The threshold, on both sides: a head whose inputs sum to 475 and then 519, 546, 568 runs on the first
    # input only.
    edge = _classifier(1000, kernel_scale=10.0)
    inputs = tflm.sample_inputs(graph.read(edge))
    sums = tflm.softmax_sums(edge, graph.read(edge), inputs)
    for x, total in zip(inputs, sums):
        state = tflm.run_child(edge, [x], 1, 1 << 20)
        assert (state["stage"] == "done") == (total < tflm.SOFTMAX_STOP_SUM), total
    assert min(sums) < tflm.SOFTMAX_STOP_SUM < max(sums)
    # The same network with a trained-looking (spread) head runs: the stop depends on the scores.
    spread = _classifier(1000, kernel_scale=100.0)
    assert max(tflm.softmax_sums(spread, graph.read(spread), tflm.sample_inputs(graph.read(spread)))) < 512
    assert tflm.measure(spread, graph.read(spread)).summary["invoke"] == "ok"


def _fixed_point(acc, real):
    """TFLM's requantization: QuantizeMultiplier's 31-bit multiplier, SaturatingRoundingDoublingHighMul, then
    RoundingDivideByPOT (two roundings)."""
    mantissa, exponent = np.frexp(real)
    q = int(round(mantissa * (1 << 31)))
    if q == 1 << 31:
        q, exponent = q // 2, exponent + 1
    left, right = max(int(exponent), 0), max(-int(exponent), 0)
    product = int(acc) * (1 << left) * q
    high = (abs(product) + (1 << 30) - (product < 0)) >> 31  # rounded half away from zero, as the C++ divides
    high = high if product >= 0 else -high
    mask = (1 << right) - 1
    return (high >> right) + int((high & mask) > (mask >> 1) + (high < 0))


def test_per_channel_fully_connected_rounds_differently_and_a_softmax_amplifies_it():
    """Why an int8 model's logits can differ by one step: LiteRT's reference FULLY_CONNECTED with per-channel
    weights requantizes each sum in double precision (round(acc * scale)), TFLM's with the fixed-point
    multiplier. Both rules reproduced here on a seeded 64 -> 1000 dense layer; they part on 2 of 4,000 values.
    (On sqnxt23 every other op, CONV_2D, ADD, MAX_POOL_2D and MEAN included, agreed bit for bit.)"""
    import keras
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    keras.utils.set_random_seed(0)
    x = keras.Input((64,))
    content = _int8(keras.Model(x, keras.layers.Dense(1000)(x)), (64,))
    g = graph.read(content)
    fc = g.ops[-1]
    t_in, t_w, t_out = (g.tensors[i] for i in (fc.inputs[0], fc.inputs[1], fc.outputs[0]))
    assert fc.name == "FULLY_CONNECTED" and len(t_w.scale) == 1000  # per-channel weights
    inputs = tflm.sample_inputs(g)
    ours = [row[0] for row in tflm.run_child(content, inputs, 1, 1 << 20, bisect=False)["outputs"]]
    reference = [row[0] for row in tflm.reference_outputs(content, inputs)]
    it = Interpreter(model_content=content, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    weights = it.get_tensor(fc.inputs[1]).astype(np.int64)
    differ = 0
    for row, mine, theirs in zip(inputs, ours, reference):
        acc = weights @ (row[0].ravel().astype(np.int64) - t_in.zero_point[0])
        real = [float(np.float32(t_in.scale[0])) * float(np.float32(s)) / float(np.float32(t_out.scale[0]))
                for s in t_w.scale]
        exact = [int(np.sign(a) * np.floor(abs(a * r) + 0.5)) for a, r in zip(acc, real)]  # C's round()
        fixed = [_fixed_point(a, r) for a, r in zip(acc, real)]
        zp = t_out.zero_point[0]
        assert np.array_equal(theirs.ravel(), np.clip(np.add(exact, zp), -128, 127))
        assert np.array_equal(mine.ravel(), np.clip(np.add(fixed, zp), -128, 127))
        differ += int(np.count_nonzero(mine != theirs))
        assert np.abs(mine.astype(int) - theirs.astype(int)).max() <= 1
    assert differ == 2
    # How one such step became CI's 85-LSB output difference (an untrained sqnxt23: top logits clipped at 127,
    # logit step 7388): the same layer with a SOFTMAX, its weights edited so that on sample 1 two classes clip at
    # 127 and class 95 (20 in TFLM, 19 in LiteRT above) lands on 127 in TFLM and 126 in LiteRT, the rest at -128;
    # beta makes one logit step 20 nats. TFLM ties three classes (1/3 each: -43), LiteRT two (1/2: 0) and puts
    # class 95 at -128.
    keras.utils.set_random_seed(0)
    x = keras.Input((64,))
    head = _int8(keras.Model(x, keras.layers.Softmax()(keras.layers.Dense(1000)(x))), (64,))
    fc = graph.read(head).ops[0]
    model = unpack(head)
    sub = model.subgraphs[0]
    weights = sub.tensors[fc.inputs[1]]
    rows = np.frombuffer(bytes(model.buffers[weights.buffer].data), np.int8).reshape(1000, 64).copy()
    sign = np.sign(inputs[1][0].ravel().astype(int) - t_in.zero_point[0]).astype(np.int8)
    for k in range(1000):
        if k != 95:
            rows[k] = 127 * sign if k in (0, 1) else -127 * sign
    model.buffers[weights.buffer].data = np.frombuffer(rows.tobytes(), np.uint8)
    logits = sub.tensors[fc.outputs[0]].quantization
    assert (ours[1].ravel()[95], reference[1].ravel()[95]) == (20, 19)
    logits.zeroPoint = np.asarray([logits.zeroPoint[0] + 127 - 20], np.int64)
    sub.operators[-1].builtinOptions.beta = float(20.0 / logits.scale[0])
    tied = pack(model, len(head) + 4096)
    target = tflm.measure(tied, graph.read(tied), samples=2)
    assert target.summary["invoke"] == "ok"
    assert target.summary["compare"]["max_lsb"] == 85 and target.summary["compare"]["logits_max_lsb"] == 1
    assert "per-channel weights" in target.notes[-1] and within_a_step(dataclasses.asdict(target))
    ours = tflm.run_child(tied, inputs[1:2], 1, 1 << 20, bisect=False)["outputs"][0][0].ravel()
    reference = tflm.reference_outputs(tied, inputs[1:2])[0][0].ravel()
    assert list(ours[[0, 1, 95]]) == [-43, -43, -43] and list(reference[[0, 1, 95]]) == [0, 0, -128]


def within_a_step(target: dict) -> bool:
    """TFLM against LiteRT's reference kernels, for any initialisation of the model: the outputs within one
    step, or, where a final SOFTMAX amplified a one-step logit difference (classes tied at the top; CI saw 85
    LSB once on an untrained sqnxt23, whose logits clip at 127), the logits within one step and a note that
    says so."""
    compare = target["summary"]["compare"]
    if compare["max_lsb"] <= 1:
        return True
    return compare.get("logits_max_lsb", 2) <= 1 and any("amplifies" in n for n in target["notes"])


def test_an_op_tflm_lacks_is_a_finding(tmp_path):
    import keras

    x = keras.Input((8, 8, 3))
    model = keras.Model(x, keras.layers.Lambda(lambda t: keras.ops.sign(t))(keras.layers.Conv2D(4, 3)(x)))
    content = tflite.convert(model, tflite.Recipe("float32")).content
    path = tmp_path / "sign.tflite"
    path.write_bytes(content)
    result = _cli("squeezekit.profile", str(path), "--target", "tflm", "--png=false")
    assert result.returncode == 0, result.stderr[-2000:]
    profile = json.loads((tmp_path / "sign.profile.json").read_text())
    s = profile["targets"][0]["summary"]
    assert s["supported"] is False and s["arena_bytes"] is None and "SIGN" in s["why_not"]
    assert [r["op"] for r in s["ops"] if not r["in_tflm"]] == ["SIGN"]
    assert "cannot run in TFLM" in (tmp_path / "sign.profile.md").read_text()


def test_firmware_files_round_trip_and_register_exactly_the_models_ops(ten_classes, tmp_path):
    paths, s = micro.export_firmware(ten_classes, str(tmp_path / "fw"), "tiny_int8")
    assert [p.split("/")[-1] for p in paths] == list(micro.FILES)
    source = (tmp_path / "fw" / "model_data.cc").read_text()
    assert micro.read_array(source) == ten_classes
    assert "alignas(16) const unsigned char g_model_data[]" in source
    ops = micro.registered_ops((tmp_path / "fw" / "model_ops.h").read_text())
    assert sorted(ops) == sorted({op.name for op in graph.read(ten_classes).ops})
    header = (tmp_path / "fw" / "model_data.h").read_text()
    assert f"kTensorArenaMeasuredBytes = {s['arena_bytes']};" in header
    assert f"kTensorArenaMarginBytes = {micro.margin_bytes(s['arena_bytes'])};" in header
    assert f"kModelOpCount = {len(ops)};" in (tmp_path / "fw" / "model_ops.h").read_text()
    readme = (tmp_path / "fw" / "README.md").read_text()
    assert f"| {len(ten_classes):,} bytes |" in readme and f"| {s['arena_bytes']:,} bytes |" in readme
    with pytest.raises(ValueError, match="holds"):
        micro.read_array(source.replace("0x", "0X", 1).replace("0X", "", 1))


def _confident_export(name, size, out):
    """The registry model exported as the export CLI does (``pipeline``, int8, ``--optimize auto``), with its
    classifier's kernel scaled up so that it scores like a trained network. Untrained, SqueezeNet's ReLU
    classifier gives nearly equal logits whatever the input: over three exports of squeezenet1_1 at 96 their
    exponentials summed to 277-629, and at 512 or more TFLM's SOFTMAX stops (the test above); the arena does
    not depend on the values."""
    from squeezekit.export import pipeline

    source = pipeline.prepare(name, input_size=size, calibration_images=16)
    last = [layer for layer in source.model.layers if getattr(layer, "kernel", None) is not None][-1]
    kernel, *rest = last.get_weights()
    last.set_weights([kernel * 50.0, *rest])
    result = pipeline.export(source, tflite.Recipe("int8"), str(out), log=lambda *a: None, verbose=0)
    with open(result.tflite, "rb") as f:
        return f.read()


@pytest.mark.parametrize("model,size", [("squeezenet1_1", 96), ("squeezenet1_1", None)])
def test_registry_models_run_in_tflm_in_the_arena_reported(model, size, tmp_path):
    """The acceptance: invoke succeeds with arena_bytes and fails with 4 KiB less; within 1 LSB of LiteRT's
    reference kernels. (sqnxt23 at 96 below through the CLI, at its default 227 in the export CLI's
    bare-command test.)"""
    content = _confident_export(model, size, tmp_path)
    g = graph.read(content)
    assert max(tflm.softmax_sums(content, g, tflm.sample_inputs(g))) < tflm.SOFTMAX_STOP_SUM
    result = run.profile(content, name=f"{model}.tflite", targets=["tflm"])
    s = result.target("tflm").summary
    assert s["invoke"] == "ok" and s["compare"]["max_lsb"] <= 1
    assert _invoke_at(content, s["arena_bytes"]) and not _invoke_at(content, s["arena_bytes"] - 4096)
    assert result.memory["tflm"]["arena_bytes"] == s["arena_bytes"]


def test_micro_firmware_from_the_export_cli(tmp_path):
    """sqnxt23 at 96 through the CLI (its dense classifier scores untrained logits far apart: sums 1-6): the
    firmware files round-trip, and TFLM runs the file in the arena the profile reports, not in 4 KiB less. The
    CLI's model is initialised at random on every run, so the comparison is checked as any initialisation
    must pass it (``within_a_step``)."""
    result = _cli("squeezekit.export", "--model", "sqnxt23", "--int8", "--input_size", "96", "--profile", "tflm",
                  "--micro", str(tmp_path / "fw"), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    content = (tmp_path / "sqnxt23_w1_int8.tflite").read_bytes()
    profile = json.loads((tmp_path / "sqnxt23_w1_int8.profile.json").read_text())
    s = profile["targets"][0]["summary"]
    assert profile["targets"][0]["target"] == "tflm" and s["invoke"] == "ok" and within_a_step(profile["targets"][0])
    assert _invoke_at(content, s["arena_bytes"]) and not _invoke_at(content, s["arena_bytes"] - 4096)
    assert micro.read_array((tmp_path / "fw" / "model_data.cc").read_text()) == content
    ops = micro.registered_ops((tmp_path / "fw" / "model_ops.h").read_text())
    assert sorted(ops) == sorted({op.name for op in graph.read(content).ops})
    assert f"kTensorArenaMeasuredBytes = {s['arena_bytes']};" in (tmp_path / "fw" / "model_data.h").read_text()
    assert "firmware for" in result.stdout and str(tmp_path / "fw" / "model_ops.h") in result.stdout


def test_micro_needs_the_int8_flavour(tmp_path):
    result = _cli("squeezekit.export", "--model", "sqnxt23", "--float32", "--input_size", "32",
                  "--micro", str(tmp_path / "fw"), "--out", str(tmp_path))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: --micro writes the int8 file")
    assert not (tmp_path / "fw").exists() and not list(tmp_path.glob("*.tflite"))


SAMPLE_LOG = "tests/data/tflm/squeezenet1_1_96_int8.microprofiler.log"


@pytest.fixture(scope="module")
def sqnet96(tmp_path_factory):
    """The file the sample MicroProfiler log was made from (tools/tflm_host): the same op sequence."""
    out = tmp_path_factory.mktemp("sqnet96")
    result = _cli("squeezekit.export", "--model", "squeezenet1_1", "--int8", "--input_size", "96", "--profile",
                  "none", "--optimize", "space_to_depth_stem", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "squeezenet1_1_int8.tflite"


def test_a_microprofiler_log_from_tflm_becomes_per_layer_rows(sqnet96, tmp_path):
    from converters.profiling import layers, micro_log

    events, fmt = micro_log.read_events(open(SAMPLE_LOG).read())
    assert fmt == "log-csv" and len(events) == 40 and events[1] == ("CONV_2D", 26464, None)
    table = layers.read(sqnet96.read_bytes())
    target = micro_log.import_micro_profile(SAMPLE_LOG, table, "host-tflm", ticks_per_second=1e6)
    assert target.target == "device:host-tflm" and target.kind == "imported"
    assert [r.index for r in target.layers] == [r.index for r in table]
    assert [r.op for r in target.layers] == [e[0] for e in events]
    # The harness printed 170,471 ticks in total (LogTicksPerTagCsv), 1 tick = 1 µs (clock()).
    assert target.summary["total_ticks"] == 170471 and target.total_us == pytest.approx(170471)
    conv1 = target.layers[1]
    assert conv1.time_us == 26464 and conv1.macs == table[1].macs > 0
    # The same events from profiler.Log() alone, and their whole milliseconds for the clock when none is given.
    text = open(SAMPLE_LOG).read()
    log_only = tmp_path / "log.txt"
    log_only.write_text(text[:text.index("=== MicroProfiler::LogCsv()")])
    estimated = micro_log.import_micro_profile(str(log_only), table, "mcu")
    assert estimated.summary["format"] == "log" and estimated.summary["clock"] == "estimated"
    assert 0.9e6 < estimated.summary["ticks_per_second"] < 1.1e6
    assert [r.time_us for r in estimated.layers] != [] and "estimated" in estimated.notes[-1]


def test_microprofiler_import_through_the_profile_cli_and_its_refusals(sqnet96, tmp_path):
    result = _cli("squeezekit.profile", str(sqnet96), "--target", "tflm", "--micro_profile", SAMPLE_LOG,
                  "--micro_device", "host-tflm", "--ticks_per_second", "1000000", "--out", str(tmp_path),
                  "--png=false")
    assert result.returncode == 0, result.stderr[-2000:]
    profile = json.loads((tmp_path / "squeezenet1_1_int8.profile.json").read_text())
    assert [t["target"] for t in profile["targets"]] == ["tflm", "device:host-tflm"]
    assert len(profile["targets"][1]["layers"]) == 40
    assert "## device:host-tflm (imported)" in (tmp_path / "squeezenet1_1_int8.profile.md").read_text()
    per_tag = tmp_path / "per_tag.log"
    text = open(SAMPLE_LOG).read()
    per_tag.write_text(text[text.index("=== MicroProfiler::LogTicksPerTagCsv()"):])
    other = tmp_path / "other.log"
    other.write_text(text.replace("0,SPACE_TO_DEPTH,61", "0,CONV_2D,61"))
    for log, words in ((per_tag, "totals per op type"), (other, "event 0 is CONV_2D but node 0"),
                       (SAMPLE_LOG, "no clock")):
        args = ["--ticks_per_second", "1000000"] if log != SAMPLE_LOG else []
        bad = _cli("squeezekit.profile", str(sqnet96), "--micro_profile", str(log), "--target", "accel-8x8",
                   "--out", str(tmp_path / "bad"), *args)
        assert bad.returncode == 1 and words in bad.stderr.strip().splitlines()[-1], bad.stderr[-1500:]
        assert "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())
