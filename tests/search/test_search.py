"""The hardware-aware search: op rows equal the converted file, parameters equal Keras', the search is seeded
and bounded, the cost table predicts what it measured, and found variants build by name."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import squeezekit
from converters.profiling import layers
from squeezekit.models.squeezenext import SqueezeNext
from squeezekit.search import cost, engine, space

pytestmark = pytest.mark.xdist_group("search")

ODD = space.Candidate(blocks=(3, 2, 6, 2), widths=(16, 48, 96, 192), stem_kernel=3, stem_stride=4, stem_filters=48,
                      groups=2, wiring="v5", first_pool="stage1")


def _key(row):  # not the layer name: the converter names grouped convs conv_2d_N
    return (row.op, tuple(row.input_shape), tuple(row.output_shape), tuple(row.kernel), tuple(row.stride),
            row.groups, row.macs, row.weights, row.weight_bytes, row.input_bytes, row.output_bytes)


@pytest.mark.parametrize("candidate", [space.BASELINE, ODD], ids=["sqnxt23", "odd"])
def test_op_rows_are_the_converted_files(candidate):
    """``space.ops`` (no Keras) lists exactly the ops of the int8 .tflite, geometry and bytes included."""
    content = cost.int8_tflite(candidate, 64, 10)
    assert sorted(map(_key, layers.read(content))) == sorted(map(_key, space.ops(candidate, 64, 10)))


def test_parameters_and_macs_match_keras_and_the_reference():
    rng = np.random.default_rng(7)
    for candidate in [space.BASELINE, space.BASELINE_V5, ODD] + [space.random_candidate(rng) for _ in range(3)]:
        model = SqueezeNext(input_shape=(64, 64, 3), classes=10, **candidate.builder_kwargs())
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert space.trainable_params(candidate, 10) == trainable, candidate.describe()
    # 1.0-SqNxt-23 as the reference tables give it (official file): 717,280 params, 277,999,808 MACs at 227.
    assert space.trainable_params(space.BASELINE) == 717_280
    assert space.macs(space.BASELINE, 227) == 277_999_808


def test_stem_stride_and_first_pool():
    model = SqueezeNext(input_shape=(64, 64, 3), classes=3, stem_stride=4, first_pool="stage1", blocks=(2, 1, 1, 1))
    assert model.get_layer("stem_conv").output.shape[1] == 15  # (64 - 7) // 4 + 1
    assert model.get_layer("stage1_pool").output.shape[1] == 7
    assert "stem_pool" not in [layer.name for layer in model.layers]
    assert space.min_input_size(ODD) <= 32
    with pytest.raises(ValueError, match="first_pool must be one of"):
        SqueezeNext(first_pool="stage2")


def test_accel_search_is_seeded_bounded_and_admissible():
    # Bounded by the candidate count, not the clock, so a slow or busy machine explores the same 400.
    cfg = engine.SearchConfig(target="accel-16x16", max_params=600_000, seed=3, time_budget=float("inf"), max_candidates=400)
    a = engine.search(cfg, log=lambda *_: None)
    b = engine.search(cfg, log=lambda *_: None)
    assert [s.candidate.key for s in a.scored] == [s.candidate.key for s in b.scored]
    assert len(a.scored) == 400
    other = engine.search(engine.SearchConfig(target="accel-16x16", max_params=600_000, seed=4, time_budget=float("inf"),
                                              max_candidates=400),
                          log=lambda *_: None)
    assert [s.candidate.key for s in other.scored] != [s.candidate.key for s in a.scored]
    for s in a.scored[1:]:  # the baseline (first) is scored whatever the budget
        assert s.params <= 600_000 and space.min_input_size(s.candidate) <= 32
    front = engine.pareto_front(a.scored)
    for s in a.scored:  # nothing beats a front point on both axes
        assert not any(t.latency_us < s.latency_us and t.macs > s.macs for t in front) or s not in front
    finals = engine.finalists(a, 3)
    assert len(finals) == 3 and all(f.latency_us <= a.goal_us for f in finals)
    # A spent time budget stops the exploration (however fast the machine): only the baseline is scored.
    timed = engine.search(engine.SearchConfig(target="accel-16x16", seed=3, time_budget=0, max_candidates=10**6),
                          log=lambda *_: None)
    assert [s.candidate for s in timed.scored] == [space.BASELINE]


def _stub_clock(content, *, kernel_mode="delegate", threads=1, runs=20, warmup=5, table=None):
    """``host.profile_ops`` on a stubbed clock: every op takes 1 µs plus 1 µs per 10,000 MACs, and the whole
    run 50 µs more than its ops. The search's arithmetic is then checkable exactly on any machine."""
    from converters.profiling import host
    table = table if table is not None else layers.read(content)
    rows = [host.LayerTime(r.index, r.op, r.layer, r.macs, 1.0 + r.macs / 1e4) for r in table]
    op_sum = sum(r.time_us for r in rows)
    return host.TargetProfile("host", "measured", {"whole_run_median_us": op_sum + 50.0,
                                                    "op_sum_median_us": op_sum}, rows)


