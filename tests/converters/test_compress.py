"""Deep Compression: the coder's exact bit counts on hand-made arrays, and a tiny model through the whole
pipeline (prune, cluster, PCQAT, int8) checked in the .tflite itself."""

import numpy as np
import pytest

import squeezekit
from converters import coded_size, compress, tflite


# The coder, on arrays small enough to count by hand.

def test_huffman_lengths_are_the_textbook_code():
    assert coded_size.huffman_lengths({"a": 5, "b": 2, "c": 1, "d": 1}) == {"a": 1, "b": 2, "c": 3, "d": 3}
    assert coded_size.huffman_lengths({"a": 4, "b": 4, "c": 4, "d": 4}) == dict.fromkeys("abcd", 2)
    assert coded_size.huffman_lengths({7: 9}) == {7: 1}  # a lone symbol still takes a bit
    assert coded_size.huffman_bits([1, 1, 1, 1, 1, 2, 2, 3, 4]) == (5 * 1 + 2 * 2 + 3 + 3, 4)


def test_relative_positions_insert_a_filler_zero_when_a_gap_overflows():
    mask = np.zeros(14, bool)
    mask[[1, 12, 13]] = True
    # 3-bit gaps hold up to 7 skipped zeros: position 12 is 10 zeros after 1 -> a filler at 9, then gap 2.
    gaps, filler = coded_size.relative_positions(mask, 3)
    assert gaps.tolist() == [1, 7, 2, 0]
    assert filler.tolist() == [False, True, False, False]
    gaps, filler = coded_size.relative_positions(mask, 1)  # at most 1 zero per gap
    assert gaps.tolist() == [1, 1, 1, 1, 1, 1, 0, 0] and filler.sum() == 5
    gaps, _ = coded_size.relative_positions(np.zeros(5, bool), 3)
    assert len(gaps) == 0


def test_shared_codebook_reproduces_per_channel_int8_from_one_float_codebook():
    # Centroids {-3, 3, 5}; channel 1 has half the scale, so 3 -> 6 and -3 -> -6 there.
    q = np.array([[0, 3, -3, 5], [0, 6, -6, 0]])
    codebook, index = coded_size.shared_codebook(q, np.array([1.0, 0.5]))
    assert len(codebook) == 3  # four distinct nonzero int8 values, three shared floats
    assert index.tolist() == [[-1, 1, 0, 2], [-1, 1, 0, -1]]


def test_layer_size_counts_every_term_exactly():
    q = np.array([[0, 3, -3, 5], [0, 6, -6, 0]], dtype=np.int8)
    layer = coded_size.layer_size("x", "CONV_2D", q, 0, np.array([1.0, 0.5]), bias_count=2)
    assert (layer.weights, layer.nonzeros, layer.codebook, layer.exact) == (8, 5, 3, True)
    assert (layer.unique_int8, layer.unique_per_channel_max) == (6, 4)
    # 1-bit gaps (best here): the five entries skip 1, 0, 0, 1, 0 zeros (no filler): 5 bits; indices
    # 1, 0, 2, 1, 0 -> lengths {0: 1 or 2, 1: 2 or 1, 2: 2}: 8 bits; tables 5 x (3 + 2); codebook 3 x 32;
    # scales and biases 2 x 32 each; header 64.
    assert (layer.gap_bits, layer.fillers) == (1, 0)
    assert (layer.position_bits, layer.index_bits, layer.table_bits) == (5, 8, 25)
    assert (layer.codebook_bits, layer.scale_bits, layer.bias_bits) == (96, 64, 64)
    assert layer.coded_bits == 5 + 8 + 25 + 96 + 64 + 64 + 64


def test_config_targets_and_bad_names():
    config = compress.CompressionConfig.parse("6bit")
    assert (config.clusters, config.sparsity) == (64, 0.67)
    assert compress.CompressionConfig.parse("8bit", 0.5).clusters == 256
    assert config.targets(["conv1", "fire2", "conv10"]) == {"conv1": 0.35, "fire2": 0.67, "conv10": 0.67}
    with pytest.raises(compress.CompressionError, match="6bit, 8bit"):
        compress.CompressionConfig.parse("4bit")
    with pytest.raises(compress.CompressionError):
        compress.CompressionConfig(6, sparsity=1.0)


# The pipeline, on a 32x32 SqueezeNet 1.1 with 10 classes.

