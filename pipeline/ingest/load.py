"""One agency's drop folder to warehouse frames (pure apart from reading files).

scan the folder -> archive and read each workbook (or reuse the rows read before
from a file with the same hash) -> raw rows -> staging -> ledger rows.
The caller writes every returned frame in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline import safefs
from pipeline.contract import Contract, load_contract
from pipeline.ingest import archive, coverage
from pipeline.ingest.dropfolder import FileEntry, _changed, _fingerprint, scan_folder, sha256_file
from pipeline.ingest.erased import Erased
from pipeline.ingest.ledger import first_seen_times, ledger_frame
from pipeline.ingest.read import (
    RECAP_COLUMNS,
    SHEET_COLUMNS,
    FileRead,
    Limits,
    Previous,
    _empty,
    _failed,
    _raw_rows,
    cached_read,
    read_file,
    refusal,
)
from pipeline.ingest.slices import _load_state
from pipeline.registry import Agency
from pipeline.staging.recap import stage_recaps
from pipeline.staging.stage import StagingResult, stage_agencies


@dataclass
class AgencyLoad:
    agency: str
    frames: dict[str, pd.DataFrame]
    reads: list[FileRead]
    staging: StagingResult
    ledger: pd.DataFrame


def load_agencies(tasks: list[LoadTask], contract: Contract | None = None) -> list[AgencyLoad]:
    """Read each agency's folder and build every frame of its warehouse slice; the agencies are
    staged together (one pandera call for all of them)."""
    contract = contract or load_contract()
    folders = [_read_folder(t, contract) for t in tasks]
    results = stage_agencies([(f.raw, t.agency, f.headers, f.file_rank, t.load_date) for t, f in zip(tasks, folders)],
                             contract)
    for task, folder, result in zip(tasks, folders, results):
        # rows dated outside their sheet's stated period
        result.warnings = coverage.with_mismatch_warnings(result.warnings, result.staged, folder.sheets)
        result.recap = stage_recaps(folder.recap, task.agency, folder.sheets, folder.file_rank, contract)
        if len(result.recap.warnings):
            result.warnings = pd.concat([w for w in (result.warnings, result.recap.warnings) if len(w)],
                                        ignore_index=True)
    loads = []
    for task, folder, result in zip(tasks, folders, results):
        code = task.agency.code
        ledger = ledger_frame(code, folder.entries, folder.reads, result, task.previous.ledger, task.run_id, task.now,
                              folder.first_seen, folder.file_rank)
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
            "raw.recap_cells": folder.recap,
            "staging.recap_counts": result.recap.staged,
            "staging.rejected_recap_cells": result.recap.rejected,
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
    recap: pd.DataFrame  # raw.recap_cells of its recap sheets
    file_rank: dict[str, tuple]  # (first seen, mtime to the second, name, path): the file ranked last wins
    first_seen: dict[str, pd.Timestamp]


def _read_folder(task: LoadTask, contract: Contract) -> _Folder:
    """Archive and read (or reuse) every file of the agency's folder."""
    code = task.agency.code
    entries = scan_folder(task.raw_dir, code)
    reads = {entry.rel: _read_entry(entry, task, contract) for entry in entries if not entry.ignored}
    for read in reads.values():  # rows of erased cases never enter (counted in the ledger's rows_erased)
        gone = task.erased.case_rows(read.raw, code)
        if gone.any():
            read.raw, read.rows_erased = read.raw[~gone].reset_index(drop=True), int(gone.sum())
    raw_parts = [r.raw for r in reads.values() if len(r.raw)]
    raw = pd.concat(raw_parts, ignore_index=True) if raw_parts else _raw_rows(code, None, [], task.run_id, task.now)
    sheet_parts = [r.sheets for r in reads.values() if len(r.sheets)]
    sheets = pd.concat(sheet_parts, ignore_index=True) if sheet_parts else _empty(SHEET_COLUMNS)
    recap_parts = [r.recap for r in reads.values() if len(r.recap)]
    recap = pd.concat(recap_parts, ignore_index=True) if recap_parts else _empty(RECAP_COLUMNS)
    headers = {(p, s): json.loads(c) for p, s, c, reg in
               zip(sheets["path"], sheets["sheet"], sheets["columns"], sheets["is_register"]) if reg and c}
    first_seen = first_seen_times(entries, task.previous.ledger, task.now)
    file_rank = {e.rel: (first_seen[e.rel], int(e.mtime), e.rel.rsplit("/", 1)[-1], e.rel) for e in entries}
    return _Folder(entries, reads, raw, sheets, headers, recap, file_rank, first_seen)


def _read_entry(entry: FileEntry, task: LoadTask, contract: Contract) -> FileRead:
    """One file: refused from its listing, or hashed, archived and read from its archived copy
    (the very bytes hashed, decrypted into a private temporary file), or its rows reused from
    an earlier read of the same bytes."""
    refused = refusal(entry, task.limits)
    if refused is not None:
        return refused
    archive_dir, limit = task.archive_dir, task.limits.max_file_bytes
    before = _fingerprint(entry.path)
    stored = read = None
    try:
        entry.sha256 = sha256_file(entry.path, max_bytes=limit)
        if entry.sha256 in task.erased.files:  # erased on request: neither archived nor read again
            return _failed(entry, "file_erased")
        source = entry.path
        if archive_dir is not None:
            source = archive.store(entry.path, entry.sha256, archive_dir, task.raw_dir, limit)
            stored = source.relative_to(archive_dir).as_posix()
        read = cached_read(entry, task.previous, task.run_id)
        if read is None:
            with archive.readable(source, archive_dir) as plain:  # the archived bytes, decrypted
                read = read_file(entry, task.agency.code, contract, task.limits, task.run_id, task.now, plain,
                                 task.agency.timezone)
        read.archived_as = stored
    except safefs.NotRegular as exc:  # replaced by a link or a FIFO since the folder was listed
        entry.kind, entry.sha256 = exc.kind, None
        return refusal(entry, task.limits)
    except (FileNotFoundError, archive.ChangedWhileCopied):  # removed, renamed or written to while read
        pass
    after = _fingerprint(entry.path)
    if read is None or after != before or (before is not None and before[1] != entry.size):
        # still being copied or saved: load nothing of it now; the next run reads it again
        read = _failed(entry, "file_changing", _changed(before, after))
    return read


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
    erased: Erased = field(default_factory=Erased)  # what erasures leave out (meta.erasures)
