"""One agency's drop folder to warehouse frames (pure apart from reading files).

scan_folder -> archive and read each workbook (or reuse the rows read before
from a file with the same hash) -> raw rows -> staging -> ledger rows.
The caller writes every returned frame in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import names, safefs
from pipeline.contract import Contract, load_contract
from pipeline.ingest import archive
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
    path: Path  # as the OS gives it (a name that is not UTF-8 holds surrogates)
    rel: str  # path relative to the raw folder, escaped (names.escape), e.g. "kukar/register_2024.xlsx"
    size: int  # from lstat: nothing is opened to list a folder
    mtime: float
    ignored: bool = False
    sha256: str | None = None
    kind: str = "file"  # or "symlink", "folder", "FIFO", "socket", "device": never opened


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


def sha256_file(path: Path, root: Path | None = None, max_bytes: int | None = None) -> str:
    """The sha256 of a regular file, opened without following a link (safefs.open_regular);
    more than `max_bytes` (the file grew since it was listed) raises ChangedWhileCopied."""
    digest = hashlib.sha256()
    read = 0
    with os.fdopen(safefs.open_regular(path, root), "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            read += len(chunk)
            if max_bytes is not None and read > max_bytes:
                raise archive.ChangedWhileCopied(0, "grew past the size limit while read", str(path))
    return digest.hexdigest()


def is_ignored_name(name: str) -> bool:
    """Excel lock files (~$…) and hidden files are ignored."""
    return name.startswith("~$") or name.startswith(".")


def _listed(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return sorted(entries, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):  # removed while listed
        return []


def scan_folder(raw_dir: Path, agency: str) -> list[FileEntry]:
    """Everything in an agency's folder the ledger answers for, from lstat alone (nothing is
    opened or followed): regular files, and symbolic links, FIFOs, sockets, devices and
    folders named like a workbook ('x.xlsx/'), which get a ledger line and are never read.
    Other folders are read into, except the pipeline's own output folder and hidden ones.
    The drop-folder sensor lists files with this same function."""
    folder = Path(raw_dir) / agency
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return []  # a link or a file in place of the folder: named by stray_items
    except FileNotFoundError:
        return []
    entries: list[FileEntry] = []

    def walk(here: Path, rel: str) -> None:
        for item in _listed(here):
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            kind = safefs.kind_of(st.st_mode)
            if item.name == FEEDBACK_DIR or (kind == "folder" and item.name.startswith(".")):
                continue  # our output folder (a link there is refused by the feedback step)
            if kind == "folder" and Path(item.name).suffix.lower() not in excel.READABLE_SUFFIXES:
                walk(Path(item.path), f"{rel}/{item.name}")
                continue
            entries.append(FileEntry(path=Path(item.path), rel=names.escape(f"{rel}/{item.name}"), size=st.st_size,
                                     mtime=st.st_mtime, ignored=is_ignored_name(item.name), kind=kind))

    walk(folder, agency)
    return entries


def stray_items(raw_dir: Path, agencies: list[str]) -> list[tuple[str, str]]:
    """What the raw folder holds outside the registered agencies' folders, never read:
    (escaped name, reason code): an unknown folder, a file directly in the raw folder, or
    an agency's folder that is a link. Hidden names are left out."""
    known = set(agencies)
    out = []
    for item in _listed(Path(raw_dir)):
        if item.name.startswith("."):
            continue
        kind = safefs.kind_of(item.stat(follow_symlinks=False).st_mode)
        if item.name in known:
            if kind != "folder":
                out.append((names.escape(item.name), "agency_folder_not_folder"))
        elif kind == "folder":
            out.append((names.escape(item.name) + "/", "folder_unknown"))
        else:
            out.append((names.escape(item.name), "file_outside_agency"))
    return out


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
              now: dt.datetime, source: Path | None = None) -> FileRead:
    """Read one workbook into raw rows and sheet records. `source`: the bytes to read, when
    not the file itself (its archived copy, whose content is the hash in the ledger)."""
    if entry.path.suffix.lower() not in excel.READABLE_SUFFIXES:
        return _failed(entry, "format_unsupported", entry.path.suffix or "(tanpa ekstensi)")
    refused = refusal(entry, limits)
    if refused is not None:
        return refused
    try:
        workbook = excel.read_workbook(source or entry.path, contract, max_rows=limits.max_rows_per_sheet)
    except excel.UnreadableFile as exc:
        return _failed(entry, exc.code, exc.detail)
    labels = sheet_labels([sheet.name for sheet in workbook.sheets])
    raw = _raw_rows(agency, entry, workbook.sheets, run_id, now, labels)
    sheets = _sheet_rows(agency, entry, workbook.sheets, run_id, labels)
    code = None if workbook.registers else "no_register_sheet"
    return FileRead(entry, raw, sheets, code)


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
        cells[i] = (agency, *(values.get(c) for c in SOURCE_COLUMNS), ",".join(row.masked) or None, row.identity,
                    file, sha, name, row.row, run_id, now)
    frame = pd.DataFrame(cells, columns=RAW_COLUMNS, dtype=object)
    frame["_source_row"] = frame["_source_row"].astype("int64")
    frame["_ingested_at"] = np.full(len(rows), np.datetime64(now, "us"))
    return frame


