"""Hardware-aware search over SqueezeNext configurations: aging evolution under a parameter budget.

Every candidate is scored from its op rows (``space.ops``) alone: parameters, MACs and latency on the target
(host: the measured per-op cost table, converting only candidates with too many unmeasured ops; accelerators:
the simulator). Fitness rewards capacity (MACs, parameters) and penalizes latency above the goal
(``baseline / speedup``)::

    fitness = log(MACs) + 0.5 log(params) - 6 max(0, log(latency / goal))

so the search looks for the biggest network that is fast enough, not for the smallest one. Aging evolution
(Real et al., AAAI 2019): a population of ``population`` candidates; each step samples ``sample`` of them, mutates
the fittest in one gene and retires the oldest. All randomness comes from one ``numpy`` generator seeded with
``seed``: with the same seed and the same cost table, the same candidates are visited in the same order (the
accelerator targets need no table and are reproducible outright).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from converters.profiling.run import ACCELERATORS as TARGETS_ACCEL
from squeezekit.search import cost as cost_lib
from squeezekit.search import space


@dataclass
class Scored:
    candidate: space.Candidate
    params: int
    macs: int
    latency_us: float
    estimated_share: float = 0.0
    measured: bool = False  # its own ops were profiled (host)
    energy: float | None = None
    fitness: float = 0.0
    step: int = 0
    arena_bytes: int = 0  # TFLM arena at the search's input size, estimated (space.micro_arena)
    flash_bytes: int = 0  # int8 file bytes, estimated (space.micro_flash)

    def to_dict(self) -> dict:
        return dict(key=self.candidate.key, config=self.candidate.to_dict(), describe=self.candidate.describe(),
                    params=self.params, macs=self.macs, latency_us=round(self.latency_us, 2),
                    estimated_share=round(self.estimated_share, 3), measured=self.measured, energy=self.energy,
                    fitness=round(self.fitness, 4), step=self.step, arena_bytes_estimated=self.arena_bytes,
                    flash_bytes_estimated=self.flash_bytes)


@dataclass
class SearchConfig:
    target: str = "host"
    max_params: int = 720_000
    size: int = 224
    classes: int = 1000
    min_size: int | None = 32  # candidates must accept this input size (the training data's)
    seed: int = 0
    time_budget: float = 600.0  # seconds of exploration
    max_candidates: int = 3000
    population: int = 24
    sample: int = 6
    speedup: float = 1.5
    max_measure: int = 40  # host: candidates converted and profiled to fill the cost table
    estimate_limit: float = 0.25  # host: measure a candidate when more of its time than this is estimated
    verify: int = 6  # host: after exploring, profile up to this many of the fittest partly estimated candidates
    threads: int = 1
    max_arena_bytes: int | None = None  # TFLM arena budget at ``size`` (microcontroller SRAM)
    max_flash_bytes: int | None = None  # int8 file budget (microcontroller flash)


@dataclass
class SearchResult:
    config: SearchConfig
    baseline: Scored
    goal_us: float
    scored: list[Scored]
    seconds: float
    steps: int
    measured: int
    notes: list[str] = field(default_factory=list)


def fitness(params: int, macs: int, latency_us: float, goal_us: float) -> float:
    return math.log(macs) + 0.5 * math.log(params) - 6.0 * max(0.0, math.log(latency_us / goal_us))


class Evaluator:
    """Scores candidates on one target; caches by candidate."""

    def __init__(self, cfg: SearchConfig, table: cost_lib.HostCostTable | None, log=print):
        self.cfg = cfg
        self.table = table
        self.log = log
        self.cache: dict[str, Scored] = {}
        self.measured = 0
        self.goal_us = float("inf")


    def _measure(self, c: space.Candidate) -> None:
        start = time.perf_counter()
        content = cost_lib.int8_tflite(c, self.cfg.size, self.cfg.classes)
        entry = self.table.measure(content, c.key)
        self.measured += 1
        self.log(f"  measured {c.describe()}: {entry['whole_run_us'] / 1e3:.3f} ms whole run, "
                 f"{entry['op_sum_us'] / 1e3:.3f} ms op sum ({time.perf_counter() - start:.0f} s)")

    def score(self, c: space.Candidate, step: int = 0, force_measure: bool = False,
              check: bool = True) -> Scored | None:
        """The candidate's figures, or None when ``check`` and it breaks the budget or the training size."""
        if c.key in self.cache:
            return self.cache[c.key]
        if check and self.cfg.min_size is not None and space.min_input_size(c) > self.cfg.min_size:
            return None
        net = space.network(c, self.cfg.size, self.cfg.classes)
        rows, params = space.rows(net), net.trainable_params
        if check and params > self.cfg.max_params:
            return None
        head, tail = space.micro_arena(net, rows)
        flash = space.micro_flash(net, rows)
        if check and ((self.cfg.max_arena_bytes and head + tail > self.cfg.max_arena_bytes)
                      or (self.cfg.max_flash_bytes and flash > self.cfg.max_flash_bytes)):
            return None
        macs = sum(r.macs for r in rows)
        energy = None
        measured = False
        if self.cfg.target == "host":
            prediction = self.table.predict(rows)
            need = force_measure or prediction is None or prediction.estimated_share > self.cfg.estimate_limit
            if need and (force_measure or self.measured < self.cfg.max_measure):
                self._measure(c)
                prediction = self.table.predict(rows)
                measured = True
            if prediction is None:
                return None
            latency, share = prediction.latency_us, prediction.estimated_share
        else:
            latency, energy = cost_lib.accel_latency(rows, self.cfg.target)
            share = 0.0
        scored = Scored(c, params, macs, latency, share, measured, energy, 0.0, step, head + tail, flash)
        scored.fitness = fitness(params, macs, latency, self.goal_us) if math.isfinite(self.goal_us) else 0.0
        self.cache[c.key] = scored
        return scored


