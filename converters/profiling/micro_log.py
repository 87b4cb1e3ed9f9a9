"""Per-op times measured on a microcontroller by TFLM's ``MicroProfiler``, imported as a ``TargetProfile``.

No microcontroller is attached here, so no microcontroller latency is claimed without such a log. A firmware
that passes a ``tflite::MicroProfiler`` to its ``MicroInterpreter`` gets one event per op it invokes, tagged
with the op's name (``OpNameFromRegistration``: "CONV_2D", or a custom op's name), in node order, and can
print them in three ways (``tensorflow/lite/micro/micro_profiler.cc``), each line through ``MicroPrintf``
(a board's serial console may prefix them: anything before the match is ignored):

- ``profiler.Log()``: ``CONV_2D took 123456 ticks (5 ms).`` per event;
- ``profiler.LogCsv()``: the header ``"Event","Tag","Ticks"`` then ``0,CONV_2D,123456`` per event;
- ``profiler.LogTicksPerTagCsv()``: totals per tag (``CONV_2D, 9876543``) and ``"total number of ticks"``:
  no per-node figures, so it cannot fill a per-layer table; it is refused with what to print instead.

Events map to nodes in order: event i of each invoke is node i, and its tag must be that node's op (a
mismatch means another model, and is refused). A log of k invokes holds k x nodes events; each node's row is
the mean over the invokes (spread as std/min/max). Ticks become time with the board's ``ticks_per_second()``
(usually its CPU clock): pass it; without it, a ``Log()`` file's whole-millisecond figures give an estimate,
said so in the notes. ``LogCsv`` is preferred when a file holds both per-event formats (they are the same
events).
"""

from __future__ import annotations

import os
import re

import numpy as np

from converters.errors import ProfileFormatError
from converters.profiling.layers import Layer
from converters.profiling.report import LayerTime, TargetProfile

EXPECTED = ("TFLM MicroProfiler output: profiler.Log() lines 'TAG took N ticks (M ms).' or profiler.LogCsv() "
            "('\"Event\",\"Tag\",\"Ticks\"' then 'i,TAG,N')")
_LOG = re.compile(r"(?:^|\s)(\S+) took (\d+) ticks \((-?\d+) ms\)\.\s*$")
_CSV_HEADER = re.compile(r'"Event","Tag","Ticks"\s*$')
_CSV_ROW = re.compile(r"(?:^|\s)(\d+),([^,\s]+),(-?\d+)\s*$")
_PER_TAG = re.compile(r'"Unique Tag","Total ticks across all events with that tag\."')


def read_events(text: str) -> tuple[list[tuple[str, int, int | None]], str]:
    """(tag, ticks, ms or None) per event, and the format ("log-csv" or "log")."""
    lines = text.splitlines()
    csv, in_csv = [], False
    for line in lines:
        if _CSV_HEADER.search(line):  # one block per LogCsv() call; later blocks continue the events
            in_csv = True
            continue
        if in_csv:
            m = _CSV_ROW.search(line)
            if m:
                csv.append((m.group(2), int(m.group(3)), None))
                continue
            in_csv = False
    if csv:
        return csv, "log-csv"
    log = [(m.group(1), int(m.group(2)), int(m.group(3))) for m in map(_LOG.search, lines) if m]
    if log:
        return log, "log"
    if _PER_TAG.search(text):
        raise ProfileFormatError("this is profiler.LogTicksPerTagCsv() output: totals per op type, not per node",
                                 "print profiler.LogCsv() (or profiler.Log()) on the board for per-layer times.")
    raise ProfileFormatError(f"no MicroProfiler events found; expected {EXPECTED}")


def import_micro_profile(path: str, layers: list[Layer], device_name: str,
                         ticks_per_second: float | None = None) -> TargetProfile:
    """A MicroProfiler log of ``layers``' model (``layers.read`` of the .tflite the board ran) as target
    "device:<device_name>" (kind "imported"), one row per node."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError as err:
        raise ProfileFormatError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        events, fmt = read_events(text)
    except ProfileFormatError as err:
        raise ProfileFormatError(f"{path}: {err.problem}", err.fix) from None
    nodes = sorted(layers, key=lambda l: l.index)
    n = len(nodes)
    if not n or len(events) % n:
        raise ProfileFormatError(f"{path}: {len(events)} events is not a whole number of invokes of this model's "
                                 f"{n} ops", "profile the .tflite the board ran (one event per op per invoke).")
    invokes = len(events) // n
    for i, (tag, _, _) in enumerate(events):
        op = nodes[i % n].op
        if tag != op and op != f"CUSTOM:{tag}":
            raise ProfileFormatError(f"{path}: event {i} is {tag} but node {i % n} of this model is {op}",
                                     "profile the .tflite the board ran.")
    ticks = np.array([t for _, t, _ in events], dtype=np.float64).reshape(invokes, n)
    notes = [f"TFLM MicroProfiler events on {device_name}, imported from {os.path.basename(path)} ({fmt}, "
             f"{invokes} invoke(s)); the board measured them, nothing here is simulated."]
    if ticks_per_second:
        clock, clock_source = float(ticks_per_second), "given"
    else:
        ms = sum(m for _, _, m in events if m is not None)
        if fmt != "log" or ms <= 0:
            raise ProfileFormatError(f"{path}: no clock to turn ticks into time",
                                     "pass the board's ticks_per_second() (usually its CPU clock in Hz).")
        clock, clock_source = ticks.sum() * 1000.0 / ms, "estimated"
        notes.append(f"No ticks_per_second given: {clock:,.0f} ticks/s estimated from the log's whole-millisecond "
                     "figures; pass the board's ticks_per_second() for exact times.")
    us = ticks * 1e6 / clock
    items = []
    for j, layer in enumerate(nodes):
        col = us[:, j]
        extra = {"ticks": float(ticks[:, j].mean()), "std_us": float(col.std()), "min_us": float(col.min()),
                 "max_us": float(col.max()), "times_called": invokes}
        items.append(LayerTime(layer.index, layer.op, layer.layer, layer.macs, float(col.mean()), extra))
    summary = {"format": fmt, "file": os.path.basename(path), "invokes": invokes, "rows": n,
               "ticks_per_second": clock, "clock": clock_source, "total_us": round(float(us.sum(axis=1).mean()), 3),
               "total_ticks": float(ticks.sum(axis=1).mean()), "runtime": "TensorFlow Lite Micro"}
    return TargetProfile(f"device:{device_name}", "imported", summary, items, notes)
