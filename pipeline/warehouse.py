"""The DuckDB warehouse: tables, the one-writer lock, and agency-slice writes.

DuckDB allows one writing process. Every write takes an exclusive file lock
(`warehouse.duckdb.lock`) for the few seconds it needs, so overlapping runs
(sensor, schedule, an analyst's `ppa run`) wait for each other instead of
failing. Researchers read `analytics.duckdb`, a copy replaced atomically.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.contract import form_flag_columns

LOCK_TIMEOUT_S = float(os.environ.get("PPA_LOCK_TIMEOUT_S", "600"))
# DuckDB's own memory for the writer (it spills sorts and joins to <warehouse>.tmp beyond it);
# without a limit it keeps up to 80% of RAM of table pages cached, growing with the warehouse
MEMORY_LIMIT = os.environ.get("PPA_DUCKDB_MEMORY_LIMIT", "256MB")

# The counting rules of the data contract (section 2) as columns of staging.case_victims, computed
# by pipeline/staging.py so that the marts and researchers sum flags instead of re-deriving them:
# is_victim (child_role is not PELAKU), counts_case (one victim row per agency, year and case) and
# one flag per form of violence (form_fisik, …, true when violence_forms holds it).
FORM_FLAGS = form_flag_columns()
COUNTING_COLUMNS = ("is_victim", "counts_case", *FORM_FLAGS.values())
# The same rules in SQL over stored rows, for a warehouse made before the columns existed (and tests).
COUNTING_SQL = {
    "is_victim": "child_role IS DISTINCT FROM 'PELAKU'",
    "counts_case": "child_role IS DISTINCT FROM 'PELAKU' AND row_number() OVER (PARTITION BY agency, year, case_id, "
                   "child_role IS DISTINCT FROM 'PELAKU' ORDER BY victim_seq, _source_file, _source_sheet, "
                   "_source_row) = 1",
    **{column: f"list_contains(violence_forms, '{code}')" for code, column in FORM_FLAGS.items()},
}

CASE_VICTIMS_DDL = f"""
CREATE TABLE IF NOT EXISTS staging.case_victims (
    agency VARCHAR NOT NULL, case_id VARCHAR NOT NULL, victim_seq INTEGER NOT NULL,
    report_date DATE NOT NULL, incident_date DATE, year INTEGER NOT NULL,
    victim_sex VARCHAR, victim_age INTEGER, victim_age_group VARCHAR, is_child BOOLEAN,
    violence_forms VARCHAR[] NOT NULL, is_kdrt BOOLEAN NOT NULL, child_role VARCHAR,
    place VARCHAR, perp_relation VARCHAR, kecamatan_code VARCHAR, services VARCHAR[] NOT NULL,
    case_status VARCHAR, case_key VARCHAR, victim_key VARCHAR,
    {", ".join(f"{c} BOOLEAN NOT NULL" for c in COUNTING_COLUMNS)},
    _source_file VARCHAR NOT NULL, _source_sha256 VARCHAR NOT NULL, _source_sheet VARCHAR NOT NULL,
    _source_row INTEGER NOT NULL, _load_id VARCHAR NOT NULL, _ingested_at TIMESTAMP NOT NULL
);
"""

DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS meta;

CREATE TABLE IF NOT EXISTS raw.case_rows (
    agency VARCHAR NOT NULL,
    case_id VARCHAR, victim_seq VARCHAR, report_date VARCHAR, incident_date VARCHAR,
    victim_sex VARCHAR, victim_age VARCHAR, victim_age_group VARCHAR, violence_forms VARCHAR,
    is_kdrt VARCHAR, child_role VARCHAR, place VARCHAR, perp_relation VARCHAR, kecamatan VARCHAR,
    services VARCHAR, case_status VARCHAR,
    _pii_masked VARCHAR, _victim_key VARCHAR, _cells_cut VARCHAR,
    _source_file VARCHAR NOT NULL, _source_sha256 VARCHAR NOT NULL, _source_sheet VARCHAR NOT NULL,
    _source_row INTEGER NOT NULL, _load_id VARCHAR NOT NULL, _ingested_at TIMESTAMP NOT NULL
);
ALTER TABLE raw.case_rows ADD COLUMN IF NOT EXISTS _cells_cut VARCHAR;  -- warehouses made before it

""" + CASE_VICTIMS_DDL + """
CREATE TABLE IF NOT EXISTS staging.rejected_rows (
    agency VARCHAR NOT NULL, _source_file VARCHAR NOT NULL, _source_sheet VARCHAR NOT NULL,
    _source_row INTEGER NOT NULL, case_id VARCHAR, rules VARCHAR[] NOT NULL,
    reasons VARCHAR NOT NULL, reasons_en VARCHAR NOT NULL, details JSON, "values" JSON,
    _source_sha256 VARCHAR NOT NULL, _load_id VARCHAR NOT NULL, _ingested_at TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.cell_warnings (
    agency VARCHAR NOT NULL, _source_file VARCHAR NOT NULL, _source_sheet VARCHAR NOT NULL,
    _source_row INTEGER NOT NULL, "column" VARCHAR NOT NULL, header VARCHAR, value VARCHAR,
    code VARCHAR NOT NULL, message VARCHAR NOT NULL, message_en VARCHAR NOT NULL, _load_id VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.superseded_rows (
    agency VARCHAR NOT NULL, case_id VARCHAR NOT NULL, victim_seq INTEGER NOT NULL,
    _source_file VARCHAR NOT NULL, _source_sha256 VARCHAR NOT NULL, _source_sheet VARCHAR NOT NULL,
    _source_row INTEGER NOT NULL, _load_id VARCHAR NOT NULL, _ingested_at TIMESTAMP NOT NULL,
    superseded_by VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS meta.sheets (
    agency VARCHAR NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR, sheet VARCHAR NOT NULL,
    sheet_index INTEGER, visible BOOLEAN, is_register BOOLEAN NOT NULL, reason VARCHAR,
    header_row INTEGER, header_rows INTEGER, columns JSON, unknown_headers VARCHAR[],
    personal_headers VARCHAR[], duplicate_headers VARCHAR[], data_rows INTEGER,
    total_rows INTEGER, blank_rows INTEGER, parser_version VARCHAR, run_id VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS meta.ingest_log (
    agency VARCHAR NOT NULL, path VARCHAR NOT NULL, sha256 VARCHAR, size_bytes BIGINT,
    modified_at TIMESTAMP, first_seen TIMESTAMP NOT NULL, last_seen TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL, reason_code VARCHAR, message VARCHAR, message_en VARCHAR,
    error VARCHAR, data_rows INTEGER, rows_staged INTEGER, rows_rejected INTEGER,
    rows_superseded INTEGER, rows_warned INTEGER, superseded_by VARCHAR[], supersedes VARCHAR[],
    sheets_read VARCHAR[], sheets_skipped VARCHAR[], unknown_headers VARCHAR[],
    personal_columns_dropped VARCHAR[], cells_masked INTEGER, parsed BOOLEAN, archived_as VARCHAR,
    run_id VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS meta.agency_loads (
    agency VARCHAR NOT NULL, load_key VARCHAR NOT NULL, reusable BOOLEAN NOT NULL,
    valid_from DATE NOT NULL, valid_until DATE, loaded_run_id VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL,
    checked_run_id VARCHAR NOT NULL, checked_at TIMESTAMP NOT NULL
);
"""

