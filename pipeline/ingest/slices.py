"""Keeping an agency's slice: the load_key of everything it is made from, whether a
folder would give the stored slice again, and the row of meta.agency_loads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd

from pipeline import safefs
from pipeline.ingest import archive
from pipeline.ingest.dropfolder import FileEntry, scan_folder, sha256_file
from pipeline.ingest.read import FileRead, Limits, refusal
from pipeline.registry import Agency
from pipeline.staging.stage import StagingResult
from pipeline.versions import SLICE, source_hash
from pipeline.warehouse import tables

LOAD_STATE_COLUMNS = tables.AGENCY_LOADS.names
TRANSIENT_CODES = {"file_changing", "reader_timeout"}  # caught mid-copy, or on a busy machine: read again next run


def code_version() -> str:
    """A hash of the code and mappings that turn files into an agency's slice."""
    return source_hash(SLICE)


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


def unchanged_since(agency: Agency, raw_dir: Path, limits: Limits, key: str, archive_dir: Path | None,
                    erased: frozenset[str] = frozenset()) -> bool:
    """Whether the agency's folder would give the slice stored under `key` again. The files are
    hashed (not parsed), those refused from their listing (links, not files, too large) not even
    that; every file hashed is in the archive afterwards, as after a load, but an erased one
    (its sha256 in `erased`)."""
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
                if entry.sha256 not in erased:
                    archive.store(entry.path, entry.sha256, archive_dir, raw_dir, limits.max_file_bytes)
        except (FileNotFoundError, safefs.NotRegular, archive.ChangedWhileCopied):  # changed since hashed
            return False
    return True


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


