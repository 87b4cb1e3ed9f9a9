"""After the search: measure the finalists for real, train them, and write JSON, Markdown, PNG and variants.json."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from squeezekit.search import cost as cost_lib
from squeezekit.search import engine, space


@dataclass
class Finalist:
    name: str  # registry name it is written under
    scored: engine.Scored
    measured_us: float | None = None  # whole-model int8 latency, measured side by side with the baseline
    speedup: float | None = None
    top1: float | None = None
    top1_delta: float | None = None  # points against the baseline trained the same way
    micro: dict | None = None  # TFLM arena and file bytes measured on the converted file (verify_micro)

    def to_dict(self) -> dict:
        return dict(name=self.name, **self.scored.to_dict(), measured_us=self.measured_us, speedup=self.speedup,
                    top1=self.top1, top1_delta_points=self.top1_delta, micro=self.micro)


def measure_for_real(result: engine.SearchResult, finals: list[Finalist], rounds: int = 15, log=print,
                     table: cost_lib.HostCostTable | None = None) -> dict:
    """Convert the baseline and every finalist to int8 and time them side by side (1 thread by default), in the
    form the export writes on this CPU (``table.exported_form``: the rewrites ``--optimize auto`` keeps)."""
    cfg = result.config

    def exported(candidate):
        content = cost_lib.int8_tflite(candidate, cfg.size, cfg.classes)
        return table.exported_form(content) if table is not None else content

    contents = {"baseline": exported(space.BASELINE)}
    for f in finals:
        contents[f.name] = exported(f.scored.candidate)
    log(f"measuring {len(contents)} int8 models side by side ({rounds} rounds, {cfg.threads} thread(s))")
    medians = cost_lib.interleaved_latency(contents, threads=cfg.threads, rounds=rounds)
    for f in finals:
        f.measured_us = medians[f.name]
        f.speedup = medians["baseline"] / medians[f.name]
    return dict(baseline_us=medians["baseline"], sizes={k: len(v) for k, v in contents.items()},
                rewrites=table.rewrites if table is not None else [])


def verify_micro(result: engine.SearchResult, finals: list[Finalist], log=print,
                 table: cost_lib.HostCostTable | None = None) -> dict:
    """Convert the baseline and every finalist to int8 as the export writes them (the host table's rewrites,
    repeated vectors stored once; labels aside) and measure what the estimates stood for: the TFLM
    interpreter's arena (``converters.profiling.tflm.arena``) and the file's bytes, against the budgets."""
    from converters import flatbuffer, graph
    from converters.profiling import tflm

    cfg = result.config

    def measure(candidate) -> dict:
        content = cost_lib.int8_tflite(candidate, cfg.size, cfg.classes)
        if table is not None:
            content = table.exported_form(content)
        content = flatbuffer.rewrite(content)
        arena = tflm.arena(content, graph.read(content))["arena_bytes"]
        fits = ((not cfg.max_arena_bytes or (arena is not None and arena <= cfg.max_arena_bytes))
                and (not cfg.max_flash_bytes or len(content) <= cfg.max_flash_bytes))
        return dict(arena_bytes=arena, flash_bytes=len(content), fits=fits)

    log(f"measuring the TFLM arena of 1.0-SqNxt-23 and {len(finals)} finalists at {cfg.size}x{cfg.size}")
    baseline = measure(space.BASELINE)
    for f in finals:
        f.micro = measure(f.scored.candidate)
        log(f"  {f.name}: arena {f.micro['arena_bytes']:,} bytes (estimated {f.scored.arena_bytes:,}), file "
            f"{f.micro['flash_bytes']:,} bytes (estimated {f.scored.flash_bytes:,}){'' if f.micro['fits'] else '; OVER BUDGET'}")
    return dict(baseline_micro=baseline)


def train_and_score(candidate: space.Candidate, data, epochs: int, seed: int) -> float:
    """Held-out top-1 after ``epochs`` of the train CLI's small-data recipe (sgd_cosine, label smoothing 0.1)."""
    import keras

    import squeezekit.train
    from squeezekit.models.squeezenext import SqueezeNext

    keras.utils.set_random_seed(seed)
    size = int(data.input_size)
    model = SqueezeNext(input_shape=(size, size, 3), classes=data.num_classes, name="candidate",
                        **candidate.builder_kwargs())
    squeezekit.train.fit(model, data, recipe="sgd_cosine", epochs=epochs, label_smoothing=0.1, verbose=0)
    return float(model.evaluate(data.val, verbose=0, return_dict=True)["accuracy"])


def variant_entries(result: engine.SearchResult, finals: list[Finalist], command: str) -> list[dict]:
    """Registry rows for the finalists (``squeezekit.models.load_variants`` reads them)."""
    rows = []
    for f in finals:
        c = f.scored.candidate
        rows.append(dict(
            name=f.name, paper_name=f"SqNxt-search {f.name}", family="squeezenext", convention="official",
            provenance="search", source=command, config=c.builder_kwargs(),
            expected=dict(trainable_params=space.trainable_params(c), macs_224=space.macs(c, 224)),
            notes=(f"{c.describe()}; {result.config.target}: "
                   + (f"{f.measured_us / 1e3:.3f} ms int8 measured, {f.speedup:.2f}x 1.0-SqNxt-23"
                      if f.measured_us else f"{f.scored.latency_us / 1e3:.3f} ms predicted")
                   + (f"; top-1 {f.top1:.2%} ({f.top1_delta:+.2f} points)" if f.top1 is not None else "")),
        ))
    return rows


