"""Hostile files into every command-line tool that reads one: a seeded handful of benchmarks/fuzz.py's mutants.

Each mutant runs in its own process; the tool must either use the file (exit 0) or refuse it with one line,
``error: ...``, and exit status 1: never a traceback, never a signal, and nothing written from a refused file.
The seeds (a 32x32 int8 SqueezeNet 1.1 .tflite with metadata, a run folder, a PNG, a tf2cv .tf2.h5, a phone
op profile CSV, a search's variants.json) are built once for the module. The benchmark runs hundreds of the same mutants (BUILD.md has its figures).
"""

import concurrent.futures
import importlib.util
import os
import pathlib
import sys

import pytest

# One worker builds the seeds and runs the mutants (about 37 s); ungrouped, both xdist workers did it.
pytestmark = pytest.mark.xdist_group("fuzz")

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("squeezekit_fuzz_benchmark", ROOT / "benchmarks" / "fuzz.py")
fuzz = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))  # dataclasses look it up
_spec.loader.exec_module(fuzz)

# (tool, file, kind, seed): the user-reported cases (a damaged metadata zip, a weight zero point XNNPACK
# refuses) and one or two structural mutants per tool and file.
MUTANTS = [
    ("classify", "tflite", "truncate", 1),
    ("classify", "tflite", "flip_head", 2),
    ("classify", "tflite", "flip_zip", 3),  # the metadata zip: zlib.error before
    ("classify", "tflite", "zero_point", 4),  # RuntimeError from the XNNPACK delegate before
    ("classify", "image", "bytes", 5),
    ("profile", "tflite", "header", 6),
    ("profile", "tflite", "zero_point", 7),
    ("evaluate", "model.keras", "truncate", 8),
    ("evaluate", "run_config.json", "json_value", 9),
    ("export", "labels.txt", "delete", 10),
    ("export", "run_config.json", "text", 11),
    ("export", "model.keras", "flip_tail", 12),
    ("weights", "tf2.h5", "flip_head", 13),
    ("weights", "tf2.h5", "truncate", 14),
    ("profile", "ops.csv", "text", 15),
    ("models", "variants.json", "json_value", 5),  # paper_name: true; an AttributeError at import before
]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return fuzz.make_seeds(str(tmp_path_factory.mktemp("fuzz_seeds")))


@pytest.fixture(scope="module")
def outcomes(seeds, tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz_mutants")

    def one(row):
        tool, file, kind, seed = row
        folder = base / f"{tool}-{file}-{kind}-{seed}"
        folder.mkdir()
        return fuzz.run_one(tool, file, kind, seeds, str(folder), seed, timeout=300)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return dict(zip(MUTANTS, pool.map(one, MUTANTS)))


def test_the_mutants_cover_every_tool_that_reads_a_file():
    assert {row[0] for row in MUTANTS} == {"classify", "profile", "evaluate", "export", "weights", "models"}
    assert {(tool, file) for tool, file, _, _ in MUTANTS} == set(fuzz.TARGETS)


@pytest.mark.parametrize("row", MUTANTS, ids=lambda row: "-".join(map(str, row[:3])))
def test_a_mutant_is_used_or_refused_in_one_line(outcomes, row):
    result = outcomes[row]
    with open(os.path.join(result.folder, "stderr.txt")) as f:
        log = f.read()
    assert result.outcome in ("ok", "refused"), f"{result.outcome}: {log[-3000:]}"
    assert result.rc in (0, 1) and "Traceback" not in log
    if result.rc == 1:
        assert result.last_line.startswith("error: "), log[-3000:]
        assert not any(files for _, _, files in os.walk(os.path.join(result.folder, "out"))), "wrote when refused"


def test_the_known_failures_are_refused_with_the_reason(outcomes):
    metadata = outcomes[("classify", "tflite", "flip_zip", 3)]
    assert metadata.outcome == "refused" and "metadata" in metadata.last_line, metadata.last_line
    for row in (("classify", "tflite", "zero_point", 4), ("profile", "tflite", "zero_point", 7)):
        assert outcomes[row].outcome == "refused" and "this .tflite cannot run" in outcomes[row].last_line, \
            outcomes[row].last_line
    labels = outcomes[("export", "labels.txt", "delete", 10)]
    assert labels.outcome == "refused" and "labels.txt" in labels.last_line, labels.last_line
    variants = outcomes[("models", "variants.json", "json_value", 5)]
    assert variants.outcome == "refused" and "SQUEEZEKIT_VARIANTS" in variants.last_line, variants.last_line


def test_mutations_are_seeded():
    import numpy as np

    data = bytes(range(256)) * 64
    for kind in fuzz.BINARY + fuzz.TEXT:
        a = fuzz.mutate(data, kind, np.random.default_rng(5))
        assert a == fuzz.mutate(data, kind, np.random.default_rng(5))
        assert a != data
