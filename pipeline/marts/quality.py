"""The data-quality review (data contract, section 11), in the style of the WHO Data Quality
Review toolkit and DHIS2: flags to read before comparing, never rejects.

- outlier_monthly_victims: a covered month whose victims have |Mz| > 3.5, the median and MAD
  taken over the agency's covered months among the 24 ending with that month (at least 12 of
  them, or the history is too short to judge);
- consistency_over_time: a complete year whose victims differ by more than 33% from the mean
  of the three complete years before it, when that mean is at least 20;
- internal consistency: cases <= victims; female + male <= victims; victims by form >= victims;
- completeness: a year with a missing month; timeliness: a year with fewer than 75% of its
  reported months first seen by their due date, among the months due since the agency's first
  file (a history sent all at once is not late reporting).

Each flag has a stable id (agency:period:check) under which an analyst's review is kept in
meta.dq_reviews across runs. Plain functions over frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.marts import stats
from pipeline.marts.completeness import REPORTED
from pipeline.messages import render

WINDOW_MONTHS = 24
MIN_HISTORY = 12  # covered months in the window before a month is judged
CONSISTENCY_YEARS = 3
CONSISTENCY_LIMIT = 0.33
CONSISTENCY_MIN_EXPECTED = 20
ON_TIME_TARGET = 0.75
REVIEW_STATUSES = ("open", "explained", "confirmed")
COLUMNS = ["flag_id", "agency", "year", "month", "check", "value", "expected", "severity", "message", "message_en",
           "status", "note"]
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")
MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")


def flag_id(agency: str, year: int, month: int | None, check: str) -> str:
    period = f"{year:04d}" if month is None else f"{year:04d}-{month:02d}"
    return f"{agency}:{period}:{check}"


def _num(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _flag(agency: str, year: int, month: int | None, check: str, value: float, expected: float, severity: str,
          detail: str = "", detail_en: str | None = None) -> dict:
    period = str(year) if month is None else f"{MONTHS[month - 1]} {year}"
    period_en = str(year) if month is None else f"{MONTHS_EN[month - 1]} {year}"
    args = dict(value=_num(value), expected=_num(expected))
    return {"flag_id": flag_id(agency, year, month, check), "agency": agency, "year": year, "month": month,
            "check": check, "value": float(value), "expected": float(expected), "severity": severity,
            "message": render(check, period=f"{agency} {period}", detail=detail, **args),
            "message_en": render(check, "en", period=f"{agency} {period_en}",
                                 detail=detail if detail_en is None else detail_en, **args)}


def review_words(status: str, note: object, lang: str = "id") -> str:
    """A flag's review in words: 'terbuka: perlu diperiksa', 'dijelaskan: <note>', …"""
    note = "" if note is None or (not isinstance(note, str) and pd.isna(note)) else str(note)
    if status == "confirmed" and note:
        note = f": {note}"
    return render(f"flag_{status}", lang, note=note)


def open_flags(flags: pd.DataFrame) -> pd.DataFrame:
    """The flags that still warn: open (nobody reviewed them) or confirmed (a real problem in the
    data), as the report counts them. Explained flags (the value is right, with a note) and
    information (timeliness) do not."""
    return flags[flags["status"].isin(("open", "confirmed")) & (flags["severity"] != "info")]


def outlier_flags(months: pd.DataFrame) -> list[dict]:
    """Outlier months: months is reporting_completeness (agency, year, month, victims, coverage_status)."""
    # a month of a recap of a longer period (a year by kecamatan) has no count of its own
    covered = months[months["coverage_status"].isin(REPORTED) & months["victims"].notna()]
    if covered.empty:
        return []
    agencies, row = np.unique(covered["agency"].to_numpy(dtype=object), return_inverse=True)
    index = (covered["year"].astype(int) * 12 + covered["month"].astype(int) - 1).to_numpy()
    first = index.min()
    grid = np.full((len(agencies), index.max() - first + 1), np.nan)  # agency x month, NaN where not covered
    grid[row, index - first] = covered["victims"].astype(float).to_numpy()
    scores, medians = stats.window_scores(grid, WINDOW_MONTHS, MIN_HISTORY)
    flags = []
    for r, column in zip(*np.nonzero(np.abs(np.nan_to_num(scores)) > stats.MZ_LIMIT)):  # agency, then month
        year, month = divmod(int(first + column), 12)
        flags.append(_flag(str(agencies[r]), year, month + 1, "outlier_monthly_victims", grid[r, column],
                           float(medians[r, column]), "warning", detail=f"{scores[r, column]:+.1f}"))
    return flags


