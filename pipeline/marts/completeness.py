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

    Built on whole columns (a grid of agency-months joined to what was staged, covered and
    recapped), not month by month: 43,000 agency-months at national scale.
    """
    columns = ["agency", "year", "month", "month_start", "has_data", "victims", "rows_staged", "file_count",
               "source_files", "coverage_status", "due_date", "first_reported_at", "on_time", "source"]
    recaps = recaps if recaps is not None else pd.DataFrame(columns=["agency", "month_start", "victims", "reported",
                                                                     "first_reported_at"])
    starts = pd.concat([pd.to_datetime(f["month_start"]) for f in (staged, covered, recaps) if len(f)] or
                       [pd.Series(dtype="datetime64[ns]")])
    if starts.dropna().empty:
        return pd.DataFrame(columns=columns)
    first_year = starts.min().year
    grid = _month_grid(agencies, first_year, now)
    key = ["agency", "month_index"]
    staged = _indexed(staged, first_year)
    case_years = pd.MultiIndex.from_arrays([staged["agency"], first_year + staged["month_index"] // 12])
    staged = staged[[*key, "victims", "rows_staged", "source_files"]]
    covered = _indexed(covered, first_year).groupby(key, sort=False)["first_reported_at"].min()
    recaps = _indexed(recaps, first_year).rename(columns={"victims": "recap_victims",
                                                          "first_reported_at": "recap_seen"})
    g = grid.merge(staged, on=key, how="left").merge(
        recaps[[*key, "recap_victims", "reported", "recap_seen"]], on=key, how="left")
    # a recap's month is covered from when its file came: the earlier of the two
    in_covered = pd.MultiIndex.from_frame(g[key]).isin(covered.index)
    in_recap = g["reported"].notna().to_numpy()
    seen = _naive_utc(g[key].merge(covered.rename("cov").reset_index(), on=key, how="left")["cov"])
    recap_seen = _naive_utc(g["recap_seen"])
    earlier = in_recap & (seen.isna() | (recap_seen < seen)).to_numpy()
    seen[earlier] = recap_seen[earlier]
    got = g["rows_staged"].notna().to_numpy()
    rows = g["rows_staged"].fillna(0).astype(int).to_numpy()
    recap_reported = g["reported"].fillna(False).astype(bool).to_numpy()
    due = g["due"].to_numpy()
    reported_any = (in_covered | in_recap) | (rows + recap_reported > 0)
    state = np.where(reported_any, np.where(rows + recap_reported > 0, "reported", "reported_zero"),
                     np.where(g["today"].to_numpy() > due, "missing", "not_due"))
    year = g["year"].to_numpy()
    case_year = pd.MultiIndex.from_arrays([g["agency"], year]).isin(case_years)
    from_recap = ~case_year & in_recap
    victims = pd.Series(g["victims"].fillna(0).astype(int).to_numpy(), dtype=object)
    recap_victims = g["recap_victims"].astype(object)
    victims[from_recap] = [None if pd.isna(v) else int(v) for v in recap_victims[from_recap]]
    source = np.where(from_recap, "recap", np.where(got, "cases", None))
    shown = np.isin(state, REPORTED) & seen.notna().to_numpy()
    on_time_values = np.full(len(g), None, dtype=object)
    for tz, rows_tz in g.groupby("timezone", sort=False).indices.items():
        pick = rows_tz[shown[rows_tz]]
        if len(pick):
            local = seen.iloc[pick].dt.tz_localize("UTC").dt.tz_convert(ZoneInfo(tz)).dt.date.to_numpy()
            on_time_values[pick] = local <= due[pick]
    files = g["source_files"]
    files = [list(f) if isinstance(f, (list, np.ndarray)) else [] for f in files]
    out = pd.DataFrame({
        "agency": g["agency"], "year": year, "month": g["month"], "month_start": g["month_start"],
        "has_data": got | recap_reported, "victims": victims, "rows_staged": rows,
        "file_count": [len(f) for f in files], "source_files": files, "coverage_status": state, "due_date": due,
        "first_reported_at": seen.astype(object).where(shown, None),
        "on_time": on_time_values, "source": source})
    return out[columns]


def _month_grid(agencies: pd.DataFrame, first_year: int, now: dt.datetime) -> pd.DataFrame:
    """Every registered agency's months from January of `first_year` to its month of `now`,
    with each month's due date and the agency's day of `now`."""
    codes, zones, todays, counts, due_days = [], [], [], [], []
    for agency, tz, due_day in agencies[["agency", "timezone", "report_due_day"]].itertuples(index=False):
        today = local_date(now, tz)
        codes.append(agency), zones.append(tz), todays.append(today), due_days.append(int(due_day))
        counts.append(max(0, (today.year - first_year) * 12 + today.month))
    if not codes:
        return pd.DataFrame(columns=["agency", "timezone", "today", "month_index", "due_day", "year", "month",
                                     "month_start", "due"])
    counts = np.array(counts, dtype=int)
    which = np.repeat(np.arange(len(codes)), counts)  # the agency of each month
    index = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)  # 0, 1, ... per agency

    def picked(values: list) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out[which]

    grid = pd.DataFrame({"agency": picked(codes), "timezone": picked(zones), "today": picked(todays),
                         "month_index": index, "due_day": np.array(due_days, dtype=int)[which]})
    grid["year"], grid["month"] = first_year + index // 12, index % 12 + 1
    starts = {i: dt.date(first_year + i // 12, i % 12 + 1, 1) for i in range(int(counts.max()) + 1)}
    grid["month_start"] = [starts[i] for i in index]
    keys = list(zip(index.tolist(), grid["due_day"].tolist()))  # the due day of the month after
    due = {(i, d): dt.date(first_year + (i + 1) // 12, (i + 1) % 12 + 1, d) for i, d in set(keys)}
    grid["due"] = [due[key] for key in keys]
    return grid


def _indexed(frame: pd.DataFrame, first_year: int) -> pd.DataFrame:
    """`frame`'s rows with a month, that month as a number counted from January of `first_year`."""
    starts = pd.to_datetime(frame["month_start"])
    frame, starts = frame[starts.notna()], starts[starts.notna()]
    return frame.assign(month_index=((starts.dt.year - first_year) * 12 + starts.dt.month - 1).astype("int64"))


