"""Per-op quantization error (converters.layer_errors) and selective precision (Recipe.keep_float)."""

from dataclasses import replace

import numpy as np
import pytest

from converters import graph, layer_errors, report, tflite
from converters.errors import ConversionError
from converters.profiling import layers


@pytest.fixture(scope="module")
def files(digits_run):
    """(source, float32 bytes, calibrated model, int8 recipe, plain int8 bytes) of the shared digits run."""
    from squeezekit.export import pipeline

    source = pipeline.prepare(None, weights=str(digits_run[0] / "model.keras"), calibration_images=64)
    images = source.calibration
    recipe = tflite.Recipe("int8", representative=lambda: [images[i:i + 16] for i in range(0, len(images), 16)])
    with tflite.exported(source.model) as saved:
        float_file = source.float_file(saved)
        calibrated = tflite.calibrate(saved, recipe)
        plain = tflite.convert(saved, recipe).content
    return source, float_file, calibrated, recipe, plain


def _with_output_scale(content: bytes, node: int, factor: float) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    sub = model.subgraphs[0]
    q = sub.tensors[sub.operators[node].outputs[0]].quantization
    q.scale = np.asarray(q.scale, dtype=np.float32) * factor
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def test_a_fused_op_of_a_trained_model_is_named_by_its_convolution():
    # A trained model's folded BatchNorm puts its own part last: it names no layer.
    name = ("sqnxt23_w1_1/stage1_block6_sep_b_relu_1/Relu;sqnxt23_w1_1/stage1_block6_sep_b_bn_1/batchnorm/add_1;"
            "sqnxt23_w1_1/stage1_block6_sep_b_1/convolution;sqnxt23_w1_1/stage1_block6_sep_b_bn_1/batchnorm/sub1")
    assert layers.layer_name(name) == "stage1_block6_sep_b"
    assert layers.layer_name("sqnxt23_w1_1/stage1_block1_proj_relu_1/Relu;"
                             "sqnxt23_w1_1/stage1_block1_proj_1/convolution") == "stage1_block1_proj"
    assert layers.layer_name("StatefulPartitionedCall_1:0") == ""


