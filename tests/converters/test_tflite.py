"""Every registered model converts to int8 and float32 at 224, every topology in the four --all flavours, and the
int8 graph is what a phone needs (int16x8, int4 and the FP16 metadata: test_flavours.py)."""

import numpy as np
import pytest

import squeezekit
from converters import graph, metadata, report, tflite
from converters.profiling import layers, run
from squeezekit.models.accounting import model_stats


def _info(spec, flavour, classes):
    p = spec.preprocessing
    return metadata.ModelInfo(model=spec.name, paper_name=spec.paper_name, convention=spec.convention,
                              class_names=[f"class_{i:03d}" for i in range(classes)], channel_order=p.channel_order,
                              mean=list(p.mean), std=list(p.std), crop_fraction=p.crop_fraction, flavour=flavour,
                              trained=False, version="test")


def _flavours(spec) -> tuple:
    """The four --all flavours, or int8 and float32 alone for a wider copy of a registered topology.

    A width multiplier (the 1.5x and 2.0x SqueezeNeXts) scales channel counts, not ops, and float16 and dynamic
    are checked here for their I/O and file sizes only: the w1 of the same topology converts them (and
    benchmarks/export_sizes.py every model). That leaves out 12 of the 76 conversions, the largest networks'
    (about 70 s of worker time at the time: the suite took 27 minutes)."""
    if spec.config.get("width_multiplier", 1.0) != 1.0:
        return ("float32", "int8")
    return tflite.ALL


def test_every_topology_converts_in_all_flavours():
    """The width-multiplied models left to int8 and float32 each have their w1 in the registry."""
    names = squeezekit.list_models()
    wide = [n for n in names if _flavours(squeezekit.models.get_spec(n)) != tflite.ALL]
    assert wide, "no width-multiplied model: _flavours has nothing to leave out"
    for name in wide:
        spec = squeezekit.models.get_spec(name)
        w1 = [n for n in names if _flavours(squeezekit.models.get_spec(n)) == tflite.ALL
              and {k: v for k, v in squeezekit.models.get_spec(n).config.items() if k != "width_multiplier"}
              == {k: v for k, v in spec.config.items() if k != "width_multiplier"}]
        assert w1, f"{name}: no registered model of its topology at width 1 converts float16 and dynamic"


@pytest.mark.parametrize("name", squeezekit.list_models())
def test_every_model_converts_in_all_flavours_at_224(name):
    spec = squeezekit.models.get_spec(name)
    model = squeezekit.build(name, input_shape=(224, 224, 3))
    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 60.0, size=(4, 224, 224, 3)).astype(np.float32)
    reference = np.asarray(model(images[:1], training=False))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    sizes = {}
    with tflite.exported(model) as saved:
        for flavour in _flavours(spec):
            conversion = tflite.convert(saved, tflite.Recipe(flavour, representative=lambda: [images]))
            content = metadata.attach(conversion.content, _info(spec, flavour, 1000))
            sizes[flavour] = len(content)
            g = graph.read(content)
            assert g.io("inputs")[0]["shape"] == [1, 224, 224, 3]
            assert g.io("outputs")[0]["shape"] == [1, 1000]
            outputs = report.run(content, images[:1])
            if flavour == "float32":
                # XNNPACK and oneDNN sum in different orders. An untrained model on N(0, 60) inputs has logits
                # in the hundreds, so a 1e-6 relative logit difference moves a saturated softmax by up to 1e-4
                # (seen: 9.5e-5 on squeezenet1_1_complex_bypass).
                np.testing.assert_allclose(outputs, reference, atol=2e-4)
            if flavour != "int8":
                continue
            assert graph.int8_problems(g) == []
            assert {row["op"] for row in g.inventory()} & {"QUANTIZE", "DEQUANTIZE"} == set()
            assert g.io("inputs")[0]["dtype"] == "int8" and g.io("outputs")[0]["dtype"] == "int8"
            for op in g.ops:  # no float tensor anywhere, and concat inputs share the output's scale
                assert all(g.tensors[i].dtype in ("INT8", "INT32") for i in op.inputs + op.outputs if i >= 0), op
                if op.name == "CONCATENATION":
                    out = g.tensors[op.outputs[0]]
                    assert all(g.tensors[i].scale == out.scale and g.tensors[i].zero_point == out.zero_point
                               for i in op.inputs)
            delegation = report.xnnpack_partitions(content)
            assert delegation["partitions"] == 1 and set(delegation["ops_outside"]) <= {"SOFTMAX"}, delegation
            assert abs(outputs.sum() - 1.0) < 0.1  # dequantized probabilities
            assert len(content) <= 1.30 * trainable, f"{len(content)} bytes for {trainable} parameters"
            _check_profile(content, model)
    assert sizes["float32"] > 3 * sizes["int8"]
    if "float16" in sizes:
        assert sizes["float32"] > sizes["float16"] > sizes["int8"]
        assert sizes["dynamic"] < sizes["float16"]


def test_int8_needs_representative_data_or_qat():
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=4)
    with pytest.raises(tflite.ConversionError, match="representative data"):
        tflite.convert(model, tflite.Recipe("int8"))


def test_recipe_rejects_unknown_flavour_and_io_type():
    with pytest.raises(tflite.ConversionError, match="unknown flavour"):
        tflite.Recipe("int2")
    with pytest.raises(tflite.ConversionError, match="input_type"):
        tflite.Recipe("int8", input_type="int16")