def _fmt_ms(us):
    return f"{us / 1e3:.3f}" if us is not None else "-"


def markdown(result: engine.SearchResult, finals: list[Finalist], extra: dict) -> str:
    cfg, base = result.config, result.baseline
    front = engine.pareto_front([s for s in result.scored])
    lines = [
        f"# SqueezeNext search on {cfg.target}",
        "",
        f"`{extra['command']}`",
        "",
        f"{len(result.scored)} candidates scored in {result.seconds:.0f} s ({result.measured} converted and profiled "
        f"for the cost table), seed {cfg.seed}, at most {cfg.max_params:,} parameters at {cfg.classes} classes, "
        f"latency at {cfg.size}x{cfg.size}"
        + (f" int8, {cfg.threads} thread(s)" if cfg.target == "host" else " on the simulated array") + ". "
        f"Goal: {cfg.speedup}x 1.0-SqNxt-23 ({_fmt_ms(result.goal_us)} ms).",
        "",
        "## Finalists",
        "",
        "| name | configuration | params | MACs | predicted ms | measured ms | speedup | top-1 | vs SqNxt-23 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| 1.0-SqNxt-23 | {base.candidate.describe()} | {base.params:,} | {base.macs / 1e6:.1f}M | "
        f"{_fmt_ms(base.latency_us)} | {_fmt_ms(extra.get('baseline_us'))} | 1.00x | "
        f"{extra['baseline_top1']:.2%} | |" if extra.get("baseline_top1") is not None else
        f"| 1.0-SqNxt-23 | {base.candidate.describe()} | {base.params:,} | {base.macs / 1e6:.1f}M | "
        f"{_fmt_ms(base.latency_us)} | {_fmt_ms(extra.get('baseline_us'))} | 1.00x | - | |",
    ]
    for f in finals:
        s = f.scored
        lines.append(
            f"| {f.name} | {s.candidate.describe()} | {s.params:,} | {s.macs / 1e6:.1f}M | {_fmt_ms(s.latency_us)} | "
            f"{_fmt_ms(f.measured_us)} | "
            f"{f'{f.speedup:.2f}x' if f.speedup else f'{base.latency_us / s.latency_us:.2f}x (sim.)'} | "
            f"{f'{f.top1:.2%}' if f.top1 is not None else '-'} | "
            f"{f'{f.top1_delta:+.2f} pt' if f.top1_delta is not None else '-'} |")
    if extra.get("training"):
        lines += ["", extra["training"]]
    if extra.get("baseline_micro"):
        budget = [f"arena {cfg.max_arena_bytes / 1024:,.0f} KiB" if cfg.max_arena_bytes else "",
                  f"flash {cfg.max_flash_bytes / 1024:,.0f} KiB" if cfg.max_flash_bytes else ""]
        lines += ["", f"## Microcontroller (TFLM) at {cfg.size}x{cfg.size}, budget: "
                  + (", ".join(b for b in budget if b) or "none"), "",
                  "| name | TFLM arena (estimated) | TFLM arena (measured) | file bytes (estimated) | file bytes | fits |",
                  "|---|---:|---:|---:|---:|---|"]
        rows = [("1.0-SqNxt-23", base, extra["baseline_micro"])] + [(f.name, f.scored, f.micro) for f in finals]
        for name, s, m in rows:
            arena = f"{m['arena_bytes']:,}" if m["arena_bytes"] else "-"
            lines.append(f"| {name} | {s.arena_bytes:,} | {arena} | {s.flash_bytes:,} | {m['flash_bytes']:,} | "
                         f"{'yes' if m['fits'] else 'no'} |")
        lines += ["", "Estimates: TFLM's memory plan of the tensor lifetimes plus its persistent allocations "
                  "(squeezekit.search.space.micro_arena); measured: the TFLM interpreter on the converted file."]
    lines += ["", "## Pareto front (latency vs MACs, within the parameter budget)", "",
              "| configuration | params | MACs | latency ms | speedup | early-stage blocks |", "|---|---:|---:|---:|---:|---:|"]
    for s in front[:25]:
        lines.append(f"| {s.candidate.describe()} | {s.params:,} | {s.macs / 1e6:.1f}M | {_fmt_ms(s.latency_us)} | "
                     f"{base.latency_us / s.latency_us:.2f}x | {engine.early_share(s.candidate):.0%} |")
    lines += ["", "## Does the search go the paper's way (v1 -> v5: fewer blocks in the early stages)?", "",
              extra["direction"], ""]
    if extra.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in extra["notes"]] + [""]
    return "\n".join(lines)


