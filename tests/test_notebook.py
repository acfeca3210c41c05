"""notebooks/compare_regions.ipynb runs top to bottom against an analytics copy built in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import query
from test_report import build_analytics

from pipeline.marts.stats import describe_change

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
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    tables = "".join(o.get("data", {}).get("text/plain", "") for o in outputs)
    assert str(analytics) in text  # it read the temp copy, not data/warehouse
    assert "not prevalence" in text  # the usage warning is printed
    # the mart's numbers and words: kutim 2024 has 11 victims (5-20), June reported as zero, not missing
    yoy = query(analytics.parent, "SELECT * FROM marts.yoy_by_region WHERE agency = 'kutim' AND year = 2024",
                db="analytics.duckdb").iloc[0]
    assert "11 (5–20) ~" in tables and describe_change(yoy) in tables
    assert "belum bermakna secara statistik" in tables
    unstable = query(analytics.parent, "SELECT count(*) FILTER (WHERE unstable) AS n, count(*) AS years "
                                       "FROM marts.yoy_by_region", db="analytics.duckdb").iloc[0]
    assert f"Jumlah tidak stabil (~, di bawah 20 korban): {unstable['n']} dari {unstable['years']}" in text
    assert "nihil / nol kasus" in tables and "belum ada laporan" in tables  # both listed, apart
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 4
