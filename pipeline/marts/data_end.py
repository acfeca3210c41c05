"""Where an agency's data end: the last month with data in marts.reporting_completeness.

A year is "in progress" for pages and reports only up to that month, and data that end long
before a page's or report's date get a visible note (STALE_MONTHS).
"""

from __future__ import annotations

import pandas as pd

STALE_MONTHS = 2  # data that end more months than this before a page's or report's date are noted


def last_month_with_data(months: pd.DataFrame) -> tuple[int, int] | None:
    """The last (year, month) with data among reporting_completeness rows, or None: where the
    data end, which a year 'in progress' and a note on stale data are measured from."""
    with_data = months[months["has_data"].astype(bool)] if len(months) else months
    if with_data.empty:
        return None
    return max((int(y), int(m)) for y, m in zip(with_data["year"], with_data["month"]))


def months_between(start: tuple[int, int], end: tuple[int, int]) -> int:
    return (end[0] - start[0]) * 12 + end[1] - start[1]
