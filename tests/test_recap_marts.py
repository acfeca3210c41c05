"""Recaps in the marts (data contract, section 9) and a file in the wrong folder (section 10),
through one pipeline run: a recap-only year, a year with both a register and a recap, and a
Kutim register in PPU's folder."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import query, run_pipeline
from workbooks import HEADER, register, row, write_workbook

MONTHS = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember"]
# the recap-only year 2023: per month (L, P, Fisik, Seksual); "-" and blanks are 0
RECAP_2023 = [(1, 2, 1, 2), (0, 0, 0, 0), (0, 1, 0, 1), ("-", 3, 1, 2), (None, None, None, None), (2, 0, 2, 0),
              (0, 1, 1, 0), (1, 1, 0, 2), (0, 0, 0, 0), (1, 0, 1, 0), (0, 2, 1, 1), (0, 1, 0, 1)]


def _n(value) -> int:
    return value if isinstance(value, int) else 0


SUMS = [sum(_n(month[i]) for month in RECAP_2023) for i in range(4)]  # L, P, Fisik, Seksual


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run over the three cases (module scope: the run takes a few seconds): the warehouse
    folder and the run's check evaluations."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("recap")
    paths = {k: base / k for k in ("raw", "warehouse", "reports", "archive", "dagster_home")}
    for p in paths.values():
        p.mkdir()
    for key, env in (("raw", "PPA_RAW_DIR"), ("warehouse", "PPA_WAREHOUSE_DIR"), ("reports", "PPA_REPORTS_DIR"),
                     ("archive", "PPA_ARCHIVE_DIR"), ("dagster_home", "DAGSTER_HOME")):
        mp.setenv(env, str(paths[key]))
    mp.setenv("PPA_HASH_SECRET", "test-secret-for-the-keyed-hashes-only")
    mp.delenv("PPA_REGISTRY", raising=False)
    raw = paths["raw"]
    lines = [[m, l, p, f, s, (_n(l) + _n(p)) or None] for m, (l, p, f, s) in zip(MONTHS, RECAP_2023)]
    write_workbook(raw / "kukar/rekap_2023.xlsx", {"Rekap": [
        ["REKAP KASUS KEKERASAN TERHADAP PEREMPUAN DAN ANAK TAHUN 2023"], [],
        ["Bulan", "L", "P", "Fisik", "Seksual", "Jumlah"], *lines,
        ["JUMLAH", *SUMS, SUMS[0] + SUMS[1]]]})
    # 2024: a register (two victims staged, one rejected) and a monthly recap that counts three
    register(raw / "kukar/register_2024.xlsx", [
        row(case_id="A1", report=dt.date(2024, 3, 5)), row(case_id="A2", report=dt.date(2024, 4, 2)),
        row(case_id="A3", report=dt.date(2024, 5, 6), sex="X")])
    write_workbook(raw / "kukar/rekap_simfoni_2024.xlsx", {"Rekap 2024": [
        ["Bulan", "Jumlah Korban"], *[[m, 1 if i in (2, 3, 4) else 0] for i, m in enumerate(MONTHS)]]})
    # a Kutim register dropped into PPU's folder
    kutim = ["Sangatta Utara", "Sangatta Selatan", "Bengalon", "Muara Wahau", "Kaliorang", "Luar Daerah"]
    write_workbook(raw / "ppu/register_kutim.xlsx", {"Register": [
        ["REGISTER KASUS TAHUN 2024"], HEADER, *[row(case_id=f"K{i}", kecamatan=k) for i, k in enumerate(kutim)]]})
    register(raw / "ppu/register_2024.xlsx", [row(case_id="P1", kecamatan="Penajam")])
    result = run_pipeline()
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    yield paths["warehouse"], checks
    mp.undo()


def test_a_recap_only_year_takes_the_recap_and_leaves_what_it_cannot_give_null(warehouse):
    year = query(warehouse, "SELECT * FROM marts.victims_by_region_year WHERE agency = 'kukar' AND year = 2023")
    r = year.iloc[0]
    assert r["source"] == "recap" and bool(r["has_data"])
    assert (r["victims"], r["victims_male"], r["victims_female"]) == (SUMS[0] + SUMS[1], SUMS[0], SUMS[1])
    assert pd_null(r["cases"]) and pd_null(r["child_victims"]) and pd_null(r["adult_female_victims"])
    forms = query(warehouse, "SELECT violence_form, victims, share_pct, source FROM marts.victims_by_form "
                             "WHERE agency = 'kukar' AND year = 2023 ORDER BY violence_form")
    assert forms[["violence_form", "victims", "source"]].values.tolist() == [
        ["FISIK", SUMS[2], "recap"], ["SEKSUAL", SUMS[3], "recap"]]
    assert forms["share_pct"].tolist() == pytest.approx([100 * n / (SUMS[0] + SUMS[1]) for n in SUMS[2:]], abs=0.051)


def pd_null(value) -> bool:
    import pandas as pd

    return value is None or pd.isna(value)


@pytest.fixture
def warehouse(run):
    return run[0]


def test_a_year_with_cases_takes_the_cases_and_the_recap_is_reconciled(warehouse, run):
    year = query(warehouse, "SELECT source, victims, cases FROM marts.victims_by_region_year "
                            "WHERE agency = 'kukar' AND year = 2024")
    assert year.values.tolist() == [["cases", 2, 2]]
    rec = query(warehouse, "SELECT agency, year, measure, recap_count, staged_count, difference, rows_rejected, "
                           "rows_superseded, rows_other_year FROM marts.recap_reconciliation")
    assert rec.values.tolist() == [["kukar", 2024, "victims", 3, 2, 1, 1, 0, 0]]  # the rejected row explains it
    check = run[1]["recap_differs"]  # a warning, not a failure of the run
    assert not check.passed and check.severity.value == "WARN" and check.metadata["differences"].value == 1
    assert query(warehouse, "SELECT count(*) AS n FROM marts.victims_by_form WHERE source = 'recap' "
                            "AND year = 2024")["n"].iloc[0] == 0


def test_recap_months_count_as_reported(warehouse):
    months = query(warehouse, "SELECT month, coverage_status, victims FROM marts.reporting_completeness "
                              "WHERE agency = 'kukar' AND year = 2023 ORDER BY month")
    expected = ["reported" if _n(l) + _n(p) else "reported_zero" for l, p, _, _ in RECAP_2023]
    assert months["coverage_status"].tolist() == expected
    assert months["victims"].tolist() == [_n(l) + _n(p) for l, p, _, _ in RECAP_2023]


def test_recap_cells_are_accounted_for_in_the_ledger(warehouse):
    ledger = query(warehouse, "SELECT path, status, recap_cells, recap_cells_staged, recap_cells_rejected "
                              "FROM meta.ingest_log WHERE agency = 'kukar' ORDER BY path").set_index("path")
    assert ledger.loc["kukar/rekap_2023.xlsx"].tolist() == ["loaded", 65, 65, 0]  # 13 lines x 5 columns
    assert ledger.loc["kukar/rekap_simfoni_2024.xlsx"].tolist() == ["loaded", 12, 12, 0]
    cells = query(warehouse, "SELECT count(*) AS n FROM staging.recap_counts WHERE agency = 'kukar'")["n"].iloc[0]
    assert cells == 77


def test_a_file_in_the_wrong_folder_is_rejected_and_nothing_of_it_loads(warehouse):
    ledger = query(warehouse, "SELECT path, status, reason_code, message FROM meta.ingest_log WHERE agency = 'ppu' "
                              "ORDER BY path").set_index("path")
    wrong = ledger.loc["ppu/register_kutim.xlsx"]
    assert (wrong["status"], wrong["reason_code"]) == ("rejected", "wrong_agency")
    assert "Kutai Timur" in wrong["message"] and "5/5 kecamatan" in wrong["message"]
    assert ledger.loc["ppu/register_2024.xlsx", "status"] == "loaded"
    staged = query(warehouse, "SELECT case_id FROM staging.case_victims WHERE agency = 'ppu'")
    assert staged["case_id"].tolist() == ["P1"]
    assert query(warehouse, "SELECT count(*) AS n FROM raw.case_rows "
                            "WHERE _source_file = 'ppu/register_kutim.xlsx'")["n"].iloc[0] == 0


def test_public_tables_treat_recap_counts_like_any_other(warehouse):
    public = query(warehouse, "SELECT year, source, victims, victims_male, victims_female, cases "
                              "FROM public.victims_by_region_year WHERE agency = 'kukar' ORDER BY year")
    assert public["source"].tolist() == ["recap", "cases"]
    for column in ("victims", "victims_male", "victims_female", "cases"):
        shown = public[column].dropna()
        assert not ((shown >= 1) & (shown <= 4)).any(), column
    assert public["victims"].tolist()[0] == SUMS[0] + SUMS[1] and pd_null(public["victims"].tolist()[1])
    forms = query(warehouse, "SELECT source FROM public.victims_by_form WHERE agency = 'kukar' AND year = 2023")
    assert set(forms["source"]) == {"recap"}


def test_the_agency_pages_say_it_too(warehouse):
    from pipeline.feedback.files import INDEX_FILE, RECEIPT_SUFFIX
    from pipeline.ingest.dropfolder import FEEDBACK_DIR

    raw = warehouse.parent / "raw"
    index = (raw / "kukar" / FEEDBACK_DIR / INDEX_FILE).read_text(encoding="utf-8")
    assert "Rekap dan register tidak sama" in index  # the year where the recap and the register differ
    receipt = (raw / "ppu" / FEEDBACK_DIR / f"register_kutim{RECEIPT_SUFFIX}").read_text(encoding="utf-8")
    assert "wrong_agency" not in receipt and "milik instansi lain" in receipt and "Kutai Timur" in receipt
