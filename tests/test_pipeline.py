"""Assets through Dagster against a temporary warehouse with generated workbooks."""

import datetime as dt
import os

import dagster as dg
import pytest
from helpers import query, run_pipeline
from workbooks import HEADER, register, row, write_workbook


def test_definitions_load_and_keys_follow_the_layers():
    from pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "raw/case_rows", "staging/case_victims", "staging/rejected_rows", "staging/cell_warnings",
        "staging/superseded_rows", "meta/ingest_log", "meta/sheets", "raw/recap_cells", "staging/recap_counts",
        "staging/rejected_recap_cells", "marts/victims_by_region_year", "marts/recap_reconciliation",
        "marts/yoy_by_region", "marts/victims_by_form", "marts/reporting_completeness", "marts/victims_by_age_sex",
        "marts/victims_by_place", "marts/victims_by_relation", "marts/victims_by_kdrt", "marts/victims_by_service",
        "marts/victims_by_case_status", "marts/victims_by_kecamatan", "marts/victims_by_month",
        "marts/child_perpetrators_by_region_year", "marts/dq_flags", "analytics/warehouse_copy", "feedback/umpan_balik",
        "meta/refresh_stamp",
    } | {k.replace("marts/", "public/") for k in keys
         if k.startswith("marts/") and k not in ("marts/dq_flags", "marts/recap_reconciliation")}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == key.path[0], key
        assert node.description, key
        assert node.kinds, key
    assert defs.resolve_job_def("full_refresh").executor_def.name == "in_process"


@pytest.mark.slow
def test_one_agency_materialises_into_its_slice(isolated_env):
    raw = isolated_env["raw"]
    register(raw / "kukar/register_2024.xlsx", [row(), row(case_id="002", victim_sex="L") if False else
                                                 row(case_id="002", sex="L", age="30", forms="Fisik/KDRT")])
    result = run_pipeline("kukar")
    assert result.success
    wh = isolated_env["warehouse"]
    staged = query(wh, "SELECT agency, case_id, victim_sex, is_kdrt, _source_file, _source_row, _source_sheet, "
                       "_source_sha256, _load_id FROM staging.case_victims ORDER BY case_id")
    assert staged["case_id"].tolist() == ["001/PPA/2024", "002"]
    assert staged["_source_file"].unique().tolist() == ["kukar/register_2024.xlsx"]
    assert staged["_source_row"].tolist() == [5, 6]
    assert (staged["_load_id"] == result.run_id).all()
    assert staged["_source_sha256"].str.len().eq(64).all()
    raw_cols = query(wh, "SELECT * FROM raw.case_rows LIMIT 0").columns
    assert "NIK" not in raw_cols and "nama" not in " ".join(raw_cols).lower()
    ledger = query(wh, "SELECT path, status, data_rows, rows_staged FROM meta.ingest_log")
    assert ledger.values.tolist() == [["kukar/register_2024.xlsx", "loaded", 2, 2]]
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["row_accounting"] and checks["staging_contract"]