def _sheet_rows(agency: str, entry: FileEntry, sheets: list[excel.SheetResult], run_id: str,
                labels: list[str]) -> pd.DataFrame:
    records = []
    for index, (sheet, label) in enumerate(zip(sheets, labels)):
        h = sheet.header
        records.append({
            "agency": agency, "path": entry.rel, "sha256": entry.sha256, "sheet": label, "sheet_index": index,
            "visible": sheet.visible, "is_register": sheet.is_register, "reason": sheet.reason or None,
            "header_row": h.row if h else None, "header_rows": h.rows if h else None,
            "columns": json.dumps(h.written, ensure_ascii=False) if h else None,
            "unknown_headers": _masked(h.unknown) if h else [], "personal_headers": _masked(h.personal) if h else [],
            "duplicate_headers": _masked(h.duplicates) if h else [], "data_rows": len(sheet.rows),
            "total_rows": sheet.total_rows, "blank_rows": sheet.blank_rows, "parser_version": parser_version(),
            "run_id": run_id,
        })
    return pd.DataFrame.from_records(records, columns=SHEET_COLUMNS)


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
    code = None if sheets["is_register"].any() else "no_register_sheet"
    return FileRead(entry, raw.reset_index(drop=True), sheets.reset_index(drop=True), code, parsed=False)