@pytest.fixture(scope="session")  # session: xdist may interleave modules on a worker
def compressed():
    import keras
    import tensorflow as tf

    from squeezekit.models.twin import to_tf_keras

    keras.utils.set_random_seed(0)
    model = squeezekit.build("squeezenet1_1", input_shape=(32, 32, 3), classes=10)
    rng = np.random.default_rng(0)
    images = rng.normal(0.0, 60.0, size=(64, 32, 32, 3)).astype(np.float32)
    labels = tf.one_hot(rng.integers(0, 10, size=64), 10)
    train = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    config = compress.CompressionConfig(bits=6, sparsity=0.7, first_sparsity=0.3)
    qat = compress.compress(to_tf_keras(model), train, config, prune_epochs=1, cluster_epochs=1, qat_epochs=1,
                            verbose=0, log=lambda *_: None)
    content = tflite.convert(qat, tflite.Recipe("int8")).content
    return model, config, content, coded_size.measure(content)


def test_the_int8_file_keeps_the_sparsity_of_every_pruned_layer(compressed):
    model, config, _, size = compressed
    targets = config.targets(compress.prunable_layers(model))
    by_name = {layer.name: layer for layer in size.layers}
    assert set(by_name) == set(targets)
    for name, target in targets.items():
        assert by_name[name].sparsity >= target - 0.01, name


def test_the_int8_file_keeps_the_clusters(compressed):
    _, config, _, size = compressed
    for layer in size.layers:
        assert layer.unique_per_channel_max <= config.clusters + 1, layer.name  # +1: zero
        assert layer.codebook <= config.clusters, layer.name
        assert layer.exact, layer.name


def test_coded_is_smaller_than_gzip_is_smaller_than_raw(compressed):
    _, _, content, size = compressed
    assert size.raw_bytes == len(content)
    assert 0 < size.coded_bytes < size.gzip_bytes < size.raw_bytes
    assert size.to_dict()["layers"][0]["coded_bits"] == size.layers[0].coded_bits
    assert "## Compression" in size.to_markdown()


def test_the_compressed_model_runs_and_follows_the_float_one(compressed):
    from converters import report

    model, _, content, _ = compressed
    x = np.random.default_rng(1).normal(0.0, 60.0, size=(8, 32, 32, 3)).astype(np.float32)
    out = report.run(content, x)
    assert out.shape == (8, 10) and np.isfinite(out).all()


@pytest.mark.parametrize("bits, paper_mb", [(6, 0.47), (8, 0.66)])
def test_squeezenet_1_0_at_1000_classes_is_as_small_as_the_paper_says(bits, paper_mb):
    """The SqueezeNet paper's table 2 (Deep Compression): 0.47 MB at 6 bits, 0.66 MB at 8 bits. Size depends
    on sparsity, codebooks and index statistics, not accuracy: the untrained model, compressed one shot."""
    from squeezekit.export import pipeline

    source = pipeline.prepare("squeezenet1_0", calibration_images=16)
    assert source.trainable_params == 1_248_424
    config = compress.CompressionConfig(bits)
    calibration = [source.calibration[i:i + 8] for i in range(0, len(source.calibration), 8)]
    qat = compress.compress(source.twin(), None, config, calibration=calibration, log=lambda *_: None)
    size = coded_size.measure(tflite.convert(qat, tflite.Recipe("int8")).content)
    mb = size.to_dict()["mb"]
    assert mb["coded_bytes"] <= paper_mb, mb
    assert 0 < mb["coded_bytes"] < mb["gzip_bytes"] < mb["raw_bytes"]
    targets = config.targets(compress.prunable_layers(source.model))
    for layer in size.layers:  # read from the .tflite: sparsity and shared values per layer
        assert layer.sparsity >= targets[layer.name] - 0.01 and layer.codebook <= config.clusters and layer.exact


@pytest.mark.parametrize("args, message", [
    (["--compress", "5bit"], "--compress must be one of 6bit, 8bit"),
    (["--compress", "6bit", "--float32"], "--compress makes an int8 model"),
    (["--sparsity", "0.5"], "--sparsity needs --compress"),
    (["--compress", "6bit", "--sparsity", "1.5"], "sparsity must be in [0, 1)"),
    (["--compress", "6bit", "--prune_epochs", "3"], "need --weights"),
])
def test_bad_compression_flags_are_one_line_errors(args, message, tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "squeezekit.export", "--model", "squeezenet1_0", *args,
                             "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and lines[-1].startswith("error: ") and message in lines[-1], result.stderr[-800:]
    assert "Traceback" not in result.stderr and not (tmp_path / "x").exists()
