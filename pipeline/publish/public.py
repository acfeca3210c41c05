"""Publishable tables: the marts with small counts suppressed (pipeline/suppression.py).

Written to the `public` schema of the warehouse and exported as Parquet and CSV to
<warehouse>/public/. In DuckDB and Parquet a suppressed value is NULL with a
`<column>_suppressed` flag; in CSV it is the symbol SYMBOL, never 0.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.marts.sql import PUBLISHED
from pipeline.parallel import chunks
from pipeline.publish.analytics import _public_select
from pipeline.publish.suppression import FLAG, audit_marts
from pipeline.publish.suppression.across import protect_across, true_counts
from pipeline.publish.suppression.marts import suppress_marts
from pipeline.publish.suppression.table import Cell
from pipeline.warehouse.db import agency_row_hashes, has_table, transaction
from pipeline.warehouse.tables import PUBLIC_PROTECTION

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
    # whether the tables are those of protecting them alone, so that their decisions (this connection's
    # temporary table DECIDED) may be kept for the next run: not when protected with the previous release
    decided: bool = False
    reused: set[str] = field(default_factory=set)  # agencies whose audited decision was taken as it was


DECIDED = "_public_decisions"


class Decisions:
    """Suppression decisions per agency: the audited ones made on the same input taken as they are
    (`taken`, their cells read a chunk at a time), new ones recorded as they are made, both in
    this connection's temporary table DECIDED, the next meta.public_protection: memory follows
    the chunk, not the number of agencies."""

    def __init__(self, con: duckdb.DuckDBPyConnection, digests: dict[str, str]) -> None:
        self.con, self.digests = con, digests
        self.taken = {a for a, digest in audited_digests(con).items() if digests.get(a) == digest}
        con.execute(PUBLIC_PROTECTION.ddl(replace_table=True, temporary=DECIDED))
        if self.taken:
            con.execute(f"INSERT INTO {DECIDED} SELECT agency, input_digest, hidden_cells, true FROM "
                        "meta.public_protection WHERE agency IN (SELECT unnest(?::VARCHAR[]))", [sorted(self.taken)])

    def cells(self, chunk: list[str]) -> set[Cell]:
        """The cells the chunk's taken decisions suppressed."""
        rows = self.con.execute(f"SELECT hidden_cells FROM {DECIDED} WHERE agency IN (SELECT unnest(?::VARCHAR[]))",
                                [chunk]).fetchall()
        return set().union(*(text_cells(r[0]) for r in rows))

    def record(self, decided: dict[str, set[Cell]]) -> None:
        """New decisions, not audited yet."""
        rows = pd.DataFrame([{"agency": a, "input_digest": self.digests[a], "hidden_cells": cells_text(cells),
                              "audited": False} for a, cells in decided.items()], columns=PUBLIC_PROTECTION.names)
        self.con.register("_decided", rows)
        try:
            self.con.execute(f"INSERT INTO {DECIDED} BY NAME SELECT * FROM _decided")
        finally:
            self.con.unregister("_decided")


def protect_public(con: duckdb.DuckDBPyConnection, k: int, release: str | None = None) -> Publication:
    """The marts as published: approved figures where a period was approved (approvals.py),
    every count protected (a chunk of agencies at a time, read from the warehouse), also
    together with the latest release (suppression/across.py), each row labelled with its
    approval and `release` (None outside a release). An agency whose marts, approvals, k and
    protecting code are those of an audited earlier decision (meta.public_protection) gets that
    decision's suppressions applied as they are, which is what protecting it again would give."""
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
    decisions = Decisions(con, input_digests(con, k, signed))
    constrained: list[bool] = []  # whether each call suppressed or kept cells for the previous release

    def protect(force: Collection, keep: Collection) -> dict[str, pd.DataFrame]:
        constrained.append(bool(force or keep))
        if force or keep:
            return protect_by_agency(load, agencies, k, force=force, keep=keep)
        return protect_by_agency(load, agencies, k, decisions=decisions)

    tables, forced = protect_across(counts, protect, previous.tables if previous else None,
                                    previous.counts if previous else {}, k)
    for frame in tables.values():
        frame["release"] = pd.Series(release, index=frame.index, dtype="string")
    publication = Publication(tables, counts, previous.version if previous else None, forced)
    if not constrained[-1]:  # the tables are those of protecting them alone (the last call's)
        publication.decided = True
        publication.reused = decisions.taken & set(agencies)
    return publication


