"""Exact graph rewrites of converted files: the space-to-depth stem (converters.rewrite)."""

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
    with pytest.raises(ValueError, match="unknown optimization 'fast'; choose one of auto, none, space_to_depth_stem"):
        rewrite.optimize(small_int8, "fast", inputs)


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
