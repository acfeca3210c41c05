"""Two agencies' year-on-year tables side by side (`ppa compare A B`) and the year-on-year
table (`ppa yoy`), with each count's 95% interval, each change in words with whether it is
more than chance, unstable counts, and incomplete years and open data-quality flags marked.

The rows are plain dictionaries, as DuckDB gives them: the commands answer without importing
pandas (compare_table gives a DataFrame for those who want one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipeline.marts.sql import USAGE_WARNING
from pipeline.marts.stats import describe_change
from pipeline.publish import numbers
from pipeline.publish.numbers import YOY_SQL, fmt_num, is_missing

if TYPE_CHECKING:
    import pandas as pd

COMPARE_FIELDS = ["victims", "victims_ci_low", "victims_ci_high", "change_abs", "change_pct", "change_pct_same_months",
                  "change_significant", "change_p_value", "unstable", "cases", "victims_per_100k", "incomplete",
                  "in_progress", "open_flags"]
NOTES = [
    "95% interval: the range a count this size moves in by chance alone (exact Poisson). (rentang kepercayaan 95%)",
    "change: in words, 'bermakna' when the exact test says it is more than chance (p < 0.05), 'belum bermakna' "
    "when it may be chance, with the test's p-value; a year in progress or incomplete is compared over the months "
    "reported in both years (bulan yang sama).",
    "unstable: fewer than 20 victims, too few for a reliable rate (tidak stabil, < 20 korban).",
    "INCOMPLETE: a month of that year has no report and is past its due date (a missing export): the count is "
    "too low and the change is not tested. A month reported as zero (laporan nihil, or no case in a register "
    "that covers it) is not missing. (tahun tidak lengkap)",
    "flags: open data-quality flags of that year (`ppa dq list`). (temuan kualitas data)",
    USAGE_WARNING,
]

# ---------------------------------------------------------------- compare

def compare_rows(analytics_path: Path | str, a: str, b: str) -> list[dict]:
    """Agencies a and b side by side by year, one dictionary per year.

    Keys: year, then for each agency `<code>_<field>` for the fields in COMPARE_FIELDS, plus
    `<code>_months_reported` and `<code>_months_expected` (the last year only counts months
    up to the latest data); None where an agency has no row for the year.
    """
    if a == b:
        raise ValueError("pick two different agencies")
    with _connect(analytics_path) as con:
        known = [r[0] for r in con.execute("SELECT agency FROM meta.agencies ORDER BY agency").fetchall()]
        for code in (a, b):
            if code not in known:
                raise ValueError(f"unknown agency {code!r}; known: {', '.join(known)}")
        found = _dicts(con.execute(f"SELECT * FROM ({YOY_SQL}) WHERE agency IN (?, ?) ORDER BY year", [a, b]))
    fields = [*COMPARE_FIELDS, "months_reported", "months_expected"]
    by_key = {(r["agency"], r["year"]): r for r in found}
    out = []
    for year in sorted({r["year"] for r in found}):
        row = {"year": int(year)}
        for code in (a, b):
            got = by_key.get((code, year), {})
            row.update({f"{code}_{f}": got.get(f) for f in fields})
        out.append(row)
    return out


def compare_table(analytics_path: Path | str, a: str, b: str) -> pd.DataFrame:
    """compare_rows as a DataFrame (year as int64)."""
    import pandas as pd

    rows = compare_rows(analytics_path, a, b)
    return pd.DataFrame(rows).astype({"year": "int64"}) if rows else pd.DataFrame({"year": pd.Series(dtype="int64")})


def _connect(analytics_path: Path | str) -> duckdb.DuckDBPyConnection:
    """The analytics copy, read-only (FileNotFoundError, saying what to do, when there is none)."""
    path = Path(analytics_path)
    if not path.exists():
        raise FileNotFoundError(f"no analytics copy at {path}: run `ppa run` first")
    return duckdb.connect(str(path), read_only=True)


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _rows(table) -> list[dict]:
    """Rows as dictionaries, from a list of them or a DataFrame."""
    return table.to_dict("records") if hasattr(table, "to_dict") else list(table)


def _agencies_in(row: dict) -> list[str]:
    return [c[: -len("_victims")] for c in row if c.endswith("_victims")]


def interval(low, high) -> str:
    """A 95% interval as '34–61'."""
    return numbers.interval(low, high, indonesian=False)


def change_text(row, prefix: str = "") -> str:
    """The change of a row in words, over the same months when the year is in progress."""
    return describe_change(row, prefix, decimal=".")


def _note(row, prefix: str = "") -> str:
    reported, expected = row.get(f"{prefix}months_reported"), row.get(f"{prefix}months_expected")
    parts = []
    if row.get(f"{prefix}incomplete") is True and not is_missing(reported):
        parts.append(f"INCOMPLETE {int(reported)}/{int(expected)} mo")
    if row.get(f"{prefix}in_progress") is True and not is_missing(expected):
        parts.append(f"to date ({int(expected)} mo)")
    if row.get(f"{prefix}unstable") is True:
        parts.append("unstable")
    flags = row.get(f"{prefix}open_flags")
    if not is_missing(flags) and int(flags) > 0:
        parts.append(f"{int(flags)} flag{'s' if int(flags) > 1 else ''}")
    return ", ".join(parts)


def format_compare(table) -> str:
    """compare_rows() (or compare_table()) as a plain-text table, with the notes and the usage warning below it."""
    from tabulate import tabulate

    rows = _rows(table)
    codes = _agencies_in(rows[0]) if rows else []
    lines = []
    for row in rows:
        line = [int(row["year"])]
        for code in codes:
            p = f"{code}_"
            line += [fmt_num(row[f"{p}victims"]), interval(row[f"{p}victims_ci_low"], row[f"{p}victims_ci_high"]),
                     change_text(row, p), fmt_num(row[f"{p}victims_per_100k"], 2), _note(row, p)]
        lines.append(line)
    headers = ["year"]
    for code in codes:
        headers += [f"{code}\nvictims", f"{code}\n95% CI", f"{code}\nchange", f"{code}\nper 100k", f"{code}\nnote"]
    text = tabulate(lines, headers=headers, tablefmt="simple", disable_numparse=True)
    return f"{text}\n\n" + "\n".join(NOTES)


def yoy_table(analytics_path: Path | str, agency: str | None = None) -> list[dict]:
    """Every agency's year-on-year rows (or one agency's), as `ppa yoy` prints them."""
    where = "" if agency is None else "WHERE agency = ?"
    with _connect(analytics_path) as con:
        found = _dicts(con.execute(f"SELECT * FROM ({YOY_SQL}) {where} ORDER BY agency, year",
                                   [] if agency is None else [agency]))
    return [{"agency": r["agency"], "year": r["year"], "victims": fmt_num(r["victims"]),
             "95% CI": interval(r["victims_ci_low"], r["victims_ci_high"]), "prev": fmt_num(r["victims_prev_year"]),
             "change": change_text(r), "cases": fmt_num(r["cases"]), "per 100k": fmt_num(r["victims_per_100k"], 2),
             "note": _note(r)} for r in found]


def format_yoy(table: list[dict]) -> str:
    from tabulate import tabulate

    return (tabulate(table, headers="keys", tablefmt="simple", showindex=False, disable_numparse=True)
            + "\n\n" + "\n".join(NOTES))
