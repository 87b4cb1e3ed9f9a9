"""Per-op times measured on a phone by LiteRT's ``benchmark_model``, imported as a ``TargetProfile``.

The host cannot time an Android big.LITTLE core, so the phone measures and we only read what it wrote.
``benchmark_model --enable_op_profiling=true`` writes one of three things:

- CSV (``--op_profiling_output_mode=csv``): ``tensorflow/core/util/stats_calculator.cc``
  (``StatsCalculator::HeaderString`` and ``ColumnString`` with ``format_as_csv``), wrapped by
  ``tensorflow/lite/profiling/profile_summary_formatter.cc`` (``ProfileSummaryCSVFormatter``). A section
  "Profiling Info for Benchmark Initialization:" and one "Operator-wise Profiling Info for Regular
  Benchmark Runs:", each with tables "Run Order", "Top by Computation Time" and "Summary by node type".
  Run Order rows read ``node type, first, avg_ms, %, cdf%, mem KB, times called, name`` (older builds add
  ``start`` after the node type); numbers in C++'s default format, commas inside the name turned to tabs.
- The same tables as plain text (the default, printed to stdout/logcat): ``[node type]  [first] ...
  [Name]`` columns separated by tabs (or spaces once copied from a terminal).
- A serialized ``tflite.profiling.BenchmarkProfilingData`` (``--op_profiling_output_mode=proto``, schema
  ``profiling_info.proto``, read through a private descriptor pool: see ``benchmark_profiling_data``), or
  its text form, logged when the output file could not be opened.

An op's name is ``[output tensor names]:node index`` (``profile_summarizer.cc``), the node index being the
flatbuffer's operator index: the interpreter keeps it when a delegate takes over other nodes. The proto
has no separate node index field; it carries the same name. Rows named ``Delegate/<op>:<i>`` are a
delegate's own ops (XNNPACK's "Convolution (NHWC, QC8) IGEMM"), which do not map one to one to TFLite
nodes: they are kept, unmatched, so the total still adds up.
"""

from __future__ import annotations

import os
import re

from converters import graph as graph_lib
from converters.errors import ProfileFormatError
from converters.profiling.layers import Layer
from converters.profiling.report import LayerTime, TargetProfile


EXPECTED = ("benchmark_model --enable_op_profiling=true output: CSV ('node type, first, avg_ms, %, cdf%, mem KB, "
            "times called, name'), its plain-text table, or a BenchmarkProfilingData proto")
_COLUMNS = {"node type": "node_type", "start": "start", "first": "first", "avg_ms": "avg", "avg ms": "avg",
            "%": "percent", "cdf%": "cdf", "mem kb": "mem_kb", "times called": "times_called", "name": "name"}
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)"
_SEP = r"(?:\s*,\s*|\s+)"
# "INFO: " (stderr) or an `adb logcat` threadtime prefix "11-25 22:56:01.123  1234  1234 I tflite  : ".
_PREFIX = re.compile(r"^(?:INFO: |\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+ [VDIWEF] [^:]*: )")
_NODE = re.compile(r"^\[(.*)\](?::(\d+))?$")
_DELEGATE_OP = re.compile(r"^Delegate/(.*):(\d+)$")


def _row(phase, subgraph, delegate_section, node_type, name, **stats) -> dict:
    node = _NODE.match(name)
    kind = "node" if node else "delegate_op" if _DELEGATE_OP.match(name) else "event"
    return {"phase": phase, "subgraph": subgraph, "delegate_section": delegate_section, "kind": kind,
            "node_type": node_type, "name": name,
            "node_index": int(node.group(2)) if node and node.group(2) else None,
            "outputs": [s.strip() for s in node.group(1).split(",")] if node else None, **stats}


def _header(line: str, n: int) -> list[str]:
    cells = re.findall(r"\[([^\]]+)\]", line) if "[" in line else [c.strip() for c in line.split(",")]
    columns = [_COLUMNS.get(c.lower()) for c in cells]
    if None in columns or columns[0] != "node_type" or columns[-1] != "name" or "avg" not in columns:
        raise ProfileFormatError(f"line {n}: expected a Run Order column header like 'node type, first, avg_ms, "
                                 f"%, cdf%, mem KB, times called, name', got {line[:80]!r}")
    return columns