@pytest.mark.slow
def test_full_refresh_is_one_run_over_every_agency_and_builds_marts(isolated_env):
    raw = isolated_env["raw"]
    register(raw / "kukar/a.xlsx", [row(case_id="K1"), row(case_id="K1", age="9"),
                                    row(case_id="K2", report=dt.date(2023, 5, 1), incident=None)])
    register(raw / "batam/b.xlsx", [row(case_id="B1", kecamatan="Batu Ampar", forms="Fisik, Psikis")])
    instance = dg.DagsterInstance.ephemeral()
    result = run_pipeline(instance=instance)
    assert result.success
    assert len(instance.get_runs()) == 1
    wh = isolated_env["warehouse"]
    mart = query(wh, "SELECT agency, year, cases, victims, population, population_estimated, victims_per_100k "
                     "FROM marts.victims_by_region_year WHERE agency IN ('kukar','batam') ORDER BY agency, year")
    assert mart.values.tolist() == [
        ["batam", 2023, 0, 0, 1256610, False, 0.0],
        ["batam", 2024, 1, 1, 1256610, True, round(100000 / 1256610, 2)],
        ["kukar", 2023, 1, 1, 788113, False, round(100000 / 788113, 2)],
        ["kukar", 2024, 1, 2, 788113, True, round(200000 / 788113, 2)],
    ]
    yoy = query(wh, "SELECT victims, victims_prev_year, change_abs, change_pct FROM marts.yoy_by_region "
                    "WHERE agency = 'kukar' ORDER BY year")
    assert yoy.iloc[1].tolist()[:3] == [2, 1, 1] and yoy.iloc[1]["change_pct"] == 100.0
    forms = query(wh, "SELECT violence_form, victims, share_pct FROM marts.victims_by_form "
                      "WHERE agency = 'batam' AND victims > 0 ORDER BY 1")
    assert forms.values.tolist() == [["FISIK", 1, 100.0], ["PSIKIS", 1, 100.0]]
    # each partition's event counts its own agency's rows; the preview reads as text, not Python
    events = [e.materialization for e in result.get_asset_materialization_events()
              if e.materialization.asset_key.to_user_string() == "staging/case_victims"]
    per_agency = {e.partition: e.metadata["dagster/row_count"].value for e in events}
    assert per_agency == {"kukar": 3, "kutim": 0, "ppu": 0, "bontang": 0, "batam": 1}
    shown = events[0].metadata["preview"].value
    assert "FISIK, PSIKIS" in shown and not any(t in shown for t in ("[", "nan", "None", "True"))
    # the researchers' copy holds marts and de-identified rows only: four victims are too few to
    # publish k-anonymously; each agency's own copy holds its rows
    copy = query(wh, "SELECT * FROM staging.case_victims", db="analytics.duckdb")
    assert copy.empty and not [c for c in copy.columns if c.startswith("_") or c == "case_id"]
    assert len(query(wh, "SELECT * FROM staging.case_victims", db="analytics/kukar.duckdb")) == 3
    assert (wh / "parquet" / "yoy_by_region.parquet").exists()
    from leaks import duckdb_texts, parquet_texts

    texts = duckdb_texts(wh / "analytics.duckdb") + parquet_texts(wh / "parquet" / "reporting_completeness.parquet")
    assert not [t for t in texts if ".xlsx" in t or "kukar/" in t]


@pytest.mark.slow
def test_rerun_is_idempotent_and_removed_file_leaves(isolated_env):
    raw = isolated_env["raw"]
    register(raw / "ppu/a.xlsx", [row(case_id="P1")])
    path = register(raw / "ppu/b.xlsx", [row(case_id="P2")])
    assert run_pipeline("ppu").success
    assert run_pipeline("ppu").success
    wh = isolated_env["warehouse"]
    assert query(wh, "SELECT count(*) n FROM staging.case_victims")["n"][0] == 2
    assert query(wh, "SELECT count(*) n FROM raw.case_rows")["n"][0] == 2
    path.unlink()
    assert run_pipeline("ppu").success
    assert query(wh, "SELECT case_id FROM staging.case_victims")["case_id"].tolist() == ["P1"]
    ledger = query(wh, "SELECT path, status FROM meta.ingest_log ORDER BY path").values.tolist()
    assert ledger == [["ppu/a.xlsx", "loaded"], ["ppu/b.xlsx", "removed"]]


