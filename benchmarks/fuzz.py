"""Hostile files into every command-line tool: mutants of a small exported model, of a run folder, of an image
and of a tf2cv weights file, each run in its own process and sorted by outcome.

    python benchmarks/fuzz.py                      # 300 mutants, seed 0, two processes at a time
    python benchmarks/fuzz.py --count 600 --seed 3 --workers 4 --keep /tmp/fuzz   # keep the seeds and the failures

Every tool must answer a file it cannot use with one line, ``error: ...``, and exit status 1; a mutant it can
use is fine too (exit 0). Outcomes:

    ok         exit 0, no traceback
    refused    exit 1, the last line on stderr starts with "error: ", no traceback
    traceback  "Traceback" on stderr (a bug: the tool let an exception through)
    signal     killed by a signal (SIGSEGV, SIGABRT...: a native reader crashed, the worst outcome)
    wrote      refused, yet the tool wrote an output file
    other      any other exit (status 2+, or 1 without an error line), or a timeout

The seeds are built once: SqueezeNet 1.1 at 32x32 with 3 classes, exported int8 with squeezekit's metadata; a
run folder (that model saved as model.keras, run_config.json on ``digits`` with 10 classes, labels.txt); a PNG;
a tf2cv ``.tf2.h5`` written by tf2cv itself (tests/weights/tf2cv_reference.py); the phone op profile (CSV)
``benchmark_model`` would write for the .tflite (into ``profile --device_profile``); and a search's
``variants.json`` (into ``SQUEEZEKIT_VARIANTS``, read by every tool; ``squeezekit.models`` lists it). Mutations: ``truncate``,
``header`` (the first 16 bytes overwritten), ``flip`` (1-64 random bit flips), ``flip_head`` (flips in the
first 5%: the flatbuffer tables, the zip's first entry, the HDF5 superblock), ``flip_tail`` (flips in the last
4 KiB: the metadata zip of a .tflite, the zip directory of a .keras), ``bytes`` (a run of random bytes),
``random`` (all random), ``empty``, ``flip_zip`` (flips in the metadata zip appended to a .tflite), ``zero_point`` (a .tflite's per-channel weight zero point made non-zero:
a well-formed file that XNNPACK and the builtin kernels refuse to prepare); for text files ``text`` (characters replaced), ``json_value`` (one value of
run_config.json or variants.json given another type), ``delete`` (the file removed). tests/test_fuzz.py runs a few of the same
mutants in the suite.
"""

from __future__ import annotations

import collections
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE, CLASSES = 32, 3
BINARY = ("truncate", "header", "flip", "flip_head", "flip_tail", "bytes", "random", "empty")
TFLITE = BINARY + ("flip_zip", "zero_point")
TEXT = ("truncate", "text", "bytes", "empty", "delete")
JSON = TEXT + ("json_value",)

# (tool, file mutated) -> the mutation kinds that apply.
TARGETS = {
    ("classify", "tflite"): TFLITE,
    ("classify", "image"): BINARY,
    ("profile", "tflite"): TFLITE,
    ("evaluate", "model.keras"): BINARY,
    ("evaluate", "run_config.json"): JSON,
    ("export", "model.keras"): BINARY,
    ("export", "run_config.json"): JSON,
    ("export", "labels.txt"): TEXT,
    ("weights", "tf2.h5"): BINARY,
    ("profile", "ops.csv"): TEXT,
    ("models", "variants.json"): JSON,
}


# --- seeds ---------------------------------------------------------------------------------------------------------

def make_seeds(folder: str) -> dict[str, str]:
    """Build the seed files in ``folder`` (once; reused when they are there). Returns name -> path."""
    os.makedirs(folder, exist_ok=True)
    paths = {"tflite": os.path.join(folder, "model_int8.tflite"), "image": os.path.join(folder, "image.png"),
             "run": os.path.join(folder, "run"), "tf2.h5": os.path.join(folder, "squeezenet_v1_1.tf2.h5"),
             "ops.csv": os.path.join(folder, "ops.csv"), "variants.json": os.path.join(folder, "variants.json")}
    if not all(os.path.exists(paths[k]) for k in ("tflite", "run", "ops.csv", "variants.json")):
        script = f"import sys; sys.path.insert(0, {ROOT!r}); from benchmarks.fuzz import _build; _build({folder!r})"
        _subprocess_ok([sys.executable, "-c", script])
    if not os.path.exists(paths["tf2.h5"]):
        np.save(os.path.join(folder, "x.npy"), np.zeros((1, 224, 224, 3), np.float32))
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
        _subprocess_ok([sys.executable, os.path.join(ROOT, "tests", "weights", "tf2cv_reference.py"),
                        os.path.join(folder, "x.npy"), folder, "squeezenet_v1_1"], env=env)
    return paths