def test_host_cost_table_predicts_what_it_measured(tmp_path, monkeypatch):
    """A small host search at 64x64: measured candidates are predicted from their own op times, and with the
    same seed and table (no new measurements) the same candidates are visited."""
    from converters.profiling import host
    # The real profiler fills a table: one entry per measured model, every op signature timed.
    real = cost.HostCostTable(runs=3)
    content = cost.int8_tflite(space.BASELINE, 32, 10)
    entry = real.measure(content, "baseline")
    assert entry["whole_run_us"] > 0 and entry["op_sum_us"] > 0 and real.measured == [entry]
    assert real.missing(layers.read(content)) == []
    # It measured the file as the export writes it here: the rewrites --optimize auto keeps, decided once.
    decision = real.rewrite_decision
    assert decision["mode"] == "auto" and real.rewrites == decision["applied"]
    assert [c["rewrite"] for c in decision["candidates"]] == ["space_to_depth_stem"]
    # The search's use of it, on a stubbed clock (the real one varies with the machine's load): bounded by
    # counts (candidates, measurements), not seconds, and each measured candidate predicted to the µs.
    monkeypatch.setattr(host, "profile_ops", _stub_clock)
    cfg = engine.SearchConfig(target="host", max_params=300_000, size=64, classes=10, seed=1, time_budget=float("inf"),
                              max_candidates=60, max_measure=2, verify=1)
    table = cost.HostCostTable(runs=5)
    result = engine.search(cfg, table, log=lambda *_: None)
    assert result.measured >= 2 and len(table.measured) == result.measured
    assert table.overhead_us == pytest.approx(50.0)
    for entry in table.measured:
        s = next(s for s in result.scored if s.candidate.key == entry["key"])
        assert s.estimated_share == 0.0
        assert s.latency_us == pytest.approx(entry["op_sum_us"] + 50.0, rel=1e-9)
    table.save(tmp_path / "table.json")
    assert cost.HostCostTable.load(tmp_path / "table.json").rewrites == table.rewrites
    # With the space-to-depth stem, the stem's table time includes the ops the rewrite added (stub: 1 µs
    # each; here the SPACE_TO_DEPTH before the VALID stem), so the candidate's own rows predict the rewritten file.
    forced = cost.HostCostTable(runs=5, rewrites=["space_to_depth_stem"])
    baseline = cost.int8_tflite(space.BASELINE, 64, 10)
    entry = forced.measure(baseline, "baseline")
    stem = next(r for r in layers.read(baseline) if r.layer == "stem_conv")
    added = [r.op for r in layers.read(forced.exported_form(baseline)) if r.layer.startswith("stem_conv_")]
    assert added == ["SPACE_TO_DEPTH"]
    assert forced.times[cost.signature(stem)] == pytest.approx(1.0 + stem.macs / 1e4 + len(added))
    assert forced.predict(space.ops(space.BASELINE, 64, 10)).latency_us == pytest.approx(entry["op_sum_us"] + 50.0)
    again = dict(cfg.__dict__, max_measure=0, verify=0)
    runs = [engine.search(engine.SearchConfig(**again), cost.HostCostTable.load(tmp_path / "table.json"),
                          log=lambda *_: None) for _ in range(2)]
    assert [s.candidate.key for s in runs[0].scored] == [s.candidate.key for s in runs[1].scored]
    assert runs[0].measured == 0


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "squeezekit.search", *args], capture_output=True, text=True,
                          timeout=600, env=env)


