"""Two agencies' year-on-year tables side by side (`ppa compare A B`), with
incomplete years marked.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from pipeline.marts.sql import USAGE_WARNING
from pipeline.publish.views import fmt_num, is_missing

COMPARE_FIELDS = ["victims", "change_abs", "change_pct", "cases", "victims_per_100k", "incomplete"]

# ---------------------------------------------------------------- compare

def compare_table(analytics_path: Path | str, a: str, b: str) -> pd.DataFrame:
    """Agencies a and b side by side by year.

    Columns: year, then for each agency `<code>_<field>` for the fields in
    COMPARE_FIELDS, plus `<code>_months_reported` and `<code>_months_expected`
    (the last year only counts months up to the latest data).
    """
    if a == b:
        raise ValueError("pick two different agencies")
    path = Path(analytics_path)
    if not path.exists():
        raise FileNotFoundError(f"no analytics copy at {path}: run `ppa run` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        known = [r[0] for r in con.execute("SELECT agency FROM meta.agencies ORDER BY agency").fetchall()]
        for code in (a, b):
            if code not in known:
                raise ValueError(f"unknown agency {code!r}; known: {', '.join(known)}")
        frame = con.execute(
            "SELECT y.agency, y.year, y.victims, y.change_abs, y.change_pct, y.cases, v.victims_per_100k, "
            "y.incomplete, y.months_reported, y.months_expected "
            "FROM marts.yoy_by_region y JOIN marts.victims_by_region_year v USING (agency, year) "
            "WHERE y.agency IN (?, ?) ORDER BY y.year", [a, b]).df()
    finally:
        con.close()
    fields = [*COMPARE_FIELDS, "months_reported", "months_expected"]
    out = pd.DataFrame({"year": pd.Series(sorted(frame["year"].unique()), dtype="int64")})
    for code in (a, b):
        part = frame[frame["agency"] == code][["year", *fields]]
        out = out.merge(part.rename(columns={f: f"{code}_{f}" for f in fields}), on="year", how="left")
    return out


def _agencies_in(df: pd.DataFrame) -> list[str]:
    return [c[: -len("_victims")] for c in df.columns if c.endswith("_victims")]


def _compare_note(row: pd.Series, code: str) -> str:
    reported, expected = row.get(f"{code}_months_reported"), row.get(f"{code}_months_expected")
    if is_missing(reported) or is_missing(expected):
        return ""
    parts = []
    if int(reported) < int(expected):  # months that sent nothing (a year in progress is noted below)
        parts.append(f"INCOMPLETE {int(reported)}/{int(expected)} mo")
    if int(expected) < 12:
        parts.append(f"to date ({int(expected)} mo)")
    return ", ".join(parts)


def format_compare(df: pd.DataFrame) -> str:
    """compare_table() as a plain-text table, with the notes and the usage warning below it."""
    from tabulate import tabulate

    codes = _agencies_in(df)
    rows = []
    for _, row in df.iterrows():
        line = [int(row["year"])]
        for code in codes:
            line += [
                fmt_num(row[f"{code}_victims"]), fmt_num(row[f"{code}_change_abs"], sign=True),
                fmt_num(row[f"{code}_change_pct"], 1, sign=True), fmt_num(row[f"{code}_cases"]),
                fmt_num(row[f"{code}_victims_per_100k"], 2), _compare_note(row, code),
            ]
        rows.append(line)
    headers = ["year"]
    for code in codes:
        headers += [f"{code}\nvictims", f"{code}\nchange", f"{code}\nchange %", f"{code}\ncases",
                    f"{code}\nper 100k", f"{code}\nnote"]
    table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    notes = [
        "INCOMPLETE: some months of that year sent no data (a missing export): the count is too low, and "
        "a change to or from that year is not comparable. (tahun tidak lengkap)",
        "to date: the latest year, counted up to the latest month with data. (tahun berjalan)",
        USAGE_WARNING,
    ]
    return f"{table}\n\n" + "\n".join(notes)


