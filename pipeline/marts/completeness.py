"""Reporting completeness that tells a zero from a missing export (data contract, section 8),
and the statistics the year-on-year marts carry (section 11).

Plain functions over frames: the mart build (marts/build.py) queries the warehouse and
hands the frames here.

Per agency and month, `coverage_status` is
- `reported`: a current file (loaded or nil report) covers the month and rows were staged for it;
- `reported_zero`: a current file covers it and no row was staged (zero victims, not missing);
- `missing`: no current file covers it and its due date has passed;
- `not_due`: no current file covers it and its due date has not come yet.
The due date is day `report_due_day` of the following month in the agency's time zone.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipeline.marts import stats
from pipeline.messages import render

STATUSES = ("reported", "reported_zero", "missing", "not_due")
REPORTED = ("reported", "reported_zero")
# What a month grid shows in a cell of each status ('reported' shows its victims; '12' in a legend).
STATUS_MARKS = {"reported": "12", "reported_zero": "0", "missing": "✗", "not_due": "…"}


def status_words(status: str, lang: str = "id") -> str:
    """A month's coverage_status in words: 'nihil / nol kasus', 'belum ada laporan', …"""
    return render(f"coverage_{status}", lang)


def due_date(year: int, month: int, due_day: int) -> dt.date:
    """The day a month's report is due: day `due_day` of the following month."""
    y, m = (year + 1, 1) if month == 12 else (year, month + 1)
    return dt.date(y, m, due_day)


def local_date(at: dt.datetime | pd.Timestamp, timezone: str) -> dt.date:
    """The calendar day in the agency's time zone of a UTC time (naive times are UTC)."""
    ts = pd.Timestamp(at)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
    return ts.tz_convert(ZoneInfo(timezone)).date()


def status(covered: bool, rows: int, due: dt.date, today: dt.date) -> str:
    """The coverage status of one month (`today` in the agency's time zone)."""
    if covered or rows > 0:  # staged rows are evidence of a report even without a stated period
        return "reported" if rows > 0 else "reported_zero"
    return "missing" if today > due else "not_due"


def on_time(state: str, first_reported_at, due: dt.date, timezone: str) -> bool | None:
    """Whether the month was first reported by its due date (None when missing or not due)."""
    if state not in REPORTED or first_reported_at is None or pd.isna(first_reported_at):
        return None
    return local_date(first_reported_at, timezone) <= due