def _subprocess_ok(args, env=None):
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"building the seeds failed:\n{result.stderr[-3000:]}")


def _build(folder: str) -> None:
    """The model seeds (in a process of their own: TensorFlow stays out of the driver)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from PIL import Image

    import squeezekit
    from converters import metadata, tflite
    from squeezekit.runs import RunConfig, write_labels

    keras.utils.set_random_seed(0)
    spec = squeezekit.models.get_spec("squeezenet1_1")
    p = spec.preprocessing
    model = squeezekit.build(spec.name, input_shape=(SIZE, SIZE, 3), classes=CLASSES)
    images = np.random.default_rng(0).normal(0, 60, (8, SIZE, SIZE, 3)).astype(np.float32)
    content = tflite.convert(model, tflite.Recipe("int8", representative=lambda: [images])).content
    info = metadata.ModelInfo(model=spec.name, paper_name=spec.paper_name, convention=spec.convention,
                              class_names=["cat", "dog", "bird"], channel_order=p.channel_order, mean=list(p.mean),
                              std=list(p.std), crop_fraction=p.crop_fraction, flavour="int8", trained=False)
    with open(os.path.join(folder, "model_int8.tflite"), "wb") as f:
        f.write(metadata.attach(content, info))
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(
        os.path.join(folder, "image.png"))
    run = os.path.join(folder, "run")
    os.makedirs(run, exist_ok=True)
    names = [str(i) for i in range(10)]
    digits = squeezekit.build(spec.name, input_shape=(SIZE, SIZE, 3), classes=len(names))
    digits.save(os.path.join(run, "model.keras"))
    write_labels(run, names)
    RunConfig(model=spec.name, data="digits", out=run, input_size=SIZE, convention=spec.convention, epochs=1,
              extra=dict(class_names=names, preprocessing=p.to_dict(), convention=spec.convention)).save()
    # The phone profile benchmark_model would write for the seed .tflite (CSV, builtin kernels, every node).
    from converters import graph
    from converters.profiling import layers

    g = graph.read(content)
    outputs = {op.index: [g.tensors[i].name for i in op.outputs] for op in g.ops}
    rows = [f"{row.op}, 0.031, 0.02, 1%, 1%, 0, 1, [{','.join(outputs[row.index])}]:{row.index}"
            for row in layers.read(content)]
    with open(os.path.join(folder, "ops.csv"), "w") as f:
        f.write("Operator-wise Profiling Info for Regular Benchmark Runs:\n"
                "============================== Run Order ==============================\n"
                "node type, first, avg_ms, %, cdf%, mem KB, times called, name\n" + "\n".join(rows) + "\n")
    # variants.json as the search writes it (a seeded accel search: one finalist, named fz_1).
    search = os.path.join(folder, "search")
    subprocess.run([sys.executable, "-m", "squeezekit.search", "--target", "accel-16x16", "--time_budget", "3600",
                    "--max_candidates", "40", "--finalists", "1", "--prefix", "fz", "--out", search],
                   check=True, capture_output=True, cwd=ROOT)
    shutil.copyfile(os.path.join(search, "variants.json"), os.path.join(folder, "variants.json"))


# --- mutations -----------------------------------------------------------------------------------------------------

def mutate(data: bytes, kind: str, rng: np.random.Generator) -> bytes | None:
    """``data`` mutated by ``kind``; None for ``delete``."""
    n = len(data)
    b = bytearray(data)
    if kind == "delete":
        return None
    if kind == "empty":
        return b""
    if kind == "truncate":
        return bytes(b[:int(rng.integers(0, max(n, 1)))])
    if kind == "header":
        b[:16] = rng.integers(0, 256, min(16, n), dtype=np.uint8).tobytes()
        return bytes(b)
    if kind in ("flip", "flip_head", "flip_tail", "flip_zip"):
        zip_start = data.find(b"PK\x03\x04")  # a .tflite's metadata zip, after the flatbuffer
        lo, hi = {"flip": (0, n), "flip_head": (0, max(n // 20, 64)), "flip_tail": (max(n - 4096, 0), n),
                  "flip_zip": (max(zip_start, 0), n)}[kind]
        for i in rng.integers(lo, min(hi, n), int(rng.integers(1, 65))):
            b[i] ^= 1 << int(rng.integers(0, 8))
        return bytes(b)
    if kind == "bytes":
        length = int(rng.integers(1, max(2, min(4096, n // 4 + 2))))
        start = int(rng.integers(0, max(n - length, 1)))
        b[start:start + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        return bytes(b)
    if kind == "random":
        return rng.integers(0, 256, int(rng.integers(1, 1 << 16)), dtype=np.uint8).tobytes()
    if kind == "text":
        chars = b"{}[]\":,0123456789-.eE \n\x00\xff\xc3abcxyz"
        for i in rng.integers(0, max(n, 1), int(rng.integers(1, 9))):
            if i < n:
                b[i] = chars[int(rng.integers(0, len(chars)))]
        return bytes(b)
    if kind == "zero_point":
        import struct

        from ai_edge_litert import schema_py_generated as schema

        sub = schema.Model.GetRootAs(b, 0).Subgraphs(0)
        found = []
        for i in range(sub.TensorsLength()):
            q = sub.Tensors(i).Quantization()
            if q is not None and q.ZeroPointLength() > 1:
                found.append((q._tab.Vector(q._tab.Offset(10)), q.ZeroPointLength()))  # zero_point: field 3
        start, length = found[int(rng.integers(0, len(found)))]
        struct.pack_into("<q", b, start + 8 * int(rng.integers(0, length)), int(rng.integers(1, 128)))
        return bytes(b)
    if kind == "json_value":
        raw = json.loads(data)
        # Walk down from the top (run_config.json's "run", variants.json's first row) into a nested object
        # (often, not always), then give one of its values another type.
        target = raw["run"] if isinstance(raw, dict) else raw[0]
        while True:
            key = sorted(target)[int(rng.integers(0, len(target)))]
            if isinstance(target[key], dict) and target[key] and rng.random() < 0.7:
                target = target[key]
                continue
            if isinstance(target[key], list) and target[key] and rng.random() < 0.5:
                target, key = target[key], int(rng.integers(0, len(target[key])))
            break
        choices = [None, -1, 0, 1e9, 3.5, "", "x" * 3, [], {}, [1, 2], True, {"a": 1}, "RGB"]
        target[key] = choices[int(rng.integers(0, len(choices)))]
        return json.dumps(raw).encode()
    raise ValueError(kind)


# --- one mutant ----------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    tool: str
    file: str
    kind: str
    outcome: str
    rc: int
    seconds: float
    last_line: str
    folder: str


def _command(tool: str, seeds: dict, work: str, file: str, out: str) -> list[str]:
    py = [sys.executable, "-m", f"squeezekit.{tool}"]
    tflite = os.path.join(work, "model.tflite") if file == "tflite" else seeds["tflite"]
    if tool == "classify":
        image = os.path.join(work, "image.png") if file == "image" else seeds["image"]
        return py + ["--model", tflite, image]
    if tool == "profile" and file == "ops.csv":
        return py + [tflite, "--target", "accel-16x16", "--device_profile", os.path.join(work, "ops.csv"),
                     "--device", "phone", "--nopng", "--out", out]
    if tool == "profile":
        return py + [tflite, "--target", "accel-16x16,host", "--runs", "2", "--latency_runs", "2", "--nopng",
                     "--out", out]
    if tool == "models":
        return py + ["--pattern", "fz*", "--json", "--output", os.path.join(out, "models.json")]
    run = os.path.join(work, "run", "model.keras")
    if tool == "evaluate":
        return py + ["--weights", run, "--batch_size", "256", "--json", os.path.join(out, "eval.json")]
    if tool == "export":
        return py + ["--weights", run, "--float32", "--qat_epochs", "0", "--profile", "none", "--out", out]
    if tool == "weights":
        return py + ["--model", "squeezenet1_1", "--from_tf2cv", os.path.join(work, "w.tf2.h5"),
                     "--out", os.path.join(out, "model.keras"), "--input_size", "64"]
    raise ValueError(tool)


def prepare(tool: str, file: str, kind: str, seeds: dict, work: str, rng: np.random.Generator) -> list[str]:
    """Lay the mutant out in ``work`` (an empty folder); returns the command that reads it."""
    out = os.path.join(work, "out")
    os.makedirs(out)
    if tool in ("evaluate", "export"):
        shutil.copytree(seeds["run"], os.path.join(work, "run"))
        target = os.path.join(work, "run", file)
    else:
        target = os.path.join(work, {"tflite": "model.tflite", "image": "image.png", "tf2.h5": "w.tf2.h5",
                                     "ops.csv": "ops.csv", "variants.json": "variants.json"}[file])
        shutil.copyfile(seeds[file], target)
    with open(target, "rb") as f:
        data = mutate(f.read(), kind, rng)
    if data is None:
        os.remove(target)
    else:
        with open(target, "wb") as f:
            f.write(data)
    return _command(tool, seeds, work, file, out)


def classify(rc: int | None, stderr: str, wrote: bool) -> str:
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    if rc is None:
        return "other"
    if rc < 0:
        return "signal"
    if "Traceback" in stderr:
        return "traceback"
    if rc == 0:
        return "ok"
    if rc == 1 and lines and lines[-1].startswith("error: "):
        return "wrote" if wrote else "refused"
    return "other"


def run_one(tool: str, file: str, kind: str, seeds: dict, work: str, seed: int, timeout: float = 600) -> Outcome:
    rng = np.random.default_rng(seed)
    command = prepare(tool, file, kind, seeds, work, rng)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    if tool == "models":  # every tool reads the variants a search wrote through this variable
        env["SQUEEZEKIT_VARIANTS"] = os.path.join(work, "variants.json")
    start = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=work, env=env)
        rc, stderr = result.returncode, result.stderr
    except subprocess.TimeoutExpired as err:
        rc, stderr = None, (err.stderr or b"").decode(errors="replace") if isinstance(err.stderr, bytes) else ""
    seconds = time.perf_counter() - start
    out = os.path.join(work, "out")
    wrote = any(files for _, _, files in os.walk(out))
    with open(os.path.join(work, "stderr.txt"), "w") as f:
        f.write(f"$ {' '.join(command)}\nrc {rc}\n{stderr}")
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    outcome = classify(rc, stderr, wrote and rc == 1)
    if rc is not None and rc < 0:
        last = f"signal {signal.Signals(-rc).name}" if -rc in signal.Signals._value2member_map_ else f"signal {-rc}"
    else:
        last = lines[-1] if lines else ""
    return Outcome(tool, file, kind, outcome, -1 if rc is None else rc, seconds, last[:200], work)


def plan(count: int, seed: int, targets=None) -> list[tuple[str, str, str, int]]:
    """``count`` (tool, file, kind, mutant seed) rows, spread evenly over the targets and their kinds."""
    rows = [(tool, file, kind) for (tool, file), kinds in (targets or TARGETS).items() for kind in kinds]
    rng = np.random.default_rng(seed)
    return [(*rows[i % len(rows)], int(rng.integers(0, 2 ** 31))) for i in range(count)]


# --- the benchmark -------------------------------------------------------------------------------------------------

OUTCOMES = ("ok", "refused", "traceback", "signal", "wrote", "other")


def table(results: list[Outcome], by) -> str:
    counts = collections.defaultdict(collections.Counter)
    for r in results:
        counts[by(r)][r.outcome] += 1
    head = f"| {'':24} | " + " | ".join(f"{o:>9}" for o in OUTCOMES) + " |"
    lines = [head, "|" + "---|" * (len(OUTCOMES) + 1)]
    for key in sorted(counts):
        lines.append(f"| {key:24} | " + " | ".join(f"{counts[key][o]:9d}" for o in OUTCOMES) + " |")
    total = collections.Counter(r.outcome for r in results)
    lines.append(f"| {'all':24} | " + " | ".join(f"{total[o]:9d}" for o in OUTCOMES) + " |")
    return "\n".join(lines)


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="mutants in all, spread over the tools and kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="mutants run at a time")
    parser.add_argument("--tools", default=None, help="comma-separated tools (default: all)")
    parser.add_argument("--keep", default=None, help="folder for the seeds and the failing mutants (kept)")
    args = parser.parse_args()
    base = args.keep or tempfile.mkdtemp(prefix="squeezekit-fuzz-")
    start = time.perf_counter()
    seeds = make_seeds(os.path.join(base, "seeds"))
    print(f"seeds ready in {time.perf_counter() - start:.0f} s ({base})", flush=True)
    tools = set(args.tools.split(",")) if args.tools else None
    targets = {k: v for k, v in TARGETS.items() if tools is None or k[0] in tools}
    jobs = plan(args.count, args.seed, targets)
    results = []
    start = time.perf_counter()

    def work(i_job):
        i, (tool, file, kind, s) = i_job
        folder = os.path.join(base, "mutants", f"{i:04d}-{tool}-{file}-{kind}")
        os.makedirs(folder)
        result = run_one(tool, file, kind, seeds, folder, s)
        if result.outcome in ("ok", "refused"):
            shutil.rmtree(folder, ignore_errors=True)
        return result

    with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
        for n, result in enumerate(pool.map(work, enumerate(jobs)), 1):
            results.append(result)
            if result.outcome not in ("ok", "refused"):
                print(f"  {result.outcome}: {result.tool} {result.file} {result.kind}: {result.last_line} "
                      f"({result.folder})", flush=True)
            if n % 25 == 0:
                print(f"  {n}/{len(jobs)} mutants, {time.perf_counter() - start:.0f} s", flush=True)
    wall = time.perf_counter() - start
    print(f"\n{len(results)} mutants (seed {args.seed}, {args.workers} at a time) in {wall:.0f} s\n")
    print(table(results, lambda r: r.tool))
    print()
    print(table(results, lambda r: f"{r.tool} {r.file} {r.kind}"))
    bad = [r for r in results if r.outcome not in ("ok", "refused")]
    print(f"\n{len(bad)} mutants a tool did not answer cleanly" + (f"; kept under {base}/mutants" if bad else ""))
    if not args.keep and not bad:
        shutil.rmtree(base, ignore_errors=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