def _parse_table(text: str) -> tuple[list[dict], float | None]:
    """Rows of every Run Order table (CSV or plain text), and the primary graph's run average if printed."""
    rows, run_avg_us = [], None
    phase, subgraph, delegate, columns, pattern, in_run_order, order = "run", 0, False, None, None, False, 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = _PREFIX.sub("", raw).strip()
        if not line:
            in_run_order = False
            continue
        if "Profiling Info for Benchmark Initialization" in line or "Profiling Info for Regular Benchmark" in line:
            phase = "init" if "Initialization" in line else "run"
            subgraph, delegate, in_run_order = 0, False, False
        elif m := re.match(r"Subgraph \(index: (\d+), name: .*\) profile:$", line):
            subgraph = int(m.group(1))
        elif line.startswith("Primary graph (name:"):
            subgraph = 0
        elif line.startswith("Delegate internal:"):
            delegate = True
        elif m := re.match(r"^=+\s*(.*?)\s*=+$", line):
            in_run_order, columns, order = m.group(1) == "Run Order", None, 0
        elif line.startswith("Timings (microseconds):") and phase == "run" and subgraph == 0 and not delegate:
            m = re.search(rf"avg=({_NUM})", line) or re.search(rf"curr=({_NUM})", line)
            run_avg_us = float(m.group(1)) if m else None
        elif in_run_order and columns is None:
            columns = _header(line, n)
            numbers = _SEP.join([rf"({_NUM})%?"] * (len(columns) - 2))
            pattern = re.compile(rf"^(?P<type>.+?){_SEP}{numbers}{_SEP}(?P<name>\S.*)$")
        elif in_run_order:
            m = pattern.match(line)
            if not m:
                raise ProfileFormatError(f"line {n}: expected {len(columns)} fields "
                                         f"({', '.join(columns)}), got {line[:80]!r}")
            values = dict(zip(columns[1:-1], (float(v) for v in m.groups()[1:-1])))
            # The CSV writer turns the commas of a name into tabs; put them back.
            name = re.sub(r"\t\s*", ", ", m.group("name").strip())
            rows.append(_row(phase, subgraph, delegate, m.group("type").strip(), name,
                             avg_us=round(values["avg"] * 1000, 3),
                             first_us=round(values["first"] * 1000, 3) if "first" in values else None,
                             mem_kb=values.get("mem_kb", 0.0), times_called=int(values.get("times_called", 1)),
                             run_order=order))
            order += 1
    if not any(r["phase"] == "run" for r in rows):
        raise ProfileFormatError("no per-op 'Run Order' table for the benchmark runs")
    return rows, run_avg_us


def read_benchmark_csv(text: str) -> list[dict]:
    """The Run Order rows of ``benchmark_model``'s CSV, or of the plain-text table it prints (same rows).

    Each row: phase ("init" or "run"), subgraph, delegate_section ("Delegate internal:" tables of older
    builds), kind ("node", "delegate_op" or "event" such as AllocateTensors), node_type, name,
    node_index and outputs (parsed from the name), avg_us, first_us, mem_kb, times_called, run_order.
    """
    return _parse_table(text)[0]


def read_benchmark_proto(data: bytes) -> list[dict]:
    """The rows of a ``BenchmarkProfilingData`` (binary, or its text form), shaped as ``read_benchmark_csv``'s,
    plus the proto's stddev_us, min_us, max_us and runs."""
    from google.protobuf import message, text_format

    msg = benchmark_profiling_data()
    try:
        if _looks_like_proto_text(data):
            text_format.Parse(_PREFIX.sub("", data.decode("utf-8").lstrip()), msg)
        else:
            msg.ParseFromString(data)
    except (message.Error, ValueError, TypeError) as err:  # DecodeError, text_format.ParseError
        detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise ProfileFormatError(f"not a tflite.profiling.BenchmarkProfilingData proto ({detail})") from None
    rows = []
    for phase, field in (("init", "init_profile"), ("run", "runtime_profile")):
        if not msg.HasField(field):
            continue
        profile = getattr(msg, field)
        tables = [(s.subgraph_index, False, s.per_op_profiles) for s in profile.subgraph_profiles]
        tables += [(0, True, d.per_op_profiles) for d in profile.delegate_profiles]
        for subgraph, delegate, ops in tables:
            for op in ops:
                t = op.inference_microseconds
                rows.append(_row(phase, subgraph, delegate, op.node_type, op.name, avg_us=float(t.avg),
                                 first_us=float(t.first), mem_kb=float(op.mem_kb.last),
                                 times_called=int(op.times_called), run_order=int(op.run_order),
                                 stddev_us=round(float(t.stddev), 3), min_us=float(t.min), max_us=float(t.max),
                                 runs=int(t.count)))
    if not any(r["phase"] == "run" for r in rows):
        raise ProfileFormatError("a BenchmarkProfilingData proto without per-op runtime_profile rows")
    return rows


