"""One agency's drop folder to warehouse frames (pure apart from reading files).

scan_folder -> read each workbook -> raw rows -> staging -> ledger rows.
The caller writes every returned frame in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline import excel
from pipeline.contract import Contract, load_contract
from pipeline.messages import render
from pipeline.registry import Agency
from pipeline.staging import LINEAGE, SOURCE_COLUMNS, StagingResult, stage_agency

FEEDBACK_DIR = "umpan-balik"
LEDGER_COLUMNS = [
    "agency", "path", "sha256", "size_bytes", "modified_at", "first_seen", "last_seen", "status", "reason_code",
    "message", "message_en", "error", "data_rows", "rows_staged", "rows_rejected", "rows_superseded",
    "rows_warned", "superseded_by", "supersedes", "sheets_read", "sheets_skipped", "unknown_headers",
    "personal_columns_dropped", "cells_masked", "run_id",
]
SHEET_COLUMNS = [
    "agency", "path", "sha256", "sheet", "sheet_index", "visible", "is_register", "reason", "header_row",
    "header_rows", "columns", "unknown_headers", "personal_headers", "duplicate_headers", "data_rows",
    "total_rows", "blank_rows", "run_id",
]


@dataclass
class FileEntry:
    path: Path
    rel: str  # path relative to the raw folder, e.g. "kukar/register_2024.xlsx"
    size: int
    mtime: float
    ignored: bool = False
    sha256: str | None = None


@dataclass
class FileOutcome:
    entry: FileEntry
    error_code: str | None = None
    error_detail: str = ""
    sheets: list[excel.SheetResult] = field(default_factory=list)
    data_rows: int = 0
    cells_masked: int = 0


@dataclass
class AgencyLoad:
    agency: str
    frames: dict[str, pd.DataFrame]
    outcomes: list[FileOutcome]
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
    """Every file in an agency's folder, except the pipeline's own output folder."""
    folder = raw_dir / agency
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.rglob("*")):
        rel_parts = path.relative_to(folder).parts
        if FEEDBACK_DIR in rel_parts[:-1] or any(p.startswith(".") for p in rel_parts[:-1]):
            continue
        if not path.is_file():
            continue
        stat = path.stat()
        entries.append(FileEntry(path=path, rel=path.relative_to(raw_dir).as_posix(), size=stat.st_size,
                                 mtime=stat.st_mtime, ignored=is_ignored_name(path.name)))
    return entries


def read_file(entry: FileEntry, contract: Contract, max_bytes: int, max_rows: int) -> FileOutcome:
    outcome = FileOutcome(entry)
    if entry.path.suffix.lower() not in excel.READABLE_SUFFIXES:
        outcome.error_code, outcome.error_detail = "format_unsupported", entry.path.suffix or "(tanpa ekstensi)"
        return outcome
    if entry.size > max_bytes:
        outcome.error_code = "file_too_large"
        outcome.error_detail = f"{entry.size / 1e6:.1f} MB"
        return outcome
    try:
        workbook = excel.read_workbook(entry.path, contract, max_rows=max_rows)
    except excel.UnreadableFile as exc:
        outcome.error_code, outcome.error_detail = exc.code, exc.detail
        return outcome
    outcome.sheets = workbook.sheets
    outcome.data_rows = sum(len(s.rows) for s in workbook.registers)
    outcome.cells_masked = sum(len(r.masked) for s in workbook.registers for r in s.rows)
    if not workbook.registers:
        outcome.error_code = "no_register_sheet"
    return outcome


def raw_frame(agency: str, outcomes: list[FileOutcome], run_id: str, now: dt.datetime) -> pd.DataFrame:
    records = []
    for outcome in outcomes:
        for sheet in outcome.sheets:
            if not sheet.is_register:
                continue
            for row in sheet.rows:
                record = {c: row.values.get(c) for c in SOURCE_COLUMNS}
                record.update(
                    agency=agency, _pii_masked=",".join(sorted(set(row.masked))) or None,
                    _source_file=outcome.entry.rel, _source_sha256=outcome.entry.sha256,
                    _source_sheet=sheet.name, _source_row=row.row, _load_id=run_id, _ingested_at=now,
                )
                records.append(record)
    columns = ["agency", *SOURCE_COLUMNS, "_pii_masked", *LINEAGE]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for column in ["agency", *SOURCE_COLUMNS, "_pii_masked", "_source_file", "_source_sha256", "_source_sheet", "_load_id"]:
        frame[column] = frame[column].astype(object)
    frame["_source_row"] = frame["_source_row"].astype("int64")
    frame["_ingested_at"] = pd.to_datetime(frame["_ingested_at"]).astype("datetime64[us]")
    return frame


def sheets_frame(agency: str, outcomes: list[FileOutcome], run_id: str) -> pd.DataFrame:
    records = []
    for outcome in outcomes:
        for index, sheet in enumerate(outcome.sheets):
            h = sheet.header
            records.append({
                "agency": agency, "path": outcome.entry.rel, "sha256": outcome.entry.sha256, "sheet": sheet.name,
                "sheet_index": index, "visible": sheet.visible, "is_register": sheet.is_register,
                "reason": sheet.reason or None, "header_row": h.row if h else None, "header_rows": h.rows if h else None,
                "columns": json.dumps(h.written, ensure_ascii=False) if h else None,
                "unknown_headers": h.unknown if h else [], "personal_headers": h.personal if h else [],
                "duplicate_headers": h.duplicates if h else [], "data_rows": len(sheet.rows),
                "total_rows": sheet.total_rows, "blank_rows": sheet.blank_rows, "run_id": run_id,
            })
    return pd.DataFrame.from_records(records, columns=SHEET_COLUMNS)


def _ts(value: float | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(int(value), unit="s")


def ledger_frame(agency: str, entries: list[FileEntry], outcomes: dict[str, FileOutcome], result: StagingResult,
                 previous: pd.DataFrame, run_id: str, now: dt.datetime) -> pd.DataFrame:
    """One row per file ever seen in the folder, with what became of it."""
    counts = {
        name: frame.groupby("_source_file").size().to_dict()
        for name, frame in (("staged", result.staged), ("rejected", result.rejected), ("superseded", result.superseded))
    }
    warned = result.warnings.groupby("_source_file")["_source_row"].nunique().to_dict() if len(result.warnings) else {}
    sup_by = result.superseded.groupby("_source_file")["superseded_by"].agg(lambda s: sorted(set(s))).to_dict() \
        if len(result.superseded) else {}
    supersedes: dict[str, set] = {}
    for loser, winners in sup_by.items():
        for winner in winners:
            supersedes.setdefault(winner, set()).add(loser)
    prev = previous.set_index("path") if len(previous) else None
    records = []
    seen = set()
    for entry in entries:
        seen.add(entry.rel)
        outcome = outcomes.get(entry.rel)
        first_seen = now
        if prev is not None and entry.rel in prev.index:
            first_seen = prev.at[entry.rel, "first_seen"]
        staged = counts["staged"].get(entry.rel, 0)
        rejected = counts["rejected"].get(entry.rel, 0)
        superseded = counts["superseded"].get(entry.rel, 0)
        code = None
        if entry.ignored:
            status, code = "ignored", "lock_file"
        elif outcome is None or outcome.error_code:
            status = "rejected"
            code = outcome.error_code if outcome else "file_unreadable"
        elif staged > 0:
            status = "loaded"
        elif superseded > 0:
            status, code = "superseded", "superseded"
        elif outcome.data_rows == 0:
            status, code = "rejected", "no_data_rows"
        else:
            status, code = "rejected", "all_rows_rejected"
        sheets = outcome.sheets if outcome else []
        other = ", ".join(sup_by.get(entry.rel, []))
        detail = outcome.error_detail if outcome else ""
        records.append({
            "agency": agency, "path": entry.rel, "sha256": entry.sha256, "size_bytes": entry.size,
            "modified_at": _ts(entry.mtime), "first_seen": first_seen, "last_seen": now, "status": status,
            "reason_code": code,
            "message": render(code, detail=detail, other=other) if code else None,
            "message_en": render(code, "en", detail=detail, other=other) if code else None,
            "error": detail or None,
            "data_rows": outcome.data_rows if outcome else 0, "rows_staged": staged, "rows_rejected": rejected,
            "rows_superseded": superseded, "rows_warned": warned.get(entry.rel, 0),
            "superseded_by": sup_by.get(entry.rel, []), "supersedes": sorted(supersedes.get(entry.rel, [])),
            "sheets_read": [s.name for s in sheets if s.is_register],
            "sheets_skipped": [f"{s.name}: {s.reason}" for s in sheets if not s.is_register],
            "unknown_headers": sorted({h for s in sheets if s.header for h in s.header.unknown}),
            "personal_columns_dropped": sorted({h for s in sheets if s.header for h in s.header.personal}),
            "cells_masked": outcome.cells_masked if outcome else 0, "run_id": run_id,
        })
    if prev is not None:
        for path, row in prev.iterrows():
            if path in seen:
                continue
            record = row.to_dict()
            record.update(path=path, status="removed", reason_code="removed", message=render("removed"),
                          message_en=render("removed", "en"), rows_staged=0, rows_rejected=0, rows_superseded=0,
                          rows_warned=0, superseded_by=[], supersedes=[], run_id=run_id)
            if row["status"] != "removed":
                record["last_seen"] = row["last_seen"]
            records.append(record)
    return pd.DataFrame.from_records(records, columns=LEDGER_COLUMNS)


def load_agency(agency: Agency, raw_dir: Path, previous_ledger: pd.DataFrame, run_id: str,
                now: dt.datetime, load_date: dt.date, max_bytes: int, max_rows: int,
                contract: Contract | None = None) -> AgencyLoad:
    """Read an agency's folder and build every frame of its warehouse slice."""
    contract = contract or load_contract()
    entries = scan_folder(raw_dir, agency.code)
    outcomes: dict[str, FileOutcome] = {}
    for entry in entries:
        if entry.ignored:
            continue
        entry.sha256 = sha256_file(entry.path)
        outcomes[entry.rel] = read_file(entry, contract, max_bytes, max_rows)
    raw = raw_frame(agency.code, list(outcomes.values()), run_id, now)
    headers = {
        (o.entry.rel, s.name): s.header.written
        for o in outcomes.values() for s in o.sheets if s.is_register and s.header
    }
    file_rank = {e.rel: (int(e.mtime), e.path.name, e.rel) for e in entries}
    result = stage_agency(raw, agency, headers, file_rank, load_date, contract)
    ledger = ledger_frame(agency.code, entries, outcomes, result, previous_ledger, run_id, now)
    frames = {
        "raw.case_rows": raw,
        "staging.case_victims": result.staged,
        "staging.rejected_rows": result.rejected,
        "staging.cell_warnings": result.warnings,
        "staging.superseded_rows": result.superseded.drop(columns=[]),
        "meta.sheets": sheets_frame(agency.code, list(outcomes.values()), run_id),
        "meta.ingest_log": ledger,
    }
    return AgencyLoad(agency.code, frames, list(outcomes.values()), result, ledger)
