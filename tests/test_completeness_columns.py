"""marts.reporting_completeness built on whole columns equals the month-by-month loop it
replaced, on seeded random agencies, files, coverage and recaps (every branch of the loop)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from pipeline.marts import completeness

ZONES = ("Asia/Makassar", "Asia/Jakarta", "Asia/Jayapura")


def loop_frame(agencies: pd.DataFrame, staged: pd.DataFrame, covered: pd.DataFrame,
                       now: dt.datetime, recaps: pd.DataFrame | None = None) -> pd.DataFrame:
    """The month-by-month loop completeness_frame replaced (commit before 28): the reference."""
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
        today = completeness.local_date(now, tz)
        for month in pd.date_range(first, dt.date(today.year, today.month, 1), freq="MS").date:
            key = (agency, month)
            got = staged_at.loc[key] if staged_at is not None and key in staged_at.index else None
            rows = int(got["rows_staged"]) if got is not None else 0
            due = completeness.due_date(month.year, month.month, int(due_day))
            recap_victims, recap_reported, _ = recap_at.get(key, (None, False, None))
            state = completeness.status(key in covered_at, rows + recap_reported, due, today)
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
                "due_date": due, "first_reported_at": first_seen if state in completeness.REPORTED else None,
                "on_time": completeness.on_time(state, first_seen, due, tz), "source": source})
    return pd.DataFrame.from_records(records, columns=columns)


def inputs(seed: int):
    """Agencies, staged months, covered months and recaps, with gaps, zero-row coverage,
    recap-only years, recaps without victims and months after the run."""
    rng = np.random.default_rng(seed)
    codes = [f"a{i:02d}" for i in range(12)]
    agencies = pd.DataFrame({"agency": codes, "timezone": [ZONES[i % 3] for i in range(12)],
                             "report_due_day": rng.integers(5, 16, 12)})
    months = pd.date_range("2021-01-01", "2025-12-01", freq="MS")

    def pick(share, skip_years=False):  # staged rows skip a year in three: recaps give those years
        return [(a, m) for i, a in enumerate(codes) for m in months
                if rng.random() < share and not (skip_years and (i + m.year) % 3 == 0)]

    staged = pd.DataFrame([{"agency": a, "month_start": m.date(), "victims": int(rng.integers(0, 9)),
                            "rows_staged": int(rng.integers(1, 12)),
                            "source_files": sorted({f"{a}/f{rng.integers(0, 4)}.xlsx" for _ in range(2)})}
                           for a, m in pick(0.5, skip_years=True)])

    def seen(month):  # within days of the due date, either side, in UTC hours
        return month + pd.DateOffset(months=1) + pd.Timedelta(hours=int(rng.integers(0, 24 * 25)))

    covered = pd.DataFrame([{"agency": a, "month_start": m.date(), "first_reported_at": seen(m)} for a, m in pick(0.5)])
    recaps = pd.DataFrame([{"agency": a, "month_start": m, "victims": None if rng.random() < 0.3 else
                            int(rng.integers(0, 5)), "reported": bool(rng.random() < 0.7), "first_reported_at": seen(m)}
                           for a, m in pick(0.2)]).astype({"victims": "Int64"})
    return agencies, staged, covered, recaps


def same(frame: pd.DataFrame) -> list:
    return [[None if (not isinstance(v, (list, np.ndarray)) and pd.isna(v)) else
             (list(v) if isinstance(v, (list, np.ndarray)) else v) for v in row]
            for row in frame.astype(object).itertuples(index=False)]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("now", [dt.datetime(2025, 11, 14, 3, 0), dt.datetime(2025, 3, 10, 16, 30)])
def test_columns_equal_the_loop(seed, now):
    agencies, staged, covered, recaps = inputs(seed)
    got = completeness.completeness_frame(agencies, staged, covered, now, recaps)
    want = loop_frame(agencies, staged, covered, now, recaps)
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    assert same(got) == same(want)
    assert set(got["coverage_status"]) == set(completeness.STATUSES)
    assert {"cases", "recap"} <= set(got["source"]) and got["source"].isna().any()
    assert {True, False} <= set(got["on_time"].dropna())


def test_without_recaps_and_without_data():
    agencies, staged, covered, _ = inputs(4)
    now = dt.datetime(2025, 11, 14)
    assert same(completeness.completeness_frame(agencies, staged, covered, now)) == same(
        loop_frame(agencies, staged, covered, now))
    empty = completeness.completeness_frame(agencies, staged.iloc[:0], covered.iloc[:0], now)
    assert empty.empty and list(empty.columns) == list(loop_frame(agencies, staged.iloc[:0], covered.iloc[:0], now).columns)
