"""Importing benchmark_model's per-op profiles from a phone: CSV, plain text and proto map to TFLite nodes."""

import pytest

from converters import graph, tflite
from converters.profiling import device, layers

# What `benchmark_model --enable_op_profiling=true --use_xnnpack=false --op_profiling_output_mode=csv
# --op_profiling_output_file=...` writes for the tiny model below (stats_calculator.cc, format_as_csv):
# numbers in C++'s default float format, {0}..{5} the output tensor names of nodes 0..5.
CSV = """Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
AllocateTensors, 0.094, 0.094, 100%, 100%, 12, 1, AllocateTensors/0

============================== Top by Computation Time ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
AllocateTensors, 0.094, 0.094, 100%, 100%, 12, 1, AllocateTensors/0

Number of nodes executed: 1
============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
AllocateTensors, 1, 0.094, 100%, 100%, 12, 1

Timings (microseconds): count=1 curr=94
Memory (bytes): count=0
1 nodes observed


Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
CONV_2D, 0.031, 0.02664, 28.3284%, 28.3284%, 0, 1, [{0}]:0
CONV_2D, 0.052, 0.04713, 50.117%, 78.4453%, 0, 1, [{1}]:1
ADD, 0.008, 0.00654, 6.95449%, 85.3998%, 0, 1, [{2}]:2
MEAN, 0.011, 0.00872, 9.27265%, 94.6725%, 0, 1, [{3}]:3
FULLY_CONNECTED, 0.004, 0.00291, 3.09443%, 97.7669%, 0, 1, [{4}]:4
SOFTMAX, 0.003, 0.0021, 2.23309%, 100%, 0, 1, [{5}]:5

============================== Top by Computation Time ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
CONV_2D, 0.052, 0.04713, 50.117%, 50.117%, 0, 1, [{1}]:1
CONV_2D, 0.031, 0.02664, 28.3284%, 78.4453%, 0, 1, [{0}]:0
MEAN, 0.011, 0.00872, 9.27265%, 87.718%, 0, 1, [{3}]:3
ADD, 0.008, 0.00654, 6.95449%, 94.6725%, 0, 1, [{2}]:2
FULLY_CONNECTED, 0.004, 0.00291, 3.09443%, 97.7669%, 0, 1, [{4}]:4
SOFTMAX, 0.003, 0.0021, 2.23309%, 100%, 0, 1, [{5}]:5

Number of nodes executed: 6
============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
CONV_2D, 2, 0.073, 78.4946%, 78.4946%, 0, 2
MEAN, 1, 0.008, 8.60215%, 87.0968%, 0, 1
ADD, 1, 0.006, 6.45161%, 93.5484%, 0, 1
FULLY_CONNECTED, 1, 0.002, 2.15054%, 95.6989%, 0, 1
SOFTMAX, 1, 0.002, 2.15054%, 97.8495%, 0, 1

Timings (microseconds): count=50 first=109 curr=93 min=90 max=131 avg=94.04 std=6
Memory (bytes): count=0
6 nodes observed

"""
AVG_US = [26.64, 47.13, 6.54, 8.72, 2.91, 2.10]

# The same model with XNNPACK (the default): the delegate's own ops, named "Delegate/<op>:<i>"; the CSV
# writer turns the commas of a name into tabs, but not those of the node type.
CSV_XNNPACK = """Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
Convolution (NHWC, F32) IGEMM, 0.018, 0.0151, 31.9239%, 31.9239%, 0, 1, Delegate/Convolution (NHWC\t F32) IGEMM:0
Convolution (NHWC, F32) IGEMM, 0.024, 0.0203, 42.9175%, 74.8414%, 0, 1, Delegate/Convolution (NHWC\t F32) IGEMM:1
Add (ND, F32), 0.003, 0.0022, 4.65116%, 79.4926%, 0, 1, Delegate/Add (ND\t F32):2
Mean (ND, F32), 0.005, 0.0041, 8.66808%, 88.1607%, 0, 1, Delegate/Mean (ND\t F32):3
Fully Connected (NC, F32) GEMM, 0.003, 0.0019, 4.01691%, 92.1776%, 0, 1, Delegate/Fully Connected (NC\t F32) GEMM:4
Softmax (NC, F32), 0.004, 0.0037, 7.82241%, 100%, 0, 1, Delegate/Softmax (NC\t F32):5

Timings (microseconds): count=80 first=52 curr=47 min=45 max=70 avg=47.3 std=3
Memory (bytes): count=0
6 nodes observed
"""


