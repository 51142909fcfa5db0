"""notebooks/results.ipynb runs top to bottom against a real run folder."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from fgclass.config import CONF_DIR

NOTEBOOK = CONF_DIR.parent / "notebooks" / "results.ipynb"


@pytest.mark.processes
def test_results_notebook_executes(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FGCLASS_RUN_DIR", str(trained_run))
    monkeypatch.setenv("FGCLASS_ROOT", str(tmp_path))  # no sweep there: that section says so
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert str(trained_run) in outputs
    assert "| macro avg |" in outputs and "no sweep report found" in outputs
    assert "true " in outputs and "predicted " in outputs  # the checkpoint section ran
    images = sum(
        "image/png" in o.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for o in cell.outputs
    )
    assert images >= 3  # curves, confusion matrix, noise plot
