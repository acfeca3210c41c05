"""One agency's drop folder to warehouse frames (pure apart from reading files).

scan_folder -> archive and read each workbook (or reuse the rows read before
from a file with the same hash) -> raw rows -> staging -> ledger rows.
The caller writes every returned frame in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import Contract, load_contract
from pipeline.ingest import archive, coverage
from pipeline.ingest import workbook as excel
from pipeline.messages import render
from pipeline.registry import Agency
from pipeline.staging.stage import SOURCE_COLUMNS, StagingResult, stage_agencies
from pipeline.versions import PARSER, SLICE, source_hash
from pipeline.warehouse import tables

FEEDBACK_DIR = "umpan-balik"
RAW_COLUMNS = tables.CASE_ROWS.names
SHEET_COLUMNS = tables.SHEETS.names
LEDGER_COLUMNS = tables.INGEST_LOG.names


def parser_version() -> str:
    """Changes whenever the mapping or the reading code changes, so cached rows are read again."""
    return source_hash(PARSER)


LOAD_STATE_COLUMNS = tables.AGENCY_LOADS.names
TRANSIENT_CODES = {"file_changing"}  # a file caught mid-copy: read it again next run


def code_version() -> str:
    """A hash of the code and mappings that turn files into an agency's slice."""
    return source_hash(SLICE)


@dataclass
class FileEntry:
    path: Path
    rel: str  # path relative to the raw folder, e.g. "kukar/register_2024.xlsx"
    size: int
    mtime: float
    ignored: bool = False
    sha256: str | None = None


@dataclass
class FileRead:
    """What one file gave: its raw rows and sheet records, or why it could not be read."""

    entry: FileEntry
    raw: pd.DataFrame
    sheets: pd.DataFrame
    error_code: str | None = None
    error_detail: str = ""
    parsed: bool = True  # False when rows were reused from an earlier read of the same bytes
    archived_as: str | None = None


@dataclass
class Previous:
    """The agency's slice as the last run left it."""

    ledger: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEDGER_COLUMNS))
    raw: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RAW_COLUMNS))
    sheets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SHEET_COLUMNS))


@dataclass
class Limits:
    max_file_bytes: int = 50 * 1024 * 1024
    max_rows_per_sheet: int = 200_000


@dataclass
class AgencyLoad:
    agency: str
    frames: dict[str, pd.DataFrame]
    reads: list[FileRead]
    staging: StagingResult
    ledger: pd.DataFrame


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_ignored_name(name: str) -> bool:
    """Excel lock files (~$…) and hidden files are ignored."""
    return name.startswith("~$") or name.startswith(".")


def scan_folder(raw_dir: Path, agency: str) -> list[FileEntry]:
    """Every file in an agency's folder, except the pipeline's own output folder and hidden folders."""
    folder = raw_dir / agency
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if any(p == FEEDBACK_DIR or p.startswith(".") for p in parts[:-1]) or not path.is_file():
            continue
        stat = path.stat()
        entries.append(FileEntry(path=path, rel=path.relative_to(raw_dir).as_posix(), size=stat.st_size,
                                 mtime=stat.st_mtime, ignored=is_ignored_name(path.name)))
    return entries


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


def read_file(entry: FileEntry, agency: str, contract: Contract, limits: Limits, run_id: str,
              now: dt.datetime, timezone: str = "UTC") -> FileRead:
    """Read one workbook into raw rows and sheet records."""
    def failed(code: str, detail: str = "") -> FileRead:
        return FileRead(entry, _empty(RAW_COLUMNS), _empty(SHEET_COLUMNS), code, detail)

    if entry.path.suffix.lower() not in excel.READABLE_SUFFIXES:
        return failed("format_unsupported", entry.path.suffix or "(tanpa ekstensi)")
    if entry.size > limits.max_file_bytes:
        mb = 1024 * 1024
        return failed("file_too_large", f"{entry.size / mb:.1f} MB > {limits.max_file_bytes / mb:g} MB")
    try:
        workbook = excel.read_workbook(entry.path, contract, max_rows=limits.max_rows_per_sheet)
    except excel.UnreadableFile as exc:
        return failed(exc.code, exc.detail)
    raw = _raw_rows(agency, entry, workbook.sheets, run_id, now)
    sheets = _sheet_rows(agency, entry, workbook.sheets, run_id)
    sheets = coverage.add_to_sheets(sheets, workbook.sheets, entry.path.name, entry.mtime, timezone, now, contract)
    code = None if workbook.registers else "no_register_sheet"
    return FileRead(entry, raw, sheets, code)


