"""marts.recap_reconciliation (data contract, section 9): where an agency-year has both staged
case rows and a recap, the recap's count against the staged count, per measure, with what
explains their difference:

- rows_rejected: rejected register rows of the year (on a sheet whose stated period lies in
  it, else dated in it by the report date as written): a recap made from the register counts
  them, staging does not;
- rows_superseded: rows replaced by the same victim in a file received later, whose kept row
  is dated in the year (a recap made from both files counts the victim twice);
- rows_other_year: staged victims on register sheets of the year dated in another year, minus
  victims dated in the year on sheets of another year (a recap counts by sheet, staging by
  report date).

When a recap was made from the same register, difference = rows_rejected + rows_other_year
(+ rows_superseded for a recap that counted duplicates). Plain functions over frames.
"""

from __future__ import annotations

import pandas as pd

from pipeline.contract import Contract, load_contract
from pipeline.staging.values import parse_date

STAGED = """
    SELECT agency, year, sum(is_victim::INT) AS victims, sum(counts_case::INT) AS cases
    FROM staging.case_victims GROUP BY ALL
    """
REJECTED = """
    SELECT r.agency, r."values"->>'report_date' AS report_date, s.period_start, s.period_end
    FROM staging.rejected_rows r
    LEFT JOIN meta.sheets s ON s.agency = r.agency AND s.path = r._source_file AND s.sheet = r._source_sheet
    """
SUPERSEDED = """
    SELECT s.agency, c.year, count(*) AS rows
    FROM staging.superseded_rows s
    JOIN staging.case_victims c ON c.agency = s.agency AND c.case_id = s.case_id AND c.victim_seq = s.victim_seq
    GROUP BY ALL
    """
OTHER_YEAR = """
    WITH moved AS (
        SELECT c.agency, c.year, year(s.period_start) AS sheet_year
        FROM staging.case_victims c
        JOIN meta.sheets s ON s.agency = c.agency AND s.path = c._source_file AND s.sheet = c._source_sheet
        WHERE c.is_victim AND year(s.period_start) = year(s.period_end) AND c.year <> year(s.period_start))
    SELECT agency, year, sum(n)::INTEGER AS rows
    FROM (SELECT agency, sheet_year AS year, 1 AS n FROM moved UNION ALL SELECT agency, year, -1 FROM moved)
    GROUP BY ALL
    """
COLUMNS = ["agency", "year", "measure", "recap_count", "staged_count", "difference", "rows_rejected",
           "rows_superseded", "rows_other_year", "source_files"]


def rejected_years(rejected: pd.DataFrame, contract: Contract | None = None) -> pd.Series:
    """The year each rejected row belongs to: its sheet's stated year, else its report date's (or None)."""
    contract = contract or load_contract()
    years = []
    for text, start, end in rejected[["report_date", "period_start", "period_end"]].itertuples(index=False):
        if start is not None and not pd.isna(start) and pd.Timestamp(start).year == pd.Timestamp(end).year:
            years.append(pd.Timestamp(start).year)
            continue
        day = parse_date(text, contract) if isinstance(text, str) else None
        years.append(day.year if day is not None else None)
    return pd.Series(years, index=rejected.index, dtype="Int64")


def reconciliation_frame(recap: pd.DataFrame, staged: pd.DataFrame, rejected: pd.DataFrame,
                         superseded: pd.DataFrame, other_year: pd.DataFrame) -> pd.DataFrame:
    """One row per agency, year and measure where the recap (recap_years) and the staged rows
    (STAGED) both give a count; the explaining rows from REJECTED, SUPERSEDED and OTHER_YEAR."""
    counts = {(a, int(y)): (v, c) for a, y, v, c in staged[["agency", "year", "victims", "cases"]].itertuples(index=False)}
    by_year = rejected.assign(year=rejected_years(rejected)).dropna(subset=["year"]) if len(rejected) else rejected
    n_rejected = by_year.groupby(["agency", "year"]).size().to_dict() if len(by_year) else {}
    n_superseded = {(a, int(y)): int(n) for a, y, n in superseded.itertuples(index=False)}
    n_moved = {(a, int(y)): int(n) for a, y, n in other_year.itertuples(index=False)}
    rows = []
    for r in recap.to_dict("records"):
        key = (r["agency"], int(r["year"]))
        if key not in counts:
            continue
        for measure, at in (("victims", 0), ("cases", 1)):
            value = r[measure]
            if value is None or pd.isna(value):
                continue
            count = int(counts[key][at])
            rows.append({"agency": key[0], "year": key[1], "measure": measure, "recap_count": int(value),
                         "staged_count": count, "difference": int(value) - count,
                         "rows_rejected": int(n_rejected.get(key, 0)), "rows_superseded": n_superseded.get(key, 0),
                         "rows_other_year": n_moved.get(key, 0), "source_files": list(r["source_files"])})
    return pd.DataFrame(rows, columns=COLUMNS)
