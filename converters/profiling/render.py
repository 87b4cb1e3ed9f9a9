"""A ``Profile`` as Markdown (a summary, then one per-layer table per target) and as a PNG chart (per-layer
time for every target, side by side on a log axis; simulated targets add an energy panel)."""

from __future__ import annotations

from converters.profiling.report import Profile, TargetProfile

TOP_LAYERS = 15  # rows per target table: the slowest layers (the JSON has them all)


def _ms(us: float) -> str:
    return f"{us / 1e3:.3f}"


def _target_line(t: TargetProfile) -> str:
    s = t.summary
    if t.kind == "measured":
        lat = s.get("latency", {})
        parts = [f"per-op sum {_ms(s['op_sum_us'])} ms ({s['kernel_mode']} kernels, {s['threads']} thread, "
                 f"{s['runs']} runs), {100 * s['op_sum_over_whole_run']:.1f}% of the whole run "
                 f"({'check holds' if s['sum_check'] else 'CHECK FAILS'})"]
        for key, fig in lat.items():
            parts.append(f"{key.replace('_', ' ')}: median {_ms(fig['median_us'])} ms, p90 {_ms(fig['p90_us'])} ms,"
                         f" {fig.get('gmacs_per_s', 0):.1f} GMAC/s")
        return "; ".join(parts)
    if t.kind == "simulated":
        mix = ", ".join(f"{k} {v / max(s['macs'], 1):.0%}" for k, v in s.get("dataflow_macs", {}).items())
        return (f"{s['rows']}x{s['cols']} PEs at {s['clock_mhz']:g} MHz, {s['gb_kib']:g} KiB buffer, "
                f"{s['word_bits']}-bit words, DRAM {s['dram_bytes_per_cycle']:g} B/cycle: "
                f"{s['cycles']:,} cycles ({s['memory_bound_layers']} layers memory-bound), "
                f"energy {s['energy_total']:.3g} MAC units ({s['energy_per_mac']:.1f} per MAC; DRAM "
                f"{s['energy']['dram'] / s['energy_total']:.0%}), PE utilization {s['utilization']:.2f} "
                f"(effective {s['effective_utilization']:.2f}), DRAM {s['dram_bytes'] / 1e6:.2f} MB; "
                f"MACs by dataflow: {mix}")
    if t.kind == "micro":
        if s.get("arena_bytes") is None:
            return f"cannot run in TFLM: {s.get('why_not', 'see the notes')}"
        cmp = s.get("compare") or {}
        diff = (f"; {cmp['outputs']} vs LiteRT reference kernels: max {cmp.get('max_lsb', cmp.get('max_abs'))}"
                f"{' LSB' if 'max_lsb' in cmp else ''} over {cmp['samples']} inputs"
                + (f" (logits {cmp['logits_max_lsb']} LSB)" if "logits_max_lsb" in cmp else "") if cmp else "")
        return (f"arena {s['arena_bytes']:,} bytes (activations {s['activation_bytes']:,}, persistent "
                f"{s['persistent_bytes']:,}); {len(s['ops'])} op kinds, all in TFLM; invoke {s.get('invoke')}"
                + diff + f"; {s['runtime']}")
    return f"total {_ms(t.total_us)} ms over {len(t.layers)} rows (imported, {s.get('format', '?')})"


