"""pipeline/ingest/run.py without Dagster: which agencies keep their slices, and the batched writer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from workbooks import register, row

from pipeline.config import settings
from pipeline.ingest.read import Limits
from pipeline.ingest.run import LoadRun, SliceWriter, load_run
from pipeline.registry import agency_codes
from pipeline.warehouse.db import connect


def _run(paths: dict[str, Path], run_id: str, **kw) -> LoadRun:
    cfg = settings()
    return LoadRun(agencies=["kukar", "kutim"], registered=agency_codes(), registry_path=cfg.registry_path,
                   raw_dir=paths["raw"], archive_dir=paths["archive"], limits=Limits(), run_id=run_id,
                   now=dt.datetime(2026, 1, 1), **kw)


def test_a_second_run_keeps_unchanged_slices_and_reads_a_changed_folder(isolated_env):
    register(isolated_env["raw"] / "kukar/a.xlsx", [row(case_id="A1")])
    register(isolated_env["raw"] / "kutim/b.xlsx", [row(case_id="B1"), row(case_id="B2")])
    logged: list[str] = []
    with connect(isolated_env["warehouse"] / "warehouse.duckdb") as con:
        first = load_run(con, _run(isolated_env, "r1"), logged.append)
        assert first.kept == [] and first.failures.empty
        second = load_run(con, _run(isolated_env, "r2"), logged.append)
        assert second.kept == ["kukar", "kutim"]
        register(isolated_env["raw"] / "kutim/b.xlsx", [row(case_id="B1")])
        third = load_run(con, _run(isolated_env, "r3"), logged.append)
        assert third.kept == ["kukar"]
        again = load_run(con, _run(isolated_env, "r4", reload=True), logged.append)
        assert again.kept == []
        staged = dict(con.execute("SELECT agency, count(*) FROM staging.case_victims GROUP BY agency").fetchall())
        seen = dict(con.execute("SELECT agency, max(run_id) FROM meta.ingest_log GROUP BY agency").fetchall())
    assert staged == {"kukar": 1, "kutim": 1} and seen == {"kukar": "r4", "kutim": "r4"}
    assert any(line.startswith("kutim: 1 files, 1 staged") for line in logged)


def test_with_workers_the_writer_stores_agencies_in_batches(isolated_env, monkeypatch):
    register(isolated_env["raw"] / "kukar/a.xlsx", [row(case_id="A1")])
    register(isolated_env["raw"] / "kutim/b.xlsx", [row(case_id="B1")])
    writes: list[list[str]] = []
    import pipeline.ingest.run as run_module

    real = run_module.replace_agency_slices
    monkeypatch.setattr(run_module, "replace_agency_slices",
                        lambda con, agency, frames: writes.append([agency] if isinstance(agency, str) else agency)
                        or real(con, agency, frames))
    monkeypatch.setattr(run_module, "ordered_map", lambda fn, items, workers: map(fn, items))  # no processes
    with connect(isolated_env["warehouse"] / "warehouse.duckdb") as con:
        load_run(con, _run(isolated_env, "r1", workers=2), lambda line: None)
        assert writes == [["kukar", "kutim"]]  # one transaction for the batch
        writes.clear()
        load_run(con, _run(isolated_env, "r2", workers=1, reload=True), lambda line: None)
    assert writes == [["kukar"], ["kutim"]]  # one process: one agency per transaction


def test_an_empty_writer_writes_nothing(isolated_env):
    with connect(isolated_env["warehouse"] / "warehouse.duckdb") as con:
        writer = SliceWriter(con, _run(isolated_env, "r1"), None, lambda line: None)
        writer.flush()
        assert writer.failures == []
