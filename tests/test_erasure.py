"""Erasure on request and retention (pipeline/erasure.py, pipeline/retention.py; UU 27/2022 PDP):
`ppa erase --file` and `--case` remove from the warehouse, the archive, the feedback and (by the next
run) the marts and analytics copies; later runs leave what was erased out and say so; the retention
periods remove what is past them."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import openpyxl
import pytest
from helpers import query, run_pipeline
from workbooks import register, row

from pipeline import privacy
from pipeline.cli import main
from pipeline.config import settings
from pipeline.feedback.files import FEEDBACK_SUFFIX, RECEIPT_SUFFIX
from pipeline.feedback.words import texts
from pipeline.ingest import archive
from pipeline.messages import render
from pipeline.retention import next_expiry, sweep
from pipeline.warehouse import db as warehouse


def victims(env, agency="kukar") -> int:
    marts = query(env["warehouse"], f"SELECT coalesce(sum(victims), 0)::INT v FROM marts.victims_by_region_year "
                                    f"WHERE agency = '{agency}'", db="analytics.duckdb")
    return int(marts["v"][0])


def erasure_texts(env) -> list[str]:
    con = duckdb.connect(str(env["warehouse"] / "warehouse.duckdb"), read_only=True)
    try:
        return [str(v) for r in con.execute("SELECT * FROM meta.erasures").fetchall() for v in r]
    finally:
        con.close()


@pytest.mark.slow  # four runs
def test_an_erased_file_leaves_everything_and_does_not_come_back(isolated_env, capsys):
    raw, wh = isolated_env["raw"], isolated_env["warehouse"]
    register(raw / "kukar/a.xlsx", [row(case_id="A1"), row(case_id="A2"), row(case_id="A3", sex="X")])
    register(raw / "kukar/b.xlsx", [row(case_id="B1")])
    assert run_pipeline("kukar").success
    assert victims(isolated_env) == 3
    sha = query(wh, "SELECT sha256 FROM meta.ingest_log WHERE path = 'kukar/a.xlsx'")["sha256"][0]
    feedback = raw / "kukar" / "umpan-balik"
    assert (feedback / f"a{FEEDBACK_SUFFIX}").exists() and archive.find(isolated_env["archive"], sha)

    assert main(["erase", "--file", sha[:8], "--no-run"]) == 0
    out = capsys.readouterr().out
    assert f"dihapus / erased: file {sha}: 6 warehouse rows, 1 archived files, 2 feedback files" in out
    assert "still in the drop folder: kukar/a.xlsx" in out
    for table in ("raw.case_rows", "staging.case_victims", "staging.rejected_rows"):
        assert query(wh, f"SELECT count(*) n FROM {table} WHERE _source_sha256 = '{sha}'")["n"][0] == 0, table
    assert not archive.find(isolated_env["archive"], sha)
    assert not (feedback / f"a{FEEDBACK_SUFFIX}").exists() and not (feedback / f"a{RECEIPT_SUFFIX}").exists()
    record = query(wh, "SELECT kind, sha256, case_key, rows_removed FROM meta.erasures")
    assert record.values.tolist() == [["file", sha, None, 6]]  # 3 raw rows, 2 staged, 1 rejected
    assert not [t for t in erasure_texts(isolated_env) if "a.xlsx" in t or "A1" in t]

    # the next run (the file is still in the folder): not read, not archived, and said so
    assert run_pipeline("kukar").success
    ledger = query(wh, "SELECT * FROM meta.ingest_log WHERE path = 'kukar/a.xlsx'").iloc[0]
    assert (ledger["status"], ledger["reason_code"], ledger["message"]) == ("erased", "file_erased",
                                                                            render("file_erased"))
    assert ledger["archived_as"] is None and ledger["data_rows"] == 0
    assert query(wh, "SELECT case_id FROM staging.case_victims")["case_id"].tolist() == ["B1"]
    assert victims(isolated_env) == 1 and not archive.find(isolated_env["archive"], sha)
    assert not (feedback / f"a{FEEDBACK_SUFFIX}").exists()
    assert texts()["status"]["erased"] in (feedback / f"a{RECEIPT_SUFFIX}").read_text()
    assert run_pipeline("kukar").success  # the slice is kept: the erased file is still not archived
    assert not archive.find(isolated_env["archive"], sha)
    assert main(["status", "--agency", "kukar"]) == 0
    assert "erased" in capsys.readouterr().out


@pytest.mark.slow
def test_an_erased_case_leaves_every_file_and_its_feedback_row(isolated_env, capsys):
    raw, wh = isolated_env["raw"], isolated_env["warehouse"]
    register(raw / "kukar/c.xlsx", [row(case_id="C1"), row(case_id="C2", name="Ani Dihapus"),
                                    row(case_id="C3", sex="X")])
    assert run_pipeline("kukar").success
    assert main(["erase", "--case", "kukar", "C9", "--no-run"]) == 1
    assert "no case 'C9'" in capsys.readouterr().err
    assert main(["erase", "--case", "kukar", " C2 ", "--no-run"]) == 0
    assert "still in the drop folder: kukar/c.xlsx" in capsys.readouterr().out
    assert query(wh, "SELECT count(*) n FROM raw.case_rows WHERE case_id = 'C2'")["n"][0] == 0
    record = query(wh, "SELECT kind, agency, sha256, case_key FROM meta.erasures").iloc[0].tolist()
    assert record == ["case", "kukar", None, privacy.case_key("kukar", "C2")]
    assert not [t for t in erasure_texts(isolated_env) if "C2" in t or "c.xlsx" in t]

    assert run_pipeline("kukar").success  # the file still holds the case: its row is left out
    assert query(wh, "SELECT case_id FROM staging.case_victims")["case_id"].tolist() == ["C1"]
    ledger = query(wh, "SELECT data_rows, rows_staged, rows_rejected, rows_erased FROM meta.ingest_log").iloc[0]
    assert ledger.tolist() == [2, 1, 1, 1]
    assert victims(isolated_env) == 1
    assert main(["status", "--agency", "kukar"]) == 0
    assert "1 baris kasus yang dihapus tidak dimuat / rows of erased cases left out" in capsys.readouterr().out
    ws = openpyxl.load_workbook(raw / "kukar/umpan-balik" / f"c{FEEDBACK_SUFFIX}")["Register"]
    cells = {r[0].value: [c.value for c in r[:13]] for r in ws.iter_rows(min_row=5)}
    erased_row = [v for v in next(r for r in cells.values() if r[0] == texts()["erased"]) if v is not None]
    assert erased_row == [texts()["erased"]] * 13 and "C2" not in cells
    assert cells["C1"][3] == texts()["not_copied"] and cells["C1"][0] == "C1"


@pytest.mark.slow  # three runs
def test_the_retention_periods(isolated_env, monkeypatch):
    raw, wh = isolated_env["raw"], isolated_env["warehouse"]
    register(raw / "kukar/r.xlsx", [row(case_id="R1"), row(case_id="R2", sex="X")])
    gone = register(raw / "kukar/gone.xlsx", [row(case_id="G1")])
    assert run_pipeline("kukar").success
    shas = dict(query(wh, "SELECT path, sha256 FROM meta.ingest_log").values.tolist())
    gone.unlink()
    assert run_pipeline("kukar").success
    feedback = raw / "kukar" / "umpan-balik"
    assert (feedback / f"r{FEEDBACK_SUFFIX}").exists()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cfg = settings()
    with warehouse.connect(wh / "warehouse.duckdb") as con:
        assert sweep(con, cfg, now).lines() == []
        # the next moment a period ends (a night's stamp is valid until then, automation/quiet.py)
        received = con.execute("SELECT first_seen FROM meta.ingest_log WHERE path = 'kukar/r.xlsx'").fetchall()[0][0]
        left = con.execute("SELECT last_seen FROM meta.ingest_log WHERE path = 'kukar/gone.xlsx'").fetchall()[0][0]
        assert next_expiry(con, cfg, now) == received + dt.timedelta(days=cfg.retain_feedback_days)
        after_feedback = now + dt.timedelta(days=cfg.retain_feedback_days + 1)
        assert next_expiry(con, cfg, after_feedback) == left + dt.timedelta(days=cfg.retain_ledger_days)
        later = sweep(con, cfg, after_feedback)
        assert later.feedback_removed == [f"kukar/umpan-balik/r{FEEDBACK_SUFFIX}"] and not later.archive_removed
        assert (feedback / f"r{RECEIPT_SUFFIX}").exists()  # the receipt holds no value of the file
        much_later = sweep(con, cfg, now + dt.timedelta(days=cfg.retain_archive_days + 1))
        gone_sha, kept_sha = shas["kukar/gone.xlsx"], shas["kukar/r.xlsx"]
        assert much_later.archive_removed == [f"{gone_sha[:2]}/{gone_sha}.xlsx"]
        assert archive.find(isolated_env["archive"], kept_sha)  # its file is still dropped
        assert much_later.ledger_lines_removed == 1
        assert con.execute("SELECT path FROM meta.ingest_log").fetchall() == [("kukar/r.xlsx",)]
        assert next_expiry(con, cfg, now + dt.timedelta(days=cfg.retain_archive_days + 1)) is None  # r is dropped

    monkeypatch.setenv("PPA_RETAIN_FEEDBACK_DAYS", "0")  # a run writes no workbook past its period
    register(raw / "kukar/r.xlsx", [row(case_id="R1"), row(case_id="R2", sex="Y")])
    assert run_pipeline("kukar").success
    assert not (feedback / f"r{FEEDBACK_SUFFIX}").exists() and (feedback / f"r{RECEIPT_SUFFIX}").exists()
    assert main(["retention"]) == 0


@pytest.mark.slow
def test_a_run_encrypts_plain_copies_from_before(isolated_env):
    path = register(isolated_env["raw"] / "kukar/p.xlsx", [row(case_id="P1")])
    assert run_pipeline("kukar").success
    copy = next(archive.copies(isolated_env["archive"]))
    sha = copy.name.split(".")[0]
    copy.write_bytes(path.read_bytes())  # as an earlier version archived it (no marker yet)
    (isolated_env["archive"] / archive.ALL_ENCRYPTED).unlink()
    assert not archive.is_encrypted(copy)
    assert run_pipeline("kukar").success
    assert archive.is_encrypted(copy)
    assert archive.restore(isolated_env["archive"], sha, isolated_env["reports"]).read_bytes() == path.read_bytes()


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(settings()) if f.name.startswith("retain_")])
def test_every_retention_period_is_a_setting(field, monkeypatch):
    monkeypatch.setenv(f"PPA_{field.upper()}", "7")
    assert getattr(settings(), field) == 7