# profiling_info.proto (package tflite.profiling), field by field: name, number, type ("*" = repeated).
_SCHEMA = {
    "BenchmarkProfilingData": [("model_name", 1, "string"), ("init_profile", 2, "ModelProfilingData"),
                               ("runtime_profile", 3, "ModelProfilingData")],
    "ModelProfilingData": [("subgraph_profiles", 1, "*SubGraphProfilingData"),
                           ("delegate_profiles", 2, "*DelegateProfilingData")],
    "SubGraphProfilingData": [("subgraph_name", 1, "string"), ("subgraph_index", 2, "int32"),
                              ("per_op_profiles", 3, "*OpProfileData")],
    "DelegateProfilingData": [("delegate_name", 1, "string"), ("per_op_profiles", 2, "*OpProfileData")],
    "OpProfilingStat": [(n, i + 1, "float" if n in ("stddev", "variance") else "int64") for i, n in
                        enumerate(["first", "last", "avg", "stddev", "variance", "min", "max", "sum", "count"])],
    "OpProfileData": [("node_type", 1, "string"), ("inference_microseconds", 2, "OpProfilingStat"),
                      ("mem_kb", 3, "OpProfilingStat"), ("times_called", 4, "int64"), ("name", 5, "string"),
                      ("run_order", 6, "int64")],
}
_PROTO_CLASS = []


