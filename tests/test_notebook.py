"""examples/train_digits.ipynb runs top to bottom in a real Jupyter kernel."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "train_digits.ipynb"


def test_notebook_executes(monkeypatch):
    monkeypatch.setenv("SQUEEZEKIT_EPOCHS", "3")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the curves were not plotted"
    text = "".join(o.get("text", "") for o in outputs)
    assert "digits: 1437 train / 360 validation images" in text
    accuracy = float(text.split("held-out top-1 after 3 epochs: ")[1].split()[0])
    assert 0.0 <= accuracy <= 1.0
