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
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipeline.config import settings
from pipeline.contract import form_flag_columns
from pipeline.warehouse import tables
from pipeline.warehouse.locks import WarehouseLockTimeout, reader_lock, wait_for_flock

if TYPE_CHECKING:
    import pandas as pd  # only in annotations: the command line's readers do without it

# The counting rules of the data contract (section 2) as columns of staging.case_victims, computed
# by staging/stage.py so that the marts and researchers sum flags instead of re-deriving them:
# is_victim (child_role is not PELAKU), counts_case (one victim row per agency, year and case) and
# one flag per form of violence (form_fisik, …, true when violence_forms holds it).
FORM_FLAGS = form_flag_columns()
COUNTING_COLUMNS = tuple(c.name for c in tables.COUNTING)
# The same rules in SQL over stored rows, for a warehouse made before the columns existed (and tests).
COUNTING_SQL = {
    "is_victim": "child_role IS DISTINCT FROM 'PELAKU'",
    "counts_case": "child_role IS DISTINCT FROM 'PELAKU' AND row_number() OVER (PARTITION BY agency, year, case_id, "
                   "child_role IS DISTINCT FROM 'PELAKU' ORDER BY victim_seq, _source_file, _source_sheet, "
                   "_source_row) = 1",
    **{column: f"list_contains(violence_forms, '{code}')" for code, column in FORM_FLAGS.items()},
}

CASE_VICTIMS_DDL = tables.CASE_VICTIMS.ddl() + ";"
# The schemas and every table stored row by row (the marts are built with CREATE TABLE AS).
DDL = "".join(f"CREATE SCHEMA IF NOT EXISTS {s};\n" for s in ("raw", "staging", "marts", "meta")) + "".join(
    t.ddl() + ";\n" for t in (*tables.AGENCY_SLICE, *tables.KEPT, *tables.RECORDS))

# The tables that hold one agency's slice, rewritten together in one transaction.
AGENCY_TABLES = tuple(t.name for t in tables.AGENCY_SLICE)