# Older builds (TF 2.3 to 2.12) with XNNPACK: one row for the delegate kernel, a node appended after the
# model's six, named by the partition's outputs; the delegate's own ops in a "Delegate internal:" table.
CSV_XNNPACK_OLD = """Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
TfLiteXNNPackDelegate, 0.051, 0.0473, 100%, 100%, 0, 1, [StatefulPartitionedCall_1:0]:6

Timings (microseconds): count=80 first=51 curr=47 min=45 max=70 avg=47.3 std=3
Memory (bytes): count=0
1 nodes observed

Delegate internal:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
DelegateOpInvoke, 0.018, 0.0151, 32.1277%, 32.1277%, 0, 1, Delegate/Convolution (NHWC	 F32) IGEMM:0
DelegateOpInvoke, 0.024, 0.0203, 43.1915%, 75.3191%, 0, 1, Delegate/Convolution (NHWC	 F32) IGEMM:1
"""


@pytest.fixture(scope="module")
def tiny():
    import keras

    x = keras.Input((8, 8, 3), name="image")
    a = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(x)
    b = keras.layers.Conv2D(8, 3, padding="same", name="conv_b")(a)
    s = keras.layers.Add(name="sum")([a, b])
    y = keras.layers.Dense(4, activation="softmax", name="fc")(keras.layers.GlobalAveragePooling2D(name="pool")(s))
    content = tflite.convert(keras.Model(x, y, name="tiny"), tflite.Recipe("float32")).content
    g = graph.read(content)
    assert [op.name for op in g.ops] == ["CONV_2D", "CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    names = [g.tensors[op.outputs[0]].name for op in g.ops]
    return g, layers.read(content, g), names


def _text_table(names, prefix=""):
    """The default (non-CSV) table of an older build, with the [start] column, as `adb logcat` shows it:
    every field is "\\t" + right-aligned (``InitField``), the name follows the last tab."""
    head = ["[node type]".rjust(24), "[start]".rjust(9), "[first]".rjust(9), "[avg ms]".rjust(9), "[%]".rjust(8),
            "[cdf%]".rjust(8), "[mem KB]".rjust(10), "[times called]".rjust(9), "[Name]"]
    lines = ["Operator-wise Profiling Info for Regular Benchmark Runs:",
             "============================== Run Order ==============================", "\t" + "\t".join(head)]
    ops = ["CONV_2D", "CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    start, total, cdf = 0.0, sum(AVG_US), 0.0
    for i, (op, us) in enumerate(zip(ops, AVG_US)):
        cdf += us
        cells = [op.rjust(24), f"{start:9.3f}", f"{us / 1000:9.3f}", f"{us / 1000:9.3f}",
                 f"{100 * us / total:7.3f}%", f"{100 * cdf / total:7.3f}%", f"{0:10.3f}", f"{1:9d}",
                 f"[{names[i]}]:{i}"]
        lines.append("\t" + "\t".join(cells))
        start += us / 1000
    lines += ["", "Timings (microseconds): count=50 first=109 curr=93 min=90 max=131 avg=94.04 std=6"]
    return "\n".join(prefix + line for line in lines) + "\n"


def _proto(names):
    # TensorFlow's copy of the generated module: ai_edge_litert's registers the same names and cannot be
    # imported once TensorFlow is (the tiny fixture imports it).
    from tensorflow.lite.profiling.proto import profiling_info_pb2 as pb

    data = pb.BenchmarkProfilingData()
    init = data.init_profile.subgraph_profiles.add(subgraph_index=0, subgraph_name="main")
    op = init.per_op_profiles.add(node_type="AllocateTensors", name="AllocateTensors/0", times_called=1)
    op.inference_microseconds.avg = 94
    run = data.runtime_profile.subgraph_profiles.add(subgraph_index=0, subgraph_name="main")
    for i, (kind, us) in enumerate(zip(["CONV_2D", "CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED", "SOFTMAX"], AVG_US)):
        op = run.per_op_profiles.add(node_type=kind, name=f"[{names[i]}]:{i}", times_called=1, run_order=i)
        t = op.inference_microseconds
        t.first, t.last, t.avg, t.stddev = round(us) + 5, round(us), round(us), 1.5
        t.min, t.max, t.count, t.sum = round(us) - 1, round(us) + 9, 50, 50 * round(us)
    return data.SerializeToString()


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def _check_mapping(profile, rows):
    assert [(l.index, l.op, l.layer) for l in profile.layers] == [(r.index, r.op, r.layer) for r in rows]
    assert [l.macs for l in profile.layers] == [r.macs for r in rows] and rows[0].macs > 0
    assert profile.summary["matched"] == 6 and profile.summary["unmatched"] == 0
    assert profile.summary["ops_without_rows"] == 0


def test_csv_maps_every_row_to_its_node_and_layer(tiny, tmp_path):
    g, rows, names = tiny
    path = _write(tmp_path, "ops.csv", CSV.format(*names))
    profile = device.import_profile(path, rows, "pixel7", graph=g)
    assert profile.target == "device:pixel7" and profile.kind == "imported"
    _check_mapping(profile, rows)
    assert [l.layer for l in profile.layers] == ["conv_a", "conv_b", "sum", "pool", "fc", "predictions"]
    assert [l.time_us for l in profile.layers] == pytest.approx(AVG_US)
    assert profile.layers[0].extra == {"first_us": 31.0, "times_called": 1, "mem_kb": 0.0}
    s = profile.summary
    assert s["format"] == "csv" and s["rows"] == 6 and s["file"] == "ops.csv"
    assert s["total_us"] == pytest.approx(94.04) == s["reported_run_avg_us"]
    assert s["init_us"] == {"AllocateTensors": 94.0}
    # Without the graph, the index and the op type still place each row.
    _check_mapping(device.import_profile(path, rows, "pixel7"), rows)


def test_csv_rows_keep_phase_and_the_output_tensor_names(tiny):
    _, _, names = tiny
    parsed = device.read_benchmark_csv(CSV.format(*names))
    assert [r["phase"] for r in parsed] == ["init"] + ["run"] * 6  # "Top by Computation Time" is skipped
    run = parsed[1:]
    assert [r["node_index"] for r in run] == list(range(6)) and [r["run_order"] for r in run] == list(range(6))
    assert [r["outputs"] for r in run] == [[n] for n in names]
    assert parsed[0]["kind"] == "event" and parsed[0]["mem_kb"] == 12


def test_plain_text_table_from_logcat(tiny, tmp_path):
    g, rows, names = tiny
    prefix = "11-25 22:56:01.123  8731  8731 I tflite  : "
    path = _write(tmp_path, "logcat.txt", "--------- beginning of main\n" + _text_table(names, prefix))
    profile = device.import_profile(path, rows, "pixel7", graph=g)
    _check_mapping(profile, rows)
    assert profile.summary["format"] == "text"
    # The plain table prints milliseconds with 3 decimals: microsecond resolution.
    assert [l.time_us for l in profile.layers] == pytest.approx([round(us) for us in AVG_US], abs=0.51)
    assert profile.summary["reported_run_avg_us"] == pytest.approx(94.04)


def test_proto_maps_every_row_and_keeps_its_spread(tiny, tmp_path):
    g, rows, names = tiny
    path = _write(tmp_path, "ops.pb", _proto(names))
    profile = device.import_profile(path, rows, "pixel7", graph=g)
    _check_mapping(profile, rows)
    assert profile.summary["format"] == "proto" and profile.summary["init_us"] == {"AllocateTensors": 94.0}
    assert [l.time_us for l in profile.layers] == [round(us) for us in AVG_US]
    assert profile.layers[1].extra == {"first_us": 52.0, "stddev_us": 1.5, "min_us": 46.0, "max_us": 56.0,
                                       "times_called": 1, "mem_kb": 0.0}


def test_proto_text_form_is_read_too(tiny, tmp_path):
    from google.protobuf import text_format
    from tensorflow.lite.profiling.proto import profiling_info_pb2 as pb

    g, rows, names = tiny
    text = text_format.MessageToString(pb.BenchmarkProfilingData.FromString(_proto(names)))
    profile = device.import_profile(_write(tmp_path, "ops.txt", "INFO: " + text), rows, "pixel7", graph=g)
    _check_mapping(profile, rows)
    assert profile.summary["format"] == "proto-text"


def test_xnnpack_rows_stay_unmatched_but_count(tiny, tmp_path):
    g, rows, _ = tiny
    profile = device.import_profile(_write(tmp_path, "xnn.csv", CSV_XNNPACK), rows, "pixel7", graph=g)
    assert profile.summary["matched"] == 0 and profile.summary["unmatched"] == 6
    assert profile.layers[0].index == -1 and profile.layers[0].op == "Convolution (NHWC, F32) IGEMM"
    assert profile.layers[0].layer == "Delegate/Convolution (NHWC, F32) IGEMM:0"
    assert profile.total_us == pytest.approx(47.3) and profile.summary["reported_run_avg_us"] == 47.3
    assert any("--use_xnnpack=false" in n for n in profile.notes)
    # Older builds: the kernel's row names the softmax's output tensor, but node 6 is not the softmax.
    profile = device.import_profile(_write(tmp_path, "old.csv", CSV_XNNPACK_OLD), rows, "pixel7", graph=g)
    assert [(l.index, l.op) for l in profile.layers] == [(-1, "TfLiteXNNPackDelegate")]
    assert "delegate kernel" in profile.layers[0].extra["unmatched"]
    assert profile.total_us == pytest.approx(47.3) and profile.summary["delegate_internal_rows"] == 2


def test_rows_of_another_model_are_not_matched(tiny, tmp_path):
    g, rows, names = tiny
    other = [n.replace("tiny_1", "other_1") for n in names]
    path = _write(tmp_path, "other.csv", CSV.format(*other))
    profile = device.import_profile(path, rows, "pixel7", graph=g)
    # Only the softmax row still matches: every Keras export names its output "StatefulPartitionedCall_1:0".
    assert profile.summary["unmatched"] == 5 and profile.summary["ops_without_rows"] == 5
    assert [l.index for l in profile.layers] == [-1] * 5 + [5]
    assert profile.layers[0].extra["unmatched"] == "its output tensors are not this model's"
    # Without the graph, op types that disagree with the model's are caught.
    swapped = CSV.format(*names).replace("ADD, 0.008", "MUL, 0.008")
    profile = device.import_profile(_write(tmp_path, "swapped.csv", swapped), rows, "pixel7")
    assert profile.summary["unmatched"] == 1 and "ADD in this model but MUL" in profile.layers[2].extra["unmatched"]


@pytest.mark.parametrize("content, expected", [
    (b"", "empty file"),
    ("model,accuracy\nsqnxt23,0.5\n", "no 'node type' column header"),
    (b"\x12\xff\xff\xff\x0f\x01", "not a tflite.profiling.BenchmarkProfilingData proto"),
    (b"\x1a\x00", "without per-op runtime_profile rows"),
    ("Operator-wise Profiling Info for Regular Benchmark Runs:\n== Run Order ==\n"
     "node type, first, avg_ms, %, cdf%, mem KB, times called, name\nCONV_2D, 0.031, [x]:0\n",
     "line 4: expected 8 fields"),
    ("== Run Order ==\nnode type, first, speed, name\n", "line 2: expected a Run Order column header"),
])
def test_malformed_files_give_one_line_errors(tiny, tmp_path, content, expected):
    _, rows, _ = tiny
    path = _write(tmp_path, "bad.out", content)
    with pytest.raises(device.ProfileFormatError) as info:
        device.import_profile(path, rows, "pixel7")
    message = str(info.value)
    assert message.startswith(path + ": ") and expected in message and "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert isinstance(info.value, ValueError)


def test_truncated_proto_is_an_error(tiny, tmp_path):
    _, rows, names = tiny
    path = _write(tmp_path, "cut.pb", _proto(names)[:-7])
    with pytest.raises(device.ProfileFormatError, match="cut.pb: not a tflite.profiling.BenchmarkProfilingData"):
        device.import_profile(path, rows, "pixel7")


def test_private_schema_is_the_generated_one(tiny):
    from google.protobuf import descriptor_pb2
    from tensorflow.lite.profiling.proto import profiling_info_pb2 as pb

    theirs, ours = descriptor_pb2.FileDescriptorProto(), descriptor_pb2.FileDescriptorProto()
    pb.DESCRIPTOR.CopyToProto(theirs)
    device.benchmark_profiling_data().DESCRIPTOR.file.CopyToProto(ours)
    assert ours.package == theirs.package and list(ours.message_type) == list(theirs.message_type)


def test_reading_a_proto_leaves_tensorflow_importable(tmp_path):
    """ai_edge_litert.profiling_info_pb2 would make a later `import tensorflow` fail ("duplicate symbol")."""
    import os
    import subprocess
    import sys

    code = ("from converters.profiling import device\n"
            "device.benchmark_profiling_data().ParseFromString(b'')\n"
            "import tensorflow.lite.python.lite\n")
    root = os.path.join(os.path.dirname(__file__), "..", "..")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