def _raw_rows(agency: str, entry: FileEntry | None, sheets: list[excel.SheetResult], run_id: str,
              now: dt.datetime) -> pd.DataFrame:
    rows = [(sheet.name, row) for sheet in sheets if sheet.is_register for row in sheet.rows]
    file, sha = (entry.rel, entry.sha256) if entry else (None, None)
    # one block of text, built row by row, its values in RAW_COLUMNS order
    cells = np.empty((len(rows), len(RAW_COLUMNS)), dtype=object)
    for i, (name, row) in enumerate(rows):
        values = row.values
        cells[i] = (agency, *(values.get(c) for c in SOURCE_COLUMNS), ",".join(row.masked) or None, row.identity,
                    file, sha, name, row.row, run_id, now)
    frame = pd.DataFrame(cells, columns=RAW_COLUMNS, dtype=object)
    frame["_source_row"] = frame["_source_row"].astype("int64")
    frame["_ingested_at"] = np.full(len(rows), np.datetime64(now, "us"))
    return frame


def _sheet_rows(agency: str, entry: FileEntry, sheets: list[excel.SheetResult], run_id: str) -> pd.DataFrame:
    records = []
    for index, sheet in enumerate(sheets):
        h = sheet.header
        records.append({
            "agency": agency, "path": entry.rel, "sha256": entry.sha256, "sheet": sheet.name, "sheet_index": index,
            "visible": sheet.visible, "is_register": sheet.is_register, "reason": sheet.reason or None,
            "header_row": h.row if h else None, "header_rows": h.rows if h else None,
            "columns": json.dumps(h.written, ensure_ascii=False) if h else None,
            "unknown_headers": h.unknown if h else [], "personal_headers": h.personal if h else [],
            "duplicate_headers": h.duplicates if h else [], "data_rows": len(sheet.rows),
            "total_rows": sheet.total_rows, "blank_rows": sheet.blank_rows, "parser_version": parser_version(),
            "run_id": run_id,
        })
    return pd.DataFrame.from_records(records, columns=SHEET_COLUMNS)


def cached_read(entry: FileEntry, previous: Previous, run_id: str) -> FileRead | None:
    """Reuse the rows read earlier from a file with the same bytes and the same parser."""
    sheets = previous.sheets[(previous.sheets["sha256"] == entry.sha256)
                             & (previous.sheets["parser_version"] == parser_version())]
    if sheets.empty:
        return None
    source = sheets["path"].iloc[0]
    sheets = sheets[sheets["path"] == source].assign(path=entry.rel, run_id=run_id)
    raw = previous.raw[(previous.raw["_source_sha256"] == entry.sha256) & (previous.raw["_source_file"] == source)]
    raw = raw.assign(_source_file=entry.rel, _load_id=run_id)
    code = None if sheets["is_register"].any() else "no_register_sheet"
    return FileRead(entry, raw.reset_index(drop=True), sheets.reset_index(drop=True), code, parsed=False)