# The tables that hold one agency's slice, rewritten together in one transaction.
AGENCY_TABLES = (
    "raw.case_rows", "staging.case_victims", "staging.rejected_rows", "staging.cell_warnings",
    "staging.superseded_rows", "meta.sheets", "meta.ingest_log", "meta.agency_loads",
)


class WarehouseLockTimeout(RuntimeError):
    pass


@contextlib.contextmanager
def writer_lock(db_path: Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """An exclusive cross-process lock for the one DuckDB writer."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db_path}.lock", "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseLockTimeout(f"warehouse busy for more than {timeout_s:.0f}s") from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def connect(db_path: Path, write: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection. Writers hold the lock while connected."""
    if not write:
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            yield con
        finally:
            con.close()
        return
    with writer_lock(db_path):
        con = duckdb.connect(str(db_path), config={"memory_limit": MEMORY_LIMIT})
        try:
            con.execute(DDL)
            add_counting_columns(con)
            yield con
        finally:
            con.close()


def add_counting_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Give a staging.case_victims made before the counting-rule columns those columns, computed
    from its rows with COUNTING_SQL (the rules of staging.py), in one transaction; the names added."""
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'staging' AND table_name = 'case_victims'").fetchall()}
    missing = [c for c in COUNTING_COLUMNS if c not in have]
    if not have or not missing:
        return []
    computed = ", ".join(f"{COUNTING_SQL[c]} AS {c}" for c in missing)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("ALTER TABLE staging.case_victims RENAME TO case_victims_before_flags")
        con.execute(CASE_VICTIMS_DDL)
        con.execute(f"INSERT INTO staging.case_victims BY NAME "
                    f"SELECT *, {computed} FROM staging.case_victims_before_flags")
        con.execute("DROP TABLE staging.case_victims_before_flags")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return missing


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Insert a DataFrame by column name (one bulk statement, never row by row)."""
    if frame.empty:
        return 0
    frame = frame.copy()
    for column in frame.columns[frame.dtypes == object]:
        frame[column] = frame[column].where(frame[column].notna(), None)
    con.register("_frame", frame)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _frame")
    finally:
        con.unregister("_frame")
    return len(frame)


def replace_agency_slices(con: duckdb.DuckDBPyConnection, agency: str | list[str],
                          frames: dict[str, pd.DataFrame]) -> None:
    """Delete the agency's rows from every agency table and insert the new ones, atomically.

    `agency` may be several agencies, whose rows are all in `frames`: a large run writes a
    batch of agencies per transaction, which costs a quarter of one transaction each.
    """
    agencies = [agency] if isinstance(agency, str) else list(agency)
    con.execute("BEGIN TRANSACTION")
    try:
        for table in AGENCY_TABLES:
            con.execute(f"DELETE FROM {table} WHERE agency IN (SELECT unnest(?::VARCHAR[]))", [agencies])
            if table in frames:
                insert_frame(con, table, frames[table])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def mark_slices_seen(con: duckdb.DuckDBPyConnection, agencies: list[str], run_id: str, seen_at) -> None:
    """A run found these agencies' files as they were and kept their slices: the ledger and
    meta.agency_loads say so (last seen, by which run, not parsed), in one transaction."""
    where, params = "WHERE agency IN (SELECT unnest(?::VARCHAR[]))", [list(agencies)]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("UPDATE meta.ingest_log SET last_seen = CASE WHEN status = 'removed' THEN last_seen ELSE ? END, "
                    f"run_id = ?, parsed = false {where}", [seen_at, run_id, *params])
        con.execute(f"UPDATE meta.agency_loads SET checked_run_id = ?, checked_at = ? {where}",
                    [run_id, seen_at, *params])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def query_df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()