@contextlib.contextmanager
def writer_lock(db_path: Path, timeout_s: float | None = None) -> Iterator[None]:
    """An exclusive cross-process lock for the one DuckDB writer (waiting PPA_LOCK_TIMEOUT_S at most)."""
    timeout_s = settings().lock_timeout_s if timeout_s is None else timeout_s
    db_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{db_path}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "a+") as handle:
        wait_for_flock(handle.fileno(), fcntl.LOCK_EX, timeout_s, WarehouseLockTimeout)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def writer_busy(db_path: Path) -> bool:
    """Whether a process holds the writer lock now (without waiting for it)."""
    try:
        fd = os.open(f"{db_path}.lock", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def connect(db_path: Path, write: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection. Writers hold the lock while connected."""
    if not write:
        with reader_lock(db_path, settings().lock_timeout_s):
            con = duckdb.connect(str(db_path), read_only=True)
            try:
                yield con
            finally:
                con.close()
        return
    with writer_lock(db_path):
        # DuckDB's own memory (PPA_DUCKDB_MEMORY_LIMIT): it spills sorts and joins to <warehouse>.tmp
        # beyond it; without a limit it keeps up to 80% of RAM of table pages cached
        con = duckdb.connect(str(db_path), config={"memory_limit": settings().duckdb_memory_limit})
        try:
            con.execute(DDL)
            add_declared_columns(con)
            add_counting_columns(con)
            yield con
        finally:
            con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK on any error. A commit that failed (a full disk) ends the
    transaction itself: the ROLLBACK's own error is dropped so that the commit's error, which
    says why, is the one raised."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


def add_declared_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Give the tables of a warehouse made before a column was declared that column (empty):
    the next run reads every agency again (the declarations are part of the slice's hash) and
    fills it. The counting-rule columns, computed from stored rows, are add_counting_columns'."""
    have = {(s, t, c) for s, t, c in con.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        "WHERE database_name = current_database()").fetchall()}
    counting = set(COUNTING_COLUMNS)
    added = []
    for table in (*tables.AGENCY_SLICE, *tables.KEPT, *tables.RECORDS):
        schema, name = table.name.split(".")
        if not any((s, t) == (schema, name) for s, t, _ in have):
            continue
        for column in table.columns:
            if (schema, name, column.name) not in have and not (table is tables.CASE_VICTIMS
                                                                 and column.name in counting):
                con.execute(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {column.type}')
                added.append(f"{table.name}.{column.name}")
    return added


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
    with transaction(con):
        con.execute("ALTER TABLE staging.case_victims RENAME TO case_victims_before_flags")
        con.execute(CASE_VICTIMS_DDL)
        con.execute(f"INSERT INTO staging.case_victims BY NAME "
                    f"SELECT *, {computed} FROM staging.case_victims_before_flags")
        con.execute("DROP TABLE staging.case_victims_before_flags")
    return missing


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Insert a DataFrame by column name (one bulk statement, never row by row).

    DuckDB guesses an object column's type from 1,000 rows spread over the frame, the first
    among them: a list column whose sampled rows are all empty becomes "NULL"[], and a list
    met later fails to cast (10,000 empty files and one workbook in the ledger did it). Unless
    the first row holds a list with a value, empty lists go in as NULL, which the guess
    skips, and come back as [] in the INSERT.
    """
    if frame.empty:
        return 0
    frame = frame.copy()
    for column in frame.columns[frame.dtypes == object]:
        frame[column] = frame[column].where(frame[column].notna(), None)
    lists = [c for c in list_columns(con, table) if c in frame.columns]
    for column in lists:
        values = frame[column]
        first = values.iloc[0]
        if first is not None and len(first) and isinstance(first[0], str):
            continue  # the guess sees a list of text in the first row
        empty = values.map(lambda v: len(v) == 0, na_action="ignore").fillna(False).astype(bool)
        if empty.any():
            frame[column] = values.where(~empty, None)
    replace = f" REPLACE ({', '.join(f'coalesce({q}, []) AS {q}' for q in map(_quoted, lists))})" if lists else ""
    con.register("_frame", frame)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT *{replace} FROM _frame")
    finally:
        con.unregister("_frame")
    return len(frame)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def list_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of `table` (schema.name) that hold lists."""
    schema, name = table.split(".")
    return [r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = ? "
        "AND table_name = ? AND data_type LIKE '%[]' ORDER BY column_index", [schema, name]).fetchall()]


def replace_agency_slices(con: duckdb.DuckDBPyConnection, agency: str | list[str],
                          frames: dict[str, pd.DataFrame]) -> None:
    """Delete the agency's rows from every agency table and insert the new ones, atomically.

    `agency` may be several agencies, whose rows are all in `frames`: a large run writes a
    batch of agencies per transaction, which costs a quarter of one transaction each.
    """
    agencies = [agency] if isinstance(agency, str) else list(agency)
    with transaction(con):
        for table in AGENCY_TABLES:
            con.execute(f"DELETE FROM {table} WHERE agency IN (SELECT unnest(?::VARCHAR[]))", [agencies])
            if table in frames:
                insert_frame(con, table, frames[table])


def mark_slices_seen(con: duckdb.DuckDBPyConnection, agencies: list[str], run_id: str, seen_at) -> None:
    """A run found these agencies' files as they were and kept their slices: the ledger and
    meta.agency_loads say so (last seen, by which run, not parsed), in one transaction."""
    where, params = "WHERE agency IN (SELECT unnest(?::VARCHAR[]))", [list(agencies)]
    with transaction(con):
        con.execute("UPDATE meta.ingest_log SET last_seen = CASE WHEN status = 'removed' THEN last_seen ELSE ? END, "
                    f"run_id = ?, parsed = false {where}", [seen_at, run_id, *params])
        con.execute(f"UPDATE meta.agency_loads SET checked_run_id = ?, checked_at = ? {where}",
                    [run_id, seen_at, *params])


def sql_literal(text: str) -> str:
    """A SQL string literal, for the few statements DuckDB takes no parameter in (COMMENT ON)."""
    return "'" + text.replace("'", "''") + "'"


def query_df(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `table` (schema.name) exists in the connection's own database (not an attached one)."""
    schema, name = table.split(".")
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                            "AND schema_name = ? AND table_name = ?", [schema, name]).fetchall()[0][0])


def agency_row_hashes(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, tuple[int, int]]:
    """Per agency of `relation` (a table, or a subquery in parentheses, with an agency column): its
    row count and the sum of its rows' hashes, which a changed, added or removed row changes."""
    return {agency: (n, total) for agency, n, total in con.execute(
        f"SELECT agency, count(*), sum(hash(t)::HUGEINT) FROM {relation} t GROUP BY agency").fetchall()}
