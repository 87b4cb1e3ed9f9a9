"""Profile reports: data first (dataclasses, JSON), then a Markdown table and a PNG per-layer chart.

One ``Profile`` per .tflite holds the model's totals, its memory figures and one ``TargetProfile`` per
target: "host" (measured here), "device:<name>" (imported from a phone's ``benchmark_model``) or
"accel-16x16" and the other simulated arrays. Every target lists ``LayerTime`` rows keyed by TFLite node
index and named by model layer, so targets line up row by row.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class LayerTime:
    index: int  # TFLite node index; -1 when a row covers no single node
    op: str
    layer: str
    macs: int
    time_us: float  # mean measured time, or simulated time
    extra: dict = field(default_factory=dict)  # target-specific: spread, cycles, utilization, energy split...


@dataclass
class TargetProfile:
    target: str  # "host", "host-builtin", "device:pixel7", "accel-16x16", ...
    kind: str  # "measured", "imported", "simulated"
    summary: dict  # target-level figures (latency percentiles, totals, the per-op sum check, configuration)
    layers: list[LayerTime] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_us(self) -> float:
        return sum(l.time_us for l in self.layers)


@dataclass
class Profile:
    model: str  # file name
    size_bytes: int
    params: int  # weights in the graph (kernels and biases)
    macs: int
    memory: dict  # peak activation bytes, weight bytes, ...
    targets: list[TargetProfile] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "Profile":
        targets = [TargetProfile(t["target"], t["kind"], t["summary"],
                                 [LayerTime(**l) for l in t["layers"]], t.get("notes", []))
                   for t in d.get("targets", [])]
        return cls(d["model"], d["size_bytes"], d["params"], d["macs"], d["memory"], targets)

    def target(self, name: str) -> TargetProfile:
        for t in self.targets:
            if t.target == name:
                return t
        raise KeyError(f"no target {name!r} in this profile (have: {', '.join(t.target for t in self.targets)})")
