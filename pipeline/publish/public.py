"""Publishable tables: the marts with small counts suppressed (pipeline/suppression.py).

Written to the `public` schema of the warehouse and exported as Parquet and CSV to
<warehouse>/public/. In DuckDB and Parquet a suppressed value is NULL with a
`<column>_suppressed` flag; in CSV it is the symbol SYMBOL, never 0.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.marts.sql import PUBLISHED
from pipeline.parallel import chunks
from pipeline.publish.analytics import _public_select
from pipeline.publish.suppression import FLAG, audit_marts, protect_marts
from pipeline.warehouse.db import transaction

SYMBOL = "x"
# Agencies protected (and audited) together. Every mart row belongs to one agency and no
# count relates to another agency's, so protecting the marts a few agencies at a time gives
# the same suppressions as one call over all of them, with memory that follows the chunk
# rather than the number of agencies (about 0.8 MB per agency in one call).
CHUNK_AGENCIES = 64


def build_public(con: duckdb.DuckDBPyConnection, k: int) -> dict[str, pd.DataFrame]:
    """Protect every mart together, a chunk of agencies at a time read from the warehouse,
    and replace the `public` schema with the result."""
    published = protect_by_agency(lambda chunk: read_tables(con, "marts", chunk), table_agencies(con, "marts"), k)
    with transaction(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS public")
        for name, frame in published.items():
            con.register("_public", frame)
            con.execute(f"CREATE OR REPLACE TABLE public.{name} AS SELECT * FROM _public")
            con.unregister("_public")
    return published


def table_agencies(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    """Every agency with a row in one of the schema's mart tables. Refuses a row of no agency
    (a national total would relate counts across chunks)."""
    union = " UNION ALL ".join(f"SELECT DISTINCT agency FROM {schema}.{name}" for name in PUBLISHED)
    agencies = {r[0] for r in con.execute(union).fetchall()}
    if None in agencies:
        raise ValueError(f"{schema}: every row needs an agency to be protected by agency")
    return sorted(agencies)


def read_tables(con: duckdb.DuckDBPyConnection, schema: str, agencies: list[str]) -> dict[str, pd.DataFrame]:
    """The schema's mart tables for `agencies`, as published (no file names), each indexed by
    its row's position in the table."""
    out = {}
    for name in PUBLISHED:
        select = _public_select(con, f"{schema}.{name}", ", rowid AS _position")
        frame = con.execute(f"{select} WHERE agency IN (SELECT unnest(?::VARCHAR[])) ORDER BY rowid",
                            [agencies]).df()
        out[name] = frame.set_index("_position").rename_axis(None)
    return out


def protect_by_agency(load: Callable[[list[str]], dict[str, pd.DataFrame]], agencies: list[str], k: int,
                      size: int = CHUNK_AGENCIES) -> dict[str, pd.DataFrame]:
    """protect_marts over `load(chunk)` for chunks of `size` agencies; the rows in the order of
    their index (their position in the mart)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for chunk in list(chunks(agencies, size)) or [[]]:  # no agency at all: one empty chunk
        marts = load(chunk)
        for name, frame in protect_marts(marts, k=k).items():
            parts.setdefault(name, []).append(frame.set_axis(marts[name].index))
    return {name: pd.concat(frames).sort_index().reset_index(drop=True) for name, frames in parts.items()}


def read_public(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {name: con.execute(f"SELECT * FROM public.{name}").df() for name in PUBLISHED}


def audit_public(con: duckdb.DuckDBPyConnection, k: int) -> list:
    """Try to recover every suppressed cell from what `public` shows (a chunk of agencies at a
    time, read from the warehouse)."""
    return [e for chunk in chunks(table_agencies(con, "public"), CHUNK_AGENCIES)
            for e in audit_marts(read_tables(con, "public", chunk), k=k)]


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Suppressed values as SYMBOL, flag columns dropped."""
    out = frame.copy()
    for flag in [c for c in frame.columns if c.endswith(FLAG)]:
        column = flag[: -len(FLAG)]
        hidden = frame[flag].fillna(False).astype(bool)
        out[column] = out[column].astype(object).where(~hidden, SYMBOL)
        out = out.drop(columns=flag)
    return out


def export(con: duckdb.DuckDBPyConnection, published: dict[str, pd.DataFrame], out_dir: Path,
           root: Path | None = None) -> list[Path]:
    """Parquet and CSV of every public table, each replaced atomically (safefs: `out_dir` reached
    from `root`, by default itself, without following a link), a file with the same bytes left
    as it is. The path reaches DuckDB as a parameter."""
    from pipeline.safefs import safe_dir

    written = []
    with safe_dir(out_dir, root or out_dir) as folder:
        folder.remove_leftovers()
        for name, frame in published.items():
            con.register("_public", frame)
            try:
                with folder.temp_path(f"{name}.parquet", keep_if_same=True) as part:
                    con.execute("COPY _public TO ? (FORMAT parquet)", [str(part)])
            finally:
                con.unregister("_public")
            csv = folder.write(f"{name}.csv", lambda handle: csv_frame(frame).to_csv(handle, index=False),
                               keep_if_same=lambda new, old: new.read() == old.read())
            written += [out_dir / f"{name}.parquet", csv]
    return written