@pytest.mark.slow
def test_ledger_covers_every_kind_of_file(isolated_env):
    raw = isolated_env["raw"]
    old = register(raw / "bontang/register_2024.xlsx", [row(case_id="B1"), row(case_id="B2")])
    new = register(raw / "bontang/register_2024_revisi.xlsx", [row(case_id="B1"), row(case_id="B2", age="13")])
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_000_100, 1_700_000_100))
    register(raw / "bontang/dup.xlsx", [row(case_id="D1") + [1], row(case_id="D1") + [1]],
             header=HEADER + ["Korban Ke"])
    write_workbook(raw / "bontang/rekap.xlsx", {"Rekap": [["Kecamatan", "Jumlah"], ["Bontang Utara", 3]]})
    (raw / "bontang/~$register_2024.xlsx").write_bytes(b"\x00lock")
    (raw / "bontang/rusak.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    assert run_pipeline("bontang").success
    ledger = query(isolated_env["warehouse"],
                   "SELECT path, status, reason_code, data_rows, rows_staged, rows_rejected, rows_superseded, "
                   "superseded_by, supersedes FROM meta.ingest_log ORDER BY path").set_index("path")
    assert ledger.loc["bontang/register_2024.xlsx", "status"] == "superseded"
    assert list(ledger.loc["bontang/register_2024.xlsx", "superseded_by"]) == ["bontang/register_2024_revisi.xlsx"]
    assert list(ledger.loc["bontang/register_2024_revisi.xlsx", "supersedes"]) == ["bontang/register_2024.xlsx"]
    assert ledger.loc["bontang/dup.xlsx", ["status", "rows_rejected"]].tolist() == ["rejected", 2]
    # a recap by kecamatan that states no period: its cells cannot be placed, so none loads
    assert ledger.loc["bontang/rekap.xlsx", ["status", "reason_code"]].tolist() == ["rejected",
                                                                                    "all_recap_cells_rejected"]
    assert ledger.loc["bontang/~$register_2024.xlsx", "status"] == "ignored"
    assert ledger.loc["bontang/rusak.xlsx", ["status", "reason_code"]].tolist() == ["rejected", "file_unreadable"]
    for path, r in ledger.iterrows():
        assert r["data_rows"] == r["rows_staged"] + r["rows_rejected"] + r["rows_superseded"], path


def test_a_failing_accounting_check_fails_the_run_and_stops_the_marts(isolated_env, monkeypatch):
    import pipeline.assets.ingest as ingest_assets

    register(isolated_env["raw"] / "kutim/a.xlsx", [row(case_id="T1")])
    real = ingest_assets.accounting_errors
    monkeypatch.setattr(ingest_assets, "accounting_errors",
                        lambda ledger: real(ledger.assign(data_rows=ledger["data_rows"] + 1)))
    result = run_pipeline("kutim")
    assert not result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["row_accounting"] is False
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events() and
                    [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]}
    assert "marts/yoy_by_region" not in materialized


@pytest.mark.slow
def test_a_sixth_agency_is_a_registry_entry_and_a_folder(isolated_env, monkeypatch, tmp_path):
    import yaml

    from pipeline.config import SCHEMAS_DIR

    registry = yaml.safe_load((SCHEMAS_DIR / "agencies.yaml").read_text())
    registry["agencies"].append({
        "code": "samarinda", "name": "DP2PA Kota Samarinda", "region_name": "Samarinda", "kemendagri_code": "64.72",
        "bps_code": "6472", "timezone": "Asia/Makassar", "population": {2020: 827994},
        "children": {2020: 250000}, "kecamatan": {"01": ["Palaran"]},
    })
    path = tmp_path / "agencies.yaml"
    path.write_text(yaml.safe_dump(registry))
    monkeypatch.setenv("PPA_REGISTRY", str(path))
    register(isolated_env["raw"] / "samarinda/register.xlsx", [row(case_id="S1", kecamatan="Palaran")])
    from pipeline.definitions import build_definitions

    partitions = build_definitions().resolve_job_def("full_refresh").partitions_def
    assert "samarinda" in partitions.get_partition_keys()
    assert run_pipeline().success
    mart = query(isolated_env["warehouse"], "SELECT agency, victims, population FROM marts.victims_by_region_year "
                                            "WHERE agency = 'samarinda'")
    assert mart.values.tolist() == [["samarinda", 1, 827994]]
    staged = query(isolated_env["warehouse"], "SELECT kecamatan_code FROM staging.case_victims")
    assert staged["kecamatan_code"].tolist() == ["64.72.01"]