def _ts(value: float | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(int(value), unit="s")


def _status(entry: FileEntry, read: FileRead | None, staged: int, superseded: int) -> tuple[str, str | None]:
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


def supersede_rule(loser: tuple, winner: tuple) -> str:
    """Which rule of the contract made `winner` replace `loser` (their file_rank tuples)."""
    if loser[0] != winner[0]:
        return "superseded_received_later"
    if loser[1] != winner[1]:
        return "superseded_modified_later"
    return "superseded_name_order"


def ledger_frame(agency: str, entries: list[FileEntry], reads: dict[str, FileRead], result: StagingResult,
                 previous: pd.DataFrame, run_id: str, now: dt.datetime,
                 first_seen: dict[str, pd.Timestamp] | None = None,
                 file_rank: dict[str, tuple] | None = None) -> pd.DataFrame:
    """One row per file ever seen in the folder, with what became of it. A superseded file's
    message names the files that replaced it and the rule that decided (received later;
    received in the same run and modified later; or the name that sorts last)."""
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
    first_seen = first_seen if first_seen is not None else first_seen_times(entries, previous, now)

    rank = file_rank or {}

    def winners(rel: str, lang: str) -> str:
        return ", ".join(f"{w} ({render(supersede_rule(rank[rel], rank[w]), lang)})" if rel in rank and w in rank
                         else w for w in sup_by.get(rel, []))

    records = []
    for entry in entries:
        read = reads.get(entry.rel)
        counts = (staged.get(entry.rel, 0), rejected.get(entry.rel, 0), superseded.get(entry.rel, 0))
        status, code = _status(entry, read, counts[0], counts[2])
        sheets = read.sheets if read is not None else _empty(SHEET_COLUMNS)
        registers = sheets[sheets["is_register"].astype(bool)] if len(sheets) else sheets
        detail = read.error_detail if read else ""
        masked = read.raw["_pii_masked"].dropna() if read is not None else pd.Series(dtype=object)
        records.append({
            "agency": agency, "path": entry.rel, "sha256": entry.sha256, "size_bytes": entry.size,
            "modified_at": _ts(entry.mtime),
            "first_seen": first_seen[entry.rel], "last_seen": now, "status": status, "reason_code": code,
            "message": render(code, detail=detail, other=winners(entry.rel, "id")) if code else None,
            "message_en": render(code, "en", detail=detail, other=winners(entry.rel, "en")) if code else None,
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
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_dev


def _changed(before: tuple | None, after: tuple | None) -> str:
    if before is None or after is None:
        return "removed while read"
    return f"{before[1]} -> {after[1]} bytes" if before[1] != after[1] else "modified while read"


def load_key(agency: Agency, entries: list[FileEntry], limits: Limits) -> str:
    """Everything an agency's slice is made from, as one hash: the files (name, size, time,
    content), the registry entry, the limits, the code and mappings, and the hashing secret
    (through a keyed hash, never the secret itself). Equal keys give equal slices, apart
    from run ids and times, when the slice is `reusable` and the day of the run is within
    its valid_from..valid_until (the day decides which report dates are in the future)."""
    from pipeline.privacy import keyed_hash

    files = [(e.rel, e.size, e.mtime, e.ignored, e.sha256, e.kind) for e in entries]
    text = json.dumps([code_version(), keyed_hash("load_key"), repr(agency), repr(limits), files])
    return hashlib.sha256(text.encode()).hexdigest()


def unchanged_since(agency: Agency, raw_dir: Path, limits: Limits, key: str, archive_dir: Path | None) -> bool:
    """Whether the agency's folder would give the slice stored under `key` again. The files are
    hashed (not parsed), those refused from their listing (links, not files, too large) not even
    that; every file hashed is in the archive afterwards, as after a load."""
    entries = scan_folder(raw_dir, agency.code)
    hashed = [e for e in entries if not e.ignored and refusal(e, limits) is None]
    try:
        for entry in hashed:
            entry.sha256 = sha256_file(entry.path, max_bytes=limits.max_file_bytes)
    except (FileNotFoundError, safefs.NotRegular, archive.ChangedWhileCopied):  # changed while hashed
        return False
    if load_key(agency, entries, limits) != key:
        return False
    if archive_dir is not None:
        try:
            for entry in hashed:
                archive.store(entry.path, entry.sha256, archive_dir, raw_dir, limits.max_file_bytes)
        except (FileNotFoundError, safefs.NotRegular, archive.ChangedWhileCopied):  # changed since hashed
            return False
    return True


def load_agencies(tasks: list[LoadTask], contract: Contract | None = None) -> list[AgencyLoad]:
    """Read each agency's folder and build every frame of its warehouse slice; the agencies are
    staged together (one pandera call for all of them)."""
    contract = contract or load_contract()
    folders = [_read_folder(t, contract) for t in tasks]
    results = stage_agencies([(f.raw, t.agency, f.headers, f.file_rank, t.load_date) for t, f in zip(tasks, folders)],
                             contract)
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
    file_rank: dict[str, tuple]  # (first seen, mtime to the second, name, path): the file ranked last wins
    first_seen: dict[str, pd.Timestamp]


def _read_folder(task: LoadTask, contract: Contract) -> _Folder:
    """Archive and read (or reuse) every file of the agency's folder."""
    code = task.agency.code
    entries = scan_folder(task.raw_dir, code)
    reads = {entry.rel: _read_entry(entry, task, contract) for entry in entries if not entry.ignored}
    raw_parts = [r.raw for r in reads.values() if len(r.raw)]
    raw = pd.concat(raw_parts, ignore_index=True) if raw_parts else _raw_rows(code, None, [], task.run_id, task.now)
    sheet_parts = [r.sheets for r in reads.values() if len(r.sheets)]
    sheets = pd.concat(sheet_parts, ignore_index=True) if sheet_parts else _empty(SHEET_COLUMNS)
    headers = {(p, s): json.loads(c) for p, s, c, reg in
               zip(sheets["path"], sheets["sheet"], sheets["columns"], sheets["is_register"]) if reg and c}
    first_seen = first_seen_times(entries, task.previous.ledger, task.now)
    file_rank = {e.rel: (first_seen[e.rel], int(e.mtime), e.rel.rsplit("/", 1)[-1], e.rel) for e in entries}
    return _Folder(entries, reads, raw, sheets, headers, file_rank, first_seen)


def _read_entry(entry: FileEntry, task: LoadTask, contract: Contract) -> FileRead:
    """One file: refused from its listing, or hashed, archived and read from its archived copy
    (the very bytes hashed), or its rows reused from an earlier read of the same bytes."""
    refused = refusal(entry, task.limits)
    if refused is not None:
        return refused
    archive_dir, limit = task.archive_dir, task.limits.max_file_bytes
    before = _fingerprint(entry.path)
    stored = read = None
    try:
        entry.sha256 = sha256_file(entry.path, max_bytes=limit)
        source = entry.path
        if archive_dir is not None:
            source = archive.store(entry.path, entry.sha256, archive_dir, task.raw_dir, limit)
            stored = source.relative_to(archive_dir).as_posix()
        read = (cached_read(entry, task.previous, task.run_id)
                or read_file(entry, task.agency.code, contract, task.limits, task.run_id, task.now, source))
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


def first_seen_times(entries: list[FileEntry], previous: pd.DataFrame, now: dt.datetime) -> dict[str, pd.Timestamp]:
    """When the pipeline first saw each file's content in the folder (the contract's "received"):
    the earliest first_seen of the same bytes in the ledger, under any name, else now. A file
    not hashed keeps the first_seen of its name."""
    now = pd.Timestamp(now)
    by_sha: dict = {}
    by_path: dict = {}
    if len(previous):
        hashed = previous[previous["sha256"].notna()]
        by_sha = hashed.groupby("sha256")["first_seen"].min().to_dict()
        by_path = dict(zip(previous["path"], previous["first_seen"]))
    out = {}
    for entry in entries:
        seen = by_sha.get(entry.sha256) if entry.sha256 else by_path.get(entry.rel)
        out[entry.rel] = now if seen is None or pd.isna(seen) else pd.Timestamp(seen)
    return out


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
