"""A run's bookkeeping over many agencies: what the checks and the run's metadata need of
each agency's load, folded as it comes so memory follows the largest agency.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.ingest.load import AgencyLoad, LoadTask, load_agencies

# ---------------------------------------------------------------- one agency as a task of a pool

def contract_failures(staged: pd.DataFrame, agencies: list[str]) -> pd.DataFrame:
    """Staged rows that break the pandera contract of staging (column, check, row index)."""
    import pandera.pandas as pa

    from pipeline.staging.rules import staged_schema

    try:
        staged_schema(agencies).validate(staged, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases[["column", "check", "index"]].astype(str)
    return pd.DataFrame(columns=["column", "check", "index"])


@dataclass
class LoadSummary:
    """What the checks and metadata need of one agency's load; the row frames are not kept,
    so memory is bounded by the largest agency rather than by all of them."""

    agency: str
    counts: dict[str, int]  # table -> rows written
    ledger: pd.DataFrame
    rejected: pd.DataFrame  # lineage and rules only, no values
    preview: pd.DataFrame
    staged: int
    files: int = 0
    rejected_rows: int = 0
    superseded_rows: int = 0
    reused: bool = False  # the slice was kept as the last run left it

    @classmethod
    def of(cls, load: AgencyLoad) -> "LoadSummary":
        from pipeline.privacy import PREVIEW_COLUMNS

        staged = load.staging.staged
        rejected = load.staging.rejected
        return cls(
            agency=load.agency,
            counts={table: len(frame) for table, frame in load.frames.items()},
            ledger=load.ledger,
            rejected=rejected[["agency", "_source_file", "_source_sheet", "_source_row", "rules"]],
            preview=staged.head(LoadBook.PREVIEW_ROWS)[[c for c in PREVIEW_COLUMNS if c in staged.columns]],
            staged=len(staged), files=len(load.ledger), rejected_rows=len(rejected),
            superseded_rows=len(load.staging.superseded),
        )


class LoadBook:
    """The summaries of a run's agency loads, folded into a few frames as they come.

    At national scale a run has thousands of summaries; as thousands of small frames they
    cost several times their rows (about 160 MB at 2,056 agencies). Folded every FOLD
    agencies, they cost about their rows. Everything stays in registry order.
    """

    FOLD = 200
    PREVIEW_ROWS = 20

    def __init__(self, order: dict[str, int]):
        self.order = order
        self.agencies: list[dict] = []  # per agency: counts and flags
        self.ledger: list[pd.DataFrame] = []
        self.rejected: list[pd.DataFrame] = []
        self.preview: list[pd.DataFrame] = []
        self._pending = 0

    def add(self, summary: LoadSummary) -> None:
        data_rows = int(summary.ledger["data_rows"].sum()) if len(summary.ledger) else 0
        self.add_counts(summary.agency, summary.counts, summary.files, summary.staged, data_rows, summary.reused)
        self.add_frames(summary.ledger, summary.rejected, summary.preview)

    def add_counts(self, agency: str, counts: dict[str, int], files: int, staged: int, data_rows: int,
                   reused: bool) -> None:
        self.agencies.append({
            "agency": agency, "files": files, "data_rows": data_rows,
            "staged": staged, "rejected": counts["staging.rejected_rows"],
            "superseded": counts["staging.superseded_rows"], "warnings": counts["staging.cell_warnings"],
            "reused": reused, "counts": counts})

    def add_frames(self, ledger: pd.DataFrame, rejected: pd.DataFrame, preview: pd.DataFrame) -> None:
        for parts, frame in ((self.ledger, ledger), (self.rejected, rejected), (self.preview, preview)):
            if len(frame):
                parts.append(frame)
        self._pending += 1
        if self._pending >= self.FOLD:
            self._fold()

    def _fold(self) -> None:
        self.ledger = [self._ordered(self.ledger)] if self.ledger else []
        self.rejected = [self._ordered(self.rejected)] if self.rejected else []
        self.preview = [self._ordered(self.preview).head(self.PREVIEW_ROWS)] if self.preview else []
        self._pending = 0

    def _ordered(self, frames: list[pd.DataFrame]) -> pd.DataFrame:
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        rank = frame["agency"].map(self.order)
        return frame.iloc[rank.argsort(kind="stable")].reset_index(drop=True)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Per-agency counts, ledger, rejected lineage and preview, each in registry order."""
        self._fold()
        agencies = self._ordered([pd.DataFrame(self.agencies, columns=[
            "agency", "files", "data_rows", "staged", "rejected", "superseded", "warnings", "reused", "counts"])])
        return agencies, *(part[0] if part else pd.DataFrame() for part in (self.ledger, self.rejected, self.preview))


def add_kept_loads(book: LoadBook, con, agencies: list[str]) -> None:
    """Add to `book` the agencies whose slices a run kept as they were, read from the warehouse
    (`con`, an open DuckDB connection) in one query per table."""
    from pipeline.privacy import PREVIEW_COLUMNS
    from pipeline.warehouse.db import AGENCY_TABLES, query_df

    where, params = "WHERE agency IN (SELECT unnest(?::VARCHAR[]))", [list(agencies)]
    counts: dict[str, dict[str, int]] = {a: dict.fromkeys(AGENCY_TABLES, 0) for a in agencies}
    for table in AGENCY_TABLES:
        for agency, n in con.execute(f"SELECT agency, count(*) FROM {table} {where} GROUP BY agency", params).fetchall():
            counts[agency][table] = n
    ledger = query_df(con, f"SELECT * FROM meta.ingest_log {where} ORDER BY agency, path", params)
    data_rows = ledger.groupby("agency")["data_rows"].sum()
    for agency in agencies:
        book.add_counts(agency, counts[agency], counts[agency]["meta.ingest_log"],
                        counts[agency]["staging.case_victims"], int(data_rows.get(agency, 0)), reused=True)
    book.add_frames(
        ledger,
        query_df(con, "SELECT agency, _source_file, _source_sheet, _source_row, rules "
                      f"FROM staging.rejected_rows {where} ORDER BY agency, rowid", params),
        query_df(con, f"SELECT {', '.join(PREVIEW_COLUMNS)} FROM staging.case_victims {where} "
                      f"QUALIFY row_number() OVER (PARTITION BY agency ORDER BY rowid) <= {LoadBook.PREVIEW_ROWS}",
                 params))


def load_tasks(tasks: list[LoadTask]) -> list[tuple[dict[str, pd.DataFrame], LoadSummary]]:
    """load_agencies and their summaries, for ordered_map; the frames go to the writer."""
    from pipeline.privacy import scrubbed

    try:
        return [(load.frames, LoadSummary.of(load)) for load in load_agencies(tasks)]
    except Exception as exc:  # the message may quote a cell: never let it reach the run log
        if any(task.debug for task in tasks):
            raise
        raise scrubbed(exc, f"loading agencies {', '.join(task.agency.code for task in tasks)}") from None