@pytest.mark.slow
def test_files_are_archived_by_content_and_not_parsed_again(isolated_env, monkeypatch):
    from pipeline.ingest import archive, reader

    path = register(isolated_env["raw"] / "kutim/a.xlsx", [row(case_id="T1")])
    original = path.read_bytes()
    assert run_pipeline("kutim").success
    wh = isolated_env["warehouse"]
    first = query(wh, "SELECT sha256, parsed, archived_as FROM meta.ingest_log").iloc[0]
    assert first["parsed"] and first["archived_as"] == f"{first['sha256'][:2]}/{first['sha256']}.xlsx"

    calls = []
    real = reader.read_workbook
    monkeypatch.setattr(reader, "read_workbook", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert run_pipeline("kutim").success
    assert calls == []  # same bytes: rows reused, not parsed again
    second = query(wh, "SELECT parsed, rows_staged FROM meta.ingest_log").iloc[0]
    assert not second["parsed"] and second["rows_staged"] == 1
    assert query(wh, "SELECT count(*) n FROM staging.case_victims")["n"][0] == 1

    path.unlink()  # the agency deletes its file: the exact bytes can still be restored
    restored = archive.restore(isolated_env["archive"], first["sha256"][:10], isolated_env["reports"], "a.xlsx")
    assert restored.read_bytes() == original


@pytest.mark.slow
def test_the_same_victim_in_two_files_is_linked_by_a_keyed_hash_not_by_the_nik(isolated_env):
    raw = isolated_env["raw"]
    register(raw / "ppu/a.xlsx", [row(case_id="P1", nik="6409014507100001"), row(case_id="P2", nik="6409010101900002")])
    register(raw / "ppu/b.xlsx", [row(case_id="P9", nik="6409014507100001", report=dt.date(2024, 8, 1),
                                      incident=dt.date(2024, 7, 30))])
    assert run_pipeline("ppu").success
    staged = query(isolated_env["warehouse"], "SELECT case_id, victim_key FROM staging.case_victims ORDER BY case_id")
    keys = dict(zip(staged["case_id"], staged["victim_key"]))
    assert keys["P1"] == keys["P9"] != keys["P2"]
    assert len(keys["P1"]) == 32 and "6409014507100001" not in keys["P1"]
    from leaks import duckdb_texts

    assert not [t for t in duckdb_texts(isolated_env["warehouse"] / "warehouse.duckdb") if "6409014507100001" in t]
    copy = query(isolated_env["warehouse"], "SELECT * FROM staging.case_victims", db="analytics.duckdb")
    assert "victim_key" not in copy.columns


def test_an_error_quoting_a_cell_never_reaches_the_run_log(isolated_env, monkeypatch):
    import pipeline.ingest.load as ingest

    register(isolated_env["raw"] / "kukar/a.xlsx", [row()])

    def boom(*args, **kwargs):
        raise ValueError("could not convert 'Siti Rahmawati 6402011234560001'")

    monkeypatch.setattr(ingest, "stage_agencies", boom)
    with dg.instance_for_test() as instance:
        result = run_pipeline("kukar", instance=instance)
        assert not result.success
        logs = " ".join(str(r.event_log_entry) for r in instance.get_records_for_run(result.run_id, limit=10_000).records)
    assert "ValueError" in logs and "ingest.py" in logs
    assert "Siti Rahmawati" not in logs and "6402011234560001" not in logs


def test_staging_contract_check_fails_when_staged_rows_break_the_contract(isolated_env, monkeypatch):
    from pipeline.staging import stage as staging

    real = staging.add_counting_flags

    def broken(staged, contract=None):  # every victim row claims to count its case
        out = real(staged, contract)
        out["counts_case"] = out["is_victim"]
        return out

    monkeypatch.setattr(staging, "add_counting_flags", broken)
    register(isolated_env["raw"] / "kukar/a.xlsx", [row(case_id="K1"), row(case_id="K1", age="9")])
    result = run_pipeline("kukar")
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["staging_contract"].passed
    assert evaluations["staging_contract"].metadata["failures"].value >= 1


@pytest.mark.slow
def test_an_unchanged_agency_keeps_its_slice_and_any_change_reads_it_again(isolated_env, monkeypatch):
    import duckdb

    import pipeline.ingest.load as ingest
    import pipeline.ingest.slices as slices

    wh = isolated_env["warehouse"]
    path = register(isolated_env["raw"] / "kutim/a.xlsx", [row(case_id="T1"), row(case_id="T2", age="200")])
    first = run_pipeline("kutim")
    assert first.success
    staged = []
    real = ingest.stage_agencies
    monkeypatch.setattr(ingest, "stage_agencies", lambda items, *a: staged.extend(i[1].code for i in items) or real(items, *a))

    second = run_pipeline("kutim")
    assert second.success and staged == []  # hashed, not read or staged
    assert query(wh, "SELECT DISTINCT _load_id FROM staging.case_victims")["_load_id"].tolist() == [first.run_id]
    ledger = query(wh, "SELECT run_id, parsed, rows_staged, rows_rejected FROM meta.ingest_log").iloc[0]
    assert [ledger["run_id"], ledger["parsed"], ledger["rows_staged"], ledger["rows_rejected"]] == [
        second.run_id, False, 1, 1]
    state = query(wh, "SELECT loaded_run_id, checked_run_id FROM meta.agency_loads").iloc[0].tolist()
    assert state == [first.run_id, second.run_id]
    checks = {e.check_name: e.passed for e in second.get_asset_check_evaluations()}
    assert checks["row_accounting"] and not checks["rows_rejected"]  # the kept slice is still checked
    meta = {e.materialization.asset_key.to_user_string(): e.materialization.metadata
            for e in second.get_asset_materialization_events()}
    assert meta["meta/ingest_log"]["agencies_kept"].value == 1
    assert meta["staging/case_victims"]["dagster/row_count"].value == 1

    def reads_again(change) -> bool:
        change()
        staged.clear()
        assert run_pipeline("kutim").success
        return staged == ["kutim"]

    def execute(sql):
        with duckdb.connect(str(wh / "warehouse.duckdb")) as con:
            con.execute(sql)

    stat = path.stat()
    assert reads_again(lambda: os.utime(path, (stat.st_atime, stat.st_mtime + 60)))  # the time ranks corrections
    assert reads_again(lambda: monkeypatch.setenv("PPA_RELOAD", "1"))
    assert not reads_again(lambda: monkeypatch.delenv("PPA_RELOAD"))
    from pipeline.cli import main

    staged.clear()
    assert main(["run", "--agency", "kutim", "--reload"]) == 0 and staged == ["kutim"]  # the run tag ppa/reload
    assert reads_again(lambda: monkeypatch.setenv("PPA_HASH_SECRET", "another-secret-for-the-keyed-hashes"))
    assert reads_again(lambda: monkeypatch.setattr(slices, "code_version", lambda: "another version"))
    assert reads_again(lambda: execute("UPDATE meta.agency_loads SET valid_until = current_date - 1"))
    assert reads_again(lambda: execute("UPDATE meta.agency_loads SET reusable = false"))  # a file caught mid-copy
    (isolated_env["raw"] / "kutim/~$a.xlsx").write_bytes(b"lock")
    assert reads_again(lambda: None)  # a new file, even an ignored one, is in the ledger
    assert not reads_again(lambda: None)
    assert reads_again(lambda: path.unlink())
    assert query(wh, "SELECT status FROM meta.ingest_log WHERE path = 'kutim/a.xlsx'")["status"].tolist() == ["removed"]


def test_a_run_over_many_agencies_keeps_each_partition_event_short():
    import pandas as pd

    from pipeline.assets.ingest import _results
    from pipeline.ingest.book import LoadBook, LoadSummary
    from pipeline.ingest.ledger import LEDGER_COLUMNS
    from pipeline.warehouse.db import AGENCY_TABLES

    def summary(i: int, status: str) -> LoadSummary:
        ledger = pd.DataFrame([{c: None for c in LEDGER_COLUMNS} | {
            "agency": f"a{i:02d}", "path": f"a{i:02d}/{n}.xlsx", "status": status if n == 0 else "loaded",
            "data_rows": 1, "rows_staged": int(status == "loaded" or n > 0), "rows_rejected": int(status != "loaded" and n == 0),
            "rows_superseded": 0} for n in range(3)])
        rejected = int(ledger["rows_rejected"].sum())
        return LoadSummary(f"a{i:02d}", dict.fromkeys(AGENCY_TABLES, 1) | {"staging.rejected_rows": rejected}, ledger,
                           pd.DataFrame(columns=["agency", "_source_file", "_source_sheet", "_source_row", "rules"]),
                           pd.DataFrame(), staged=3 - rejected, files=3)

    def metadata(loads):
        book = LoadBook({load.agency: i for i, load in enumerate(loads)})
        for load in loads:
            book.add(load)
        return {r.asset_key.to_user_string(): r.metadata for r in _results(book, pd.DataFrame())
                if isinstance(r, dg.MaterializeResult)}

    few = metadata([summary(i, "loaded") for i in range(3)])
    assert len(few["meta/ingest_log"]["files"].value.splitlines()) == 2 + 9  # header, rule, every file
    many = metadata([summary(i, "rejected" if i == 24 else "loaded") for i in range(30)])
    files = many["meta/ingest_log"]["files"].value.splitlines()
    assert len(files) == 2 + 20 and "a24/0.xlsx" in files[2]  # the file that did not load comes first
    agencies = many["staging/case_victims"]["agencies"].value.splitlines()
    assert len(agencies) == 2 + 20 and "a24" in agencies[2]


def test_load_book_folds_summaries_and_keeps_registry_order():
    import random

    import pandas as pd

    from pipeline.ingest.book import LoadBook, LoadSummary
    from pipeline.ingest.ledger import LEDGER_COLUMNS
    from pipeline.warehouse.db import AGENCY_TABLES

    codes = [f"a{i:03d}" for i in range(450)]  # two folds and a rest

    def summary(code: str) -> LoadSummary:
        i = int(code[1:])
        ledger = pd.DataFrame([{c: None for c in LEDGER_COLUMNS} | {"agency": code, "path": f"{code}/{n}.xlsx",
                                                                     "data_rows": n + i} for n in range(2)])
        rejected = pd.DataFrame({"agency": code, "_source_file": "x.xlsx", "_source_sheet": "S", "_source_row": range(i % 3),
                                 "rules": [["sex_required"]] * (i % 3)})
        preview = pd.DataFrame({"agency": code, "year": range(2020, 2020 + i % 4)})
        return LoadSummary(code, dict.fromkeys(AGENCY_TABLES, i), ledger, rejected, preview, staged=i, files=2,
                           reused=i % 2 == 1)

    arrivals = codes[:]
    random.Random(7).shuffle(arrivals)
    book = LoadBook({code: i for i, code in enumerate(codes)})
    for code in arrivals:
        book.add(summary(code))
    assert len(book.ledger) == 1 + 450 % LoadBook.FOLD  # folded: one frame and the rest, not 450 frames
    agencies, ledger, rejected, preview = book.frames()

    loads = [summary(code) for code in codes]
    assert agencies["agency"].tolist() == codes
    assert agencies["data_rows"].tolist() == [2 * i + 1 for i in range(450)]
    assert agencies["staged"].tolist() == list(range(450)) and agencies["reused"].sum() == 225
    pd.testing.assert_frame_equal(ledger, pd.concat([s.ledger for s in loads], ignore_index=True))
    pd.testing.assert_frame_equal(rejected, pd.concat([s.rejected for s in loads], ignore_index=True))
    pd.testing.assert_frame_equal(preview, pd.concat([s.preview for s in loads], ignore_index=True).head(20))
