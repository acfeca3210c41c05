"""What recaps give the marts, and their reconciliation with the case rows: plain functions
over frames (marts/recaps.py, marts/reconciliation.py)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipeline.marts.recaps import recap_months, recap_years
from pipeline.marts.reconciliation import reconciliation_frame

SEEN = pd.Timestamp("2024-02-10")


def _cells(*rows) -> pd.DataFrame:
    """Counted cells: (agency, start, end, measure, dimension, category, count)."""
    return pd.DataFrame([(*r, "kukar/rekap.xlsx", SEEN) for r in rows],
                        columns=["agency", "period_start", "period_end", "measure", "dimension", "category", "count",
                                 "_source_file", "first_seen"])


JAN, FEB = (dt.date(2023, 1, 1), dt.date(2023, 1, 31)), (dt.date(2023, 2, 1), dt.date(2023, 2, 28))


def test_a_years_counts_come_from_its_units_and_forms_are_never_summed_into_victims():
    cells = _cells(("kukar", *JAN, "victims", "victim_sex", "L", 1), ("kukar", *JAN, "victims", "victim_sex", "P", 2),
                   ("kukar", *JAN, "victims", "violence_form", "FISIK", 3),
                   ("kukar", *JAN, "victims", "violence_form", "SEKSUAL", 2),
                   ("kukar", *FEB, "victims", "total", None, 4), ("kukar", *FEB, "cases", "total", None, 3))
    years, forms = recap_years(cells)
    [year] = years.to_dict("records")
    # January: no total, so L + P (never the forms); February: its total
    assert (year["victims"], year["victims_male"], year["victims_female"], year["cases"]) == (7, 1, 2, 3)
    assert pd.isna(year["child_victims"])
    assert forms[["violence_form", "victims", "all_victims"]].values.tolist() == [["FISIK", 3, 7], ["SEKSUAL", 2, 7]]


def test_recap_months_are_reported_above_zero_and_a_year_long_count_has_no_month_victims():
    cells = _cells(("kukar", *JAN, "victims", "total", None, 2), ("kukar", *FEB, "victims", "total", None, 0),
                   ("ppu", dt.date(2023, 1, 1), dt.date(2023, 12, 31), "victims", "total", None, 9))
    months = recap_months(cells).set_index(["agency", "month_start"])
    assert months.loc[("kukar", pd.Timestamp("2023-01-01")), ["victims", "reported"]].tolist() == [2, True]
    assert months.loc[("kukar", pd.Timestamp("2023-02-01")), ["victims", "reported"]].tolist() == [0, False]
    ppu = months.loc["ppu"]
    assert len(ppu) == 12 and ppu["reported"].all() and ppu["victims"].isna().all()


def test_the_reconciliation_explains_the_difference():
    recap = pd.DataFrame([{"agency": "kukar", "year": 2024, "victims": 10, "cases": None,
                           "source_files": ["kukar/rekap.xlsx"]},
                          {"agency": "kukar", "year": 2023, "victims": 5, "cases": 4, "source_files": []}])
    staged = pd.DataFrame({"agency": ["kukar"], "year": [2024], "victims": [7], "cases": [6]})
    rejected = pd.DataFrame({"agency": ["kukar"] * 3, "report_date": ["05/03/2024", "bukan tanggal", "01/01/2023"],
                             "period_start": [None, pd.Timestamp("2024-01-01"), None],
                             "period_end": [None, pd.Timestamp("2024-12-31"), None]})
    superseded = pd.DataFrame({"agency": ["kukar"], "year": [2024], "rows": [1]})
    other = pd.DataFrame({"agency": ["kukar"], "year": [2024], "rows": [-1]})
    frame = reconciliation_frame(recap, staged, rejected, superseded, other)
    # 2023 has no case rows: no reconciliation; cases of 2024 are not in the recap: no row for them
    assert frame.drop(columns="source_files").values.tolist() == [["kukar", 2024, "victims", 10, 7, 3, 2, 1, -1]]


def test_a_recap_does_not_report_months_that_had_not_ended_when_it_came():
    seen = pd.Timestamp("2023-02-15")  # received mid-February
    cells = _cells(("kukar", *JAN, "victims", "total", None, 0), ("kukar", *FEB, "victims", "total", None, 0),
                   ("kukar", dt.date(2023, 3, 1), dt.date(2023, 3, 31), "victims", "total", None, 0))
    cells["first_seen"] = seen
    months = recap_months(cells)
    assert months["month_start"].tolist() == [pd.Timestamp("2023-01-01")]  # January's zero is a report
