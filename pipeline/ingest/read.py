"""One file to raw rows and sheet records: refused from its stat when it must not be read,
else read by the workbook reader (or its rows reused from an earlier read of the same
bytes), with personal values in sheet names and headers masked.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.contract import Contract
from pipeline.ingest import coverage, reader
from pipeline.ingest import workbook as excel
from pipeline.ingest.dropfolder import FileEntry
from pipeline.ingest.limits import SafetyLimits
from pipeline.versions import PARSER, source_hash
from pipeline.warehouse import tables

RAW_COLUMNS = tables.CASE_ROWS.names
SHEET_COLUMNS = tables.SHEETS.names
RECAP_COLUMNS = tables.RECAP_CELLS.names


def parser_version() -> str:
    """Changes whenever the mapping or the reading code changes, so cached rows are read again."""
    return source_hash(PARSER)


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
    rows_erased: int = 0  # rows of erased cases left out (meta.erasures)
    recap: pd.DataFrame = field(default_factory=lambda: _empty(RECAP_COLUMNS))  # raw.recap_cells of its recap sheets


@dataclass
class Previous:
    """The agency's slice as the last run left it."""

    ledger: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=tables.INGEST_LOG.names))
    raw: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RAW_COLUMNS))
    sheets: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SHEET_COLUMNS))
    recap: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RECAP_COLUMNS))


@dataclass
class Limits:
    max_file_bytes: int = 50 * 1024 * 1024
    max_rows_per_sheet: int = 200_000
    reader_memory_mb: int = 1024  # the guarded reader process (reader.py)
    reader_timeout_s: float = 120.0


def _empty(columns: list[str]) -> pd.DataFrame:
    """An empty frame with these columns: one per column list, shared (never changed in place;
    making one costs a millisecond, and a folder of 10,000 refused files needs two each)."""
    return _empty_frame(tuple(columns))


@lru_cache(maxsize=8)
def _empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


def _failed(entry: FileEntry, code: str, detail: str = "") -> FileRead:
    return FileRead(entry, _empty(RAW_COLUMNS), _empty(SHEET_COLUMNS), code, detail)


def refusal(entry: FileEntry, limits: Limits) -> FileRead | None:
    """A file refused from what listing the folder told (lstat): a link or anything but a
    regular file, or too large. Nothing of it is opened, hashed or copied."""
    if entry.kind == "symlink":
        return _failed(entry, "symlink")
    if entry.kind != "file":
        return _failed(entry, "not_regular_file", entry.kind)
    if entry.size > limits.max_file_bytes:
        mb = 1024 * 1024
        return _failed(entry, "file_too_large", f"{entry.size / mb:.1f} MB > {limits.max_file_bytes / mb:g} MB")
    return None


def read_file(entry: FileEntry, agency: str, contract: Contract, limits: Limits, run_id: str,
              now: dt.datetime, source: Path | None = None, timezone: str = "UTC",
              registry: tuple | None = None) -> FileRead:
    """Read one workbook into raw rows, recap cells and sheet records. `source`: the bytes to
    read, when not the file itself (its archived copy, whose content is the hash in the
    ledger); `timezone`: the agency's, for the export date taken from the file's modification
    time; `registry`: the agencies a file in the wrong folder is matched against (by default
    the registry's). A file that belongs to another agency gives nothing but its refusal."""
    if entry.path.suffix.lower() not in excel.READABLE_SUFFIXES:
        return _failed(entry, "format_unsupported", entry.path.suffix or "(tanpa ekstensi)")
    refused = refusal(entry, limits)
    if refused is not None:
        return refused
    try:  # in the guarded reader process: a file that crashes or exhausts it is refused alone
        workbook = reader.read_workbook(source or entry.path, contract, limits.max_rows_per_sheet,
                                        SafetyLimits.from_env(limits.max_rows_per_sheet), limits.reader_memory_mb,
                                        limits.reader_timeout_s)
    except excel.UnreadableFile as exc:
        return _failed(entry, exc.code, exc.detail)
    from pipeline.ingest.agency_match import wrong_agency
    from pipeline.registry import load_registry

    other = wrong_agency(workbook.sheets, agency, registry or load_registry(), contract)
    if other is not None:  # nothing of it loads (contract section 10)
        return _failed(entry, "wrong_agency", other.detail)
    labels = sheet_labels([sheet.name for sheet in workbook.sheets])
    raw = _raw_rows(agency, entry, workbook.sheets, run_id, now, labels)
    sheets = _sheet_rows(agency, entry, workbook.sheets, run_id, labels)
    sheets = coverage.add_to_sheets(sheets, workbook.sheets, entry.path.name, entry.mtime, timezone, now, contract)
    recap = _recap_cells(agency, entry, workbook.sheets, run_id, now, labels)
    code = None if workbook.registers or len(recap) else "no_register_sheet"
    return FileRead(entry, raw, sheets, code, recap=recap)


def sheet_labels(sheet_names: list[str]) -> list[str]:
    """Sheet names as stored: a NIK, phone number or e-mail in a name masked (privacy.mask),
    and a name that masking made equal to another's numbered, so each sheet keeps its own."""
    from pipeline.privacy import mask

    labels = [mask(name)[0] for name in sheet_names]
    if labels == sheet_names:
        return labels
    taken = set(sheet_names)
    out = []
    for name, label in zip(sheet_names, labels):
        n = 1
        while label != name and label in taken:
            n += 1
            label = f"{mask(name)[0]} ({n})"
        taken.add(label)
        out.append(label)
    return out


