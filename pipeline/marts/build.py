"""Building the marts: the registry tables (agencies, population, kecamatan) and every
mart of marts/sql.py, in one transaction, each checked against its declaration."""

from __future__ import annotations

import duckdb
import pandas as pd

from pipeline.marts.sql import MARTS, USAGE_WARNING
from pipeline.registry import Agency, population_series
from pipeline.warehouse import tables
from pipeline.warehouse.db import insert_frame, sql_literal, transaction


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
         "bps_code": a.bps_code, "timezone": a.timezone, "expected_interval_days": a.expected_interval_days}
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


def build_marts(con: duckdb.DuckDBPyConnection, agencies: tuple[Agency, ...]) -> dict[str, int]:
    """Rebuild meta.agencies, meta.population and every mart in one transaction."""
    lo_hi = con.execute("SELECT min(year), max(year) FROM staging.case_victims").fetchall()[0]
    years = list(range(lo_hi[0], lo_hi[1] + 1)) if lo_hi[0] is not None else []
    agency_df, pop_df, kecamatan_df = registry_frames(agencies, years)
    counts: dict[str, int] = {}
    with transaction(con):
        for table, frame in zip(tables.REGISTRY, (agency_df, pop_df, kecamatan_df)):
            con.execute(table.ddl(replace_table=True))
            insert_frame(con, table.name, frame)
        for name, sql in MARTS.items():
            declared = tables.mart(name)
            con.execute(f"CREATE OR REPLACE TABLE {declared.name} AS {sql}")
            check_columns(con, declared)
            con.execute(f"COMMENT ON TABLE {declared.name} IS {sql_literal(declared.description + ' ' + USAGE_WARNING)}")
            counts[name] = con.execute(f"SELECT count(*) FROM {declared.name}").fetchall()[0][0]
    return counts
