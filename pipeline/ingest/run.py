"""One run's load over many agencies, as plain functions: which agencies keep their slices,
the load tasks of the others, and the writer that stores their frames in batches.

The Dagster asset (assets/ingest.py) only gathers the settings, calls `load_run` and turns
what it returns into metadata and checks. Workers read and validate; only the calling
process, holding the warehouse connection (and its writer lock), writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from pipeline.ingest import archive
from pipeline.ingest.book import LoadBook, LoadSummary, add_kept_loads, contract_failures, load_tasks
from pipeline.ingest.dropfolder import stray_items
from pipeline.ingest.erased import erased
from pipeline.ingest.load import LoadTask
from pipeline.ingest.read import Limits, Previous
from pipeline.ingest.slices import unchanged_since
from pipeline.messages import render
from pipeline.names import shown
from pipeline.parallel import chunks, ordered_map
from pipeline.privacy import scrubbed
from pipeline.registry import get_agency
from pipeline.warehouse.db import mark_slices_seen, query_df, replace_agency_slices

WRITE_BATCH, WRITE_BATCH_ROWS = 16, 50_000  # agencies, raw rows per transaction in a run with workers
STAGE_BATCH = 8  # agencies read and validated together by one task (one pandera call)
Log = Callable[[str], None]


@dataclass
class LoadRun:
    """What a run needs to load its agencies."""

    agencies: list[str]  # the run's agencies, in registry order
    registered: list[str]  # every agency of the registry (the staging contract's vocabulary)
    registry_path: Path
    raw_dir: Path
    archive_dir: Path
    limits: Limits
    run_id: str
    now: dt.datetime
    workers: int = 1
    reload: bool = False  # read every agency again, even those whose slice would be kept
    debug: bool = False


@dataclass
class LoadOutcome:
    book: LoadBook
    failures: pd.DataFrame  # staged rows that break the staging contract
    kept: list[str] = field(default_factory=list)  # agencies whose slices stayed as they were


def not_read(raw_dir: Path, agencies: list[str]) -> list[str]:
    """What the raw folder holds outside the registered agencies' folders, one line each
    (Indonesian / English): never read, and named so that it does not go unnoticed."""
    return [f"{render(code, detail=shown(name))} / {render(code, 'en', detail=shown(name))}"
            for name, code in stray_items(raw_dir, agencies)]


def concat(frames: list[pd.DataFrame], like: pd.DataFrame | None = None) -> pd.DataFrame:
    """The non-empty frames as one (`like`, or an empty frame, when there is none)."""
    kept = [f for f in frames if len(f)]
    if len(kept) == 1:
        return kept[0]
    if kept:
        return pd.concat(kept, ignore_index=True)
    return like if like is not None else pd.DataFrame()


def plan_tasks(con: duckdb.DuckDBPyConnection, run: LoadRun, kept: list[str]) -> Iterator[LoadTask]:
    """A load task for each agency of the run whose slice cannot be kept; the others are added
    to `kept`. A slice is kept when its load_key is what the folder would give again and the
    day of the run is within the days it holds for. Drawn lazily, as workers take tasks."""
    stored = {} if run.reload else {row[0]: row[1:] for row in con.execute(
        "SELECT agency, load_key, valid_from, valid_until FROM meta.agency_loads WHERE reusable").fetchall()}
    # agencies with a slice to read back (a first load has none: three queries each saved)
    present = {row[0] for row in con.execute("SELECT DISTINCT agency FROM meta.ingest_log").fetchall()}
    gone = erased(con)
    for code in run.agencies:
        agency = get_agency(code, run.registry_path)
        load_date = dt.datetime.now(ZoneInfo(agency.timezone)).date()
        key, valid_from, valid_until = stored.get(code, (None, None, None))
        if (key is not None and valid_from <= load_date <= (valid_until or load_date)
                and unchanged_since(agency, run.raw_dir, run.limits, key, run.archive_dir, gone.files)):
            kept.append(code)
            continue
        previous = Previous(*(query_df(con, f"SELECT * FROM {t} WHERE agency = ?", [code])
                              for t in ("meta.ingest_log", "raw.case_rows", "meta.sheets", "raw.recap_cells"))
                            ) if code in present else Previous()
        yield LoadTask(agency, run.raw_dir, previous, run.run_id, run.now, load_date, run.limits, run.archive_dir,
                       run.debug, gone)


class SliceWriter:
    """Writes agencies' frames, each agency's slice replaced at once: one agency per transaction
    in one process; with workers, batches of agencies, so that the writer keeps up with them.
    Each batch's staged rows are checked against the staging contract (one pandera call)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, run: LoadRun, book: LoadBook, log: Log,
                 done: Callable[[list[str]], None] | None = None):
        self.con, self.run, self.book, self.log, self.done = con, run, book, log, done
        self.batch_size = 1 if run.workers == 1 else WRITE_BATCH
        self.batch: list[tuple[dict[str, pd.DataFrame], LoadSummary]] = []
        self.failures: list[pd.DataFrame] = []

    def add(self, frames: dict[str, pd.DataFrame], summary: LoadSummary) -> None:
        self.batch.append((frames, summary))
        if (len(self.batch) >= self.batch_size
                or sum(len(f["raw.case_rows"]) for f, _ in self.batch) >= WRITE_BATCH_ROWS):
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        names = [summary.agency for _, summary in batch]
        frames = {table: concat([f[table] for f, _ in batch], like=batch[0][0][table]) for table in batch[0][0]}
        staged = frames["staging.case_victims"]
        if len(staged):  # one pandera call per batch: its cost is mostly per call
            self.failures.append(contract_failures(staged, self.run.registered))
        if len(frames["staging.recap_counts"]):
            from pipeline.staging.recap_rules import recap_contract_failures

            self.failures.append(recap_contract_failures(frames["staging.recap_counts"], self.run.registered))
        try:
            replace_agency_slices(self.con, names if len(names) > 1 else names[0], frames)
        except Exception as exc:
            if self.run.debug:
                raise
            raise scrubbed(exc, f"writing agencies {', '.join(names)}") from None
        # one log message per batch: each is an event Dagster stores on its own
        self.log("\n".join(f"{s.agency}: {s.files} files, {s.staged} staged, {s.rejected_rows} rejected, "
                           f"{s.superseded_rows} superseded" for _, s in batch))
        for _, summary in batch:
            self.book.add(summary)
        if self.done is not None:
            self.done(names)


def load_run(con: duckdb.DuckDBPyConnection, run: LoadRun, log: Log,
             done: Callable[[list[str]], None] | None = None) -> LoadOutcome:
    """Load every agency of the run whose slice cannot be kept, and record the kept ones as seen.
    `done` is told the agencies of each batch written, and at the end the agencies kept."""
    for name in archive.remove_leftovers(run.archive_dir):  # left by runs killed while copying (we hold the lock)
        log(f"removed a partial archive copy left by a killed run: {name}")
    book = LoadBook({code: i for i, code in enumerate(run.agencies)})
    kept: list[str] = []
    writer = SliceWriter(con, run, book, log, done)
    for loaded in ordered_map(load_tasks, chunks(plan_tasks(con, run, kept), STAGE_BATCH), run.workers):
        for frames, summary in loaded:
            writer.add(frames, summary)
    writer.flush()
    if kept:
        mark_slices_seen(con, kept, run.run_id, run.now)
        add_kept_loads(book, con, kept)
        if done is not None:
            done(kept)
    return LoadOutcome(book, concat(writer.failures), kept)
