"""The read-only copy for researchers: analytics.duckdb and Parquet files.

Built beside the live warehouse and moved into place with os.replace, so a
reader that has the old copy open keeps a consistent snapshot and the next
open sees the new one. It holds the marts and de-identified staging rows:
no file names, no row numbers, and case ids replaced by a keyed hash.
It is written in DuckDB's v1.4 storage format, so older DuckDB clients (and
the duckdb CLI installed with the project) can open it too.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.safefs import safe_dir
from pipeline.warehouse.db import COUNTING_COLUMNS, sql_literal

STORAGE_VERSION = "v1.4.0"
# the counting-rule flags come along, so researchers sum them instead of re-deriving the rules
DEIDENTIFIED_SQL = f"""
SELECT agency, case_key, victim_seq, year, month(report_date) AS report_month, victim_sex, victim_age,
       victim_age_group, is_child, violence_forms, is_kdrt, child_role, place, perp_relation, kecamatan_code,
       services, case_status, {", ".join(COUNTING_COLUMNS)}
FROM staging.case_victims ORDER BY agency, year, case_key, victim_seq
"""


def publish(con: duckdb.DuckDBPyConnection, warehouse_dir: Path) -> dict[str, int]:
    """Write analytics.duckdb and marts Parquet files atomically; return row counts.
    Paths reach DuckDB as parameters, never inside the SQL text."""
    marts = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
        "AND table_catalog = current_database() ORDER BY 1").fetchall()]
    tables = [f"marts.{name}" for name in marts] + ["meta.agencies", "meta.population", "meta.kecamatan"]
    selects = {table: _public_select(con, table) for table in tables}
    with safe_dir(warehouse_dir, warehouse_dir) as folder:
        for stale in folder.names():  # left by a run killed mid-copy by earlier versions (we hold the lock)
            if stale.startswith(".analytics.") and ".duckdb" in stale:
                folder.remove(stale)
        folder.remove_leftovers()
        with folder.temp_path("analytics.duckdb") as tmp:
            con.execute(f"ATTACH ? AS analytics (STORAGE_VERSION '{STORAGE_VERSION}')", [str(tmp)])
            try:
                counts = _copy_tables(con, tables, selects)
            finally:
                con.execute("DETACH analytics")
    with safe_dir(warehouse_dir / "parquet", warehouse_dir) as folder:
        folder.remove_leftovers()
        for name in marts:
            with folder.temp_path(f"{name}.parquet") as part:
                con.execute(f"COPY ({selects[f'marts.{name}']}) TO ? (FORMAT parquet)", [str(part)])
    return counts


def _copy_tables(con: duckdb.DuckDBPyConnection, tables: list[str], selects: dict[str, str]) -> dict[str, int]:
    """The tables, their comments and the de-identified rows into the attached `analytics`."""
    for schema in ("marts", "meta", "staging"):
        con.execute(f"CREATE SCHEMA analytics.{schema}")
    for table in tables:
        con.execute(f"CREATE TABLE analytics.{table} AS {selects[table]}")
    con.execute(f"CREATE TABLE analytics.staging.case_victims AS {DEIDENTIFIED_SQL}")
    for table in tables:
        comment = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
                              "AND schema_name || '.' || table_name = ?", [table]).fetchall()
        if comment and comment[0][0]:
            con.execute(f"COMMENT ON TABLE analytics.{table} IS {sql_literal(comment[0][0])}")
    return {t: con.execute(f"SELECT count(*) FROM analytics.{t}").fetchall()[0][0]
            for t in [*tables, "staging.case_victims"]}


def _public_select(con: duckdb.DuckDBPyConnection, table: str, extra: str = "") -> str:
    """SELECT for a published table: no lineage to file names (`extra`: more select items)."""
    columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    exclude = " EXCLUDE (source_files)" if "source_files" in columns else ""
    return f"SELECT *{exclude}{extra} FROM {table}"
