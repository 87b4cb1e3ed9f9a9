"""Activation memory from tensor lifetimes: the peak a tensor arena must hold, and a greedy plan that fits."""

import json

import numpy as np
import pytest

from converters import graph, tflite
from converters.profiling import memory



@pytest.fixture(scope="module")
def tiny():
    """image 8x8x3 -> conv_a (8 ch, ReLU) -> conv_b (8 ch); sum = conv_a + conv_b. Float32, batch 1."""
    import keras

    x = keras.Input((8, 8, 3), name="image")
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    b = keras.layers.Conv2D(8, 3, padding="same", name="conv_b")(a)
    model = keras.Model(x, keras.layers.Add(name="sum")([a, b]), name="tiny")
    return tflite.convert(model, tflite.Recipe("float32")).content


def _assert_valid(buffers, offsets, arena, alignment):
    """No two buffers alive at the same op step share a byte, and all fit in the arena."""
    size = [-(-b.bytes // alignment) * alignment for b in buffers]
    for i, p in enumerate(buffers):
        assert offsets[i] % alignment == 0 and offsets[i] + size[i] <= arena
        for j in range(i):
            if p.overlaps(buffers[j]):
                assert offsets[i] + size[i] <= offsets[j] or offsets[j] + size[j] <= offsets[i], (i, j)


def test_peak_of_a_hand_built_graph_is_the_add_with_both_convs_alive(tiny):
    g = graph.read(tiny)
    assert [op.name for op in g.ops] == ["CONV_2D", "CONV_2D", "ADD"]
    image, act = 8 * 8 * 3 * 4, 8 * 8 * 8 * 4  # float32 bytes: 768 and 2048
    # op 0: image -> a; op 1: a -> b; op 2: a + b -> sum (a is still alive: the add reads it).
    expected = [image + act, act + act, act + act + act]
    s = memory.summarize(tiny)
    assert s["live_bytes"] == expected
    assert s["peak_activation_bytes"] == 3 * act == 6144
    # The graph output's tensor is "StatefulPartitionedCall_1:0": layers.py names the op by its place.
    assert s["peak_op"] == {"index": 2, "op": "ADD", "layer": "add_2"}
    assert sorted(t["bytes"] for t in s["peak_tensors"]) == [act] * 3
    assert s["largest_op_io_bytes"] == 3 * act
    # a, b and sum overlap at op 2; the image (op 0 only) fits where b and sum go later.
    assert s["arena_bytes"] == 6144
    assert s["input_bytes"] == image and s["output_bytes"] == act
    # Two 8x3x3x{3,8} kernels and the biases, float32 (the converter may share a bias buffer).
    kernels = (8 * 3 * 3 * 3 + 8 * 3 * 3 * 8) * 4
    assert kernels + 32 <= s["weight_bytes"] <= kernels + 64
    assert s["file_bytes"] == len(tiny)
    json.dumps(s)


def test_graph_inputs_live_from_the_start_and_outputs_to_the_end():
    t = lambda i, shape: graph.Tensor(i, f"t{i}", "INT8", shape, [], [], False)
    tensors = [t(0, [1, 10]), t(1, [1, 4]), t(2, [1, 4]), t(3, [1, 2]), t(4, [1, 3])]
    ops = [graph.Op(0, "RELU", [1], [2]), graph.Op(1, "RELU", [2], [3]), graph.Op(2, "ADD", [3, 0], [4])]
    g = graph.Graph(tensors, ops, inputs=[0, 1], outputs=[2, 4], metadata_names=[])
    spans = {b.tensors[0]: (b.first, b.last) for b in memory.lifetimes(g)}
    # input 0 is first read by op 2 but is filled before op 0; output 2 is read by op 1 but kept for the caller.
    assert spans == {0: (0, 2), 1: (0, 0), 2: (0, 2), 3: (1, 2), 4: (2, 2)}
    assert memory.live_bytes(memory.lifetimes(g), 3) == [10 + 4 + 4, 10 + 4 + 2, 10 + 4 + 2 + 3]


def test_reshape_aliasing_merges_the_output_into_its_input():
    t = lambda i, shape, const=False: graph.Tensor(i, f"t{i}", "FLOAT32", shape, [], [], const)
    tensors = [t(0, [1, 4, 4, 2]), t(1, [1, 4, 4, 2]), t(2, [2], True), t(3, [1, 32]), t(4, [1, 32])]
    ops = [graph.Op(0, "RELU", [0], [1]), graph.Op(1, "RESHAPE", [1, 2], [3]), graph.Op(2, "RELU", [3], [4])]
    g = graph.Graph(tensors, ops, inputs=[0], outputs=[4], metadata_names=[])
    plain = memory.lifetimes(g)
    aliased = memory.lifetimes(g, alias_reshape=True)
    assert len(plain) == 4 and len(aliased) == 3
    assert [(b.tensors, b.first, b.last) for b in aliased if len(b.tensors) > 1] == [([1, 3], 0, 2)]
    assert memory.live_bytes(plain, 3) == [256, 256, 256]
    assert memory.live_bytes(aliased, 3) == [256, 128, 256]


def test_greedy_plan_is_valid_and_can_exceed_the_lower_bound():
    B = memory.Buffer
    # Largest first puts a and b at 0; c and d then stack above them: 4 bytes where 3 are ever alive.
    buffers = [B([0], 2, 0, 0), B([1], 2, 2, 2), B([2], 1, 0, 1), B([3], 1, 1, 2)]
    offsets, arena = memory.plan(buffers, alignment=1)
    _assert_valid(buffers, offsets, arena, 1)
    assert max(memory.live_bytes(buffers, 3)) == 3 and arena == 4
    # Lifetimes that never overlap share offset 0.
    offsets, arena = memory.plan([B([0], 100, 0, 1), B([1], 60, 2, 3), B([2], 30, 4, 4)], alignment=16)
    assert offsets == [0, 0, 0] and arena == 112


def test_sqnxt23_int8_peak_is_the_stem():
    import squeezekit
    from converters import tflite

    model = squeezekit.build("sqnxt23_w1", input_shape=(96, 96, 3))
    images = np.random.default_rng(0).normal(0.0, 60.0, size=(2, 96, 96, 3)).astype(np.float32)
    content = tflite.convert(model, tflite.Recipe("int8", representative=lambda: [images])).content
    stem = int(np.prod(model.get_layer("stem_conv").output.shape[1:]))
    pool = int(np.prod(model.get_layer("stem_pool").output.shape[1:]))
    g = graph.read(content)
    s = memory.summarize(content, g)
    # The stem conv's int8 output and the max pool it feeds (at 227: 111x111x64 + 55x55x64 = 982,144 bytes).
    assert s["peak_activation_bytes"] == stem + pool
    assert s["peak_op"]["layer"] == "stem_pool"
    assert s["arena_bytes"] >= s["peak_activation_bytes"] >= s["largest_op_io_bytes"]
    assert s["activation_bytes_total"] > 5 * s["peak_activation_bytes"]  # reuse matters
    assert 0.6 * s["file_bytes"] < s["weight_bytes"] < s["file_bytes"]
    assert len(s["live_bytes"]) == len(g.ops) and max(s["live_bytes"]) == s["peak_activation_bytes"]
    buffers = memory.lifetimes(g)
    offsets, arena = memory.plan(buffers)
    _assert_valid(buffers, offsets, arena, memory.ALIGNMENT)
    assert arena == s["arena_bytes"]


def test_invariants_on_the_tiny_model(tiny):
    g = graph.read(tiny)
    for alias in (False, True):
        buffers = memory.lifetimes(g, alias_reshape=alias)
        offsets, arena = memory.plan(buffers, alignment=1)
        _assert_valid(buffers, offsets, arena, 1)
        assert arena >= max(memory.live_bytes(buffers, len(g.ops)))