def _naive_utc(times: pd.Series) -> pd.Series:
    """Times as naive UTC datetimes (the ledger's), NaT where missing."""
    times = pd.to_datetime(times.reset_index(drop=True))
    return times.dt.tz_convert("UTC").dt.tz_localize(None) if times.dt.tz is not None else times


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
    shown = out["with_data"].to_numpy(dtype=bool)
    victims = np.where(shown, pd.to_numeric(out["victims"]).to_numpy(dtype="float64", na_value=0.0), 0.0)
    low, high = stats.poisson_ci_array(victims)
    population = pd.to_numeric(out["population"]).to_numpy(dtype="float64", na_value=np.nan)
    has_rate = shown & (population > 0)  # rate_ci: no rate without a population
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_low, rate_high = low / population * 100_000.0, high / population * 100_000.0

    def rounded(values: np.ndarray, keep: np.ndarray, digits: int) -> list:
        return [round(float(v), digits) if k else None for v, k in zip(values, keep)]

    out["victims_ci_low"], out["victims_ci_high"] = rounded(low, shown, 3), rounded(high, shown, 3)
    out["victims_per_100k_ci_low"] = rounded(rate_low, has_rate, 2)
    out["victims_per_100k_ci_high"] = rounded(rate_high, has_rate, 2)
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
    per_month: dict[tuple, dict] = {}
    for a, y, m, v in zip(reported["agency"], reported["year"], reported["month"], reported["victims"]):
        per_month.setdefault((a, y), {})[m] = v
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
