"""Exact graph rewrites of converted files: the space-to-depth stem and stage (converters.rewrite)."""

import numpy as np
import pytest

import squeezekit
from converters import graph, rewrite, tflite
from converters.profiling import layers

pytestmark = pytest.mark.xdist_group("rewrite")


def _conv(x, w, stride, before, out):
    """Plain NHWC convolution (one image) with zero padding ``before`` rows/columns, ``out`` outputs a side."""
    f, kh, kw, c = w.shape
    h, wd, _ = x.shape
    padded = np.zeros((max(h + before[0], (out[0] - 1) * stride + kh), max(wd + before[1],
                                                                            (out[1] - 1) * stride + kw), c))
    padded[before[0]:before[0] + h, before[1]:before[1] + wd] = x
    y = np.zeros(out + (f,))
    for i in range(out[0]):
        for j in range(out[1]):
            patch = padded[i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2]))
    return y


@pytest.mark.parametrize("k,size,same,shift", [(7, 16, True, 0), (7, 17, False, 0), (5, 12, True, 0),
                                               (3, 15, True, 0), (3, 14, False, 0), (7, 20, False, 0),
                                               (7, 16, True, 1), (3, 15, True, 1), (5, 12, False, 1)])
def test_the_rearranged_kernel_computes_the_same_sums(k, size, same, shift):
    rng = np.random.default_rng(k * 100 + size)
    x, w = rng.normal(size=(size, size, 3)), rng.normal(size=(5, k, k, 3))
    out = -(-size // 2) if same else (size - k) // 2 + 1
    before = max((out - 1) * 2 + k - size, 0) // 2 if same else 0
    expected = _conv(x, w, 2, (before, before), (out, out))
    # PAD -> SPACE_TO_DEPTH(2) -> stride-1 VALID convolution with the rearranged kernel; a kernel shifted by a
    # leading zero row and column reads one more leading row and column of padding.
    k2 = -(-(k + shift) // 2)
    rows, lead = 2 * (out + k2 - 1), before + shift
    padded = np.zeros((rows, rows, 3))
    padded[lead:lead + size, lead:lead + size] = x[:rows - lead, :rows - lead]
    z = padded.reshape(rows // 2, 2, rows // 2, 2, 3).transpose(0, 2, 1, 3, 4).reshape(rows // 2, rows // 2, 12)
    kernel = rewrite.space_to_depth_kernel(w, (shift, shift))
    assert kernel.shape == (5, k2, k2, 12)
    np.testing.assert_allclose(_conv(z, kernel, 1, (0, 0), (out, out)), expected, rtol=1e-10, atol=1e-10)


def _images(size, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == "int8":
        return [rng.integers(-128, 128, size=(size, size, 3), dtype=np.int8) for _ in range(n)]
    return [rng.normal(size=(size, size, 3)).astype("float32") for _ in range(n)]


@pytest.mark.parametrize("name,convention,size", [
    ("squeezenet1_0", None, 64),  # 7x7/2
    ("squeezenet1_1", None, 63),  # 3x3/2, odd input
    ("sqnxt23_w1", None, 67),  # 7x7/2 VALID, padded to an even size
    ("sqnxt23_w1", "imgclsmob", 64),  # explicit PAD before the stem, folded into the new one
])
def test_every_stem_is_rewritten_exactly_in_every_flavour(name, convention, size):
    import keras

    keras.utils.set_random_seed(7)  # the float differences depend on the weights: the same ones on every run
    model = squeezekit.build(name, convention=convention, input_shape=(size, size, 3))
    calibration = np.stack(_images(size, 4, "float32", seed=1))
    with tflite.exported(model) as ex:
        for flavour in tflite.ALL:
            recipe = tflite.Recipe(flavour, representative=(lambda: [calibration]) if flavour == "int8" else None)
            content = tflite.convert(ex, recipe).content
            rewritten, done = rewrite.space_to_depth_stem(content)
            assert [(r.name, r.layer) for r in done] == [("space_to_depth_stem", layers.layer_name(
                graph.read(content).tensors[graph.read(content).ops[done[0].node].outputs[0]].name))]
            before, after = graph.read(content), graph.read(rewritten)
            ops_before, ops_after = [op.name for op in before.ops], [op.name for op in after.ops]
            assert ops_after.count("SPACE_TO_DEPTH") == 1 and ops_before.count("SPACE_TO_DEPTH") == 0
            # + SPACE_TO_DEPTH (+ a PAD, unless one was there; an odd input's PAD between two reshapes)
            assert len(ops_after) - len(ops_before) in (1, 2, 4)
            table = layers.read(rewritten)
            s2d = next(r for r in table if r.op == "SPACE_TO_DEPTH")
            stem = next(r for r in table[s2d.index:] if r.op == "CONV_2D")
            assert stem.index == done[0].node_after and s2d.layer == f"{stem.layer}_space_to_depth"
            # The file runs a stride-1 convolution on 12 channels...
            conv = after.ops[stem.index]
            assert conv.options.strideH == 1 and after.tensors[conv.inputs[0]].shape[3] == 12
            assert after.tensors[conv.outputs[0]].shape == before.tensors[before.ops[done[0].node].outputs[0]].shape
            # ...but its layer table describes the network (and counts its MACs and weights) as before.
            plain = {r.layer: r for r in layers.read(content) if r.op == "CONV_2D"}[stem.layer]
            assert (stem.kernel, stem.stride, stem.in_channels, stem.input_shape, stem.macs) == (
                plain.kernel, plain.stride, plain.in_channels, plain.input_shape, plain.macs)
            assert "space_to_depth_stem" in stem.rewritten and "1.31x" in stem.rewritten or plain.kernel != (7, 7)
            assert layers.totals(table)["macs"] == layers.totals(layers.read(content))["macs"]
            if flavour != "float16":  # float16 weights sit on a DEQUANTIZE, which carries no weight count
                assert layers.totals(table)["weights"] == layers.totals(layers.read(content))["weights"]
            assert rewrite.recorded(rewritten) == [r.to_dict() for r in done] and rewrite.recorded(content) == []
            graph.verify(rewritten)
            result = rewrite.compare(content, rewritten, _images(size, 20, "int8" if flavour == "int8"
                                                                 else "float32"))
            if flavour == "int8":
                assert result["max_lsb"] == 0 and result["identical"], result
                # The added ops carry the versions TFLite's converter gives int8 SPACE_TO_DEPTH and PAD.
                from ai_edge_litert import schema_py_generated as schema
                from ai_edge_litert.tools import flatbuffer_utils

                from converters import flatbuffer

                versions = {flatbuffer_utils.get_builtin_code_from_operator_code(c): c.version
                            for c in flatbuffer.unpack(rewritten).operatorCodes}
                assert versions[schema.BuiltinOperator.SPACE_TO_DEPTH] == 2
                assert versions.get(schema.BuiltinOperator.PAD, 2) == 2
                # Batches resize (the reports run 64 images at a time): the reshapes keep the batch free.
                from converters import report

                batch = np.stack(_images(size, 3, "float32", seed=2))
                np.testing.assert_array_equal(report.run(rewritten, batch), report.run(content, batch))
                # The host profile still gives every operator XNNPACK runs to its node.
                from converters.profiling import host

                assert host.profile_ops(rewritten, runs=2, table=table).summary["unmatched_xnnpack_ops"] == 0
            else:
                assert result["max_rel"] <= rewrite.FLOAT_TOLERANCE, (flavour, result)


def test_a_file_without_a_strided_stem_is_left_alone():
    import keras

    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, strides=1, padding="same")(inputs)  # stride 1: nothing to gain
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)  # stride 2 on 8 channels: not a thin stem
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    content = tflite.convert(model, tflite.Recipe("float32")).content
    same, done = rewrite.space_to_depth_stem(content)
    assert same is content and done == []


@pytest.mark.parametrize("kh,kw", [(1, 1), (3, 1), (1, 3), (3, 3), (5, 5), (7, 1)])
def test_the_stage_kernel_computes_the_same_convolution_in_the_space_to_depth_domain(kh, kw):
    rng = np.random.default_rng(kh * 10 + kw)
    x, w = rng.normal(size=(12, 10, 4)), rng.normal(size=(6, kh, kw, 4))
    expected = _conv(x, w, 1, ((kh - 1) // 2, (kw - 1) // 2), (12, 10))

    def s2d(a):
        h, wd, c = a.shape
        return a.reshape(h // 2, 2, wd // 2, 2, c).transpose(0, 2, 1, 3, 4).reshape(h // 2, wd // 2, 4 * c)

    kernel = rewrite.space_to_depth_stage_kernel(w)
    kb = kernel.shape[1:3]
    assert kernel.shape == (24, *kb, 16) and all(k % 2 for k in kb) and kb[0] <= kh and kb[1] <= kw
    # SAME padding of the block kernel, on the space-to-depth input, gives the space-to-depth of the output.
    got = _conv(s2d(x), kernel, 1, ((kb[0] - 1) // 2, (kb[1] - 1) // 2), (6, 5))
    np.testing.assert_allclose(got, s2d(expected), rtol=1e-10, atol=1e-10)


def _stage_rows(content):
    return [(r.layer, r.op, r.kernel, r.stride, r.macs, r.input_shape, r.output_shape, r.elements, r.in_channels,
             r.out_channels) for r in layers.read(content)]


def test_a_stage_runs_in_the_space_to_depth_domain_exactly_in_every_flavour():
    """1.0-SqNxt-23 at 64: stage 1 at 14x14 (32 channels), left by stage 2's stride-2 1x1 convolutions; stage 3
    at 4x4 holds 128 channels, over the default limit, and moves when the limit allows."""
    import keras

    keras.utils.set_random_seed(3)
    model = squeezekit.build("sqnxt23", input_shape=(64, 64, 3), classes=10)
    calibration = np.stack(_images(64, 4, "float32", seed=1))
    with tflite.exported(model) as ex:
        for flavour in tflite.ALL:
            recipe = tflite.Recipe(flavour, representative=(lambda: [calibration]) if flavour == "int8" else None)
            content = tflite.convert(ex, recipe).content
            rewritten, done = rewrite.space_to_depth_stage(content, max_channels=128)
            if flavour == "float16":  # its weights sit on a DEQUANTIZE: no stage the rewrite moves
                assert rewritten is content and done == []
                continue
            sizes = {r.before.split(" on ")[1].split("x")[0] for r in done}
            assert sizes == {"14", "4"} and {r.name for r in done} == {"space_to_depth_stage"}, (flavour, sizes)
            stage1 = rewrite.space_to_depth_stage(content)[1]
            assert {r.before.split(" on ")[1].split("x")[0] for r in stage1} == {"14"}
            after = graph.read(rewritten)
            assert [op.name for op in after.ops].count("SPACE_TO_DEPTH") == 2
            for r in done:
                op = after.ops[r.node_after]
                if op.name == "CONV_2D":  # every convolution of a stage now runs at half the size, 4x as deep
                    assert op.options.strideH == 1 and after.tensors[op.inputs[0]].shape[1] * 2 == int(
                        r.before.split(" on ")[1].split("x")[0])
            # The layer table describes the network as before: the added SPACE_TO_DEPTH ops are rows of their own.
            table = [row for row in _stage_rows(rewritten)
                     if not (row[1] == "SPACE_TO_DEPTH" and row[0].endswith("_space_to_depth"))]
            assert table == _stage_rows(content), flavour
            assert layers.totals(layers.read(rewritten))["weights"] == layers.totals(layers.read(content))["weights"]
            assert rewrite.recorded(rewritten) == [r.to_dict() for r in done]
            graph.verify(rewritten)
            result = rewrite.compare(content, rewritten, _images(64, 20, "int8" if flavour == "int8" else "float32"))
            if flavour == "int8":
                assert result["identical"], result
                from converters import report
                from converters.profiling import host

                batch = np.stack(_images(64, 3, "float32", seed=2))  # the batch stays resizable
                np.testing.assert_array_equal(report.run(rewritten, batch), report.run(content, batch))
                profile = host.profile_ops(rewritten, runs=2, table=layers.read(rewritten))
                assert profile.summary["unmatched_xnnpack_ops"] == 0
            else:
                assert result["max_rel"] <= rewrite.FLOAT_TOLERANCE, (flavour, result)


def test_odd_sizes_wide_stages_and_other_ops_are_left_alone():
    import keras

    # 1.0-SqNxt-23 at 60: stage 1 at 13x13 and stage 2 at 7x7 are odd; stage 3 at 4x4 holds 128 channels.
    model = squeezekit.build("sqnxt23", input_shape=(60, 60, 3), classes=10)
    content = tflite.convert(model, tflite.Recipe("float32")).content
    same, done = rewrite.space_to_depth_stage(content)
    assert same is content and done == []
    assert len(rewrite.space_to_depth_stage(content, max_channels=128)[1]) > 0  # the 4x4 stage, when allowed
    # SqueezeNet's fire modules concatenate: not a stage the rewrite moves.
    squeeze = tflite.convert(squeezekit.build("squeezenet1_1", input_shape=(64, 64, 3)), tflite.Recipe("float32"))
    assert rewrite.space_to_depth_stage(squeeze.content)[1] == []
    # A stage must leave through stride-2 1x1 convolutions: one ending in a pooling layer stays.
    inputs = keras.Input((8, 8, 16))
    x = keras.layers.Conv2D(16, 1)(inputs)
    x = keras.layers.Conv2D(16, 3, padding="same")(x)
    pooled = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    content = tflite.convert(pooled, tflite.Recipe("float32")).content
    assert rewrite.space_to_depth_stage(content)[1] == []


def _int8_file(seed, size=32):
    import keras

    keras.utils.set_random_seed(seed)
    model = squeezekit.build("sqnxt23", input_shape=(size, size, 3), classes=10)
    images = np.stack(_images(size, 4, "float32", seed=seed))
    return tflite.convert(model, tflite.Recipe("int8", representative=lambda: [images])).content


@pytest.fixture(scope="module")
def small_int8():
    return _int8_file(0)


def _timer(plain_us, rewritten_us):
    calls = []

    def timer(files):
        calls.append(sorted(files))
        return {name: (plain_us if name == "plain" else rewritten_us) for name in files}

    return timer, calls


@pytest.mark.parametrize("rewritten_us,kept", [(80.0, True), (99.0, False), (120.0, False)])
def test_auto_keeps_a_rewrite_only_when_it_measures_faster(small_int8, rewritten_us, kept):
    inputs = _images(32, 20, "float32", seed=3)
    timer, calls = _timer(100.0, rewritten_us)  # 99 is faster, but by less than MIN_GAIN
    content, decision = rewrite.optimize(small_int8, "auto", inputs, timer=timer)
    assert calls == [["plain", "space_to_depth_stem"]]
    [candidate] = decision["candidates"]
    assert candidate["kept"] is kept and (content is not small_int8) is kept
    assert decision["applied"] == (["space_to_depth_stem"] if kept else [])
    assert (candidate["plain_us"], candidate["rewritten_us"]) == (100.0, rewritten_us)
    assert candidate["equality"] == {"inputs": 20, "output_dtype": "int8", "max_lsb": 0, "identical": True}
    assert candidate["weight_bytes_added"] == 64 * (4 * 4 * 12 - 7 * 7 * 3) and ("faster on this CPU" if kept else "not faster") in candidate["reason"]
    assert ("SPACE_TO_DEPTH" in [op.name for op in graph.read(content).ops]) is kept
    line = rewrite.describe(decision)[0]
    assert line.startswith(f"space_to_depth_stem {'kept' if kept else 'not kept'}") and "identical on 20" in line


def test_explicit_and_none_modes(small_int8):
    inputs = _images(32, 5, "float32", seed=4)
    timer, calls = _timer(100.0, 150.0)
    content, decision = rewrite.optimize(small_int8, "space_to_depth_stem", inputs, timer=timer)
    assert decision["applied"] == ["space_to_depth_stem"] and decision["candidates"][0]["reason"] == "asked for"
    assert decision["candidates"][0]["speedup"] == round(100 / 150, 3) and len(calls) == 1
    assert rewrite.recorded(content)[0]["layer"] == "stem_conv"
    same, decision = rewrite.optimize(small_int8, "none", inputs, timer=timer)
    assert same is small_int8 and decision == {"mode": "none", "applied": [], "threads": 1, "candidates": []}
    assert len(calls) == 1  # "none" times nothing
    with pytest.raises(ValueError, match="unknown optimization 'fast'; choose one of auto, none, space_to_depth_stem, "
                                         "space_to_depth_stage"):
        rewrite.optimize(small_int8, "fast", inputs)


def test_the_stage_mode_keeps_what_measures_faster_stage_by_stage(small_int8):
    inputs = _images(32, 20, "float32", seed=6)
    assert len(rewrite.stage_entries(small_int8)) == 1  # 1.0-SqNxt-23 at 32: stage 1 at 6x6
    timer, calls = _timer(100.0, 150.0)
    content, decision = rewrite.optimize(small_int8, "space_to_depth_stage", inputs, timer=timer)
    assert calls == [["plain", "space_to_depth_stem"], ["plain", "space_to_depth_stage"]]
    stem, stage = decision["candidates"]
    assert content is small_int8 and decision["applied"] == [] and not stem["kept"] and not stage["kept"]
    assert stage["reason"].startswith("not faster") and stage["equality"]["identical"]
    assert stage["weight_bytes_added"] > 0 and {r["name"] for r in stage["rewrites"]} == {"space_to_depth_stage"}
    timer, _ = _timer(100.0, 80.0)
    content, decision = rewrite.optimize(small_int8, "space_to_depth_stage", inputs, timer=timer)
    assert decision["applied"] == ["space_to_depth_stem", "space_to_depth_stage"]
    assert [op.name for op in graph.read(content).ops].count("SPACE_TO_DEPTH") == 2
    assert {r["name"] for r in rewrite.recorded(content)} == {"space_to_depth_stem", "space_to_depth_stage"}
    assert "space_to_depth_stage kept (1.25x faster on this CPU)" in "\n".join(rewrite.describe(decision))
    assert rewrite.compare(small_int8, content, inputs)["identical"]
    _, decision = rewrite.optimize(small_int8, "auto", inputs, timer=timer)  # auto never tries a stage
    assert [c["rewrite"] for c in decision["candidates"]] == ["space_to_depth_stem"]


def test_a_rewrite_that_changes_the_outputs_is_dropped_in_every_mode(small_int8, monkeypatch):
    other = _int8_file(1)  # another network's weights: same graph, different outputs
    fake = rewrite.Rewrite("space_to_depth_stem", 0, "stem_conv", "before", "after")
    monkeypatch.setitem(rewrite.REWRITES, "space_to_depth_stem", lambda content: (other, [fake]))
    timer, calls = _timer(100.0, 10.0)
    for mode in ("auto", "space_to_depth_stem"):
        content, decision = rewrite.optimize(small_int8, mode, _images(32, 8, "float32", seed=5), timer=timer)
        [candidate] = decision["candidates"]
        assert content is small_int8 and not candidate["kept"] and candidate["equality"]["max_lsb"] > 0
        assert candidate["reason"].startswith("outputs differ") and decision["applied"] == []
    assert calls == []  # never timed