def completeness_frame(agencies: pd.DataFrame, staged: pd.DataFrame, covered: pd.DataFrame,
                       now: dt.datetime, recaps: pd.DataFrame | None = None) -> pd.DataFrame:
    """marts.reporting_completeness: one row per registered agency and month, from January of
    the first year with data (rows, coverage or recaps) to each agency's month of the run.

    agencies: agency, timezone, report_due_day. staged: agency, month_start, victims,
    rows_staged, source_files. covered: agency, month_start, first_reported_at (the months
    current files cover). now: the run's time (UTC). recaps: agency, month_start, victims,
    reported, first_reported_at (the months recaps cover, marts/recaps.py): a recap's month is
    reported where its count is above zero, reported_zero where it is zero (data contract,
    section 9); in a year with no case row its victims are the recap's (null when the recap's
    period is longer than the month).
    """
    columns = ["agency", "year", "month", "month_start", "has_data", "victims", "rows_staged", "file_count",
               "source_files", "coverage_status", "due_date", "first_reported_at", "on_time", "source"]
    recaps = recaps if recaps is not None else pd.DataFrame(columns=["agency", "month_start", "victims", "reported",
                                                                     "first_reported_at"])
    starts = pd.concat([pd.to_datetime(f["month_start"]) for f in (staged, covered, recaps) if len(f)] or
                       [pd.Series(dtype="datetime64[ns]")])
    if starts.dropna().empty:
        return pd.DataFrame(columns=columns)
    first = dt.date(starts.min().year, 1, 1)
    staged = staged.assign(month_start=pd.to_datetime(staged["month_start"]).dt.date)
    covered = covered.assign(month_start=pd.to_datetime(covered["month_start"]).dt.date)
    staged_at = staged.set_index(["agency", "month_start"]) if len(staged) else None
    covered_at = covered.set_index(["agency", "month_start"])["first_reported_at"].to_dict()
    recap_at = {(a, pd.Timestamp(m).date()): (v, bool(r), f) for a, m, v, r, f in
                recaps[["agency", "month_start", "victims", "reported", "first_reported_at"]].itertuples(index=False)}
    for key, (_, _, seen) in recap_at.items():  # a recap's month is covered from when its file came
        covered_at[key] = seen if covered_at.get(key) is None else min(covered_at[key], seen)
    case_years = {(a, m.year) for a, m in staged_at.index} if staged_at is not None else set()
    records = []
    for agency, tz, due_day in agencies[["agency", "timezone", "report_due_day"]].itertuples(index=False):
        today = local_date(now, tz)
        for month in pd.date_range(first, dt.date(today.year, today.month, 1), freq="MS").date:
            key = (agency, month)
            got = staged_at.loc[key] if staged_at is not None and key in staged_at.index else None
            rows = int(got["rows_staged"]) if got is not None else 0
            due = due_date(month.year, month.month, int(due_day))
            recap_victims, recap_reported, _ = recap_at.get(key, (None, False, None))
            state = status(key in covered_at, rows + recap_reported, due, today)
            first_seen = covered_at.get(key)
            files = list(got["source_files"]) if got is not None else []
            victims = int(got["victims"]) if got is not None else 0
            source = "cases" if got is not None else None
            if (agency, month.year) not in case_years and key in recap_at:  # the recap is the year's source
                victims = None if recap_victims is None or pd.isna(recap_victims) else int(recap_victims)
                source = "recap"
            records.append({
                "agency": agency, "year": month.year, "month": month.month, "month_start": month,
                "has_data": got is not None or recap_reported, "victims": victims,
                "rows_staged": rows, "file_count": len(files), "source_files": files, "coverage_status": state,
                "due_date": due, "first_reported_at": first_seen if state in REPORTED else None,
                "on_time": on_time(state, first_seen, due, tz), "source": source})
    return pd.DataFrame.from_records(records, columns=columns)


def silent_agencies(months: pd.DataFrame, last_files: pd.DataFrame) -> pd.DataFrame:
    """Agencies with months past their due date and no report (coverage_status missing), from
    marts.reporting_completeness rows: how many, which, since when the agency has been silent
    (the first of the missing months that run up to its latest due month; null when its latest
    due month was reported), and when its newest file arrived (last_files: agency, last_file)."""
    columns = ["agency", "months_missing", "silent_since", "missing", "last_file"]
    newest = dict(zip(last_files["agency"], last_files["last_file"])) if len(last_files) else {}
    rows = []
    for agency, group in months.sort_values(["agency", "year", "month"]).groupby("agency", sort=True):
        due = group[group["coverage_status"] != "not_due"]
        missing = due[due["coverage_status"] == "missing"]
        if missing.empty:
            continue
        keys = [f"{int(y):04d}-{int(m):02d}" for y, m in zip(due["year"], due["month"])]
        trailing = len(keys) - next((i for i, s in enumerate(reversed(due["coverage_status"].tolist()))
                                     if s != "missing"), len(keys))
        last = newest.get(agency)
        rows.append({"agency": agency, "months_missing": len(missing),
                     "silent_since": keys[trailing] if trailing < len(keys) else None,
                     "missing": [f"{int(y):04d}-{int(m):02d}" for y, m in zip(missing["year"], missing["month"])],
                     "last_file": None if last is None or pd.isna(last) else str(last)})
    return pd.DataFrame(rows, columns=columns)


