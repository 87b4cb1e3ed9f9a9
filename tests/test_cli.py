"""``squeezekit.cli``, the one wrapper of the command-line tools, and the error rules it relies on.

Library errors are ``SqueezekitError``s that speak the library's terms and name the argument at fault; the wrapper
turns them into one line with the flag to change, and lets anything else (a bug) show its traceback. The source
checks read the modules with ``ast``, so a new CLI or a new exception class is held to the same rules.
"""

import ast
import builtins
import importlib
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from converters.errors import SqueezekitError
from squeezekit import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted(p for package in ("converters", "squeezekit") for p in (ROOT / package).rglob("*.py")
                 if "generated" not in p.name)


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _module(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _is_cli(tree) -> bool:
    """A module with an ``if __name__ == "__main__":`` block is a command-line tool."""
    return any(isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
               and getattr(node.test.left, "id", None) == "__name__" for node in tree.body)


CLIS = [p for p in SOURCES if _is_cli(_tree(p))]


def _strings(node) -> list[str]:
    """The literal text inside ``node`` (plain strings and the literal parts of f-strings)."""
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


# --- explain: a SqueezekitError as one line ---------------------------------------------------------------------

def test_param_becomes_the_flag_advice():
    err = SqueezekitError("quantization-aware training needs a trained model and its data",
                          "pass weights, or qat_epochs=0.", param="qat_epochs")
    assert str(err) == "quantization-aware training needs a trained model and its data; pass weights, or qat_epochs=0."
    advice = {"qat_epochs": "pass --weights (and --data), or --qat_epochs 0 for post-training calibration."}
    assert cli.explain(err, advice) == ("quantization-aware training needs a trained model and its data; pass "
                                        "--weights (and --data), or --qat_epochs 0 for post-training calibration.")


def test_advice_can_use_the_suggestion_and_falls_back_to_the_library_fix():
    err = SqueezekitError("runs/x holds a sqnxt23_w1 run, not squeezenet1_1", "pass 'sqnxt23_w1' or None.",
                          param="model", suggestion="sqnxt23_w1")
    advice = {"model": lambda e: f"pass --model {e.suggestion} or leave --model out."}
    assert cli.explain(err, advice).endswith("; pass --model sqnxt23_w1 or leave --model out.")
    assert cli.explain(err, {}) == cli.explain(err, {"other": "x"})  # no advice for "model" but the common one
    plain = SqueezekitError("no squeezekit metadata in the file.")
    assert cli.explain(plain, advice) == "no squeezekit metadata in the file."
    assert cli.explain(SqueezekitError("two\nlines")) == "two"


def test_common_advice_covers_data():
    err = SqueezekitError("data folder not found: digitz", "use digits, mnist5k or a folder.", param="data")
    assert cli.explain(err) == ("data folder not found: digitz; pass --data digits, --data mnist5k, or a folder "
                                "with one subfolder of images per class.")


def test_one_of():
    assert cli.one_of(("float32", "float16", "dynamic"), "--") == "--float32, --float16 or --dynamic"
    assert cli.one_of(["6bit"]) == "6bit" and cli.one_of([]) == ""


# --- run: the wrapper in a real process --------------------------------------------------------------------------

def _tool(tmp_path, body, *args):
    script = tmp_path / "tool.py"
    script.write_text(textwrap.dedent("""
        from squeezekit import cli
        from squeezekit.errors import DataError

        def main(argv):
        """) + textwrap.indent(textwrap.dedent(body), "    ") + textwrap.dedent("""

        if __name__ == "__main__":
            cli.run(main, advice={"data": "pass --data FOLDER."})
        """))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_library_error_is_one_line_with_the_flag(tmp_path):
    result = _tool(tmp_path, 'raise DataError("no images found in x", "use a folder of class folders.", '
                             'param="data")')
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: no images found in x; pass --data FOLDER."]


def test_a_bug_keeps_its_traceback(tmp_path):
    for exception in ("KeyError('run')", "ValueError('a plain ValueError is not a library error')"):
        result = _tool(tmp_path, f"raise {exception}")
        assert result.returncode == 1 and "Traceback" in result.stderr, result.stderr
        assert not [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_stray_arguments_and_fail(tmp_path):
    result = _tool(tmp_path, "print('ran')", "extra")
    assert result.returncode == 1 and "unexpected arguments: extra" in result.stderr and "ran" not in result.stdout
    result = _tool(tmp_path, "cli.fail('--x must be positive, got 0.')")
    assert result.returncode == 1 and result.stderr.strip() == "error: --x must be positive, got 0."
    result = _tool(tmp_path, "print('ran')")
    assert result.returncode == 0 and result.stdout == "ran\n"


# --- the source rules ---------------------------------------------------------------------------------------------

def test_there_are_cli_modules_to_check():
    names = {_module(p) for p in CLIS}
    assert {"squeezekit.profile", "squeezekit.classify", "squeezekit.evaluate", "squeezekit.train.__main__",
            "squeezekit.weights.__main__", "squeezekit.search.__main__", "squeezekit.models.__main__"} <= names
    assert any(n.startswith("squeezekit.export") for n in names), names


@pytest.mark.parametrize("path", CLIS, ids=_module)
def test_every_cli_runs_through_the_wrapper(path):
    tree = _tree(path)
    main_block = next(node for node in tree.body if isinstance(node, ast.If) and _is_cli(ast.Module([node], [])))
    calls = [ast.unparse(n.func) for n in ast.walk(main_block) if isinstance(n, ast.Call)]
    assert calls and calls[0] == "cli.run", calls
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            assert node.name not in ("_fail", "fail"), f"{path}: its own {node.name}; use cli.fail"
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.exit", "exit", "app.run"):
            assert ast.unparse(node.func) != "app.run", f"{path}: app.run; use cli.run"
            assert not any(s.startswith("error:") for s in _strings(node)), f"{path}: sys.exit('error: ...')"
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "logging.set_verbosity":
            pytest.fail(f"{path}: sets the log verbosity itself; cli.run does")


def test_fail_is_defined_once():
    defs = [(p, n.name) for p in SOURCES for n in ast.walk(_tree(p))
            if isinstance(n, ast.FunctionDef) and n.name in ("_fail", "fail")]
    assert defs == [(ROOT / "squeezekit" / "cli.py", "fail")], defs


def test_library_messages_name_no_flags():
    """Raised from library code, a message speaks of arguments; the flags are the CLI's business."""
    flag = re.compile(r"(^|[\s(`'\"])--[a-z]")
    found = []
    for path in SOURCES:
        tree = _tree(path)
        if _is_cli(tree) or path.name == "cli.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                found += [f"{_module(path)}:{node.lineno}: {s}" for s in _strings(node.exc) if flag.search(s)]
    assert not found, "\n".join(found)


def _exception_classes():
    """Every class under converters/ and squeezekit/ that derives (by name, read with ast) from an exception."""
    builtin = {name for name, value in vars(builtins).items()
               if isinstance(value, type) and issubclass(value, BaseException)}
    found = []
    for path in SOURCES:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).split(".")[-1] for b in node.bases}
                if bases & builtin or any(b.endswith(("Error", "Exception")) for b in bases):
                    found.append((_module(path), node.name))
    return found


