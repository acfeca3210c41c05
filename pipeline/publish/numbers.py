"""Numbers as people read them, and the year-on-year rows everyone reads: what `ppa yoy`
and `ppa compare` need, without pandas (the command line answers faster without it). The
report's views (views.py) use the same functions.
"""

from __future__ import annotations

from pipeline.marts.stats import missing

# The year-on-year rows everyone reads (`ppa yoy`, `ppa compare`, the report, the notebook): the mart,
# its rate and interval, and the open data-quality flags that are not mere information.
YOY_SQL = """
    SELECT y.*, v.victims_per_100k, v.victims_per_100k_ci_low, v.victims_per_100k_ci_high,
           coalesce(f.open_flags, 0) AS open_flags
    FROM marts.yoy_by_region y JOIN marts.victims_by_region_year v USING (agency, year)
    LEFT JOIN (SELECT agency, year, count(*) AS open_flags FROM marts.dq_flags
               WHERE status = 'open' AND severity <> 'info' GROUP BY ALL) f USING (agency, year)
    """


def is_true(value: object) -> bool:
    return not is_missing(value) and bool(value)


def is_missing(value: object) -> bool:
    """None, NaN, NaT or pandas' NA (stats.missing: one rule for every reader, without pandas)."""
    return missing(value)


def fmt_num(value: object, digits: int = 0, sign: bool = False) -> str:
    """Plain number for the terminal: '-' for missing."""
    if is_missing(value):
        return "-"
    text = f"{float(value):+.{digits}f}" if sign else f"{float(value):.{digits}f}"
    return text


def fmt_id(value: object, digits: int = 0, sign: bool = False) -> str:
    """A number the Indonesian way: 1.256.610 and 12,5; '–' when missing."""
    if is_missing(value):
        return "–"
    text = f"{float(value):{'+' if sign else ''},.{digits}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def interval(low: object, high: object, digits: int = 0, indonesian: bool = True) -> str:
    """A 95% interval as '34–61' ('12,3–14,4' with digits); '' when there is none."""
    if is_missing(low) or is_missing(high):
        return ""
    if indonesian:
        return f"{fmt_id(low, digits)}–{fmt_id(high, digits)}"
    return f"{fmt_num(low, digits)}–{fmt_num(high, digits)}"