def year_stats(by_year: pd.DataFrame) -> pd.DataFrame:
    """Intervals and stability of each agency-year (victims_by_region_year): exact Poisson
    intervals for the count and the rate per 100,000, `unstable` for counts under 20. Only
    agency-years with data (`with_data`) and a count of victims (a recap may give only cases)
    carry them."""
    out = by_year.copy()
    out["with_data"] = [bool(w) and not pd.isna(v) for w, v in zip(out["with_data"], out["victims"])]
    low, high, rate_low, rate_high = [], [], [], []
    for victims, population, with_data in zip(out["victims"], out["population"], out["with_data"]):
        if not with_data:
            low.append(None), high.append(None), rate_low.append(None), rate_high.append(None)
            continue
        lo, hi = stats.poisson_ci(int(victims))
        rlo, rhi = stats.rate_ci(int(victims), population)
        low.append(round(lo, 3)), high.append(round(hi, 3))
        rate_low.append(None if rlo is None else round(rlo, 2)), rate_high.append(None if rhi is None else round(rhi, 2))
    out["victims_ci_low"], out["victims_ci_high"] = low, high
    out["victims_per_100k_ci_low"], out["victims_per_100k_ci_high"] = rate_low, rate_high
    out["unstable"] = [bool(v < stats.UNSTABLE_BELOW) if w else None for v, w in zip(out["victims"], out["with_data"])]
    return out


def yoy_stats(yoy: pd.DataFrame, months: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """The year-on-year mart's comparison over the same months and its test.

    yoy: the mart's base rows (agency, year, victims, incomplete, months_reported, …).
    months: reporting_completeness (agency, year, month, victims, coverage_status).
    population: agency, year, population.

    The same months are the months reported (or reported as zero) in both years: all twelve
    for two complete years, January to the latest reported month for a year in progress.
    `change_p_value` is the exact conditional test over those months (populations of the two
    years as exposures); it is null when either year is incomplete or has no data.
    """
    out = yoy.copy()
    reported = months[months["coverage_status"].isin(REPORTED)]
    per_month = {(a, y): dict(zip(g["month"], g["victims"])) for (a, y), g in reported.groupby(["agency", "year"])}
    people = {(a, y): p for a, y, p in population[["agency", "year", "population"]].itertuples(index=False)}
    state = {(a, y): (bool(i), int(m)) for a, y, i, m in
             out[["agency", "year", "incomplete", "months_reported"]].itertuples(index=False)}
    now_n, prev_n, pct, p_values, significant = [], [], [], [], []
    for agency, year in out[["agency", "year"]].itertuples(index=False):
        this, before = per_month.get((agency, year), {}), per_month.get((agency, year - 1))
        if before is None:
            now_n.append(None), prev_n.append(None), pct.append(None), p_values.append(None), significant.append(None)
            continue
        same = sorted(set(this) & set(before))
        if any(pd.isna(this[m]) or pd.isna(before[m]) for m in same):  # a recap of a longer period: no months
            now_n.append(None), prev_n.append(None), pct.append(None), p_values.append(None), significant.append(None)
            continue
        a, b = sum(this[m] for m in same), sum(before[m] for m in same)
        now_n.append(a if same else None), prev_n.append(b if same else None)
        pct.append(round((a - b) * 100.0 / b, 1) if same and b > 0 else None)
        incomplete, reported_months = state[(agency, year)]
        prev_incomplete, prev_reported = state.get((agency, year - 1), (True, 0))
        if incomplete or prev_incomplete or not reported_months or not prev_reported or not same:
            p_values.append(None), significant.append(None)
            continue
        p = stats.compare_counts(a, b, people.get((agency, year)), people.get((agency, year - 1)))
        p_values.append(round(p, 4)), significant.append(p < stats.ALPHA)
    out["victims_same_months"], out["victims_same_months_prev_year"] = now_n, prev_n
    out["change_pct_same_months"], out["change_p_value"], out["change_significant"] = pct, p_values, significant
    out["unstable"] = out["victims"] < stats.UNSTABLE_BELOW
    return out


def as_nullable(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns holding None where pandas would put NaN (DuckDB gets NULLs)."""
    return frame.astype(object).where(frame.notna(), None).replace({np.nan: None})