def test_cli_writes_the_front_and_variants_that_build_by_name(tmp_path):
    out = tmp_path / "search"
    result = _cli("--target", "accel-16x16", "--time_budget", "inf", "--max_candidates", "300", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "candidates scored" in result.stdout or "explored" in result.stdout
    assert sorted(os.listdir(out)) == ["search.json", "search.md", "search.png", "variants.json"]
    payload = json.loads((out / "search.json").read_text())
    assert len(payload["candidates"]) == 300 and any(c["front"] for c in payload["candidates"])
    assert "Pareto front" in (out / "search.md").read_text()
    names = squeezekit.models.load_variants(str(out / "variants.json"))
    assert names == ["sqnxt_accel_16x16_1", "sqnxt_accel_16x16_2", "sqnxt_accel_16x16_3"]
    spec = squeezekit.models.get_spec(names[0])
    assert spec.provenance == "search" and "squeezekit.search" in spec.source
    model = squeezekit.build(names[0], input_shape=(32, 32, 3), classes=10)
    assert model.output_shape == (None, 10)
    trainable = sum(int(np.prod(w.shape)) for w in squeezekit.build(names[0]).trainable_weights)
    assert trainable == spec.expected["trainable_params"]
    # SQUEEZEKIT_VARIANTS makes them known to every CLI.
    env = dict(os.environ, SQUEEZEKIT_VARIANTS=str(out / "variants.json"))
    listed = subprocess.run([sys.executable, "-m", "squeezekit.models", "--pattern", "sqnxt_accel*"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert listed.returncode == 0 and "sqnxt_accel_16x16_1" in listed.stdout, listed.stderr[-2000:]

    bad = _cli("--target", "gpu", "--out", str(tmp_path / "x"))
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert bad.returncode == 1 and len(errors) == 1 and "--target must be host or one of" in errors[0]
    assert not (tmp_path / "x").exists()


def test_the_builtin_search_variant_is_what_the_search_found():
    from squeezekit.models.accounting import model_stats

    spec = squeezekit.models.get_spec("sqnxt_cpu1")
    assert spec.provenance == "search" and "--target host" in spec.source
    stats = model_stats(squeezekit.build("sqnxt_cpu1", input_shape=(224, 224, 3)))
    assert stats.trainable_params == spec.expected["trainable_params"] == 695_888 <= 717_280
    assert stats.macs == spec.expected["macs_224"]
    found = space.Candidate(blocks=(2, 8, 4, 1), widths=(48, 96, 128, 256), stem_kernel=5, stem_filters=32,
                            wiring="v5")
    assert {k: v for k, v in spec.config.items()} == dict(found.builder_kwargs())


@pytest.mark.parametrize("candidate,size,classes", [(space.BASELINE, 96, 10), (ODD, 64, 100)], ids=["sqnxt23", "odd"])
def test_micro_estimates_are_what_tflm_and_the_export_measure(candidate, size, classes):
    """The arena estimate (tensor lifetimes + TFLM's persistent allocations) against the TFLM interpreter, and
    the flash estimate against the file as the export stores it (labels aside)."""
    from converters import flatbuffer, graph
    from converters.profiling import tflm

    net = space.network(candidate, size, classes)
    head, tail = space.micro_arena(net)
    content = flatbuffer.rewrite(cost.int8_tflite(candidate, size, classes))
    measured = tflm.arena(content, graph.read(content))
    assert head == measured["activation_bytes"]  # the same greedy plan as TFLM's
    assert abs(head + tail - measured["arena_bytes"]) <= 0.002 * measured["arena_bytes"]
    assert abs(space.micro_flash(net) - len(content)) <= 0.03 * len(content)


def test_micro_budgets_bound_every_candidate_and_the_finalists_are_measured(tmp_path):
    budget = dict(max_arena_bytes=200 * 1024, max_flash_bytes=700 * 1024)
    cfg = engine.SearchConfig(target="accel-16x16", size=96, classes=10, seed=5, time_budget=float("inf"),
                              max_candidates=300, **budget)
    result = engine.search(cfg, log=lambda *a: None)
    others = [s for s in result.scored if s.candidate != space.BASELINE]
    assert len(others) > 50
    assert all(s.arena_bytes <= budget["max_arena_bytes"] and s.flash_bytes <= budget["max_flash_bytes"]
               for s in others)
    assert result.baseline.arena_bytes > budget["max_arena_bytes"]  # 1.0-SqNxt-23 needs ~233 KiB at 96
    result_cli = _cli("--target", "accel-16x16", "--input_size", "96", "--classes", "10", "--max_arena_kb", "200",
                      "--max_flash_kb", "700", "--max_candidates", "300", "--time_budget", "inf", "--finalists", "2", "--out", str(tmp_path))
    assert result_cli.returncode == 0, result_cli.stderr[-3000:]
    payload = json.loads((tmp_path / "search.json").read_text())
    for f in payload["finalists"]:
        assert f["micro"]["fits"] and f["micro"]["arena_bytes"] <= 200 * 1024
        assert abs(f["micro"]["arena_bytes"] - f["arena_bytes_estimated"]) <= 0.002 * f["micro"]["arena_bytes"]
    assert payload["baseline_micro"]["fits"] is False
    assert "## Microcontroller (TFLM) at 96x96, budget: arena 200 KiB, flash 700 KiB" in (tmp_path / "search.md").read_text()
