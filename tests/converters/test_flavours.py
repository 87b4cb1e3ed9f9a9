"""The opt-in flavours: int16x8 (full integer, int16 activations), int4 (AI Edge Quantizer weights) and the
FP16-ready float16 file; each keeps its promise (``converters.audit``), agrees with Keras, and the audit names
what a file of another flavour lacks."""

import types

import numpy as np
import pytest

import squeezekit
from converters import audit, flatbuffer, graph, metadata, report, rewrite, tflite
from converters.errors import ConversionError


def _info(flavour, classes=10):
    spec = squeezekit.models.get_spec("squeezenet1_1")
    p = spec.preprocessing
    return metadata.ModelInfo(model=spec.name, paper_name=spec.paper_name, convention=spec.convention,
                              class_names=[f"class_{i}" for i in range(classes)], channel_order=p.channel_order,
                              mean=list(p.mean), std=list(p.std), crop_fraction=p.crop_fraction, flavour=flavour,
                              trained=False, version="test")


@pytest.fixture(scope="module")
def files():
    """A seeded untrained SqueezeNet 1.1 at 32x32 (10 classes), its Keras outputs on 32 images, and its files in
    every flavour these tests need, from one SavedModel."""
    import keras

    keras.utils.set_random_seed(3)
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=10)
    images = np.random.default_rng(0).normal(0.0, 1.0, size=(32, 32, 32, 3)).astype(np.float32)
    reference = np.asarray(model.predict(images, verbose=0))
    out = {}
    with tflite.exported(model) as saved:
        for flavour in ("float32", "dynamic", "int8", "int16x8", "int4", "float16"):
            recipe = tflite.Recipe(flavour, representative=lambda: [images[:16]])
            out[flavour] = metadata.attach(tflite.convert(saved, recipe).content, _info(flavour))
    return types.SimpleNamespace(model=model, images=images, reference=reference, content=out)


def _agreement(files, flavour):
    outputs = report.run(files.content[flavour], files.images)
    return report.agreement(files.reference, outputs, "noise"), outputs


def test_int16x8_is_full_integer_with_int16_io_and_close_to_keras(files):
    content = files.content["int16x8"]
    g = graph.read(content)
    assert audit.int16x8_problems(g) == []
    assert g.io("inputs")[0]["dtype"] == "int16" and g.io("outputs")[0]["dtype"] == "int16"
    assert g.io("inputs")[0]["quantization"]["zero_point"] == 0  # symmetric int16
    weights = [g.tensors[op.inputs[1]].dtype for op in g.ops if op.name in audit.WEIGHTED]
    assert weights and set(weights) == {"INT8"}
    agreement, outputs = _agreement(files, "int16x8")
    int8, _ = _agreement(files, "int8")
    assert agreement["top1_agreement"] >= 0.95 and agreement["max_abs_difference"] < 0.01
    assert agreement["max_abs_difference"] < int8["max_abs_difference"]  # the point of 16-bit activations
    info, labels = metadata.read(content)
    assert info["flavour"] == "int16x8" and info["input"]["dtype"] == "int16" and len(labels) == 10


def test_int16x8_audit_names_int8_activations_and_float_ops(files):
    int8 = audit.int16x8_problems(graph.read(files.content["int8"]))
    assert int8 and "is INT8, not INT16" in int8[0]
    floats = audit.int16x8_problems(graph.read(files.content["float32"]))
    assert floats and floats[0].startswith("float op CONV_2D")


def test_int4_weights_are_int4_and_the_file_agrees_with_keras(files):
    content = files.content["int4"]
    g = graph.read(content)
    assert audit.int4_problems(g) == []
    ops = [op for op in g.ops if op.name in audit.WEIGHTED]
    assert len(ops) == 26 and all(g.tensors[op.inputs[1]].dtype == "INT4" for op in ops)  # 25 convs + classifier
    assert g.io("inputs")[0]["dtype"] == "float32"
    assert len(content) < 0.2 * len(files.content["float32"])  # 4 bits of 32, plus biases and metadata
    agreement, _ = _agreement(files, "int4")
    assert agreement["top1_agreement"] >= 0.8, agreement
    assert metadata.read(content)[0]["flavour"] == "int4"


def test_int4_audit_names_weights_that_are_not_int4(files):
    dynamic = audit.int4_problems(graph.read(files.content["dynamic"]))
    assert len(dynamic) == 26 and "is INT8, not INT4" in dynamic[0]
    assert "conv" in dynamic[0].lower() or "/" in dynamic[0]  # the weight's name
    assert audit.int4_problems(graph.read(files.content["float32"]))[0].endswith("is FLOAT32, not INT4")