def test_every_library_exception_is_a_squeezekit_error():
    classes = _exception_classes()
    assert ("converters.errors", "ConversionError") in classes and ("squeezekit.errors", "DataError") in classes
    for module, name in classes:
        cls = getattr(importlib.import_module(module), name)
        assert issubclass(cls, SqueezekitError) and issubclass(cls, ValueError), f"{module}.{name}"


def test_the_old_names_still_import():
    from converters import compress, metadata, tflite
    from converters.profiling import device, litert_c, run
    from squeezekit.data import DataError
    from squeezekit.models.common import InputSizeError
    from squeezekit.train.run import RunError
    from squeezekit.weights import WeightsError

    import squeezekit.errors as errors

    assert (tflite.ConversionError, metadata.MetadataError, compress.CompressionError) == (
        errors.ConversionError, errors.MetadataError, errors.CompressionError)
    assert (run.ProfileError, device.ProfileFormatError, litert_c.LiteRtError) == (
        errors.ProfileError, errors.ProfileFormatError, errors.LiteRtError)
    assert (DataError, InputSizeError, RunError, WeightsError) == (
        errors.DataError, errors.InputSizeError, errors.RunError, errors.WeightsError)
    assert issubclass(errors.LiteRtError, RuntimeError)  # a runtime failure, still reported as one line
