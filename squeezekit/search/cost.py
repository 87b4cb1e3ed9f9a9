"""Latency of a candidate on a target: a per-op cost table measured on this CPU, or the accelerator model.

Host: ``HostCostTable`` keys every int8 TFLite op by its geometry (op, input and output shapes, kernel, stride,
groups) and holds the mean time LiteRT's profiler measured for it (XNNPACK delegate mode, one event stream
mapped back to TFLite nodes by ``converters.profiling.host``). A candidate whose ops are all in the table needs
no conversion: its latency is the sum. Measuring one candidate (convert to int8, profile) fills in every op it
has, and SqueezeNext candidates share most of them (blocks repeat within a stage). An op never measured is
estimated from the measured op of the same kind closest in work, scaled by work (MACs, or elements for ops
without MACs); the share of estimated time is reported, and the finalists are measured for real.

Accelerators: ``converters.profiling.accel.simulate`` on the same op rows; exact, no conversion.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from converters.profiling.host import interleaved_latency  # noqa: F401 (part of this module's API)
from converters.profiling.layers import MAC_OPS, Layer


def signature(row: Layer) -> str:
    return "|".join([row.op, "x".join(map(str, row.input_shape[1:])), "x".join(map(str, row.output_shape[1:])),
                     "x".join(map(str, row.kernel)), "x".join(map(str, row.stride)), str(row.groups)])


def _work(row: Layer) -> int:
    return row.macs if row.op in MAC_OPS else row.elements


def _family(sig: str) -> str:
    """Op, kernel, stride and grouped-or-not of a signature: which measured ops an unmeasured one scales from."""
    op, _, _, kernel, stride, groups = sig.split("|")
    return "|".join([op, kernel, stride, "g" if groups != "1" else "1"])


@dataclass
class Prediction:
    latency_us: float
    estimated_share: float  # fraction of the predicted time that comes from estimated (unmeasured) ops
    missing: int  # ops not in the table


class HostCostTable:
    """Per-op int8 times on this CPU (1 thread by default), measured through LiteRT's profiler."""

    def __init__(self, threads: int = 1, runs: int = 20, rewrites: list[str] | None = None):
        self.threads = threads
        self.runs = runs
        # The exact rewrites (converters.rewrite) the export's ``--optimize auto`` keeps on this CPU: decided by
        # measurement on the first candidate measured (None until then), applied to every one after it, so the
        # table holds the times of the files as they will be exported. A rewritten op's time includes the ops
        # the rewrite added (the space-to-depth stem's SPACE_TO_DEPTH and padding).
        self.rewrites = rewrites
        self.rewrite_decision: dict | None = None
        self.times: dict[str, float] = {}  # signature -> mean µs
        self.work: dict[str, int] = {}
        self.families: dict[str, list[str]] = {}
        self.measured: list[dict] = []  # one entry per measured candidate: key, whole-run µs, op sum µs

    # -- persistence ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dict(threads=self.threads, runs=self.runs, times=self.times, work=self.work, measured=self.measured,
                    rewrites=self.rewrites, rewrite_decision=self.rewrite_decision)

    def save(self, path: str) -> None:
        from converters.files import write_atomic

        write_atomic(path, json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str) -> "HostCostTable":
        with open(path) as f:
            raw = json.load(f)
        # A table saved before rewrites existed holds the times of plain files.
        table = cls(raw.get("threads", 1), raw.get("runs", 20), raw.get("rewrites", []))
        table.rewrite_decision = raw.get("rewrite_decision")
        for sig, us in raw["times"].items():
            table._add(sig, us, raw["work"][sig])
        table.measured = raw.get("measured", [])
        return table

    def _add(self, sig: str, us: float, work: int) -> None:
        if sig not in self.times:
            self.families.setdefault(_family(sig), []).append(sig)
        self.times[sig] = float(us)
        self.work[sig] = int(work)

    # -- prediction ----------------------------------------------------------------------------------------
    def missing(self, rows: list[Layer]) -> list[Layer]:
        return [r for r in rows if signature(r) not in self.times]

    def _estimate(self, row: Layer) -> float | None:
        work = max(_work(row), 1)
        same = self.families.get(_family(signature(row))) or [s for s in self.times if s.split("|")[0] == row.op]
        if not same:
            return None
        best = min(same, key=lambda s: abs(math.log(max(self.work[s], 1) / work)))
        return self.times[best] * work / max(self.work[best], 1)

    @property
    def overhead_us(self) -> float:
        """Per-inference time outside the ops (invocation, buffers): median of whole run minus op sum."""
        gaps = [m["whole_run_us"] - m["op_sum_us"] for m in self.measured]
        return max(0.0, float(np.median(gaps))) if gaps else 0.0

    def predict(self, rows: list[Layer]) -> Prediction | None:
        """Predicted whole-run µs: the ops' table times (or estimates) plus the per-inference overhead."""
        total = self.overhead_us
        estimated = 0.0
        missing = 0
        for row in rows:
            sig = signature(row)
            if sig in self.times:
                total += self.times[sig]
                continue
            guess = self._estimate(row)
            if guess is None:
                return None
            total += guess
            estimated += guess
            missing += 1
        return Prediction(total, estimated / total if total else 0.0, missing)

    # -- measurement ---------------------------------------------------------------------------------------
    def exported_form(self, content: bytes) -> bytes:
        """``content`` (a plain int8 conversion) with the rewrites this table applies; the first call decides
        them as the export's ``--optimize auto`` does (both forms timed side by side, exactness checked)."""
        from converters import rewrite

        if self.rewrites is None:
            shape = _input_shape(content)
            inputs = list(np.random.default_rng(0).integers(-128, 128, size=(4,) + shape, dtype=np.int8))
            rewritten, decision = rewrite.optimize(content, "auto", inputs, threads=self.threads)
            self.rewrites, self.rewrite_decision = decision["applied"], decision
            return rewritten
        for name in self.rewrites:
            content, _ = rewrite.REWRITES[name](content)
        return content

    def measure(self, content: bytes, key: str) -> dict:
        """Profile one int8 .tflite in its exported form (``exported_form``) and add every op's mean time;
        returns whole-run and op-sum figures."""
        from converters.profiling import host, layers

        content = self.exported_form(content)
        table = layers.read(content)
        # A short profiled pass first: right after a conversion the first runs are slow (the process's first
        # profile read 1.82 ms for a 1.56 ms model).
        host.profile_ops(content, kernel_mode="delegate", threads=self.threads, runs=5, warmup=5, table=table)
        profile = host.profile_ops(content, kernel_mode="delegate", threads=self.threads, runs=self.runs,
                                   warmup=5, table=table)
        times = {row.index: row.time_us for row in profile.layers}
        for rewritten in (row for row in table if row.rewritten):  # the ops a rewrite added count as its own
            added = [row for row in table if row.layer.startswith(rewritten.layer + "_")
                     and row.op in ("SPACE_TO_DEPTH", "PAD", "RESHAPE")]
            times[rewritten.index] = times.get(rewritten.index, 0.0) + sum(times.pop(r.index, 0.0) for r in added)
            table = [row for row in table if row not in added]
        for row in table:
            self._add(signature(row), times.get(row.index, 0.0), _work(row))
        entry = dict(key=key, whole_run_us=profile.summary["whole_run_median_us"],
                     op_sum_us=profile.summary["op_sum_median_us"])
        self.measured.append(entry)
        return entry


def _input_shape(content: bytes) -> tuple[int, ...]:
    from converters import graph

    g = graph.read(content)
    return tuple(g.tensors[g.inputs[0]].shape[1:])


def int8_tflite(candidate, size: int, classes: int) -> bytes:
    """The candidate as a full-int8 .tflite, calibrated on two random images (latency does not need real ranges)."""
    from converters import tflite
    from squeezekit.models.squeezenext import SqueezeNext

    model = SqueezeNext(input_shape=(size, size, 3), classes=classes, name="candidate", **candidate.builder_kwargs())
    images = np.random.default_rng(0).normal(0.0, 1.0, size=(2, size, size, 3)).astype(np.float32)
    return tflite.convert(model, tflite.Recipe("int8", representative=lambda: [images])).content


def accel_latency(rows: list[Layer], target: str) -> tuple[float, float]:
    """(µs, energy in MAC units) of the op rows on a simulated accelerator preset such as "accel-16x16"."""
    from converters.profiling import accel

    profile = accel.simulate(rows, target)
    return float(profile.total_us), float(profile.summary["energy_total"])


__all__ = ["HostCostTable", "Prediction", "accel_latency", "int8_tflite", "interleaved_latency", "signature"]