def build_public(con: duckdb.DuckDBPyConnection, k: int) -> Publication:
    """Protect every mart together (protect_public) and replace the `public` schema with the
    result, and meta.public_protection with the decisions it rests on (audited where they were
    taken from an audited decision; audit_public's caller marks the others, mark_audited)."""
    publication = protect_public(con, k)
    published = publication.tables
    with transaction(con):
        con.execute("CREATE SCHEMA IF NOT EXISTS public")
        for name, frame in published.items():
            con.register("_public", frame)
            con.execute(f"CREATE OR REPLACE TABLE public.{name} AS SELECT * FROM _public")
            con.unregister("_public")
        con.execute(PUBLIC_PROTECTION.ddl(replace_table=True))
        if publication.decided:
            con.execute(f"INSERT INTO {PUBLIC_PROTECTION.name} SELECT * FROM {DECIDED} ORDER BY agency")
    con.execute(f"DROP TABLE IF EXISTS {DECIDED}")
    return publication


def input_digests(con: duckdb.DuckDBPyConnection, k: int, approvals: pd.DataFrame) -> dict[str, str]:
    """Per agency: a hash of everything protecting its public rows reads: its rows of every
    published mart, in order, its latest approvals, k, and the protecting code."""
    from pipeline.versions import source_hash

    base = repr((k, PUBLISHED, duckdb.__version__,
                 source_hash(("publish/suppression", "publish/public.py", "publish/approvals.py",
                              "publish/analytics.py"))))
    parts: dict[str, list[str]] = defaultdict(list)
    for name in PUBLISHED:
        select = _public_select(con, f"marts.{name}", ", rowid AS _position")
        in_order = f"(SELECT * EXCLUDE (_position), row_number() OVER (PARTITION BY agency ORDER BY _position) " \
                   f"AS _n FROM ({select}))"
        for agency, (n, total) in agency_row_hashes(con, in_order).items():
            parts[agency].append(f"{name}:{n}:{total}")
    for agency, rows in approvals.groupby("agency", sort=True):
        parts[agency].append(rows.to_csv(index=False))
    return {a: hashlib.sha256("\n".join([base, *lines]).encode()).hexdigest() for a, lines in parts.items()}


def audited_digests(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """meta.public_protection's audited decisions: agency -> the input digest they were made on."""
    if not has_table(con, PUBLIC_PROTECTION.name):
        return {}
    return dict(con.execute("SELECT agency, input_digest FROM meta.public_protection WHERE audited").fetchall())


def cells_text(cells: Collection[Cell]) -> str:
    """Cells as one JSON list, in a stable order (a cell is a tuple of text and whole numbers)."""
    return json.dumps(sorted((list(c) for c in cells), key=lambda c: [(isinstance(x, str), x) for x in c]))


def text_cells(text: str) -> set[Cell]:
    """The cells of cells_text."""
    return {tuple(c) for c in json.loads(text)}


def mark_audited(con: duckdb.DuckDBPyConnection) -> None:
    """The public tables passed the audit: every decision they rest on may be taken as it is next time."""
    con.execute("UPDATE meta.public_protection SET audited = true WHERE NOT audited")


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
                      size: int = CHUNK_AGENCIES, force: Collection = (), keep: Collection = (),
                      decisions: Decisions | None = None) -> dict[str, pd.DataFrame]:
    """protect_marts over `load(chunk)` for chunks of `size` agencies; the rows in the order of
    their index (their position in the mart). `force`, `keep`: see protect_marts. `decisions`:
    the agencies it has taken get its cells suppressed instead of being protected; the others'
    suppressed cells are recorded in it (every cell names its agency second)."""
    taken = decisions.taken if decisions is not None else set()
    work = [(chunk, False) for chunk in chunks([a for a in agencies if a not in taken], size)]
    work += [(chunk, True) for chunk in chunks([a for a in agencies if a in taken], size)]
    parts: dict[str, list[pd.DataFrame]] = {}
    for chunk, was_taken in work or [([], False)]:  # no agency at all: one empty chunk
        marts = load(chunk)
        hidden = decisions.cells(chunk) if was_taken else None
        out, suppressed = suppress_marts(marts, k=k, force=force, keep=keep, hidden=hidden)
        if decisions is not None and not was_taken:
            mine: dict[str, set[Cell]] = {a: set() for a in chunk}
            for cell in suppressed:
                mine[cell[1]].add(cell)
            decisions.record(mine)
        for name, frame in out.items():
            parts.setdefault(name, []).append(frame.set_axis(marts[name].index))
    return {name: pd.concat(frames).sort_index().reset_index(drop=True) for name, frames in parts.items()}


def read_public(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {name: con.execute(f"SELECT * FROM public.{name}").df() for name in PUBLISHED}


def audit_public(con: duckdb.DuckDBPyConnection, k: int, skip: Collection[str] = ()) -> list:
    """Try to recover every suppressed cell from what `public` shows (a chunk of agencies at a
    time, read from the warehouse). `skip`: agencies whose rows were audited as they are (each
    agency's rows are attacked on their own: no count relates two agencies)."""
    skip = set(skip)
    agencies = [a for a in table_agencies(con, "public") if a not in skip]
    return audit_by_agency(lambda chunk: read_tables(con, "public", chunk), agencies, k)


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