def _ts(value: float | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(int(value), unit="s")


def _status(entry: FileEntry, read: FileRead | None, staged: int, superseded: int) -> tuple[str, str | None]:
    if read is not None and not read.error_code and staged == 0 and coverage.is_nil_report(read.sheets):
        return "nil_report", "nil_report"
    if entry.ignored:
        return "ignored", "lock_file"
    if read is None:
        return "rejected", "file_unreadable"
    if read.error_code:
        return "rejected", read.error_code
    if staged > 0:
        return "loaded", None
    if superseded > 0:
        return "superseded", "superseded"
    return "rejected", "no_data_rows" if len(read.raw) == 0 else "all_rows_rejected"


def ledger_frame(agency: str, entries: list[FileEntry], reads: dict[str, FileRead], result: StagingResult,
                 previous: pd.DataFrame, run_id: str, now: dt.datetime) -> pd.DataFrame:
    """One row per file ever seen in the folder, with what became of it."""
    def per_file(frame: pd.DataFrame) -> dict[str, int]:
        return frame.groupby("_source_file").size().to_dict() if len(frame) else {}

    staged, rejected, superseded = per_file(result.staged), per_file(result.rejected), per_file(result.superseded)
    warned = result.warnings.groupby("_source_file")["_source_row"].nunique().to_dict() if len(result.warnings) else {}
    sup_by: dict[str, list[str]] = {}
    if len(result.superseded):
        sup_by = result.superseded.groupby("_source_file")["superseded_by"].agg(lambda s: sorted(set(s))).to_dict()
    supersedes: dict[str, set] = {}
    for loser, winners in sup_by.items():
        for winner in winners:
            supersedes.setdefault(winner, set()).add(loser)
    prev = previous.set_index("path") if len(previous) else None
    records = []
    for entry in entries:
        read = reads.get(entry.rel)
        counts = (staged.get(entry.rel, 0), rejected.get(entry.rel, 0), superseded.get(entry.rel, 0))
        status, code = _status(entry, read, counts[0], counts[2])
        sheets = read.sheets if read is not None else _empty(SHEET_COLUMNS)
        registers = sheets[sheets["is_register"].astype(bool)] if len(sheets) else sheets
        detail, other = (read.error_detail if read else ""), ", ".join(sup_by.get(entry.rel, []))
        period, period_en = coverage.file_period(registers)
        masked = read.raw["_pii_masked"].dropna() if read is not None else pd.Series(dtype=object)
        records.append({
            "agency": agency, "path": entry.rel, "sha256": entry.sha256, "size_bytes": entry.size,
            "modified_at": _ts(entry.mtime),
            "first_seen": prev.at[entry.rel, "first_seen"] if prev is not None and entry.rel in prev.index else now,
            "last_seen": now, "status": status, "reason_code": code,
            "message": render(code, detail=detail, other=other, period=period) if code else None,
            "message_en": render(code, "en", detail=detail, other=other, period=period_en) if code else None,
            "error": detail or None, "data_rows": len(read.raw) if read is not None else 0,
            "rows_staged": counts[0], "rows_rejected": counts[1], "rows_superseded": counts[2],
            "rows_warned": warned.get(entry.rel, 0), "superseded_by": sup_by.get(entry.rel, []),
            "supersedes": sorted(supersedes.get(entry.rel, [])),
            "sheets_read": registers["sheet"].tolist(),
            "sheets_skipped": [f"{s}: {r}" for s, r in zip(sheets["sheet"], sheets["reason"]) if r],
            "unknown_headers": sorted({h for hs in registers["unknown_headers"] for h in hs}),
            "personal_columns_dropped": sorted({h for hs in registers["personal_headers"] for h in hs}),
            "cells_masked": int(sum(len(m.split(",")) for m in masked)),
            "parsed": read.parsed if read is not None else False,
            "archived_as": read.archived_as if read is not None else None, "run_id": run_id,
            **coverage.of_file(registers),
        })
    seen = {e.rel for e in entries}
    if prev is not None:
        for path, row in prev[~prev.index.isin(seen)].iterrows():
            record = row.to_dict()
            record.update(path=path, status="removed", reason_code="removed", message=render("removed"),
                          message_en=render("removed", "en"), rows_staged=0, rows_rejected=0, rows_superseded=0,
                          rows_warned=0, superseded_by=[], supersedes=[], parsed=False, run_id=run_id)
            records.append(record)
    return pd.DataFrame.from_records(records, columns=LEDGER_COLUMNS)


def _fingerprint(path: Path) -> tuple[int, int, int, int] | None:
    """What changes when a file is written to, renamed over or removed."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_dev


def _changed(before: tuple | None, after: tuple | None) -> str:
    if before is None or after is None:
        return "removed while read"
    return f"{before[1]} -> {after[1]} bytes" if before[1] != after[1] else "modified while read"


def _drop_if_not(copy: Path, sha256: str) -> None:
    """An archived copy of a file that changed while copied may not hold the bytes its name says."""
    if copy.exists() and sha256_file(copy) != sha256:
        copy.unlink()


def load_key(agency: Agency, entries: list[FileEntry], limits: Limits) -> str:
    """Everything an agency's slice is made from, as one hash: the files (name, size, time,
    content), the registry entry, the limits, the code and mappings, and the hashing secret
    (through a keyed hash, never the secret itself). Equal keys give equal slices, apart
    from run ids and times, when the slice is `reusable` and the day of the run is within
    its valid_from..valid_until (the day decides which report dates are in the future)."""
    from pipeline.privacy import keyed_hash

    files = [(e.rel, e.size, e.mtime, e.ignored, e.sha256) for e in entries]
    text = json.dumps([code_version(), keyed_hash("load_key"), repr(agency), repr(limits), files])
    return hashlib.sha256(text.encode()).hexdigest()


def unchanged_since(agency: Agency, raw_dir: Path, limits: Limits, key: str, archive_dir: Path | None) -> bool:
    """Whether the agency's folder would give the slice stored under `key` again. The files are
    hashed (not parsed); every one is in the archive afterwards, as after a load."""
    entries = scan_folder(raw_dir, agency.code)
    try:
        for entry in entries:
            if not entry.ignored:
                entry.sha256 = sha256_file(entry.path)
    except FileNotFoundError:  # removed while hashed: load it properly
        return False
    if load_key(agency, entries, limits) != key:
        return False
    if archive_dir is not None:
        for entry in entries:
            if not entry.ignored:
                archive.store(entry.path, entry.sha256, archive_dir)
    return True


def load_agencies(tasks: list[LoadTask], contract: Contract | None = None) -> list[AgencyLoad]:
    """Read each agency's folder and build every frame of its warehouse slice; the agencies are
    staged together (one pandera call for all of them)."""
    contract = contract or load_contract()
    folders = [_read_folder(t, contract) for t in tasks]
    results = stage_agencies([(f.raw, t.agency, f.headers, f.file_rank, t.load_date) for t, f in zip(tasks, folders)],
                             contract)
    for folder, result in zip(folders, results):  # rows dated outside their sheet's stated period
        result.warnings = coverage.with_mismatch_warnings(result.warnings, result.staged, folder.sheets)
    loads = []
    for task, folder, result in zip(tasks, folders, results):
        code = task.agency.code
        ledger = ledger_frame(code, folder.entries, folder.reads, result, task.previous.ledger, task.run_id, task.now)
        frames = {
            "raw.case_rows": folder.raw,
            "staging.case_victims": result.staged,
            "staging.rejected_rows": result.rejected,
            "staging.cell_warnings": result.warnings,
            "staging.superseded_rows": result.superseded,
            "meta.sheets": folder.sheets,
            "meta.ingest_log": ledger,
            "meta.agency_loads": _load_state(task.agency, folder.entries, task.limits, folder.reads, result,
                                             task.load_date, task.run_id, task.now),
        }
        loads.append(AgencyLoad(code, frames, list(folder.reads.values()), result, ledger))
    return loads


@dataclass
class _Folder:
    """What an agency's folder gave before staging."""

    entries: list[FileEntry]
    reads: dict[str, FileRead]
    raw: pd.DataFrame
    sheets: pd.DataFrame
    headers: dict
    file_rank: dict[str, tuple]


