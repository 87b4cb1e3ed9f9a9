"""The PE-array model (converters/profiling/accel.py): hand-computed layers, then invariants on SqueezeNet 1.1.

Hand values follow the module docstring's equations; R x C is the array, P output pixels, K taps.
"""

import pytest

from converters.profiling import accel
from converters.profiling.layers import Layer


def conv(h, w, cin, cout, k=1, groups=1, op="CONV_2D", bias=True):
    """A stride-1 "same" convolution row as ``layers.read`` gives it for an int8 graph."""
    macs = h * w * k * k * (cin // groups) * cout
    weights = k * k * (cin // groups) * cout + (cout if bias else 0)
    return Layer(0, op, "conv", [1, h, w, cin], [1, h, w, cout], (k, k), (1, 1), groups, cin, cout, macs,
                 weights, weights, h * w * cin, h * w * cout, h * w * cout, "INT8")


def vector(op, in_shape, out_shape, kernel=(1, 1), inputs=1, dtype="INT8"):
    n_in, n_out = inputs * _numel(in_shape), _numel(out_shape)
    return Layer(0, op, op.lower(), list(in_shape), list(out_shape), kernel, kernel, 1, 0, 0, 0, 0, 0,
                 n_in * accel.DTYPE_BYTES[dtype], n_out * accel.DTYPE_BYTES[dtype], n_out, dtype)


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_pointwise_conv_on_8x8_by_hand():
    # 1x1 conv, 4x4x16 -> 32 on 8x8: M = 16 * 16 * 32 = 8192, Wk = 512, I = 256, O = 512, 544 weight words.
    layer = conv(4, 4, 16, 32)
    cfg = accel.preset("accel-8x8")
    cost = accel.layer_cost(layer, cfg)
    # WS: t(16/8) * t(32/8) = 8 tiles of K * max(P, R) = 16 cycles, plus the first weight load R K = 8.
    # OS: t(16/8) * t(32/8) = 8 tiles of max(Ci K, R) = 16 cycles, plus the last drain R = 8.
    assert (cost.ws_cycles, cost.os_cycles) == (136, 136)
    # Everything fits the GB: 544 + 256 + 512 = 1312 words = bytes, at 8 B/cycle 164 cycles > 136.
    assert cost.dram == {"weights": 544, "inputs": 256, "outputs": 512}
    assert (cost.memory_cycles, cost.cycles) == (164, 164)
    # A tie in cycles goes to the cheaper mapping. WS: rf 8192 + 512 + 2 * 512 * 2 = 10752, noc 2 * 8192,
    # gb 512 + 1024 input reads + 512 * (2 * 2 - 1) psum passes = 3072; OS: rf = noc = 2 * 8192 + 512,
    # gb 1024 + 512 * t(16/8) + 512 = 2560.
    assert cost.dataflow == "WS"
    assert cost.accesses == {"alu": 8192, "rf": 10752, "noc": 16384, "gb": 3072, "dram": 1312}
    assert cost.energy == {"alu": 8192, "rf": 10752, "noc": 32768, "gb": 18432, "dram": 262400,
                           "total": 332544}
    os_energy = 8192 + 16896 + 2 * 16896 + 6 * 2560 + 200 * 1312
    assert os_energy == 336640 > cost.energy["total"]
    assert cost.utilization == pytest.approx(8192 / (136 * 64))


def test_depthwise_keeps_at_most_one_column_busy():
    # 3x3 depthwise on 8x8x16, 8x8 array: M = 16 * 9 * 64 = 9216.
    cost = accel.layer_cost(conv(8, 8, 16, 16, k=3, groups=16, op="DEPTHWISE_CONV_2D"), accel.preset("8x8"))
    # WS packs min(8, 8, 16) = 8 channels on the diagonal: t(16/8) = 2 tiles of 9 * max(64, 8), + 8 * 9.
    # OS: a row's input is one channel's, so 16 * t(64/8) = 128 tiles of max(9, 8), + 8.
    assert (cost.ws_cycles, cost.os_cycles) == (1224, 1160)
    assert cost.memory_cycles == (160 + 1024 + 1024) // 8
    assert cost.dataflow == "OS" and cost.cycles == 1160
    for cycles in (cost.ws_cycles, cost.os_cycles):
        assert 9216 / (cycles * 64) <= 1 / 8


def test_fully_connected_uses_one_row_or_one_column():
    fc = Layer(0, "FULLY_CONNECTED", "fc", [1, 256], [1, 64], in_channels=256, out_channels=64,
               macs=256 * 64, weights=256 * 64, weight_bytes=256 * 64, input_bytes=256, output_bytes=64,
               elements=64, dtype="INT8")
    cost = accel.layer_cost(fc, accel.preset("accel-16x16"))
    # WS: 16 * 4 tiles whose weight loads (R = 16 cycles) outlast P = 1 pixel; OS: 4 tiles of Ci = 256.
    assert (cost.ws_cycles, cost.os_cycles) == (64 * 16 + 16, 4 * 256 + 16)
    assert cost.utilization == pytest.approx(16384 / (1040 * 256)) and cost.utilization < 1 / 16


def test_dram_refetch_rule():
    assert accel.dram_traffic(100, 50, 50, 256) == {"weights": 100, "inputs": 50, "outputs": 50}
    # 450 words > 256: keep inputs costs 300 + t(300/128) * 100 + 50 = 650, keep weights 100 + 300 + 50.
    assert accel.dram_traffic(100, 300, 50, 256) == {"weights": 100, "inputs": 300, "outputs": 50}
    # Both operands over half the GB: inputs 400 + 4 * 1000 + 10 = 4410, weights 1000 + 8 * 400 + 10 = 4210.
    assert accel.dram_traffic(1000, 400, 10, 256) == {"weights": 1000, "inputs": 3200, "outputs": 10}
    # Weightless ops never refetch.
    assert accel.dram_traffic(0, 10_000, 10_000, 256) == {"weights": 0, "inputs": 10_000, "outputs": 10_000}


def test_activation_reuse_keeps_tensors_that_fit_half_the_gb():
    cfg = accel.preset("8x8", activation_reuse=True)  # half the GB: 65,536 words
    small = accel.layer_cost(conv(4, 4, 16, 32), cfg)
    assert small.dram == {"weights": 544, "inputs": 0, "outputs": 0} and small.memory_cycles == 68
    big = accel.layer_cost(conv(112, 112, 4, 4), cfg)  # 50,176 words in and out: kept
    assert big.dram["inputs"] == big.dram["outputs"] == 0
    bigger = accel.layer_cost(conv(112, 112, 8, 8), cfg)  # 100,352 words each way: through DRAM
    assert bigger.dram["inputs"] == bigger.dram["outputs"] == 112 * 112 * 8


def test_vector_and_free_ops():
    cfg = accel.preset("accel-8x8")
    pool = accel.layer_cost(vector("MAX_POOL_2D", [1, 8, 8, 16], [1, 4, 4, 16], kernel=(3, 3)), cfg)
    # work = 256 outputs * 9 window elements = 2304 -> 36 cycles on 64 PEs; DRAM 1024 + 256 bytes.
    assert (pool.compute_cycles, pool.memory_cycles, pool.dataflow, pool.utilization) == (36, 160, "vector", 0.0)
    assert pool.accesses == {"alu": 2304, "rf": 2304, "noc": 2304, "gb": 1280, "dram": 1280}
    add = accel.layer_cost(vector("ADD", [1, 4, 4, 16], [1, 4, 4, 16], inputs=2, dtype="FLOAT32"), cfg)
    assert add.compute_cycles == 512 // 64 and add.dram["inputs"] == 512  # counted in words, not bytes
    softmax = accel.layer_cost(vector("SOFTMAX", [1, 1000], [1, 1000]), cfg)
    assert softmax.compute_cycles == -(-3000 // 64)
    for free in (vector("RESHAPE", [1, 1, 1, 1000], [1, 1000]), vector("SHAPE", [1, 6, 6, 256], [4], dtype="INT32")):
        cost = accel.layer_cost(free, cfg)
        assert cost.cycles == 0 and cost.energy["total"] == 0 and cost.dataflow == "none"


def test_word_width_moves_bytes_not_energy():
    layer = conv(14, 14, 64, 128, k=3)
    c8 = accel.layer_cost(layer, accel.preset("16x16"))
    c16 = accel.layer_cost(layer, accel.preset("16x16", word_bits=16))
    assert c16.memory_cycles == 2 * c8.memory_cycles
    assert c16.energy == c8.energy  # per word accesses
    assert c16.compute_cycles == c8.compute_cycles


def test_config_presets_and_validation():
    assert accel.preset("accel-32x32").pes == 1024 and accel.preset("16x16").name == "accel-16x16"
    cfg = accel.AccelConfig()
    assert (cfg.gb_kib, cfg.rf_bytes, cfg.word_bits, cfg.clock_mhz, cfg.dram_bytes_per_cycle) == (128, 512, 8, 200, 8)
    assert cfg.energy == {"alu": 1, "rf": 1, "noc": 2, "gb": 6, "dram": 200}
    with pytest.raises(ValueError, match="presets"):
        accel.preset("accel-12x12")
    with pytest.raises(ValueError, match="word_bits"):
        accel.AccelConfig(word_bits=4)


@pytest.fixture(scope="module")
def squeezenet_table():
    import squeezekit
    from converters import tflite
    from converters.profiling import layers

    model = squeezekit.build("squeezenet1_1", input_shape=(224, 224, 3))
    return layers.read(tflite.convert(model, tflite.Recipe("float32")).content)


def test_invariants_on_squeezenet_1_1(squeezenet_table):
    table = squeezenet_table
    assert sum(l.macs for l in table) == 349_151_936  # the reference count at 224
    profiles = {name: accel.simulate(table, name) for name in accel.PRESETS}
    for name, profile in profiles.items():
        cfg = accel.preset(name)
        assert profile.target == name and profile.kind == "simulated" and len(profile.layers) == len(table)
        for layer, row in zip(table, profile.layers):
            e = row.extra
            assert e["cycles"] == max(e["compute_cycles"], e["memory_cycles"])
            assert row.time_us == pytest.approx(e["cycles"] / 200)
            assert e["energy"]["total"] == pytest.approx(sum(v for k, v in e["energy"].items() if k != "total"))
            if layer.macs:
                assert accel.Geometry.of(layer).macs == layer.macs
                assert 0 < e["utilization"] <= 1
                assert e["compute_cycles"] * cfg.pes >= layer.macs
                # The choice is the faster mapping once DRAM is counted.
                assert e["cycles"] == max(min(e["ws_cycles"], e["os_cycles"]), e["memory_cycles"])
                assert e["compute_cycles"] == e[f"{e['dataflow'].lower()}_cycles"]
        s = profile.summary
        assert s["cycles"] == sum(r.extra["cycles"] for r in profile.layers)
        assert s["energy_total"] == pytest.approx(sum(s["energy"].values()))
        assert s["energy_total"] == pytest.approx(sum(r.extra["energy"]["total"] for r in profile.layers))
        assert 0 < s["effective_utilization"] <= s["utilization"] <= 1
        assert s["time_ms"] == pytest.approx(s["cycles"] / 200e3)
    small, mid, big = (profiles[n] for n in accel.PRESETS)
    for rows in zip(small.layers, mid.layers, big.layers):  # a bigger array is never slower to compute
        best = [min(r.extra["ws_cycles"], r.extra["os_cycles"]) if r.macs else r.extra["compute_cycles"]
                for r in rows]
        assert best[0] >= best[1] >= best[2], rows[0].layer
    # DRAM traffic does not depend on the array; energy off-chip is the same on all three.
    assert small.summary["dram_bytes"] == mid.summary["dram_bytes"] == big.summary["dram_bytes"]
    assert small.summary["energy"]["dram"] == big.summary["energy"]["dram"]
