"""Metadata inside the .tflite (standard TFLite metadata plus squeezekit.json) and the flatbuffer rewrite."""

import io
import json
import zipfile

import numpy as np
import pytest

import squeezekit
from converters import flatbuffer, graph, metadata, report, tflite
from converters.third_party.tflite_metadata import metadata_schema_py_generated as schema


@pytest.fixture(scope="module")
def int8_model():
    model = squeezekit.build("sqnxt23", input_shape=(32, 32, 3), classes=3)
    images = np.random.default_rng(0).normal(0, 50, size=(8, 32, 32, 3)).astype(np.float32)
    return tflite.convert(model, tflite.Recipe("int8", representative=lambda: [images])).content, images


def _info(**overrides):
    spec = squeezekit.models.get_spec("sqnxt23")
    p = spec.preprocessing
    fields = dict(model=spec.name, paper_name=spec.paper_name, convention=spec.convention,
                  class_names=["cat", "dog", "bird"], channel_order=p.channel_order, mean=list(p.mean),
                  std=list(p.std), crop_fraction=p.crop_fraction, flavour="int8", trained=True, source="m.keras",
                  quantization="post-training", version=squeezekit.__version__)
    fields.update(overrides)
    return metadata.ModelInfo(**fields)


def test_standard_metadata_is_readable(int8_model):
    content = metadata.attach(int8_model[0], _info())
    md = metadata.read_standard(content)
    assert md.name.decode().startswith("1.0-SqNxt-23")
    assert md.minParserVersion.decode() == "1.0.0"
    image = md.subgraphMetadata[0].inputTensorMetadata[0]
    assert image.content.contentPropertiesType == schema.ContentProperties.ImageProperties
    assert image.content.contentProperties.colorSpace == schema.ColorSpaceType.UNKNOWN  # BGR: not in the schema
    norm = image.processUnits[0]
    assert norm.optionsType == schema.ProcessUnitOptions.NormalizationOptions
    assert list(norm.options.mean) == [104.0, 117.0, 123.0] and list(norm.options.std) == [1.0, 1.0, 1.0]
    out = md.subgraphMetadata[0].outputTensorMetadata[0]
    assert out.associatedFiles[0].name.decode() == "labels.txt"
    assert out.associatedFiles[0].type == schema.AssociatedFileType.TENSOR_AXIS_LABELS
    assert md.associatedFiles[0].name.decode() == "squeezekit.json"
    rgb = metadata.read_standard(metadata.attach(int8_model[0], _info(channel_order="RGB")))
    assert rgb.subgraphMetadata[0].inputTensorMetadata[0].content.contentProperties.colorSpace == schema.ColorSpaceType.RGB


def test_squeezekit_json_and_labels_round_trip(int8_model):
    content = metadata.attach(int8_model[0], _info())
    info, labels = metadata.read(content)
    assert labels == ["cat", "dog", "bird"]
    g = graph.read(content)
    assert info["input"]["quantization"] == g.io("inputs")[0]["quantization"]
    assert info["output"]["quantization"] == g.io("outputs")[0]["quantization"]
    assert info["input"]["channel_order"] == "BGR" and info["input"]["shape"] == [1, 32, 32, 3]
    assert info["format"] == metadata.FORMAT and info["classes"] == 3
    # The zip's offsets count from the start of the file (as the TFLite metadata populator writes them),
    # so readers that do not correct for a prefix (java.util.zip) find the entries too.
    eocd = content.rfind(b"PK\x05\x06")
    cd_offset = int.from_bytes(content[eocd + 16:eocd + 20], "little")
    assert content[cd_offset:cd_offset + 4] == b"PK\x01\x02"
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        assert json.loads(zf.read("squeezekit.json"))["model"] == "sqnxt23_w1"


def test_metadata_does_not_change_outputs(int8_model):
    content, images = int8_model
    with_md = metadata.attach(content, _info())
    np.testing.assert_array_equal(report.run(content, images), report.run(with_md, images))


def test_the_same_model_attaches_to_the_same_bytes_at_any_time(int8_model, monkeypatch):
    import time

    first = metadata.attach(int8_model[0], _info())
    later = time.time() + 3 * 86400 + 7  # another day, another even second: zip stores both
    monkeypatch.setattr(time, "time", lambda: later)
    assert metadata.attach(int8_model[0], _info()) == first
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_wrong_label_count_is_refused(int8_model):
    with pytest.raises(metadata.MetadataError, match="2 class names for a model with 3 outputs"):
        metadata.attach(int8_model[0], _info(class_names=["a", "b"]))


def test_file_without_metadata_is_refused(int8_model):
    with pytest.raises(metadata.MetadataError, match="no squeezekit metadata"):
        metadata.read(int8_model[0])


def test_rewrite_shares_zero_points_and_keeps_outputs(int8_model):
    content, images = int8_model
    rewritten = flatbuffer.rewrite(content, {"extra": b"\x01\x02"})
    assert len(rewritten) < len(content)  # 111 convs' all-zero zero-point vectors written once
    assert graph.metadata_buffer(rewritten, "extra") == b"\x01\x02"
    np.testing.assert_array_equal(report.run(content, images), report.run(rewritten, images))
    before, after = graph.read(content), graph.read(rewritten)
    assert [t.zero_point for t in before.tensors] == [t.zero_point for t in after.tensors]
    assert [t.scale for t in before.tensors] == [t.scale for t in after.tensors]