def direction_analysis(result: engine.SearchResult, finals: list[Finalist]) -> str:
    """Where the blocks go. The paper's v1 -> v5 change moved blocks out of the two high-resolution stages
    (1.0-SqNxt-23: 6-6-8-1, 57% in stages 1-2; 23v5: 2-4-14-1, 29%). Compares the fastest and slowest quarter
    of the admissible candidates and the finalists, per stage."""
    scored = sorted(result.scored, key=lambda s: s.latency_us)
    q = max(1, len(scored) // 4)

    def shares(cands):
        return np.mean([np.array(c.blocks) / sum(c.blocks) for c in cands], axis=0) if cands else np.zeros(4)

    def fmt(v):
        return "/".join(f"{x:.0%}" for x in v)

    fast, slow = shares([s.candidate for s in scored[:q]]), shares([s.candidate for s in scored[-q:]])
    fin = shares([f.scored.candidate for f in finals])
    base, v5 = shares([space.BASELINE]), shares([space.BASELINE_V5])
    stage1 = fin[0] < base[0]
    early = fin[0] + fin[1] < base[0] + base[1]
    if stage1 and early:
        verdict = "yes: the finalists hold fewer blocks in stages 1-2, as 23v5 does"
    elif stage1:
        verdict = ("partly: the finalists empty stage 1 (the highest resolution) as 23v5 does, but put the blocks "
                   "into stage 2 rather than stage 3")
    else:
        verdict = "no: the finalists keep at least 1.0-SqNxt-23's share of blocks in stage 1"
    return (f"Share of blocks per stage (1/2/3/4): 1.0-SqNxt-23 {fmt(base)}, 23v5 {fmt(v5)}; the fastest quarter of "
            f"the {len(scored)} candidates {fmt(fast)}, the slowest quarter {fmt(slow)}; the finalists {fmt(fin)}. "
            f"Verdict: {verdict}.")


def plot(result: engine.SearchResult, finals: list[Finalist], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = result.baseline
    scored = result.scored
    fig, ax = plt.subplots(figsize=(8, 5.5))
    lat = np.array([s.latency_us / 1e3 for s in scored])
    mac = np.array([s.macs / 1e6 for s in scored])
    par = np.array([s.params / 1e3 for s in scored])
    points = ax.scatter(lat, mac, c=par, s=12, cmap="viridis", alpha=0.7)
    fig.colorbar(points, ax=ax, label="parameters (thousands)")
    front = engine.pareto_front(scored)
    ax.plot([s.latency_us / 1e3 for s in front], [s.macs / 1e6 for s in front], "-", color="tab:red", lw=1,
            label="Pareto front")
    ax.scatter([base.latency_us / 1e3], [base.macs / 1e6], marker="*", s=200, color="black", label="1.0-SqNxt-23")
    ax.axvline(result.goal_us / 1e3, color="gray", ls="--", lw=1, label=f"goal ({result.config.speedup}x)")
    for f in finals:
        s = f.scored
        ax.scatter([s.latency_us / 1e3], [s.macs / 1e6], marker="D", s=50, color="tab:orange")
        label = f.name + (f"\n{f.top1:.1%}" if f.top1 is not None else "")
        ax.annotate(label, (s.latency_us / 1e3, s.macs / 1e6), fontsize=8, xytext=(4, 4), textcoords="offset points")
    unit = "ms int8, 1 thread (per-op cost table)" if result.config.target == "host" else "ms (simulated)"
    ax.set_xlabel(f"latency at {result.config.size}x{result.config.size}, {unit}")
    ax.set_ylabel("MACs (millions)")
    ax.set_title(f"SqueezeNext search on {result.config.target} (seed {result.config.seed})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(out: str, result: engine.SearchResult, finals: list[Finalist], extra: dict,
          table: cost_lib.HostCostTable | None) -> list[str]:
    from converters.files import publish, write_atomic

    os.makedirs(out, exist_ok=True)
    front = {s.candidate.key for s in engine.pareto_front(result.scored)}
    payload = dict(
        config=result.config.__dict__, command=extra["command"], seconds=round(result.seconds, 1),
        baseline=result.baseline.to_dict(), goal_us=result.goal_us, measured_for_table=result.measured,
        finalists=[f.to_dict() for f in finals], baseline_measured_us=extra.get("baseline_us"),
        baseline_micro=extra.get("baseline_micro"),
        baseline_top1=extra.get("baseline_top1"), direction=extra["direction"],
        candidates=[dict(s.to_dict(), front=s.candidate.key in front) for s in result.scored],
        written=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    paths = [os.path.join(out, n) for n in ("search.json", "search.md", "search.png", "variants.json")]
    write_atomic(paths[0], json.dumps(payload, indent=1) + "\n")
    write_atomic(paths[1], markdown(result, finals, extra))
    publish(paths[2], lambda p: plot(result, finals, p))
    write_atomic(paths[3], json.dumps(variant_entries(result, finals, extra["command"]), indent=1) + "\n")
    if table is not None:
        paths.append(os.path.join(out, "cost_table.json"))
        table.save(paths[-1])
    return paths