def to_markdown(profile: Profile) -> str:
    mem = profile.memory
    lines = [f"# Profile: {profile.model}", "",
             f"- file: {profile.size_bytes:,} bytes; weights {profile.params:,} elements; {profile.macs:,} MACs"]
    if mem:
        peak = mem.get("peak_activation_bytes")
        arena = mem.get("arena_bytes") or mem.get("greedy_arena_bytes")
        if peak is not None:
            lines.append(f"- peak activation memory (tensor lifetimes, lower bound): {peak:,} bytes"
                         + (f"; greedy arena plan {arena:,} bytes" if arena else "")
                         + (f"; weights {mem['weight_bytes']:,} bytes" if "weight_bytes" in mem else ""))
        micro = mem.get("tflm")
        if micro:
            lines.append(f"- TFLM arena (measured by the TFLM interpreter, {micro.get('runtime')}): "
                         f"{micro['arena_bytes']:,} bytes = activations {micro['activation_bytes']:,} + persistent "
                         f"{micro['persistent_bytes']:,}" if micro.get("arena_bytes") else
                         f"- TFLM arena: not measured ({micro.get('why_not')})")
    lines.append("")
    lines += ["| target | kind | total ms | summary |", "|---|---|---|---|"]
    for t in profile.targets:
        lines.append(f"| {t.target} | {t.kind} | {_ms(t.total_us)} | {_target_line(t)} |")
    for t in profile.targets:
        lines += ["", f"## {t.target} ({t.kind})", ""]
        cpu = t.summary.get("cpu")
        if cpu:
            dot = {True: "yes (" + ", ".join(cpu["int8_features"]) + ")", False: "none", None: "unknown"}
            lines.append(f"- CPU: {cpu['model'] or cpu['machine']}; int8 dot-product instructions: "
                         f"{dot[cpu['int8_dot_product']]}")
        lines += [f"- {n}" for n in t.notes]
        if t.notes or cpu:
            lines.append("")
        if t.kind == "micro":
            lines += ["| op | version | nodes | resolver | in TFLM |", "|---|---|---|---|---|"]
            lines += [f"| {r['op']} | {r['version']} | {r['count']} | {r['resolver'] or ''} | "
                      f"{'yes' if r['in_tflm'] else 'NO'} |" for r in t.summary["ops"]]
            continue
        energy = any("energy" in l.extra for l in t.layers)
        head = "| node | layer | op | MACs | time µs | share |"
        rule = "|---|---|---|---|---|---|"
        if t.kind == "measured" or t.kind == "imported":
            head += " spread (std µs) |"
            rule += "---|"
        if energy:
            head += " dataflow | utilization | energy (MAC units) |"
            rule += "---|---|---|"
        lines += [head, rule]
        total = t.total_us or 1.0
        for l in sorted(t.layers, key=lambda l: -l.time_us)[:TOP_LAYERS]:
            row = f"| {l.index} | {l.layer} | {l.op} | {l.macs:,} | {l.time_us:.1f} | {100 * l.time_us / total:.1f}% |"
            if t.kind in ("measured", "imported"):
                std = l.extra.get("std_us", l.extra.get("stddev_us"))
                row += f" {std:.1f} |" if isinstance(std, (int, float)) else " |"
            if energy:
                e = l.extra.get("energy", {})
                tot = e.get("total", sum(v for v in e.values() if isinstance(v, (int, float))))
                row += f" {l.extra.get('dataflow', '')} | {l.extra.get('utilization', 0):.2f} | {tot:,.0f} |"
            lines.append(row)
        if len(t.layers) > TOP_LAYERS:
            lines.append(f"\n{len(t.layers) - TOP_LAYERS} faster layers omitted; the JSON lists all {len(t.layers)}.")
    return "\n".join(lines) + "\n"


def to_png(profile: Profile, path: str) -> None:
    """Per-layer time of every target in execution order (log scale), plus energy for simulated targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    simulated = [t for t in profile.targets if t.kind == "simulated"]
    panels = 2 if simulated else 1
    fig, axes = plt.subplots(panels, 1, figsize=(14, 4.5 * panels), squeeze=False)
    ax = axes[0][0]
    for t in profile.targets:
        rows = sorted(t.layers, key=lambda l: l.index)
        ax.plot([l.index for l in rows], [max(l.time_us, 1e-2) for l in rows], marker=".", linewidth=1,
                label=f"{t.target} ({_ms(t.total_us)} ms)")
    ax.set_yscale("log")
    ax.set_ylabel("time per layer (µs)")
    ax.set_title(f"{profile.model}: per-layer time ({profile.macs / 1e6:.0f} M MACs)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if simulated:
        ax2 = axes[1][0]
        for t in simulated:
            rows = sorted(t.layers, key=lambda l: l.index)
            ax2.plot([l.index for l in rows], [max(l.extra.get("energy", {}).get("total", 0), 1e-2) for l in rows],
                     marker=".", linewidth=1, label=t.target)
        ax2.set_yscale("log")
        ax2.set_ylabel("energy per layer (MAC units)")
        ax2.set_xlabel("TFLite node index")
        ax2.legend(fontsize=8)
        ax2.grid(alpha=0.3)
    else:
        ax.set_xlabel("TFLite node index")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
