"""converters/ is the library below squeezekit/: it must never import the application above it."""

import ast
import pathlib

import converters

ROOT = pathlib.Path(converters.__file__).parent


def _imported_modules(path: pathlib.Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):  # every import, also the lazy ones inside functions
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def _offences(root: pathlib.Path) -> list[str]:
    return [f"{path.relative_to(root.parent)}:{line} imports {name}"
            for path in sorted(root.rglob("*.py"))
            for line, name in _imported_modules(path)
            if name == "squeezekit" or name.startswith("squeezekit.")]


def test_no_module_under_converters_imports_squeezekit():
    assert sorted(p.name for p in ROOT.glob("*.py"))  # the walk sees the package
    assert _offences(ROOT) == []


def test_the_check_catches_every_form_of_import(tmp_path):
    package = tmp_path / "converters"
    package.mkdir()
    (package / "a.py").write_text("import squeezekit\n")
    (package / "b.py").write_text("def f():\n    from squeezekit.models import twin\n")
    (package / "c.py").write_text("import importlib\nimportlib.import_module('squeezekit.data')\n")
    (package / "d.py").write_text("import squeezekitten\nfrom converters import graph\n")
    assert [o.split(":")[0] for o in _offences(package)] == ["converters/a.py", "converters/b.py",
                                                            "converters/c.py"]