def _read_folder(task: LoadTask, contract: Contract) -> _Folder:
    """Archive and read (or reuse) every file of the agency's folder."""
    code, archive_dir = task.agency.code, task.archive_dir
    entries = scan_folder(task.raw_dir, code)
    reads: dict[str, FileRead] = {}
    for entry in entries:
        if entry.ignored:
            continue
        before = _fingerprint(entry.path)
        stored = read = None
        try:
            entry.sha256 = sha256_file(entry.path)
            if archive_dir is not None:
                stored = archive.store(entry.path, entry.sha256, archive_dir).relative_to(archive_dir).as_posix()
            read = (cached_read(entry, task.previous, task.run_id)
                    or read_file(entry, code, contract, task.limits, task.run_id, task.now, task.agency.timezone))
            read.archived_as = stored
        except FileNotFoundError:  # removed or renamed while read
            pass
        after = _fingerprint(entry.path)
        if read is None or after != before or (before is not None and before[1] != entry.size):
            # still being copied or saved: load nothing of it now; the next run reads it again
            read = FileRead(entry, _empty(RAW_COLUMNS), _empty(SHEET_COLUMNS), "file_changing",
                            _changed(before, after))
            if stored is not None:
                _drop_if_not(archive_dir / stored, entry.sha256)
        reads[entry.rel] = read
    raw_parts = [r.raw for r in reads.values() if len(r.raw)]
    raw = pd.concat(raw_parts, ignore_index=True) if raw_parts else _raw_rows(code, None, [], task.run_id, task.now)
    sheet_parts = [r.sheets for r in reads.values() if len(r.sheets)]
    sheets = pd.concat(sheet_parts, ignore_index=True) if sheet_parts else _empty(SHEET_COLUMNS)
    headers = {(p, s): json.loads(c) for p, s, c, reg in
               zip(sheets["path"], sheets["sheet"], sheets["columns"], sheets["is_register"]) if reg and c}
    file_rank = {e.rel: (int(e.mtime), e.path.name, e.rel) for e in entries}
    return _Folder(entries, reads, raw, sheets, headers, file_rank)


