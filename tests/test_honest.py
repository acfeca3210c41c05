"""Honest comparisons (issue 22): coverage, nil reports, completeness statuses, intervals,
the conditional test and the data-quality review, as plain functions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from pipeline.contract import load_contract
from pipeline.ingest.coverage import find_period, sheet_coverage
from pipeline.marts import completeness, quality, stats

C = load_contract()
D = dt.date


def test_poisson_intervals_against_known_values():
    assert stats.poisson_ci(0) == pytest.approx((0.0, 3.689), abs=1e-3)
    assert stats.poisson_ci(10) == pytest.approx((4.795, 18.390), abs=1e-3)
    assert stats.rate_ci(10, 100_000) == pytest.approx((4.795, 18.390), abs=1e-3)


def test_conditional_test_against_a_hand_computed_case():
    # 6 against 2 with equal populations: X ~ Bin(8, 0.5); outcomes no more likely than 6 are 0-2 and 6-8
    by_hand = sum(binom.pmf(k, 8, 0.5) for k in (0, 1, 2, 6, 7, 8))
    assert stats.compare_counts(6, 2, 1000, 1000) == pytest.approx(by_hand) == pytest.approx(0.2890625)
    assert stats.compare_counts(0, 0) == 1.0
    assert stats.compare_counts(60, 46, 462_990, 455_504) > 0.05  # +30%, not more than chance
    assert stats.change_words(30.4, False) == "naik 30%, belum bermakna secara statistik"


def test_intervals_and_test_equal_scipy_stats():
    """poisson_ci and compare_counts are computed from scipy.special (faster to import and to call):
    they must give scipy.stats' numbers, the Garwood limits through chi2 and binomtest's p-value."""
    from scipy.stats import binomtest, chi2

    counts = np.arange(0, 3000)
    low, high = stats.poisson_ci_array(counts)
    assert np.allclose(low[1:], chi2.ppf(0.025, 2 * counts[1:]) / 2, rtol=1e-12) and low[0] == 0
    assert np.allclose(high, chi2.ppf(0.975, 2 * counts + 2) / 2, rtol=1e-12)
    cases = [(a, n - a, pa, pb) for n in range(1, 40) for a in range(n + 1)
             for pa, pb in ((None, None), (1000.0, 2000.0), (462_990.0, 455_504.0))]
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(40, 5000))
        a = int(rng.integers(0, n + 1))
        cases.append((a, n - a, float(rng.integers(10_000, 2_000_000)), float(rng.integers(10_000, 2_000_000))))
    for a, b, pa, pb in cases:
        share = 0.5 if pa is None else pa / (pa + pb)
        want = binomtest(a, a + b, share).pvalue
        got = stats.compare_counts(a, b, pa, pb)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-14) and round(got, 4) == round(want, 4), (a, b, pa, pb)


def test_window_scores_equal_one_window_at_a_time():
    rng = np.random.default_rng(3)
    x = rng.poisson(6, size=(9, 60)).astype(float)
    x[rng.random(x.shape) < 0.25] = np.nan  # months without a count
    x[2, 30] = 80.0
    x[5, :] = 4.0  # every month alike: scores 0
    x[6, 10:] = np.nan  # too short a history
    scores, medians = stats.window_scores(x, 24, 12)
    for r in range(x.shape[0]):
        for t in range(x.shape[1]):
            window = x[r, max(0, t - 23):t + 1]
            if np.isnan(x[r, t]) or (~np.isnan(window)).sum() < 12:
                assert np.isnan(scores[r, t]) and np.isnan(medians[r, t])
                continue
            assert scores[r, t] == pytest.approx(stats.modified_z_array(window)[-1], rel=1e-12, abs=1e-12)
            assert medians[r, t] == np.nanmedian(window)
    assert scores[2, 30] > stats.MZ_LIMIT and (scores[5, 23:] == 0).all()


def test_modified_z_with_and_without_a_mad():
    assert stats.modified_z(pd.Series([10, 12, 11, 13, 12, 11, 95])).iloc[-1] == pytest.approx(55.98, abs=0.01)
    assert stats.modified_z(pd.Series([5, 5, 5, 5, 5, 40])).iloc[-1] == pytest.approx(4.79, abs=0.01)  # MAD 0
    assert (stats.modified_z(pd.Series([3, 3, 3])) == 0).all()
    with_gap = stats.modified_z(pd.Series([10, None, 12, 11, 13, 12, 11, 95]))  # a month without a count
    assert pd.isna(with_gap.iloc[1]) and with_gap.iloc[-1] == pytest.approx(55.98, abs=0.01)
    assert stats.modified_z(pd.Series([None, None], dtype=float)).isna().all()


@pytest.mark.parametrize("text, start, end", [
    ("REGISTER KASUS TAHUN 2023", D(2023, 1, 1), D(2023, 12, 31)),
    ("TAHUN ANGGARAN 2023", D(2023, 1, 1), D(2023, 12, 31)),
    ("BULAN MARET 2023", D(2023, 3, 1), D(2023, 3, 31)),
    ("Periode: Januari s.d. Juni 2024", D(2024, 1, 1), D(2024, 6, 30)),
    ("Januari – Desember 2022", D(2022, 1, 1), D(2022, 12, 31)),
    ("Triwulan I 2024", D(2024, 1, 1), D(2024, 3, 31)),
    ("TW II 2024", D(2024, 4, 1), D(2024, 6, 30)),
    ("Semester 1 2024", D(2024, 1, 1), D(2024, 6, 30)),
    ("Jan-Jun 2024", D(2024, 1, 1), D(2024, 6, 30)),
    ("kasus_maret_2024", D(2024, 3, 1), D(2024, 3, 31)),
])
def test_periods(text, start, end):
    period = find_period(text, C)
    assert (period.start, period.end) == (start, end)
    assert find_period("Dicetak 17 November 2025".replace("Dicetak ", ""), C) is None  # a date is not a period


def cover(title=(), sheet="Sheet1", file="data.xlsx", dates=(), modified=D(2025, 2, 1)):
    return sheet_coverage(C, title=list(title), sheet_name=sheet, file_name=file, report_dates=list(dates),
                          modified=modified, today=D(2025, 12, 1))


def test_each_coverage_source_in_order():
    assert cover(["TAHUN 2023"], sheet="2022", file="register_2021.xlsx").source == "title"
    by_sheet = cover(sheet="Maret", file="register_2023.xlsx")
    assert (by_sheet.source, by_sheet.months) == ("sheet_name", ["2023-03"])
    assert cover(file="register_2021.xlsx").source == "file_name"
    rows = cover(dates=["2024-02-03", "17/04/2024"])
    assert (rows.source, rows.months) == ("rows", ["2024-02", "2024-03", "2024-04"])


def test_the_export_date_caps_the_period():
    c = cover(["TAHUN 2024", "Dicetak tanggal: 15 Juli 2024"], dates=["2024-02-03"])
    assert (c.start, c.end, c.export_date, c.export_source) == (D(2024, 1, 1), D(2024, 7, 15), D(2024, 7, 15), "title")
    assert c.months[-1] == "2024-07"
    by_mtime = cover(["TAHUN 2024"], modified=D(2024, 3, 20))
    assert (by_mtime.months[-1], by_mtime.export_source) == ("2024-03", "file_time")


def test_rows_outside_the_stated_period_are_counted_and_covered():
    c = cover(["TAHUN 2024"], dates=["28/12/2023", "2024-05-02"], modified=D(2025, 1, 10))
    assert c.rows_outside == 1 and c.months[0] == "2023-12" and len(c.months) == 13


def test_due_dates_across_time_zones():
    assert completeness.due_date(2024, 12, 10) == D(2025, 1, 10)
    # 10 Feb 23:30 in Makassar is 15:30 UTC: on time; 10 Feb 23:30 UTC is 11 Feb in Makassar: late
    due = completeness.due_date(2024, 1, 10)
    assert completeness.on_time("reported", pd.Timestamp("2024-02-10 15:30"), due, "Asia/Makassar") is True
    assert completeness.on_time("reported", pd.Timestamp("2024-02-10 23:30"), due, "Asia/Makassar") is False
    assert completeness.on_time("reported", pd.Timestamp("2024-02-10 16:30"), due, "Asia/Jakarta") is True
    assert completeness.local_date(pd.Timestamp("2024-02-10 16:30"), "Asia/Makassar") == D(2024, 2, 11)


@pytest.mark.parametrize("covered, rows, today, want", [
    (True, 3, D(2024, 3, 1), "reported"), (True, 0, D(2024, 3, 1), "reported_zero"),
    (False, 0, D(2024, 2, 11), "missing"), (False, 0, D(2024, 2, 10), "not_due")])
def test_each_status(covered, rows, today, want):
    assert completeness.status(covered, rows, completeness.due_date(2024, 1, 10), today) == want


def months_frame(statuses: dict[tuple[int, int], tuple[str, int]], since=pd.Timestamp("2000-01-01")) -> pd.DataFrame:
    """reporting_completeness rows of kutim; its first file arrived `since`, every month on time."""
    return pd.DataFrame([{"agency": "kutim", "year": y, "month": m, "coverage_status": s, "victims": v,
                          "due_date": completeness.due_date(y, m, 10), "first_reported_at": since, "on_time": True}
                         for (y, m), (s, v) in statuses.items()])


def test_a_year_in_progress_is_compared_over_the_same_months():
    months = {**{(2023, m): ("reported", 5) for m in range(1, 13)},
              **{(2024, m): ("reported", 7) for m in range(1, 4)}, (2024, 4): ("not_due", 0)}
    yoy = pd.DataFrame({"agency": ["kutim", "kutim"], "year": [2023, 2024], "victims": [60, 21],
                        "incomplete": [False, False], "months_reported": [12, 3]})
    pop = pd.DataFrame({"agency": ["kutim"] * 2, "year": [2023, 2024], "population": [1000, 1000]})
    out = completeness.yoy_stats(yoy, months_frame(months), pop).set_index("year")
    assert (out.loc[2024, "victims_same_months"], out.loc[2024, "victims_same_months_prev_year"]) == (21, 15)
    assert out.loc[2024, "change_pct_same_months"] == 40.0
    assert out.loc[2024, "change_p_value"] == pytest.approx(round(stats.compare_counts(21, 15), 4))
    yoy.loc[1, "incomplete"] = True
    assert completeness.yoy_stats(yoy, months_frame(months), pop).set_index("year").loc[2024, "change_p_value"] is None


def test_outlier_check_fires_and_does_not():
    calm = {(2023 + (m - 1) // 12, (m - 1) % 12 + 1): ("reported", 4 + m % 3) for m in range(1, 25)}
    assert quality.outlier_flags(months_frame(calm)) == []
    spiked = {**calm, (2024, 12): ("reported", 30)}
    flags = quality.outlier_flags(months_frame(spiked))
    assert [f["flag_id"] for f in flags] == ["kutim:2024-12:outlier_monthly_victims"]


def test_consistency_and_completeness_checks_fire_and_do_not():
    yoy = pd.DataFrame({"agency": "kutim", "year": [2020, 2021, 2022, 2023], "victims": [40, 42, 38, 70],
                        "incomplete": False, "in_progress": False, "months_reported": 12})
    assert [f["year"] for f in quality.consistency_flags(yoy)] == [2023]
    assert quality.consistency_flags(yoy.assign(victims=[40, 42, 38, 45])) == []
    gap = months_frame({(2024, 1): ("reported", 3), (2024, 2): ("missing", 0), (2024, 3): ("reported_zero", 0)})
    flags = quality.reporting_flags(gap, {"kutim": 10})
    assert [f["check"] for f in flags] == ["completeness"] and "Februari" in flags[0]["message"]
    assert quality.reporting_flags(gap.assign(coverage_status="reported"), {"kutim": 10}) == []


def test_internal_consistency_fires_and_does_not():
    by_year = pd.DataFrame({"agency": ["kutim"], "year": [2024], "victims": [10], "cases": [12],
                            "victims_female": [6], "victims_male": [4]})
    forms = pd.DataFrame({"agency": ["kutim"], "year": [2024], "form_victims": [9]})
    assert {f["check"] for f in quality.internal_flags(by_year, forms)} == {"cases_over_victims", "forms_under_victims"}
    assert quality.internal_flags(by_year.assign(cases=8), forms.assign(form_victims=12)) == []
    more_sexes = quality.internal_flags(by_year.assign(cases=8, victims_female=7), forms.assign(form_victims=12))
    assert [f["flag_id"] for f in more_sexes] == ["kutim:2024:sex_over_victims"]


def test_timeliness_fires_under_three_quarters_on_time_and_not_at_it():
    months = months_frame({(2024, m): ("reported", 3) for m in range(1, 5)})
    late = months.assign(on_time=[True, True, False, False])
    flags = quality.reporting_flags(late, {"kutim": 10})
    assert [(f["flag_id"], f["severity"], f["value"], f["expected"]) for f in flags] == [
        ("kutim:2024:timeliness", "info", 2.0, 4.0)]
    assert "10" in flags[0]["message"] and "10" in flags[0]["message_en"]
    assert quality.reporting_flags(months.assign(on_time=[True, True, True, False]), {"kutim": 10}) == []
    # months not yet reported (on_time null) do not count against it
    assert quality.reporting_flags(months.assign(on_time=[True, True, True, None]), {"kutim": 10}) == []
    # an agency that joins in May 2024 and sends January to April at once is not late with them
    joined = months_frame({(2024, m): ("reported", 3) for m in range(1, 7)}, since=pd.Timestamp("2024-05-20 03:00"))
    joined["on_time"] = [False, False, False, False, True, True]
    judged = quality.judged_on_time(joined)
    assert judged.isna().tolist() == [True] * 4 + [False] * 2 and judged.dropna().astype(bool).all()
    assert quality.reporting_flags(joined, {"kutim": 10}) == []
    joined.loc[5, "on_time"] = False  # June, due 10 July, came late: 1 of 2 judged months on time
    assert [(f["value"], f["expected"]) for f in quality.reporting_flags(joined, {"kutim": 10})] == [(1.0, 2.0)]


def test_every_flag_has_a_stable_id_and_both_languages_and_keeps_its_review():
    months = months_frame({**{(2023 + (m - 1) // 12, (m - 1) % 12 + 1): ("reported", 4 + m % 3) for m in range(1, 25)},
                           (2024, 12): ("reported", 30), (2025, 1): ("missing", 0)})
    yoy = pd.DataFrame({"agency": "kutim", "year": [2023, 2024, 2025], "victims": [60, 90, 0],
                        "incomplete": [False, False, True], "in_progress": False, "months_reported": [12, 12, 0]})
    by_year = pd.DataFrame({"agency": ["kutim"], "year": [2024], "victims": [90], "cases": [95],
                            "victims_female": [60], "victims_male": [30]})
    forms = pd.DataFrame({"agency": ["kutim"], "year": [2024], "form_victims": [90]})
    reviews = pd.DataFrame({"flag_id": ["kutim:2024-12:outlier_monthly_victims", "gone:2020:completeness"],
                            "status": ["explained", "confirmed"], "note": ["Satu kasus dengan 25 korban", None]})
    first = quality.dq_frame(months, yoy, by_year, forms, {"kutim": 10}, reviews)
    again = quality.dq_frame(months, yoy, by_year, forms, {"kutim": 10}, reviews)
    pd.testing.assert_frame_equal(first, again)
    assert first["flag_id"].tolist() == ["kutim:2024:cases_over_victims", "kutim:2024-12:outlier_monthly_victims",
                                         "kutim:2025:completeness"]
    assert first["flag_id"].is_unique and first["message"].str.len().gt(0).all()
    assert first["message_en"].str.len().gt(0).all() and (first["message"] != first["message_en"]).all()
    reviewed = first.set_index("flag_id").loc["kutim:2024-12:outlier_monthly_victims"]
    assert (reviewed["status"], reviewed["note"]) == ("explained", "Satu kasus dengan 25 korban")
    assert set(first["status"]) == {"open", "explained"}  # a review of a flag no longer raised is kept aside


@pytest.mark.parametrize("p, dot, comma", [
    (0.0011, "p<0.01", "p<0,01"), (0.0, "p<0.01", "p<0,01"), (0.0499, "p<0.05", "p<0,05"),
    (0.05, "p=0.05", "p=0,05"), (0.2149, "p=0.21", "p=0,21"), (1.0, "p=1.00", "p=1,00"), (None, "", "")])
def test_p_values_are_never_written_as_zero(p, dot, comma):
    assert stats.p_value_text(p) == dot and stats.p_value_text(p, ",") == comma


def test_a_change_is_described_over_the_same_months_with_its_test():
    row = {"change_pct": -2.2, "change_pct_same_months": 7.4, "change_significant": None, "change_p_value": None}
    assert stats.describe_change(row) == "naik 7%, tanpa uji (tahun tidak lengkap)"
    row = {"change_pct": 32.8, "change_pct_same_months": 32.8, "change_significant": True, "change_p_value": 0.0011}
    assert stats.describe_change(row) == "naik 33%, bermakna secara statistik (p<0,01)"
    assert stats.describe_change(row, lang="en", decimal=".") == "up 33%, statistically significant (p<0.01)"
    prefixed = {"a_change_pct": 30.0, "a_change_pct_same_months": float("nan"), "a_change_significant": False,
                "a_change_p_value": 0.2081}
    assert stats.describe_change(prefixed, "a_") == "naik 30%, belum bermakna secara statistik (p=0,21)"
    assert stats.describe_change({"change_pct": None}) == "tidak dapat dibandingkan"


def sheets(*specs) -> pd.DataFrame:
    """meta.sheets-like rows: (coverage months, data rows, NIHIL rows, nil_report) per register sheet."""
    return pd.DataFrame([{"is_register": True, "coverage_months": months, "data_rows": rows, "nil_rows": nils,
                          "nil_report": nil} for months, rows, nils, nil in specs])


def test_a_blank_register_sheet_beside_a_nil_report_does_not_make_it_a_rejected_file():
    from pipeline.ingest.coverage import is_nil_report

    nil = (["2025-03"], 0, 1, True)
    blank = ([], 0, 0, False)  # the template's register sheet, left empty
    assert is_nil_report(sheets(nil, blank)) and is_nil_report(sheets(nil))
    assert not is_nil_report(sheets(blank))  # nothing filled in: not a report of zero
    assert not is_nil_report(sheets(nil, ([], 0, 1, False)))  # NIHIL without a period: no month to place it in
    assert not is_nil_report(sheets(nil, (["2025-03"], 4, 0, False)))  # a sheet with data rows


def test_silent_agencies_are_those_with_months_past_due_and_no_report():
    months = pd.DataFrame([
        *({"agency": "kutim", "year": 2024, "month": m, "coverage_status": s} for m, s in
          enumerate(["reported", "missing", "reported_zero", "missing", "missing", "not_due"], 1)),
        *({"agency": "batam", "year": 2024, "month": m, "coverage_status": "reported"} for m in range(1, 6)),
        {"agency": "ppu", "year": 2024, "month": 1, "coverage_status": "missing"},
        {"agency": "ppu", "year": 2024, "month": 2, "coverage_status": "reported_zero"}])
    last = pd.DataFrame({"agency": ["kutim"], "last_file": [pd.Timestamp("2024-03-20 01:00")]})
    silent = completeness.silent_agencies(months, last).set_index("agency")
    assert list(silent.index) == ["kutim", "ppu"]  # batam reported every month; a zero month is not silence
    assert silent.loc["kutim", "missing"] == ["2024-02", "2024-04", "2024-05"]
    assert silent.loc["kutim", "silent_since"] == "2024-04" and silent.loc["kutim", "last_file"] == "2024-03-20 01:00:00"
    assert pd.isna(silent.loc["ppu", "silent_since"])  # its latest due month was reported (as zero)


def test_explained_flags_stop_warning_and_reviews_are_worded():
    flags = pd.DataFrame({"flag_id": ["a", "b", "c"], "status": ["open", "explained", "confirmed"],
                          "severity": "warning", "note": [None, "Satu kasus TPPO dengan 40 korban", "ekspor terpotong"]})
    assert quality.open_flags(flags)["flag_id"].tolist() == ["a", "c"]
    assert quality.open_flags(flags.assign(severity="info")).empty  # timeliness is information, not a warning
    words = [quality.review_words(s, n) for s, n in zip(flags["status"], flags["note"])]
    assert words == ["terbuka: perlu diperiksa", "dijelaskan: Satu kasus TPPO dengan 40 korban",
                     "dikonfirmasi sebagai kesalahan data: ekspor terpotong"]
    assert quality.review_words("confirmed", None) == "dikonfirmasi sebagai kesalahan data"
    assert completeness.status_words("reported_zero") == "nihil / nol kasus"
    assert completeness.status_words("missing", "en") == "missing (no report, past its due date)"
