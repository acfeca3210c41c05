"""Building the marts: the registry tables (agencies, population, kecamatan) and every
mart, in one transaction, each checked against its declaration.

Most marts are SQL (marts/sql.py). reporting_completeness and dq_flags are built in
Python from frames the SQL gives (marts/completeness.py, marts/quality.py), and
victims_by_region_year and yoy_by_region get their intervals and tests in Python after
their SQL (DuckDB has no exact chi-square quantile).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from pipeline.marts import completeness, quality, reconciliation
from pipeline.marts.recaps import COUNTED_CELLS, recap_months, recap_years
from pipeline.marts.sql import ALL_MARTS, COVERED_MONTHS, FORM_TOTALS, MARTS, STAGED_MONTHS, USAGE_WARNING
from pipeline.registry import Agency, population_series
from pipeline.warehouse import tables
from pipeline.warehouse.db import insert_frame, query_df, sql_literal, transaction


class MartColumnsDiffer(RuntimeError):
    """A mart's SQL gives other columns or types than warehouse/tables.py declares."""


def check_columns(con: duckdb.DuckDBPyConnection, declared: tables.Table) -> None:
    """Raise MartColumnsDiffer when the built table's columns and types are not the declared ones."""
    got = [tuple(r) for r in con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? ORDER BY column_index", declared.name.split(".")).fetchall()]
    want = [(c.name, c.type) for c in declared.columns]
    if got != want:
        raise MartColumnsDiffer(f"{declared.name}: built {got}, declared {want}")


def registry_frames(agencies: tuple[Agency, ...], years: list[int]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """meta.agencies, meta.population (with interpolation flags) and meta.kecamatan from the registry."""
    agency_rows = [
        {"agency": a.code, "name": a.name, "region_name": a.region_name, "kabkota_code": a.kemendagri_code,
         "bps_code": a.bps_code, "timezone": a.timezone,
         "report_due_day": a.report_due_day}
        for a in agencies
    ]
    pop_rows = []
    for a in agencies:
        people = population_series(a.population, years)
        children = population_series(a.children, years)
        for year in years:
            pop_rows.append({"agency": a.code, "year": year, "population": people[year][0],
                             "population_estimated": people[year][1], "children": children[year][0],
                             "children_estimated": children[year][1]})
    kecamatan = pd.DataFrame(
        [{"agency": a.code, "kecamatan_code": code, "kecamatan_name": names[0]}
         for a in agencies for code, names in a.kecamatan.items()],
        columns=tables.KECAMATAN.names)
    return (pd.DataFrame(agency_rows, columns=tables.AGENCIES.names),
            pd.DataFrame(pop_rows, columns=tables.POPULATIONS.names), kecamatan)


def _completeness(con: duckdb.DuckDBPyConnection, now: dt.datetime, recaps: pd.DataFrame) -> pd.DataFrame:
    return completeness.completeness_frame(
        query_df(con, "SELECT agency, timezone, report_due_day FROM meta.agencies ORDER BY agency"),
        query_df(con, STAGED_MONTHS), query_df(con, COVERED_MONTHS), now, recaps)


def _reconciliation(con: duckdb.DuckDBPyConnection, recap: pd.DataFrame) -> pd.DataFrame:
    return reconciliation.reconciliation_frame(
        recap, query_df(con, reconciliation.STAGED), query_df(con, reconciliation.REJECTED),
        query_df(con, reconciliation.SUPERSEDED), query_df(con, reconciliation.OTHER_YEAR))


def _region_year(con: duckdb.DuckDBPyConnection, base: pd.DataFrame) -> pd.DataFrame:
    reported = query_df(con, "SELECT agency, year, count(*) AS n FROM marts.reporting_completeness "
                             "WHERE coverage_status IN ('reported', 'reported_zero') GROUP BY ALL")
    with_data = set(zip(reported["agency"], reported["year"]))
    base = base.assign(with_data=[bool(h) or (a, y) in with_data
                                  for a, y, h in zip(base["agency"], base["year"], base["has_data"])])
    return completeness.year_stats(base)


def _yoy(con: duckdb.DuckDBPyConnection, base: pd.DataFrame) -> pd.DataFrame:
    out = completeness.yoy_stats(
        base, query_df(con, "SELECT agency, year, month, victims, coverage_status FROM marts.reporting_completeness"),
        query_df(con, "SELECT agency, year, population FROM meta.population"))
    intervals = query_df(con, "SELECT agency, year, victims_ci_low, victims_ci_high FROM marts.victims_by_region_year")
    return out.merge(intervals, on=["agency", "year"], how="left")


def _dq_flags(con: duckdb.DuckDBPyConnection, agencies: tuple[Agency, ...]) -> pd.DataFrame:
    return quality.dq_frame(
        query_df(con, "SELECT * FROM marts.reporting_completeness"), query_df(con, "SELECT * FROM marts.yoy_by_region"),
        query_df(con, "SELECT * FROM marts.victims_by_region_year"), query_df(con, FORM_TOTALS),
        {a.code: a.report_due_day for a in agencies},
        query_df(con, "SELECT flag_id, status, note FROM meta.dq_reviews"))


ORDER = ALL_MARTS


def build_marts(con: duckdb.DuckDBPyConnection, agencies: tuple[Agency, ...],
                now: dt.datetime | None = None) -> dict[str, int]:
    """Rebuild meta.agencies, meta.population and every mart in one transaction. `now` (UTC) is
    the time of the run: it decides which months are due."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    cells = query_df(con, COUNTED_CELLS)
    recap, forms = recap_years(cells)
    lo_hi = con.execute("SELECT min(year), max(year) FROM (SELECT year FROM staging.case_victims "
                        "UNION ALL SELECT unnest(?::INTEGER[]))", [recap["year"].astype(int).tolist()]).fetchall()[0]
    years = list(range(lo_hi[0], lo_hi[1] + 1)) if lo_hi[0] is not None else []
    registry = registry_frames(agencies, years)
    counts: dict[str, int] = {}
    # the recaps' years and forms, as the SQL of the marts reads them (marts/sql.py)
    con.register("recap_years", recap.drop(columns="source_files"))
    con.register("recap_forms", forms)
    try:
        with transaction(con):
            for table, frame in zip(tables.REGISTRY, registry):
                con.execute(table.ddl(replace_table=True))
                insert_frame(con, table.name, frame)
            for name in ORDER:
                declared = tables.mart(name)
                frame = None
                if name == "reporting_completeness":
                    frame = _completeness(con, now, recap_months(cells))
                elif name == "recap_reconciliation":
                    frame = _reconciliation(con, recap)
                elif name == "dq_flags":
                    frame = _dq_flags(con, agencies)
                else:
                    con.execute(f"CREATE OR REPLACE TABLE {declared.name} AS {MARTS[name]}")
                    if name in FINISH:
                        frame = FINISH[name](con, query_df(con, f"SELECT * FROM {declared.name}"))
                if frame is not None:
                    con.execute(declared.ddl(replace_table=True))
                    insert_frame(con, declared.name, completeness.as_nullable(frame[declared.names]))
                check_columns(con, declared)
                con.execute(f"COMMENT ON TABLE {declared.name} IS "
                            f"{sql_literal(declared.description + ' ' + USAGE_WARNING)}")
                counts[name] = con.execute(f"SELECT count(*) FROM {declared.name}").fetchall()[0][0]
    finally:
        con.unregister("recap_years")
        con.unregister("recap_forms")
    return counts


# SQL marts that get columns computed in Python after their SQL.
FINISH = {"victims_by_region_year": _region_year, "yoy_by_region": _yoy}