def consistency_flags(yoy: pd.DataFrame) -> list[dict]:
    """Years against the mean of the three complete years before (yoy_by_region rows)."""
    flags = []
    complete = yoy[~yoy["incomplete"].astype(bool) & ~yoy["in_progress"].astype(bool) & (yoy["months_reported"] > 0)]
    for agency, group in complete.groupby("agency", sort=True):
        by_year = dict(zip(group["year"], group["victims"]))
        for year, victims in by_year.items():
            before = [by_year.get(year - k) for k in range(1, CONSISTENCY_YEARS + 1)]
            if any(v is None for v in before):
                continue
            expected = sum(before) / CONSISTENCY_YEARS
            if expected < CONSISTENCY_MIN_EXPECTED:
                continue
            ratio = victims / expected - 1
            if abs(ratio) > CONSISTENCY_LIMIT:
                pct = f"{ratio * 100:+.0f}%"
                flags.append(_flag(agency, int(year), None, "consistency_over_time", victims, round(expected, 1),
                                   "warning", detail=pct))
    return flags


def internal_flags(by_year: pd.DataFrame, form_totals: pd.DataFrame) -> list[dict]:
    """cases <= victims, female + male <= victims, victims by form >= victims, per agency-year.
    A year taken from a recap is checked on what the recap gives (its forms need not cover
    every victim: a recap may count forms only for some)."""
    flags = []
    forms = {(a, y): n for a, y, n in form_totals[["agency", "year", "form_victims"]].itertuples(index=False)}
    for r in by_year.to_dict("records"):
        if pd.isna(r["victims"]):
            continue
        agency, year, victims = r["agency"], int(r["year"]), int(r["victims"])
        if not pd.isna(r["cases"]) and r["cases"] > victims:
            flags.append(_flag(agency, year, None, "cases_over_victims", r["cases"], victims, "error"))
        sexes = r["victims_female"] + r["victims_male"]
        if not pd.isna(sexes) and sexes > victims:
            flags.append(_flag(agency, year, None, "sex_over_victims", sexes, victims, "error"))
        by_form = forms.get((agency, year), 0)
        if r.get("source") != "recap" and victims > 0 and by_form < victims:
            flags.append(_flag(agency, year, None, "forms_under_victims", by_form, victims, "error"))
    return flags


def judged_on_time(months: pd.DataFrame) -> pd.Series:
    """on_time of the months due since the agency's first file arrived, null before: a history
    sent all at once (an agency joining with past years) is late by construction and says
    nothing about timeliness. months: reporting_completeness rows (agency, due_date,
    first_reported_at, on_time)."""
    first = pd.to_datetime(months["first_reported_at"]).groupby(months["agency"]).transform("min")
    return months["on_time"].where(pd.to_datetime(months["due_date"]) >= first.dt.normalize())


def reporting_flags(months: pd.DataFrame, due_days: dict[str, int]) -> list[dict]:
    """Completeness (a year with a missing month) and timeliness (under 75% on time, over the
    months due since the agency's first file) per agency-year."""
    years: dict[tuple[str, int], dict] = {}
    rows = months.assign(on_time=judged_on_time(months))[
        ["agency", "year", "month", "coverage_status", "on_time"]].itertuples(index=False)
    for agency, year, month, state, in_time in rows:  # one pass: a groupby per agency-year costs seconds at scale
        y = years.setdefault((agency, int(year)), {"due": 0, "reported": 0, "missing": [], "timed": 0, "on_time": 0})
        y["due"] += state != "not_due"
        y["reported"] += state in REPORTED
        if state == "missing":
            y["missing"].append(int(month))
        if in_time is not None and not pd.isna(in_time):
            y["timed"] += 1
            y["on_time"] += bool(in_time)
    flags = []
    for (agency, year), y in sorted(years.items()):
        if y["missing"]:
            flags.append(_flag(agency, year, None, "completeness", y["reported"], y["due"], "warning",
                               detail=", ".join(MONTHS[m - 1] for m in y["missing"]),
                               detail_en=", ".join(MONTHS_EN[m - 1] for m in y["missing"])))
        if y["timed"] and y["on_time"] / y["timed"] < ON_TIME_TARGET:
            flags.append(_flag(agency, year, None, "timeliness", y["on_time"], y["timed"], "info",
                               detail=str(due_days.get(agency, 10))))
    return flags


def dq_frame(months: pd.DataFrame, yoy: pd.DataFrame, by_year: pd.DataFrame, form_totals: pd.DataFrame,
             due_days: dict[str, int], reviews: pd.DataFrame) -> pd.DataFrame:
    """marts.dq_flags: every flag, with its review (status open when nobody reviewed it)."""
    flags = [*outlier_flags(months), *consistency_flags(yoy), *internal_flags(by_year, form_totals),
             *reporting_flags(months, due_days)]
    out = pd.DataFrame.from_records(flags, columns=COLUMNS[:-2])
    kept = reviews.set_index("flag_id") if len(reviews) else None
    out["status"] = [kept.at[f, "status"] if kept is not None and f in kept.index else "open" for f in out["flag_id"]]
    out["note"] = [kept.at[f, "note"] if kept is not None and f in kept.index else None for f in out["flag_id"]]
    return out.sort_values(["agency", "year", "month", "check"], na_position="first").reset_index(drop=True)
