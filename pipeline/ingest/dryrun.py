"""A dry run of one file: read and stage it without touching the warehouse.

Shared by `ppa validate` and the feedback workbook for a file not yet dropped.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from pipeline.contract import load_contract
from pipeline.registry import Agency, get_agency


def dry_run(path: Path, agency: Agency | str, contract=None):
    """Read and stage one file: (FileRead, StagingResult)."""
    from pipeline.config import settings
    from pipeline.ingest.dropfolder import FileEntry, sha256_file
    from pipeline.ingest.read import Limits, read_file
    from pipeline.names import escape
    from pipeline.staging.recap import stage_recaps
    from pipeline.staging.stage import StagingResult, stage_agency

    ag = agency if isinstance(agency, Agency) else get_agency(agency)
    contract = contract or load_contract()
    cfg = settings()
    path = Path(path).resolve()  # the file the user named, links followed
    stat = path.stat()
    entry = FileEntry(path=path, rel=escape(path.name), size=stat.st_size, mtime=stat.st_mtime, sha256=sha256_file(path))
    limits = Limits(cfg.max_file_bytes, cfg.max_rows_per_sheet, cfg.reader_memory_mb, cfg.reader_timeout_s)
    read = read_file(entry, ag.code, contract, limits, "validate", dt.datetime.now(), timezone=ag.timezone)
    if read.error_code and read.error_code != "no_register_sheet":
        empty = read.raw.iloc[0:0]
        return read, StagingResult(empty, pd.DataFrame(columns=["_source_file"]),
                                   pd.DataFrame(columns=["_source_file"]), pd.DataFrame(columns=["_source_file"]))
    headers = {(entry.rel, s["sheet"]): json.loads(s["columns"])
               for s in read.sheets.to_dict("records") if s["is_register"] and s["columns"]}
    rank = {entry.rel: (0, entry.rel)}
    result = stage_agency(read.raw, ag, headers, rank, dt.datetime.now(ZoneInfo(ag.timezone)).date(), contract)
    result.recap = stage_recaps(read.recap, ag, read.sheets, rank, contract)
    if len(result.recap.warnings):
        result.warnings = pd.concat([w for w in (result.warnings, result.recap.warnings) if len(w)], ignore_index=True)
    return read, result
