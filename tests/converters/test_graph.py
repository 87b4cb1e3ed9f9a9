"""The one flatbuffer reader: tensors' buffer data (inline and at an offset), options, metadata, bad files."""

import numpy as np
import pytest

from converters import flatbuffer, graph


@pytest.fixture(scope="module")
def tiny():
    """(keras model, .tflite with inline buffers, the same with buffers after the flatbuffer at offsets)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x = keras.Input((8, 8, 3), name="image")
    a = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_a")(x)
    b = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(a)
    y = keras.layers.MaxPooling2D(2, name="pool")(b)
    model = keras.Model(x, keras.layers.Dense(5, name="fc")(keras.layers.Flatten()(y)), name="tiny")
    files = []
    for offsets in (False, True):  # what the converter writes for models over 2 GB, here on a small one
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter._experimental_use_buffer_offset = offsets
        files.append(converter.convert())
    return model, files[0], files[1]


def _reference_data(content: bytes) -> dict[int, bytes]:
    """Tensor index -> buffer bytes, as ai_edge_litert's flatbuffer_utils resolves them (offsets too)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(content)
    data = {}
    for i, t in enumerate(model.subgraphs[0].tensors):
        raw = model.buffers[t.buffer].data
        data[i] = b"" if raw is None else bytes(raw)
    return data


@pytest.mark.parametrize("layout", ["inline", "offset"])
def test_buffer_data_is_what_flatbuffer_utils_reads(tiny, layout):
    content = tiny[1] if layout == "inline" else tiny[2]
    g = graph.read(content)
    reference = _reference_data(content)
    assert [t.buffer_bytes.tobytes() for t in g.tensors] == [reference[t.index] for t in g.tensors]
    constants = [t for t in g.tensors if t.constant]
    assert len(constants) >= 6 and all(t.buffer_bytes.nbytes for t in constants)
    assert all(t.buffer_bytes.nbytes == 0 for t in g.tensors if not t.constant)
    if layout == "offset":  # the data lies after the flatbuffer, not in it
        assert graph.read(tiny[1]).tensors == g.tensors  # same tensors either way (data compared above)
        assert len(content) > len(tiny[1])


def test_tensor_data_are_the_keras_weights(tiny):
    model, inline, offset = tiny
    for content in (inline, offset):
        g = graph.read(content)
        kernels = {t.name.split("/")[-2]: t for t in g.tensors if t.constant and t.data().ndim >= 2}
        conv = next(t for name, t in kernels.items() if "conv_a" in name)
        # TFLite stores a conv kernel OHWI, Keras HWIO; a dense kernel (out, in) against Keras (in, out).
        np.testing.assert_array_equal(conv.data().transpose(1, 2, 3, 0), model.get_layer("conv_a").kernel.numpy())
        fc = next(t for t in g.tensors if t.constant and t.shape == [5, 32])
        np.testing.assert_array_equal(fc.data().T, model.get_layer("fc").kernel.numpy())
        assert not fc.data().flags.writeable


def test_ops_carry_their_options(tiny):
    g = graph.read(tiny[1])
    by_name = {op.name: op for op in g.ops}
    assert set(by_name) >= {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED"}
    conv = by_name["CONV_2D"].options
    assert (conv.strideH, conv.strideW) == (2, 2)
    pool = by_name["MAX_POOL_2D"].options
    assert (pool.filterHeight, pool.filterWidth, pool.strideH) == (2, 2, 2)
    assert graph.Op(0, "RELU", [0], [1]).options is None  # a hand-built op has none


def test_metadata_buffer_reads_inline_and_offset_files(tiny):
    versions = set()
    for content in tiny[1:]:
        assert "min_runtime_version" in graph.read(content).metadata_names
        versions.add(graph.metadata_buffer(content, "min_runtime_version").rstrip(b"\0"))
        assert graph.metadata_buffer(content, "absent") is None
    assert len(versions) == 1 and versions.pop().count(b".") == 2  # e.g. b"1.11.0"
    rewritten = flatbuffer.rewrite(tiny[1], {"extra": b"\x01\x02"})
    assert graph.metadata_buffer(rewritten, "extra") == b"\x01\x02"


def test_a_cut_or_corrupt_file_is_a_value_error(tiny):
    offset = tiny[2]
    start = np.frombuffer(offset, np.uint8).ctypes.data  # the offset tensors are views of the file
    end = max(t.buffer_bytes.ctypes.data - start + t.buffer_bytes.nbytes for t in graph.read(offset).tensors)
    assert len(tiny[1]) < end <= len(offset)
    with pytest.raises(ValueError, match="ends past the end of the file"):  # the flatbuffer whole, data cut
        graph.read(offset[:end - 1])
    with pytest.raises(ValueError, match="root table offset"):
        graph.read(b"\xff\xff\xff\x00TFL3" + bytes(8))