def benchmark_profiling_data():
    """A new, empty ``tflite.profiling.BenchmarkProfilingData``, from a private descriptor pool.

    Not from ``ai_edge_litert.profiling_info_pb2``: TensorFlow registers the same message names in the
    default pool (``tensorflow/lite/python/lite.py`` imports its copy), so whichever of the two modules is
    imported second fails with "duplicate symbol", a later ``import tensorflow`` included. A private pool
    holding the same schema parses the same bytes and registers nothing.
    """
    if not _PROTO_CLASS:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        F = descriptor_pb2.FieldDescriptorProto
        file = descriptor_pb2.FileDescriptorProto(name="squeezekit/profiling_info.proto", package="tflite.profiling")
        for name, fields in _SCHEMA.items():
            msg = file.message_type.add(name=name)
            for field, number, kind in fields:
                repeated, kind = kind.startswith("*"), kind.lstrip("*")
                f = msg.field.add(name=field, number=number,
                                  label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
                if kind in _SCHEMA:
                    f.type, f.type_name = F.TYPE_MESSAGE, ".tflite.profiling." + kind
                else:
                    f.type = getattr(F, "TYPE_" + kind.upper())
        pool = descriptor_pool.DescriptorPool()
        pool.Add(file)
        desc = pool.FindMessageTypeByName("tflite.profiling.BenchmarkProfilingData")
        _PROTO_CLASS.append(message_factory.GetMessageClass(desc))
    return _PROTO_CLASS[0]()


def _looks_like_proto_text(data: bytes) -> bool:
    return re.match(rb"\s*(?:INFO: )?(?:model_name:|init_profile\s*\{|runtime_profile\s*\{)", data) is not None


def detect(data: bytes) -> str:
    """"csv", "text", "proto" or "proto-text" (a text-format proto must start the file), else an error."""
    if not data.strip():
        raise ProfileFormatError(f"empty file; expected {EXPECTED}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "proto"
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", text):  # field tags 0x12/0x1a: a binary proto
        return "proto"
    if _looks_like_proto_text(data):
        return "proto-text"
    if re.search(r"node type\s*,", text):
        return "csv"
    if "[node type]" in text:
        return "text"
    raise ProfileFormatError(f"no 'node type' column header; expected {EXPECTED}")


def read_file(path: str) -> tuple[list[dict], str, float | None]:
    """Rows, format and (text formats only) the printed average run time of a profile file."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        fmt = detect(data)
        if fmt.startswith("proto"):
            return read_benchmark_proto(data), fmt, None
        rows, run_avg_us = _parse_table(data.decode("utf-8"))
        return rows, fmt, run_avg_us
    except ProfileFormatError as err:
        raise ProfileFormatError(f"{path}: {err}") from None


def _match(row: dict, by_index: dict[int, Layer], outputs: dict[int, list[str]]) -> tuple[int | None, str]:
    """The TFLite node index of a row, or None and why not.

    With the graph, the row's output tensor names must be the node's (or name exactly one node, for
    builds that print no index); without it, the op type at that index must agree.
    """
    if row["kind"] != "node":
        return None, "a delegate's own op, not a TFLite node" if row["kind"] == "delegate_op" else "not an op"
    index, names = row["node_index"], row["outputs"]
    if index is not None and index not in by_index:  # a delegate kernel is a node appended after the model's
        return None, "no such node in this model (a delegate kernel's node, or another model)"
    if outputs and names != ["Unknown"]:
        if index is None:
            hits = [i for i, o in outputs.items() if o == names]
            return (hits[0], "") if len(hits) == 1 else (None, "its output tensors are not this model's")
        return (index, "") if outputs[index] == names else (None, "its output tensors are not this model's")
    if index is None:
        return None, "no node index, and no graph to find its output tensors in"
    op, base = by_index[index].op, row["node_type"].split("/")[0]
    if base != op and not op.endswith(":" + base):  # custom ops: "CUSTOM:name" here, "name" there
        return None, f"node {index} is {op} in this model but {base} in the profile"
    return index, ""


def import_profile(path: str, layers: list[Layer], device_name: str,
                   graph: graph_lib.Graph | None = None) -> TargetProfile:
    """A ``benchmark_model`` op profile from a phone as target "device:<device_name>", rows keyed by node index.

    ``layers`` is ``layers.read(content)`` of the .tflite that ran; pass its ``graph`` too so that rows are
    checked by output tensor names, not only by index and op type. Rows that match no node (a delegate's
    own ops, another model's nodes) keep index -1 and their profile name, so the total is the phone's.
    """
    rows, fmt, run_avg_us = read_file(path)
    run = [r for r in rows if r["phase"] == "run" and r["subgraph"] == 0 and not r["delegate_section"]]
    by_index = {l.index: l for l in layers}
    outputs = {op.index: [graph.tensors[i].name for i in op.outputs] for op in graph.ops} if graph else {}
    items, matched, reasons = [], set(), {}
    for row in run:
        index, why = _match(row, by_index, outputs)
        extra = {k: row[k] for k in ("first_us", "stddev_us", "min_us", "max_us", "times_called", "mem_kb")
                 if row.get(k) is not None}
        if index is None:
            reasons[why] = reasons.get(why, 0) + 1
            items.append(LayerTime(-1, row["node_type"], row["name"], 0, row["avg_us"], {**extra, "unmatched": why}))
            continue
        layer = by_index[index]
        matched.add(index)
        items.append(LayerTime(index, layer.op, layer.layer, layer.macs, row["avg_us"], extra))
    init = {}
    for r in rows:
        if r["phase"] == "init":
            init[r["node_type"]] = round(init.get(r["node_type"], 0.0) + r["avg_us"], 3)
    summary = {"total_us": round(sum(i.time_us for i in items), 3), "rows": len(run),
               "matched": sum(i.index >= 0 for i in items), "unmatched": sum(i.index < 0 for i in items),
               "ops_without_rows": len(layers) - len(matched), "format": fmt, "file": os.path.basename(path),
               "reported_run_avg_us": run_avg_us, "init_us": init,
               "delegate_internal_rows": sum(r["delegate_section"] for r in rows if r["phase"] == "run")}
    notes = [f"benchmark_model per-op averages on {device_name}, imported from {os.path.basename(path)} ({fmt})."]
    notes += [f"{n} row(s) unmatched: {why}." for why, n in reasons.items()]
    if reasons.get("a delegate's own op, not a TFLite node"):
        notes.append("For one row per TFLite node, rerun benchmark_model with --use_xnnpack=false.")
    if summary["ops_without_rows"]:
        notes.append(f"{summary['ops_without_rows']} op(s) of the model have no row (delegated, or another model).")
    return TargetProfile(f"device:{device_name}", "imported", summary, items, notes)
