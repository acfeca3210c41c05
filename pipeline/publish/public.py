"""Publishable tables: the marts with small counts suppressed (pipeline/suppression.py).

Written to the `public` schema of the warehouse and exported as Parquet and CSV to
<warehouse>/public/. In DuckDB and Parquet a suppressed value is NULL with a
`<column>_suppressed` flag; in CSV it is the symbol SYMBOL, never 0.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.marts.sql import PUBLISHED
from pipeline.parallel import chunks
from pipeline.publish.analytics import _public_select
from pipeline.publish.suppression import FLAG, audit_marts, protect_marts
from pipeline.publish.suppression.across import protect_across, true_counts
from pipeline.warehouse.db import transaction

SYMBOL = "x"
# Agencies protected (and audited) together. Every mart row belongs to one agency and no
# count relates to another agency's, so protecting the marts a few agencies at a time gives
# the same suppressions as one call over all of them, with memory that follows the chunk
# rather than the number of agencies (about 0.8 MB per agency in one call).
CHUNK_AGENCIES = 64


@dataclass
class Publication:
    """The public tables as published now, and what they were protected against."""
    tables: dict[str, pd.DataFrame]
    counts: dict  # every count behind them, by suppression cell (kept for the next release; empty in a run
    # with no release to protect against, where nothing uses them)
    previous: str | None  # the release they were protected against (suppression across releases)
    forced: set  # cells suppressed because of the previous release, beyond protecting the tables alone


def protect_public(con: duckdb.DuckDBPyConnection, k: int, release: str | None = None) -> Publication:
    """The marts as published: approved figures where a period was approved (approvals.py),
    every count protected (a chunk of agencies at a time, read from the warehouse), also
    together with the latest release (suppression/across.py), each row labelled with its
    approval and `release` (None outside a release)."""
    from pipeline.publish import approvals as approved
    from pipeline.publish.releases import latest_release

    signed = approved.latest(con)
    agencies = table_agencies(con, "marts")

    def load(chunk: list[str]) -> dict[str, pd.DataFrame]:
        """A chunk's marts as published (read again for each use: memory follows the chunk)."""
        return approved.with_approvals(read_tables(con, "marts", chunk), signed[signed["agency"].isin(chunk)])

    previous = latest_release(con)
    counts: dict = {}
    if previous is not None or release is not None:  # what a release keeps, and what the pair is compared on
        for chunk in chunks(agencies, CHUNK_AGENCIES):
            counts.update(true_counts(load(chunk)))

    def protect(force: Collection, keep: Collection) -> dict[str, pd.DataFrame]:
        return protect_by_agency(load, agencies, k, force=force, keep=keep)

    tables, forced = protect_across(counts, protect, previous.tables if previous else None,
                                    previous.counts if previous else {}, k)
    for frame in tables.values():
        frame["release"] = pd.Series(release, index=frame.index, dtype="string")
    return Publication(tables, counts, previous.version if previous else None, forced)


def build_public(con: duckdb.DuckDBPyConnection, k: int) -> Publication:
    """Protect every mart together (protect_public) and replace the `public` schema with the result."""
    publication = protect_public(con, k)
    published = publication.tables
    with transaction(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS public")
        for name, frame in published.items():
            con.register("_public", frame)
            con.execute(f"CREATE OR REPLACE TABLE public.{name} AS SELECT * FROM _public")
            con.unregister("_public")
    return publication


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
                      size: int = CHUNK_AGENCIES, force: Collection = (), keep: Collection = ()
                      ) -> dict[str, pd.DataFrame]:
    """protect_marts over `load(chunk)` for chunks of `size` agencies; the rows in the order of
    their index (their position in the mart). `force`, `keep`: see protect_marts."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for chunk in list(chunks(agencies, size)) or [[]]:  # no agency at all: one empty chunk
        marts = load(chunk)
        for name, frame in protect_marts(marts, k=k, force=force, keep=keep).items():
            parts.setdefault(name, []).append(frame.set_axis(marts[name].index))
    return {name: pd.concat(frames).sort_index().reset_index(drop=True) for name, frames in parts.items()}


def read_public(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {name: con.execute(f"SELECT * FROM public.{name}").df() for name in PUBLISHED}


def audit_public(con: duckdb.DuckDBPyConnection, k: int) -> list:
    """Try to recover every suppressed cell from what `public` shows (a chunk of agencies at a
    time, read from the warehouse)."""
    return audit_by_agency(lambda chunk: read_tables(con, "public", chunk), table_agencies(con, "public"), k)


def audit_tables(published: dict[str, pd.DataFrame], k: int) -> list:
    """audit_public over published frames (a chunk of agencies at a time)."""
    agencies = sorted({a for frame in published.values() for a in frame["agency"]})
    return audit_by_agency(lambda chunk: {n: f[f["agency"].isin(chunk)] for n, f in published.items()}, agencies, k)


def audit_by_agency(load: Callable[[list[str]], dict[str, pd.DataFrame]], agencies: list[str], k: int) -> list:
    """audit_marts over `load(chunk)` for chunks of agencies (as protect_by_agency protects them)."""
    return [e for chunk in chunks(agencies, CHUNK_AGENCIES) for e in audit_marts(load(chunk), k=k)]


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
    from pipeline.safefs import safe_dir, same_bytes

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
                               keep_if_same=same_bytes)
            written += [out_dir / f"{name}.parquet", csv]
    return written