def _load_state(agency: Agency, entries: list[FileEntry], limits: Limits, reads: dict[str, FileRead],
                result: StagingResult, load_date: dt.date, run_id: str, now: dt.datetime) -> pd.DataFrame:
    """The row of meta.agency_loads: the slice's load_key, whether a later run may keep the
    slice when the key is the same (not when a file was caught changing), and the days of
    the run for which it holds."""
    return pd.DataFrame([{
        "agency": agency.code, "load_key": load_key(agency, entries, limits),
        "reusable": not any(r.error_code in TRANSIENT_CODES for r in reads.values()),
        "valid_from": load_date, "valid_until": result.valid_until,
        "loaded_run_id": run_id, "loaded_at": now, "checked_run_id": run_id, "checked_at": now,
    }], columns=LOAD_STATE_COLUMNS)


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


@dataclass
class LoadTask:
    """Everything `load_agencies` needs of one agency of a run, picklable."""

    agency: Agency
    raw_dir: Path
    previous: Previous
    run_id: str
    now: dt.datetime
    load_date: dt.date
    limits: Limits
    archive_dir: Path | None
    debug: bool = False


def load_tasks(tasks: list[LoadTask]) -> list[tuple[dict[str, pd.DataFrame], LoadSummary]]:
    """load_agencies and their summaries, for ordered_map; the frames go to the writer."""
    from pipeline.privacy import scrubbed

    try:
        return [(load.frames, LoadSummary.of(load)) for load in load_agencies(tasks)]
    except Exception as exc:  # the message may quote a cell: never let it reach the run log
        if any(task.debug for task in tasks):
            raise
        raise scrubbed(exc, f"loading agencies {', '.join(task.agency.code for task in tasks)}") from None