def search(cfg: SearchConfig, table: cost_lib.HostCostTable | None = None, log=print) -> SearchResult:
    """Explore until ``cfg.time_budget`` seconds or ``cfg.max_candidates`` scored candidates."""
    if cfg.target != "host" and cfg.target not in TARGETS_ACCEL:
        raise ValueError(f"target must be host or one of {', '.join(TARGETS_ACCEL)}, got {cfg.target!r}.")
    if cfg.target == "host" and table is None:
        table = cost_lib.HostCostTable(threads=cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    start = time.perf_counter()
    ev = Evaluator(cfg, table, log)
    baseline = ev.score(space.BASELINE, check=False, force_measure=cfg.target == "host"
                        and bool(table.missing(space.ops(space.BASELINE, cfg.size, cfg.classes))))
    ev.goal_us = baseline.latency_us / cfg.speedup
    baseline.fitness = fitness(baseline.params, baseline.macs, baseline.latency_us, ev.goal_us)
    log(f"baseline 1.0-SqNxt-23: {baseline.params:,} params, {baseline.macs / 1e6:.1f}M MACs, "
        f"{baseline.latency_us / 1e3:.3f} ms on {cfg.target}; goal {ev.goal_us / 1e3:.3f} ms ({cfg.speedup}x)")

    population: list[Scored] = []
    history: list[Scored] = [baseline]
    step = 0

    def elapsed():
        return time.perf_counter() - start

    def add(c: space.Candidate) -> Scored | None:
        nonlocal step
        s = ev.score(c, step)
        if s is None:
            return None
        step += 1
        if s not in history:
            history.append(s)
        return s

    tries = 0
    while len(population) < cfg.population and elapsed() < cfg.time_budget and tries < 100 * cfg.population:
        tries += 1
        s = add(space.random_candidate(rng))
        if s is not None:
            population.append(s)
    last_report = 0.0
    while elapsed() < cfg.time_budget and len(history) < cfg.max_candidates and population:
        tries += 1
        picks = rng.choice(len(population), size=min(cfg.sample, len(population)), replace=False)
        parent = max((population[i] for i in picks), key=lambda s: s.fitness)
        child = add(space.mutate(parent.candidate, rng))
        if child is not None:
            population.append(child)
            population.pop(0)
        if elapsed() - last_report > 10:
            last_report = elapsed()
            best = max(history, key=lambda s: s.fitness)
            log(f"[{elapsed():5.0f}/{cfg.time_budget:.0f} s] {len(history)} candidates scored, {ev.measured} "
                f"measured; best {best.candidate.describe()}: {best.latency_us / 1e3:.3f} ms "
                f"({baseline.latency_us / best.latency_us:.2f}x), {best.params:,} params, "
                f"{best.macs / 1e6:.0f}M MACs")
        if tries > 50 * cfg.max_candidates:
            break
    if cfg.target == "host":
        _rescore(ev, history, baseline)
        # The fittest candidates that meet the goal on partly estimated costs are profiled before anyone is
        # chosen, so that the finalists stand on measured op times.
        checked = 0
        for s in sorted((s for s in history if s.latency_us <= ev.goal_us * 1.1), key=lambda s: -s.fitness):
            if checked >= cfg.verify or elapsed() > cfg.time_budget * 1.5:
                break
            if s.estimated_share > 0.0 and s.candidate != space.BASELINE:
                ev.cache.pop(s.candidate.key, None)
                ev.score(s.candidate, s.step, force_measure=True, check=False)
                checked += 1
        _rescore(ev, history, baseline)
    return SearchResult(cfg, baseline, ev.goal_us, history, elapsed(), step, ev.measured)


def _rescore(ev: Evaluator, history: list[Scored], baseline: Scored) -> None:
    """Predictions with the final cost table (it grew during the search), the goal from the baseline's."""
    for s in history:
        p = ev.table.predict(space.ops(s.candidate, ev.cfg.size, ev.cfg.classes))
        s.latency_us, s.estimated_share = p.latency_us, p.estimated_share
        s.measured = s.measured or p.missing == 0
    ev.goal_us = baseline.latency_us / ev.cfg.speedup
    for s in history:
        s.fitness = fitness(s.params, s.macs, s.latency_us, ev.goal_us)


def pareto_front(scored: list[Scored]) -> list[Scored]:
    """Candidates no other beats on both latency (lower) and MACs (higher), fastest first."""
    front = []
    best_macs = -1
    for s in sorted(scored, key=lambda s: (s.latency_us, -s.macs)):
        if s.macs > best_macs:
            front.append(s)
            best_macs = s.macs
    return front


def finalists(result: SearchResult, k: int = 3) -> list[Scored]:
    """The ``k`` fittest candidates that meet the latency goal (or the fittest overall if none does),
    baseline excluded; at most one per stage layout so the finalists differ."""
    pool = [s for s in result.scored if s.candidate != space.BASELINE]
    meeting = [s for s in pool if s.latency_us <= result.goal_us] or pool
    # Prefer candidates whose every op was measured (host); the simulator's are all exact.
    meeting = [s for s in meeting if s.estimated_share == 0.0] or meeting
    chosen, layouts = [], set()
    for s in sorted(meeting, key=lambda s: -s.fitness):
        layout = (s.candidate.blocks, s.candidate.stem_stride)
        if layout in layouts:
            continue
        chosen.append(s)
        layouts.add(layout)
        if len(chosen) == k:
            break
    return chosen


def early_share(c: space.Candidate) -> float:
    """Fraction of blocks in the two high-resolution stages (the paper's v1 -> v5 change lowered it)."""
    return sum(c.blocks[:2]) / sum(c.blocks)