def _masked(headers: list[str]) -> list[str]:
    """Header texts as stored: a personal value typed into a header cell masked, as in data cells."""
    from pipeline.privacy import mask

    return [mask(h)[0] for h in headers]


def _raw_rows(agency: str, entry: FileEntry | None, sheets: list[excel.SheetResult], run_id: str,
              now: dt.datetime, labels: list[str] | None = None) -> pd.DataFrame:
    labels = labels or [sheet.name for sheet in sheets]
    rows = [(label, row) for sheet, label in zip(sheets, labels) if sheet.is_register for row in sheet.rows]
    file, sha = (entry.rel, entry.sha256) if entry else (None, None)
    # one block of text, built row by row, its values in RAW_COLUMNS order
    cells = np.empty((len(rows), len(RAW_COLUMNS)), dtype=object)
    for i, (name, row) in enumerate(rows):
        values = row.values
        cells[i] = (agency, *(values.get(c) for c in tables.SOURCE_NAMES), ",".join(row.masked) or None, row.identity,
                    ",".join(row.cut) or None, file, sha, name, row.row, run_id, now)
    frame = pd.DataFrame(cells, columns=RAW_COLUMNS, dtype=object)
    frame["_source_row"] = frame["_source_row"].astype("int64")
    frame["_ingested_at"] = np.full(len(rows), np.datetime64(now, "us"))
    return frame


def _sheet_rows(agency: str, entry: FileEntry, sheets: list[excel.SheetResult], run_id: str,
                labels: list[str]) -> pd.DataFrame:
    records = []
    for index, (sheet, label) in enumerate(zip(sheets, labels)):
        h, recap = sheet.header, sheet.recap
        records.append({
            "agency": agency, "path": entry.rel, "sha256": entry.sha256, "sheet": label, "sheet_index": index,
            "visible": sheet.visible, "is_register": sheet.is_register, "is_recap": recap is not None,
            "reason": sheet.reason or None,
            "header_row": h.row if h else recap.header_row if recap else None,
            "header_rows": h.rows if h else recap.header_rows if recap else None,
            "columns": json.dumps(h.written, ensure_ascii=False) if h else None,
            "unknown_headers": _masked(h.unknown) if h else recap.unknown if recap else [],
            "personal_headers": _masked(h.personal) if h else [],
            "duplicate_headers": _masked(h.duplicates) if h else [], "data_rows": len(sheet.rows),
            "total_rows": sheet.total_rows, "blank_rows": sheet.blank_rows, "parser_version": parser_version(),
            "run_id": run_id, "recap_axis": recap.axis if recap else None,
            "recap_turned": recap.turned if recap else None, "recap_cells": recap.cells if recap else None,
        })
    return pd.DataFrame.from_records(records, columns=SHEET_COLUMNS)


def _recap_cells(agency: str, entry: FileEntry | None, sheets: list[excel.SheetResult], run_id: str,
                 now: dt.datetime, labels: list[str]) -> pd.DataFrame:
    """raw.recap_cells: every count cell of the recap sheets, as written (masked by the reader)."""
    from pipeline.ingest.recap import cell_name

    file, sha = (entry.rel, entry.sha256) if entry else (None, None)
    records = [(agency, t.axis, t.turned, t.label_header, line.label, line.label_cell, line.group, line.total,
                column.header, column.group,
                column.dimension, column.category, column.measure, text, file, sha, label, row, cell_name(row, col),
                run_id, now)
               for sheet, label in zip(sheets, labels) if (t := sheet.recap) is not None
               for line in t.lines for column, (text, row, col) in zip(t.columns, line.cells)]
    frame = pd.DataFrame.from_records(records, columns=RECAP_COLUMNS)
    frame["_source_row"] = frame["_source_row"].astype("int64")
    frame["_ingested_at"] = pd.to_datetime(frame["_ingested_at"]).astype("datetime64[us]")
    return frame


def cached_read(entry: FileEntry, previous: Previous, run_id: str) -> FileRead | None:
    """Reuse the rows read earlier from a file with the same bytes and the same parser."""
    if previous.sheets.empty:
        return None
    sheets = previous.sheets[(previous.sheets["sha256"] == entry.sha256)
                             & (previous.sheets["parser_version"] == parser_version())]
    if sheets.empty:
        return None
    source = sheets["path"].iloc[0]
    sheets = sheets[sheets["path"] == source].assign(path=entry.rel, run_id=run_id)
    raw = previous.raw[(previous.raw["_source_sha256"] == entry.sha256) & (previous.raw["_source_file"] == source)]
    raw = raw.assign(_source_file=entry.rel, _load_id=run_id)
    recap = previous.recap[(previous.recap["_source_sha256"] == entry.sha256) & (previous.recap["_source_file"] == source)]
    recap = recap.assign(_source_file=entry.rel, _load_id=run_id)
    code = None if sheets["is_register"].any() or len(recap) else "no_register_sheet"
    return FileRead(entry, raw.reset_index(drop=True), sheets.reset_index(drop=True), code, parsed=False,
                    recap=recap.reset_index(drop=True))


