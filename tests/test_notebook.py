"""notebooks/compare_regions.ipynb runs top to bottom against an analytics copy built in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_report import build_analytics

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "compare_regions.ipynb"


def test_notebook_is_committed_without_outputs() -> None:
    import nbformat

    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_notebook_runs(isolated_env: dict[str, Path]) -> None:
    import nbformat
    from nbclient import NotebookClient

    analytics = build_analytics()
    assert analytics.parent == isolated_env["warehouse"]
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env = {**os.environ, "PPA_WAREHOUSE_DIR": str(isolated_env["warehouse"])}
    env.pop("MPLBACKEND", None)  # ipykernel's inline backend turns the charts into outputs
    client = NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute(env=env)

    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "stream")
    assert str(analytics) in text  # it read the temp copy, not data/warehouse
    assert "not prevalence" in text  # the usage warning is printed
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 4