def test_float16_carries_the_xnnpack_fp16_metadata_and_runs_here(files):
    content = files.content["float16"]
    g = graph.read(content)
    assert audit.float16_problems(g) == []
    assert audit.fp16_metadata(g) == audit.FP16_METADATA == "fp16accfp16"
    assert audit.reduced_precision(audit.fp16_metadata(g)) == {"inference": ["fp16"], "accumulation": "fp16"}
    # squeezekit's own metadata beside it: the standard buffer and the zip are read as before.
    assert metadata.read(content)[0]["flavour"] == "float16"
    assert metadata.read_standard(content).name.endswith(b"float16)")
    agreement, outputs = _agreement(files, "float16")
    assert agreement["top1_agreement"] == 1.0 and agreement["max_abs_difference"] < 1e-3
    rep = report.build(content, file="x.tflite", model="squeezenet1_1", paper_name="SqueezeNet 1.1",
                       recipe=tflite.Recipe("float16"), quantization="", trainable_params=1,
                       reference=files.reference, outputs=outputs, data="noise")
    assert rep.audit == {"flavour": "float16", "problems": [], "reduced_precision_support": "fp16accfp16"}
    assert "| FP16 metadata | `reduced_precision_support` = `fp16accfp16` |" in rep.to_markdown()
    # The exact rewrites repack the flatbuffer: the entry stays.
    rewritten, done = rewrite.space_to_depth_stem(content)
    assert done and audit.float16_problems(graph.read(rewritten)) == []


def test_float16_audit_needs_the_entry_that_xnnpack_acts_on(files):
    plain = audit.float16_problems(graph.read(files.content["float32"]))
    assert plain[0].startswith("no 'reduced_precision_support' metadata entry")
    assert any("is FLOAT32, not FLOAT16" in p for p in plain)
    # fp32 accumulation parses, but XNNPACK hints FP16 only with fp16 accumulation.
    fp32acc = flatbuffer.rewrite(files.content["float16"], {audit.REDUCED_PRECISION_KEY: b"fp16accfp32"})
    assert audit.float16_problems(graph.read(fp32acc)) == [
        "'reduced_precision_support' is 'fp16accfp32'; XNNPACK runs FP16 only for fp16 inference with fp16 "
        "accumulation ('fp16accfp16')"]


def test_reduced_precision_values_parse_as_tflite_parses_them():
    # The cases of tflite/tools/optimize/reduced_precision_support_test.cc.
    assert audit.reduced_precision("bf16accfp32") == {"inference": ["bf16"], "accumulation": "fp32"}
    assert audit.reduced_precision("fp16bf16accfp32") == {"inference": ["fp16", "bf16"], "accumulation": "fp32"}
    for bad in ("accfp32", "qwerwer", "fp16accfp32fp16", "fp16accbf16", ""):
        assert audit.reduced_precision(bad) is None


def test_every_audited_flavour_reports_its_checks(files):
    for flavour in ("int16x8", "int4"):
        rep = report.build(files.content[flavour], file="x.tflite", model="m", paper_name="M",
                           recipe=tflite.Recipe(flavour), quantization="", trainable_params=1)
        assert rep.audit == {"flavour": flavour, "problems": []} and rep.int8_problems == []
        assert f"| {flavour} checks | passed |" in rep.to_markdown()
    assert report.build(files.content["dynamic"], file="x.tflite", model="m", paper_name="M",
                        recipe=tflite.Recipe("dynamic"), quantization="", trainable_params=1).audit is None


def test_int16_io_is_quantized_and_dequantized_by_its_scale():
    detail = {"dtype": np.int16, "quantization": (1e-3, 0)}
    x = np.array([0.0, 1.0, -1.0, 40.0], np.float32)
    q = report.quantize(x, detail)
    assert q.dtype == np.int16 and q.tolist() == [0, 1000, -1000, 32767]  # clipped, not wrapped
    np.testing.assert_allclose(report.dequantize(q[:3], detail), x[:3], atol=1e-6)


def test_classify_runs_an_int16x8_file(files):
    from squeezekit.classify import Classifier, preprocess

    content = files.content["int16x8"]
    classifier = Classifier(content, num_threads=1)
    assert classifier.input["dtype"] == np.int16
    rgb = np.random.default_rng(1).uniform(0, 255, size=(32, 32, 3)).astype(np.float32)
    top, _ = classifier.classify(rgb, top=10)
    expected = report.run(content, preprocess(rgb, classifier.info)[None].astype(np.float32))[0]
    assert [label for label, _ in top][0] == f"class_{int(np.argmax(expected))}"
    np.testing.assert_allclose(sorted((p for _, p in top), reverse=True), np.sort(expected)[::-1], atol=1e-6)


def test_the_new_flavours_refuse_qat_and_need_representative_data():
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=4)
    with pytest.raises(ConversionError, match="int16x8 post-training quantization needs representative data"):
        tflite.convert(model, tflite.Recipe("int16x8"))
    from squeezekit.errors import ExportError
    from squeezekit.export import pipeline

    source = types.SimpleNamespace(relay=None)  # refused before the source is read
    for flavour in ("int16x8", "int4"):
        with pytest.raises(ExportError, match=f"quantization-aware training makes int8 models, not {flavour}") as err:
            pipeline.export(source, tflite.Recipe(flavour), "unused", qat_epochs=2)
        assert err.value.param == "qat_flavour" and "--" not in str(err.value)


def test_all_means_the_four_xnnpack_flavours():
    assert tflite.ALL == ("float32", "float16", "dynamic", "int8")
    assert set(tflite.FLAVOURS) - set(tflite.ALL) == {"int16x8", "int4"}
    assert tflite.Recipe("int16x8").describe().startswith("int16x8 (int16 activations, int8 weights")