def test_every_op_gets_an_entry_and_a_wrongly_ranged_op_ranks_first(files):
    source, float_file, _, _, plain = files
    images = source.verification_images[:16]
    rows = layer_errors.measure(float_file, plain, images)
    g = graph.read(plain)
    assert [r["node"] for r in rows] == list(range(len(g.ops)))
    assert all(r["snr_db"] is not None for r in rows)  # one SavedModel: every op has its float twin
    ranks = sorted(r["rank"] for r in rows if r["rank"] is not None)
    assert ranks == list(range(1, len(rows) + 1)) or ranks == list(range(1, len(rows)))  # a float input's QUANTIZE
    names = {row.index: row.layer for row in layers.read(plain)}
    assert all(r["layer"] == names[r["node"]] for r in rows)
    summary = layer_errors.summarize(plain, rows, len(images))
    # The logit SNR is the row of the op that feeds the SOFTMAX. Its value depends on the training run (2.6 dB
    # in one CI run of 8 epochs on digits), so only "more signal than noise, short of lossless".
    softmax = next(op for op in g.ops if op.name == "SOFTMAX")
    feeding = next(op for op in g.ops if softmax.inputs[0] in op.outputs)
    assert summary["logit_snr_db"] == rows[feeding.index]["snr_db"]
    assert 0.0 < summary["logit_snr_db"] < 60.0 and summary["output_snr_db"] is not None

    # A range 20 times too narrow on a convolution in the middle: its outputs clip, and it ranks first,
    # although every op after it inherits the error (the first full-suite run of the linear measure, added
    # noise, ranked the next convolution first: on an already noisy input a conv adds more noise power).
    convs = [op.index for op in g.ops if op.name == "CONV_2D"]
    target = convs[len(convs) // 2]
    assert layer_errors.worst(rows, 1)[0]["node"] != target
    broken = layer_errors.measure(float_file, _with_output_scale(plain, target, 1 / 20), images)
    first, second = layer_errors.worst(broken, 2)
    assert first["node"] == target and first["snr_drop_db"] > max(second["snr_drop_db"], rows[target]["snr_drop_db"] + 10)
    assert broken[target]["snr_db"] < rows[target]["snr_db"] - 6
    assert "| 1 | " + str(target) + " | CONV_2D |" in "\n".join(layer_errors.describe(broken))


def test_layers_kept_in_float_are_the_only_float_ops(files):
    source, float_file, calibrated, recipe, plain = files
    rows = layer_errors.measure(float_file, plain, source.verification_images[:16])
    kept = [r["layer"] for r in layer_errors.worst(rows, 2)]
    conversion = tflite.convert(calibrated, replace(recipe, keep_float=tuple(kept)))
    g = graph.read(conversion.content)
    float_ops = {names.layer for names in layers.read(conversion.content, g)
                 if names.op not in ("QUANTIZE", "DEQUANTIZE")
                 and g.tensors[g.ops[names.index].outputs[0]].dtype == "FLOAT32"}
    assert float_ops == set(kept)
    assert g.io("inputs")[0]["dtype"] == "int8" and g.io("outputs")[0]["dtype"] == "int8"
    assert graph.int8_problems(g)  # the plain audit sees the islands...
    allowed = set(tflite.kept_tensors(calibrated.content, kept))
    assert graph.int8_problems(g, kept_tensors=allowed) == []  # ...and they are all there is
    assert len(conversion.content) > len(plain)  # float32 kernels
    assert "2 layer(s) kept in float" in conversion.recipe.describe()
    # The calibrated model quantized with nothing kept is the plain file's function.
    again = tflite.convert(calibrated, recipe).content
    outputs = report.run(again, source.verification_images[:64])
    np.testing.assert_array_equal(outputs, report.run(plain, source.verification_images[:64]))

    with pytest.raises(ConversionError, match="no layer named 'stage9_nothing'"):
        tflite.convert(calibrated, replace(recipe, keep_float=("stage9_nothing",)))
    with pytest.raises(ConversionError, match="applies to int8"):
        tflite.Recipe("float16", keep_float=("fc",))


def test_calibration_narrows_the_ranges_the_converter_widens_at_in_place_adds(files):
    """TFLiteConverter's calibrator gives a tensor whose only consumer is an ADD the ADD's output range;
    ``calibrate`` measures those tensors again and narrows them, and only them."""
    source, _, calibrated, recipe, plain = files
    stock = tflite.calibrate(source.model, replace(recipe, correct_ranges=False))
    assert stock.corrected == [] and calibrated.corrected
    g = graph.read(stock.content)
    consumers = {}
    for op in g.ops:
        for i in op.inputs:
            consumers.setdefault(i, []).append(op)
    add_inputs = {g.tensors[op.outputs[0]].name: consumers[op.outputs[0]][0] for op in g.ops
                  if [c.name for c in consumers.get(op.outputs[0], [])] == ["ADD"]}
    corrected = {row["tensor"]: row for row in calibrated.corrected}
    assert set(corrected) <= set(add_inputs) and len(corrected) >= len(add_inputs) // 2
    for name, row in corrected.items():
        add_range = g.tensors[add_inputs[name].outputs[0]]
        assert row["recorded"][1] > 1.01 * row["measured"][1]
        assert row["measured"][0] >= row["recorded"][0] and row["measured"][1] <= row["recorded"][1]
    # The corrected int8 file has the finer steps on those tensors; the stock one, the ADD's.
    widened = tflite.convert(stock, replace(recipe, correct_ranges=False)).content
    fine, coarse = graph.read(plain), graph.read(widened)
    by_name = {t.name: t for t in coarse.tensors}
    for t in fine.tensors:
        if t.name in corrected:
            assert t.scale[0] < by_name[t.name].scale[0] / 1.01
