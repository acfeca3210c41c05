"""The shipped sample's generator against the whole pipeline: counts come from
the generator's own records, never from the pipeline's logic."""

import dagster as dg
import duckdb
import pandas as pd
import pytest
from helpers import run_pipeline
from leaks import duckdb_texts, find_leaks, parquet_texts, trie_pattern, workbook_texts

pytestmark = pytest.mark.slow

STATUS_OF_KIND = {"register": "loaded", "corrected": "loaded", "not_register": "rejected", "lock": "ignored",
                  "encrypted": "rejected", "renamed_csv": "rejected", "partial": "rejected", "nil_report": "nil_report",
                  "recap": "loaded", "wrong_agency": "rejected"}


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    from pipeline.sample.generate import generate_sample

    root = tmp_path_factory.mktemp("sample")
    paths = {name: root / name for name in ("raw", "warehouse", "archive", "reports", "dagster_home")}
    for path in paths.values():
        path.mkdir()
    (paths["dagster_home"] / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    manifest = generate_sample(paths["raw"])
    with pytest.MonkeyPatch.context() as mp:
        for var, key in (("PPA_RAW_DIR", "raw"), ("PPA_WAREHOUSE_DIR", "warehouse"), ("PPA_ARCHIVE_DIR", "archive"),
                         ("PPA_REPORTS_DIR", "reports"), ("DAGSTER_HOME", "dagster_home")):
            mp.setenv(var, str(paths[key]))
        mp.setenv("PPA_HASH_SECRET", "sample-secret-for-the-keyed-hashes")
        with dg.DagsterInstance.get() as instance:
            result = run_pipeline(instance=instance)
        assert result.success
        from pipeline.publish.report import write_report

        write_report(paths["warehouse"] / "analytics.duckdb", paths["reports"])
    return manifest, paths, result


def q(paths, sql, db="warehouse.duckdb") -> pd.DataFrame:
    con = duckdb.connect(str(paths["warehouse"] / db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_victims_and_cases_per_agency_and_year_are_what_the_generator_wrote(sample_run):
    manifest, paths, _ = sample_run
    mart = q(paths, "SELECT agency, year, victims, cases, source FROM marts.victims_by_region_year WHERE has_data")
    got_victims = {(a, y): v for a, y, v in zip(mart["agency"], mart["year"], mart["victims"])}
    got_cases = {(a, y): c for a, y, c in zip(mart["agency"], mart["year"], mart["cases"])}
    assert got_victims == manifest.year_victims()
    assert got_cases == {**manifest.expected_cases, **{k: manifest.recap_cases[k] for k in manifest.recap_only}}
    recap = {(a, y) for a, y, s in zip(mart["agency"], mart["year"], mart["source"]) if s == "recap"}
    assert recap == manifest.recap_only


def test_sex_age_and_form_breakdowns_match_the_generator(sample_run):
    manifest, paths, _ = sample_run
    mart = q(paths, "SELECT * FROM marts.victims_by_region_year WHERE has_data").set_index(["agency", "year"])
    for key, detail in manifest.expected_detail.items():
        for column in ("victims_female", "victims_male", "child_victims", "adult_female_victims"):
            assert mart.loc[key, column] == detail[column], (key, column)
    forms = q(paths, "SELECT agency, year, violence_form, victims FROM marts.victims_by_form WHERE victims > 0")
    got = {(a, y, f): v for a, y, f, v in forms.itertuples(index=False)}
    assert got == {k: v for k, v in {**manifest.expected_forms, **manifest.recap_forms}.items() if v}
    for key, detail in manifest.recap_detail.items():  # a recap-only year: what the recap gives, the rest null
        row = mart.loc[key]
        assert {c: row[c] for c in detail} == detail, key
        assert pd.isna(row["adult_female_victims"]), key


def test_every_file_is_in_the_ledger_with_the_right_counts(sample_run):
    manifest, paths, _ = sample_run
    ledger = q(paths, "SELECT * FROM meta.ingest_log").set_index("path")
    assert set(ledger.index) == {f.path for f in manifest.files}
    for f in manifest.files:
        row = ledger.loc[f.path]
        expected_status = STATUS_OF_KIND[f.kind]
        if f.kind in ("register", "corrected") and f.staged_rows == 0 and f.superseded_rows:
            expected_status = "superseded"
        assert row["status"] == expected_status, f.path
        if f.kind in ("register", "corrected"):
            assert (row["data_rows"], row["rows_staged"], row["rows_rejected"], row["rows_superseded"]) == (
                f.data_rows, f.staged_rows, f.bad_rows, f.superseded_rows), f.path
        if f.kind == "recap":
            assert row["recap_cells"] == row["recap_cells_staged"] + row["recap_cells_rejected"] > 0, f.path
            assert row["recap_cells_rejected"] == len(manifest.recap_rejects[f.path]), f.path
        if f.kind == "wrong_agency":
            assert row["reason_code"] == "wrong_agency" and "Kutai Timur" in row["message"], f.path


def test_rejected_rows_carry_the_generators_rule_ids(sample_run):
    manifest, paths, _ = sample_run
    rejected = q(paths, "SELECT _source_file, _source_sheet, _source_row, rules FROM staging.rejected_rows")
    got = {(f, s, r): tuple(sorted(rules)) for f, s, r, rules in rejected.itertuples(index=False)}
    expected = {(f.path, sheet, row): tuple(sorted(rules)) for f in manifest.files
                for (sheet, row), rules in f.rejects.items()}
    assert got == expected


def test_recap_totals_and_reconciliation_are_the_generators_truth(sample_run):
    manifest, paths, _ = sample_run
    rec = q(paths, "SELECT agency, year, measure, recap_count, difference FROM marts.recap_reconciliation")
    assert {(a, y, m): (n, d) for a, y, m, n, d in rec.itertuples(index=False)} == manifest.reconciliation()
    cells = q(paths, "SELECT _source_file, _source_cell FROM staging.rejected_recap_cells")
    assert {(f, c) for f, c in cells.itertuples(index=False)} == {
        (f, c) for f, cs in manifest.recap_rejects.items() for c in cs}
    warned = q(paths, "SELECT _source_file, _source_cell FROM staging.cell_warnings WHERE code = 'recap_total_mismatch'")
    assert {(f, c) for f, c in warned.itertuples(index=False)} == {
        (f, c) for f, cs in manifest.recap_mismatches.items() for c in cs}
    # nothing of the Kutim register in PPU's folder was loaded as PPU's
    from pipeline.sample.truth import WRONG_FOLDER

    assert q(paths, f"SELECT count(*) AS n FROM raw.case_rows WHERE _source_file = '{WRONG_FOLDER[1]}'")["n"][0] == 0


def test_checks_pass_on_the_sample(sample_run):
    _, _, result = sample_run
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    for name in ("row_accounting", "staging_contract", "gx_victims_by_region_year", "gx_yoy_by_region",
                 "gx_victims_by_form", "gx_reporting_completeness"):
        assert checks[name], name
    assert checks["rows_rejected"] is False and checks["files_rejected"] is False  # findings, shown as warnings


def test_no_personal_value_reaches_any_table_file_or_instance(sample_run):
    manifest, paths, _ = sample_run
    pattern = trie_pattern({v for v in manifest.personal_values if len(v) >= 6})
    # every copy: the warehouse, the researchers' and each agency's
    sources = {str(db.relative_to(paths["warehouse"])): duckdb_texts(db) for db in paths["warehouse"].rglob("*.duckdb")}
    assert len(sources) == 2 + len({agency for agency, _ in manifest.expected_victims})
    sources.update({p.name: parquet_texts(p) for p in (paths["warehouse"] / "parquet").glob("*.parquet")})
    assert (paths["reports"] / "laporan.html").exists()
    for folder in (paths["dagster_home"], paths["reports"]):
        for path in folder.rglob("*"):
            if path.is_file():
                sources[str(path)] = [path.read_bytes().decode("utf-8", errors="ignore")]
    # receipts and summary pages (only the feedback workbooks may quote the agency's own file)
    html = list(paths["raw"].glob("*/umpan-balik/*.html"))
    assert len(html) > 30
    sources.update({str(p): [p.read_text(encoding="utf-8")] for p in html})
    assert len(sources) > 5
    leaks = find_leaks(pattern, sources)
    assert not leaks, leaks.most_common(10)
    # the search finds what it looks for: the raw sample does hold the personal values
    raw = {str(p): workbook_texts(p) for p in paths["raw"].rglob("*.xlsx")}
    assert len(find_leaks(pattern, raw)) > 100


def test_the_archive_holds_only_ciphertext_and_feedback_workbooks_no_personal_column(sample_run):
    from pipeline.ingest import archive

    manifest, paths, _ = sample_run
    pattern = trie_pattern({v for v in manifest.personal_values if len(v) >= 6})
    copies = list(archive.copies(paths["archive"]))
    assert len(copies) > 30 and all(archive.is_encrypted(p) for p in copies)
    # encrypted, nothing is found, whether read as a workbook or as bytes; decrypted, the values are there
    assert not find_leaks(pattern, {str(p): workbook_texts(p) + [p.read_bytes().decode("latin-1")] for p in copies})
    decrypted = {}
    for path in copies:
        with archive.readable(path, paths["archive"]) as plain:
            decrypted[str(path)] = workbook_texts(plain)
    assert len(find_leaks(pattern, decrypted)) > 100
    workbooks = list(paths["raw"].glob("*/umpan-balik/*.umpan-balik.xlsx"))
    assert len(workbooks) > 10
    leaks = find_leaks(pattern, {str(p): workbook_texts(p) for p in workbooks})
    assert not leaks, leaks.most_common(10)


def test_data_dictionary_describes_every_column_and_is_current(sample_run):
    from pipeline.config import project_root
    from pipeline.publish import docs

    _, paths, _ = sample_run
    for db in ("warehouse.duckdb", "analytics.duckdb", "analytics/kutim.duckdb"):
        con = duckdb.connect(str(paths["warehouse"] / db), read_only=True)
        try:
            assert docs.missing_descriptions(con, copy=db != "warehouse.duckdb") == [], db
            if db == "warehouse.duckdb":
                committed = (project_root() / docs.DOC_PATH).read_text(encoding="utf-8")
                assert docs.render(con) == committed, "run `ppa docs` after `ppa run` to refresh the page"
        finally:
            con.close()


def test_researcher_rows_are_k_anonymous_and_l_diverse_by_pycanon(sample_run):
    from pycanon import anonymity as canon

    from pipeline.publish.anonymity import PUBLISHED_QI, SENSITIVE

    _, paths, result = sample_run
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()}["release_k_anonymity"]
    rows = q(paths, f"SELECT {', '.join(PUBLISHED_QI)}, array_to_string(list_sort(violence_forms), ',') AS {SENSITIVE} "
                    "FROM staging.case_victims", db="analytics.duckdb")
    staged = q(paths, "SELECT count(*) AS n FROM staging.case_victims")["n"][0]
    assert 0.3 * staged < len(rows) <= staged
    table = rows.astype(object).fillna("<null>").astype(str).reset_index(drop=True)  # pyCANON drops NaN rows
    assert canon.k_anonymity(table, list(PUBLISHED_QI)) >= 5
    assert canon.l_diversity(table, list(PUBLISHED_QI), [SENSITIVE]) >= 2


def test_public_tables_suppress_small_counts_and_survive_the_audit(sample_run):
    from pipeline.publish import public

    _, paths, result = sample_run
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["suppression_audit"]
    con = duckdb.connect(str(paths["warehouse"] / "warehouse.duckdb"), read_only=True)
    try:
        published = public.read_public(con)
        assert public.audit_marts(published, k=5) == []
    finally:
        con.close()
    region = published["victims_by_region_year"]
    for column in ("cases", "victims", "victims_female", "victims_male", "child_victims", "adult_female_victims"):
        shown = region[column].dropna()
        assert not ((shown >= 1) & (shown <= 4)).any(), column
    hidden = region["victims_male_suppressed"].fillna(False).astype(bool)
    assert hidden.any() and region.loc[hidden, "victims_male"].isna().all()
    csv = pd.read_csv(paths["warehouse"] / "public" / "victims_by_region_year.csv", dtype=str)
    assert (csv.loc[hidden.values, "victims_male"] == "x").all()
    assert not [c for c in csv.columns if c.endswith("_suppressed")]
    assert (paths["warehouse"] / "public" / "victims_by_form.parquet").exists()


def test_protecting_a_few_agencies_at_a_time_gives_the_same_public_tables(sample_run):
    from pipeline.marts.sql import PUBLISHED as MARTS
    from pipeline.parallel import chunks
    from pipeline.publish import public
    from pipeline.publish.suppression import audit_marts, protect_marts

    con = duckdb.connect(str(sample_run[1]["warehouse"] / "warehouse.duckdb"), read_only=True)
    try:
        agencies = public.table_agencies(con, "marts")
        marts = public.read_tables(con, "marts", agencies)
        whole = {name: df.reset_index(drop=True) for name, df in protect_marts(marts).items()}
        assert sum(int(df[[c for c in df if c.endswith("_suppressed")]].fillna(False).to_numpy().sum())
                   for df in whole.values()) > 0  # something to compare
        for size in (1, 2):
            chunked = public.protect_by_agency(lambda chunk: public.read_tables(con, "marts", chunk), agencies, 5, size)
            for name in MARTS:
                pd.testing.assert_frame_equal(chunked[name], whole[name], check_dtype=False)
            assert [e for chunk in chunks(agencies, size)
                    for e in audit_marts({n: df[df["agency"].isin(chunk)] for n, df in chunked.items()})] == []
        written = public.read_public(con)  # what the run wrote (DuckDB's types: NA, not NaN)

        def plain(df):
            return df.astype(object).where(df.notna(), None)

        labels = ["approval_status", "approval_id", "release"]  # no approval and no release in this run
        for name in MARTS:
            assert set(written[name]["approval_status"]) <= {"provisional"}
            assert written[name][["approval_id", "release"]].isna().all().all()
            pd.testing.assert_frame_equal(plain(written[name].drop(columns=labels)), plain(whole[name]))
    finally:
        con.close()
    national = duckdb.connect()  # a mart with a row of no agency, as a national total would have
    national.execute("CREATE SCHEMA m")
    for name in MARTS:
        national.execute(f"CREATE TABLE m.{name} AS SELECT 'kukar' AS agency")
    national.execute(f"INSERT INTO m.{next(iter(MARTS))} VALUES (NULL)")
    with pytest.raises(ValueError, match="every row needs an agency"):
        public.table_agencies(national, "m")


def test_public_tables_take_an_unchanged_agencys_audited_decision_and_protect_a_changed_one(sample_run, tmp_path):
    import shutil

    from pipeline.config import settings
    from pipeline.marts.sql import PUBLISHED as MARTS
    from pipeline.publish import public

    k = settings().suppression_k
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(sample_run[1]["warehouse"] / "warehouse.duckdb", db)
    con = duckdb.connect(str(db))
    try:
        agencies = set(public.table_agencies(con, "marts"))
        assert con.execute("SELECT bool_and(audited), count(*) FROM meta.public_protection").fetchall()[0] == (
            True, len(agencies))  # the run audited what it published
        written = public.read_public(con)
        again = public.build_public(con, k)
        assert again.reused == agencies
        for name in MARTS:  # DuckDB's types: NA, not NaN
            pd.testing.assert_frame_equal(*(df.astype(object).where(df.notna(), None)
                                            for df in (again.tables[name], written[name])))
        # one published count of kutim becomes 1: kutim is protected again, the others' decisions are taken
        row = con.execute("SELECT min(rowid) FROM marts.victims_by_place WHERE agency = 'kutim' AND victims >= ?",
                          [k]).fetchall()[0][0]
        con.execute("UPDATE marts.victims_by_place SET victims = 1 WHERE rowid = ?", [row])
        changed = public.build_public(con, k)
        assert changed.reused == agencies - {"kutim"}
        shown = changed.tables["victims_by_place"]
        position = con.execute("SELECT count(*) FROM marts.victims_by_place WHERE rowid < ?", [row]).fetchall()[0][0]
        assert shown.loc[position, "victims_suppressed"] and pd.isna(shown.loc[position, "victims"])
        assert public.audit_public(con, k, skip=changed.reused) == []
        # protecting every agency again gives the same tables
        con.execute("DELETE FROM meta.public_protection")
        fresh = public.protect_public(con, k)
        assert fresh.reused == set()
        for name in MARTS:
            pd.testing.assert_frame_equal(changed.tables[name], fresh.tables[name])
        # a decision whose audit has not passed is not taken
        public.build_public(con, k)
        assert public.protect_public(con, k).reused == set()
        public.mark_audited(con)
        assert public.protect_public(con, k).reused == agencies
        assert public.protect_public(con, k + 1).reused == set()  # another k: every agency protected again
    finally:
        con.close()


def test_feedback_read_for_many_agencies_at_once_is_what_each_agency_reads_alone(sample_run):
    from pipeline.feedback.gather import files_from_frames, gather_feedback, gather_feedbacks
    from pipeline.feedback.write import workbook_fingerprint
    from pipeline.registry import agency_codes

    codes = agency_codes()
    con = duckdb.connect(str(sample_run[1]["warehouse"] / "warehouse.duckdb"), read_only=True)
    try:
        together = gather_feedbacks(con, codes)
        alone = [gather_feedback(con, code) for code in codes]
    finally:
        con.close()
    assert [g.agency.code for g in together] == codes
    files = 0
    for many, one in zip(together, alone):
        assert set(many.frames) == set(one.frames)
        for name in one.frames:  # same rows in the same order (dtypes may differ: DuckDB types by value)
            pd.testing.assert_frame_equal(many.frames[name], one.frames[name], check_dtype=False)
        pd.testing.assert_frame_equal(many.months, one.months, check_dtype=False)
        pd.testing.assert_frame_equal(many.yoy, one.yoy, check_dtype=False)
        fbs_many, fbs_one = files_from_frames(many.frames), files_from_frames(one.frames)
        assert [workbook_fingerprint(f, one.agency, True) for f in fbs_many] == \
            [workbook_fingerprint(f, one.agency, True) for f in fbs_one]
        files += len(fbs_one)
    assert files > 30 and sum(len(g.frames["rejected"]) for g in alone) > 0


def test_coverage_statuses_are_the_generators_truth(sample_run):
    manifest, paths, _ = sample_run
    got = {(a, y, m): s for a, y, m, s in q(paths, "SELECT agency, year, month, coverage_status "
                                                   "FROM marts.reporting_completeness").itertuples(index=False)}
    assert {k: got.get(k) for k in manifest.coverage} == manifest.coverage
    # every planted zero month is reported_zero, and only the planted gap is missing (up to the data's end)
    end = max((y, m) for _, y, m in manifest.coverage)
    assert [k for k, s in got.items() if s == "missing" and k[1:] <= end] == [("ppu", 2024, 5)]
    assert got[("kutim", 2023, 3)] == got[("ppu", 2023, 8)] == "reported_zero"
    ledger = q(paths, "SELECT path, status FROM meta.ingest_log WHERE status = 'nil_report'")
    assert ledger["path"].tolist() == ["ppu/register_ppu_2023_08_nihil.xlsx"]
    flags = set(q(paths, "SELECT flag_id FROM marts.dq_flags")["flag_id"])
    assert {f"{a}:{y}-{m:02d}:outlier_monthly_victims" for a, y, m in manifest.spikes} <= flags


def test_a_review_survives_the_next_build(sample_run):
    from pipeline.marts.build import build_marts
    from pipeline.marts.reviews import list_flags, review
    from pipeline.registry import load_registry
    from pipeline.warehouse.db import connect

    _, paths, _ = sample_run
    db = paths["warehouse"] / "warehouse.duckdb"
    flag = "batam:2024-09:outlier_monthly_victims"
    review(db, flag, "explained", "Satu kasus TPPO dengan 40 korban", by="analis")
    with connect(db) as con:
        build_marts(con, load_registry())
    row = q(paths, f"SELECT status, note FROM marts.dq_flags WHERE flag_id = '{flag}'")
    assert row.values.tolist() == [["explained", "Satu kasus TPPO dengan 40 korban"]]
    assert flag not in set(list_flags(db)["flag_id"])


def test_the_warning_checks_show_the_missing_months_and_the_open_flags(sample_run):
    """agencies_silent reads coverage_status (a zero month is not silence); dq_flags_open lists
    the flags in the UI, with their messages; both warn, neither blocks."""
    import dagster as dg

    manifest, paths, result = sample_run
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    silent, flags = evaluations["agencies_silent"], evaluations["dq_flags_open"]
    assert silent.severity == flags.severity == dg.AssetCheckSeverity.WARN
    assert not silent.passed and not flags.passed

    months = q(paths, "SELECT agency, year, month, coverage_status FROM marts.reporting_completeness")
    missing = months[months["coverage_status"] == "missing"]
    assert silent.metadata["months_missing"].value == len(missing)
    table = silent.metadata["agencies"].value
    assert "2024-05" in table  # ppu's planted gap
    assert "2023-08" not in table and "2023-03" not in table  # ppu's nil report and kutim's zero month

    mart = q(paths, "SELECT flag_id, message, status FROM marts.dq_flags")  # reviews since the run may differ
    assert sum(flags.metadata[k].value for k in ("open", "explained", "confirmed")) == len(mart)
    assert flags.metadata["open"].value > 0
    shown = flags.metadata["flags"].value
    for agency, year, month in manifest.spikes:
        spike = mart.set_index("flag_id").loc[f"{agency}:{year}-{month:02d}:outlier_monthly_victims"]
        assert spike["message"] in shown