@pytest.mark.parametrize("io_type", ["uint8", "float32"])
def test_int8_io_types(io_type):
    import keras

    # Seeded: one unseeded draw (1 run in several hundred) made a float-I/O int8 graph that XNNPACK refused to
    # prepare ("failed to create XNNPACK runtime", node 41); that runtime limit is issue 16's, not this test's.
    keras.utils.set_random_seed(0)
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=4)
    images = np.random.default_rng(0).normal(0, 50, size=(8, 32, 32, 3)).astype(np.float32)
    content = tflite.convert(model, tflite.Recipe("int8", io_type, io_type, representative=lambda: [images])).content
    g = graph.read(content)
    assert g.io("inputs")[0]["dtype"] == io_type and g.io("outputs")[0]["dtype"] == io_type
    # QUANTIZE only at the input, DEQUANTIZE only at a float output: both allowed, nothing else float.
    assert graph.int8_problems(g, float_io=io_type == "float32") == []
    outputs = report.run(content, images)  # dequantized by the I/O tensor's own scale and zero point
    np.testing.assert_allclose(outputs.sum(-1), 1.0, atol=0.05)
    assert report.agreement(np.asarray(model(images)), outputs, "noise")["max_abs_difference"] < 0.25


def test_float_ops_are_reported_as_int8_problems():
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=4)
    g = graph.read(tflite.convert(model, tflite.Recipe("float32")).content)
    problems = graph.int8_problems(g)
    assert problems and all(p.startswith("float op") for p in problems)
    assert any("CONV_2D" in p for p in problems)


def test_traced_function_gives_the_saved_model_routes_bytes_in_every_flavour(monkeypatch):
    """The traced-function route freezes the variables in memory and names the file as a SavedModel
    conversion does: byte for byte the file of model.export + from_saved_model, once both record the same
    model type (the metadata says which route ran)."""
    from tensorflow.lite.python import lite

    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=5)
    rng = np.random.default_rng(0)
    # Biases of a trained model: the converter merges equal constants (a fresh model's zero biases), and the
    # order it meets them in differs between the routes (measured: two tensors swapped, the same graph).
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0.0, 0.1, size=layer.bias.shape))
    images = rng.normal(0.0, 60.0, size=(2, 32, 32, 3)).astype(np.float32)
    recipes = [tflite.Recipe(f, representative=lambda: [images]) for f in ("float32", "float16", "dynamic", "int8",
                                                                           "int16x8")]
    recipes.append(tflite.Recipe("int8", input_type="float32", output_type="float32",
                                 representative=lambda: [images]))
    with tflite.exported(model) as ex:
        traced = [tflite.convert(ex, r).content for r in recipes]
        assert {model_type(c) for c in traced} == {lite.conversion_metadata_fb.ModelType.TF_CONCRETE_FUNCTIONS}
        monkeypatch.setattr(tflite, "_model_type", lambda: lite.conversion_metadata_fb.ModelType.TF_SAVED_MODEL)
        relabelled = [tflite.convert(ex, r).content for r in recipes]
    with tflite.exported(model, saved_model=True) as ex:
        public = [tflite.convert(ex, r).content for r in recipes]
    assert {model_type(c) for c in public} == {lite.conversion_metadata_fb.ModelType.TF_SAVED_MODEL}
    assert [len(c) for c in relabelled] == [len(c) for c in public]
    for recipe, ours, theirs in zip(recipes, relabelled, public):
        assert ours == theirs, recipe
    names = {(d["name"], d2["name"]) for c in traced for d, d2 in [_io(c)]}
    assert names == {("serving_default_input:0", "StatefulPartitionedCall_1:0")}, names


def model_type(content: bytes) -> int:
    """The converter's input as the file's CONVERSION_METADATA records it."""
    from tensorflow.lite.python import conversion_metadata_schema_py_generated as schema

    from converters import flatbuffer

    model = flatbuffer.unpack(content)
    [entry] = [m for m in model.metadata if m.name == b"CONVERSION_METADATA"]
    data = bytearray(model.buffers[entry.buffer].data.tobytes())
    return schema.ConversionMetadataT.InitFromPackedBuf(data, 0).environment.modelType


def _io(content):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=content)
    assert it.get_signature_list() == {"serving_default": {"inputs": ["input"], "outputs": ["output_0"]}}
    return it.get_input_details()[0], it.get_output_details()[0]


def _check_profile(content, model):
    """The profile every registry model gets: host (both kernel modes) and the three simulated arrays."""
    profile = run.profile(content, name=f"{model.name}.tflite", targets=["host", *run.ACCELERATORS], runs=3,
                          latency_runs=3)
    assert profile.macs == model_stats(model).macs  # the .tflite layer table counts what the reference tables do
    assert [t.target for t in profile.targets] == ["host", "host-builtin", *run.ACCELERATORS]
    mac_nodes = {row.index for row in layers.read(content) if row.macs}
    for target in profile.targets:
        assert mac_nodes <= {row.index for row in target.layers}, target.target
    assert profile.targets[0].summary["unmatched_xnnpack_ops"] == 0  # every XNNPACK operator found its node
    for target in profile.targets[2:]:
        assert all(row.extra["utilization"] <= 1 + 1e-9 for row in target.layers)
    assert 0 < profile.memory["peak_activation_bytes"] <= profile.memory["arena_bytes"]
