"""The ledger (meta.ingest_log): one row per file ever seen in an agency's folder, with
what became of it, and when each file's content was first received.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipeline.ingest import coverage
from pipeline.ingest.dropfolder import FileEntry
from pipeline.ingest.read import SHEET_COLUMNS, FileRead, _empty
from pipeline.messages import render
from pipeline.staging.stage import StagingResult
from pipeline.warehouse import tables

LEDGER_COLUMNS = tables.INGEST_LOG.names
def _ts(value: float | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(int(value), unit="s")


def file_status(entry: FileEntry, read: FileRead | None, staged: int, superseded: int,
                recap: tuple[int, int, int] = (0, 0, 0)) -> tuple[str, str | None]:
    """A file's status and reason code from what it gave: one rule for the ledger and the dry run.
    `recap`: its recap cells staged, rejected and superseded."""
    recap_staged, _, recap_superseded = recap
    if read is not None and not read.error_code and staged == 0 and coverage.is_nil_report(read.sheets):
        return "nil_report", "nil_report"
    if entry.ignored:
        return "ignored", "lock_file"
    if read is None:
        return "rejected", "file_unreadable"
    if read.error_code == "file_erased":
        return "erased", "file_erased"
    if read.error_code:
        return "rejected", read.error_code
    if staged > 0 or recap_staged > recap_superseded:
        return "loaded", None
    if superseded > 0 or recap_superseded > 0:
        return "superseded", "superseded"
    if len(read.raw) == 0 and len(read.recap):
        return "rejected", "all_recap_cells_rejected"
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
    recap = result.recap
    recap_staged = per_file(recap.staged) if recap is not None else {}
    recap_rejected = per_file(recap.rejected) if recap is not None else {}
    recap_superseded = per_file(recap.staged[recap.staged["superseded_by"].notna()]) if recap is not None else {}
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
        recaps = (recap_staged.get(entry.rel, 0), recap_rejected.get(entry.rel, 0), recap_superseded.get(entry.rel, 0))
        status, code = file_status(entry, read, counts[0], counts[2], recaps)
        sheets = read.sheets if read is not None else _empty(SHEET_COLUMNS)
        registers = sheets[sheets["is_register"].astype(bool)] if len(sheets) else sheets
        read_sheets = sheets[sheets["is_register"].astype(bool) | sheets["is_recap"].fillna(False).astype(bool)] \
            if len(sheets) else sheets
        detail = read.error_detail if read else ""
        period, period_en = coverage.file_period(registers)
        masked = read.raw["_pii_masked"].dropna() if read is not None else pd.Series(dtype=object)
        records.append({
            "agency": agency, "path": entry.rel, "sha256": entry.sha256, "size_bytes": entry.size,
            "modified_at": _ts(entry.mtime),
            "first_seen": first_seen[entry.rel], "last_seen": now, "status": status, "reason_code": code,
            "message": render(code, detail=detail, other=winners(entry.rel, "id"), period=period) if code else None,
            "message_en": (render(code, "en", detail=detail, other=winners(entry.rel, "en"), period=period_en)
                           if code else None),
            "error": detail or None, "data_rows": len(read.raw) if read is not None else 0,
            "rows_staged": counts[0], "rows_rejected": counts[1], "rows_superseded": counts[2],
            "rows_warned": warned.get(entry.rel, 0), "rows_erased": read.rows_erased if read is not None else 0,
            "superseded_by": sup_by.get(entry.rel, []),
            "supersedes": sorted(supersedes.get(entry.rel, [])),
            "sheets_read": read_sheets["sheet"].tolist(),
            "sheets_skipped": [f"{s}: {r}" for s, r in zip(sheets["sheet"], sheets["reason"]) if r],
            "unknown_headers": sorted({h for hs in read_sheets["unknown_headers"] for h in hs}),
            "personal_columns_dropped": sorted({h for hs in registers["personal_headers"] for h in hs}),
            "cells_masked": int(sum(len(m.split(",")) for m in masked)),
            "parsed": read.parsed if read is not None else False,
            "archived_as": read.archived_as if read is not None else None, "run_id": run_id,
            **coverage.of_file(registers),
            "recap_cells": len(read.recap) if read is not None else 0, "recap_cells_staged": recaps[0],
            "recap_cells_rejected": recaps[1], "recap_cells_superseded": recaps[2],
        })
    seen = {e.rel for e in entries}
    if prev is not None:
        for path, row in prev[~prev.index.isin(seen)].iterrows():
            record = row.to_dict()
            record.update(path=path, status="removed", reason_code="removed", message=render("removed"),
                          message_en=render("removed", "en"), rows_staged=0, rows_rejected=0, rows_superseded=0,
                          rows_warned=0, rows_erased=0, superseded_by=[], supersedes=[], parsed=False, run_id=run_id,
                          recap_cells_staged=0, recap_cells_rejected=0, recap_cells_superseded=0)
            records.append(record)
    return pd.DataFrame.from_records(records, columns=LEDGER_COLUMNS)


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


def accounting_errors(ledger: pd.DataFrame) -> pd.DataFrame:
    """Files where data rows != staged + rejected + superseded, or, for recap sheets, where
    recap cells != staged + rejected (a superseded recap cell is staged, not counted)."""
    live = ledger[ledger["status"] != "removed"]
    total = live["rows_staged"] + live["rows_rejected"] + live["rows_superseded"]
    cells = live["recap_cells"].fillna(0) if "recap_cells" in live else 0
    recap = (live["recap_cells_staged"].fillna(0) + live["recap_cells_rejected"].fillna(0)
             if "recap_cells" in live else 0)
    shown = ["path", "data_rows", "rows_staged", "rows_rejected", "rows_superseded"]
    shown += [c for c in ("recap_cells", "recap_cells_staged", "recap_cells_rejected") if c in live]
    return live.loc[(live["data_rows"] != total) | (cells != recap), shown]
