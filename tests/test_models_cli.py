"""``python -m squeezekit.models``: the model table a new user sees first."""

import subprocess
import sys


def _run(*args):
    return subprocess.run([sys.executable, "-m", "squeezekit.models", *args], capture_output=True, text=True,
                          timeout=600)


def test_markdown_table_is_written(tmp_path):
    out = tmp_path / "table.md"
    result = _run("--pattern", "squeezenet1_1*", "--markdown", "--output", str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0].startswith("| name | paper name | convention | provenance | params | MACs @224")
    rows = {line.split("|")[1].strip(): line for line in lines[2:]}
    assert sorted(rows) == ["squeezenet1_1", "squeezenet1_1_bypass", "squeezenet1_1_complex_bypass"]
    assert "| 1,235,496 | 349.2M |" in rows["squeezenet1_1"]
    assert "| reconstruction |" in rows["squeezenet1_1_complex_bypass"]
    assert result.stdout == out.read_text()


def test_all_conventions_and_json():
    result = _run("--pattern", "sqnxt23_w1", "--all_conventions", "--json")
    assert result.returncode == 0, result.stderr
    import json

    rows = json.loads(result.stdout)
    assert [(r["convention"], r["trainable_params"]) for r in rows] == [("official", 717_280), ("imgclsmob", 724_056)]


def test_bad_pattern_is_one_clear_line():
    result = _run("--pattern", "resnet*")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "error: no model matches --pattern='resnet*'; run without it to see every name.")
    assert "Traceback" not in result.stderr
