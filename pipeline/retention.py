"""Retention periods (UU 27/2022 PDP: personal data kept no longer than needed), applied by
every run (the load step sweeps first, under the writer lock; the feedback step applies the
feedback period) and by `ppa retention`.

Each class of data has its period in days (config.py, PPA_RETAIN_*):
- archived originals (PPA_RETAIN_ARCHIVE_DAYS): a copy whose file is in no drop folder any
  more is removed that long after the file was last seen (the ledger's last_seen, else the
  copy's time). A file still dropped keeps its copy: its rows are in the warehouse. Copies of
  erased files are removed whatever their age;
- feedback workbooks (PPA_RETAIN_FEEDBACK_DAYS): the copy of the agency's rows made for a
  file received longer ago than that is removed and not written again (feedback/write.py);
  the receipt, which holds no value of the file, stays;
- ledger lines of files no longer in the folder (PPA_RETAIN_LEDGER_DAYS): a file name can
  name a person, so the line (and its sheet records) goes that long after the file left.
The rows of a file leave the warehouse with the file itself, at the next run; erased files
and cases are recorded for good (meta.erasures holds no personal value).

The sweep also encrypts archived copies made before the archive was encrypted.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from pipeline.config import Settings
from pipeline.erasure import remove_feedback
from pipeline.ingest import archive
from pipeline.ingest.erased import erased


@dataclass
class Sweep:
    archive_removed: list[str] = field(default_factory=list)  # names relative to the archive
    archive_encrypted: list[str] = field(default_factory=list)
    feedback_removed: list[str] = field(default_factory=list)
    ledger_lines_removed: int = 0

    def lines(self) -> list[str]:
        return [f"retention: {len(self.archive_removed)} archived files past their period removed, "
                f"{len(self.archive_encrypted)} plain archived files encrypted, {len(self.feedback_removed)} feedback "
                f"workbooks past their period removed, {self.ledger_lines_removed} ledger lines of files gone "
                f"removed"] if self.archive_removed or self.archive_encrypted or self.feedback_removed \
            or self.ledger_lines_removed else []


def expired(when: dt.datetime | None, days: int, now: dt.datetime) -> bool:
    """Whether a naive-UTC time is more than `days` before `now` (naive UTC)."""
    return when is not None and when < now - dt.timedelta(days=days)


def sweep(con: duckdb.DuckDBPyConnection, cfg: Settings, now: dt.datetime | None = None,
          feedback: bool = True) -> Sweep:
    """Apply every retention period once; `con` holds the writer lock. `feedback=False` leaves
    the feedback workbooks to the run's feedback step, which applies their period to every
    agency it writes (feedback/write.py) without a query per agency here."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    done = Sweep()
    done.archive_encrypted = archive.encrypt_plain(cfg.archive_dir)
    _sweep_archive(con, cfg, now, done)
    if feedback:
        _sweep_feedback(con, cfg, now, done)
    cutoff = now - dt.timedelta(days=cfg.retain_ledger_days)
    gone = con.execute("SELECT agency, path, sha256 FROM meta.ingest_log WHERE status = 'removed' AND last_seen < ?",
                       [cutoff]).fetchall()
    for agency, path, sha in gone:
        con.execute("DELETE FROM meta.sheets WHERE agency = ? AND path = ? AND sha256 IS NOT DISTINCT FROM ?",
                    [agency, path, sha])
        con.execute("DELETE FROM meta.ingest_log WHERE agency = ? AND path = ?", [agency, path])
    done.ledger_lines_removed = len(gone)
    return done


def _archive_ages(con: duckdb.DuckDBPyConnection, cfg: Settings):
    """Each archived copy's sha256, whether it was erased, whether its file is still in a drop
    folder, and the time its period runs from (naive UTC: the file last seen, else copied)."""
    seen: dict[str, tuple[bool, dt.datetime | None]] = {}  # sha256 -> (still dropped, last seen)
    for sha, dropped, last in con.execute(
            "SELECT sha256, bool_or(status NOT IN ('removed', 'erased')), max(last_seen) FROM meta.ingest_log "
            "WHERE sha256 IS NOT NULL GROUP BY sha256").fetchall():
        seen[sha] = (dropped, last)
    erased_files = erased(con).files
    for path in archive.copies(cfg.archive_dir):
        sha = path.name.split(".")[0]
        dropped, last = seen.get(sha, (False, None))
        copied = dt.datetime.fromtimestamp(os.stat(path, follow_symlinks=False).st_mtime, dt.UTC)
        yield sha, sha in erased_files, dropped, max(last or dt.datetime.min, copied.replace(tzinfo=None))


def _sweep_archive(con: duckdb.DuckDBPyConnection, cfg: Settings, now: dt.datetime, done: Sweep) -> None:
    for sha, was_erased, dropped, since in _archive_ages(con, cfg):
        if not was_erased and (dropped or not expired(since, cfg.retain_archive_days, now)):
            continue
        done.archive_removed += archive.remove(cfg.archive_dir, sha)


def next_expiry(con: duckdb.DuckDBPyConnection, cfg: Settings, now: dt.datetime) -> dt.datetime | None:
    """The first moment after `now` (naive UTC) at which a retention period ends for something
    still kept (an archived copy, a feedback workbook, a ledger line), so that a sweep would
    remove it; None when nothing is waiting for one. A file still dropped has no end."""
    ends = [since + dt.timedelta(days=cfg.retain_archive_days)
            for _sha, was_erased, dropped, since in _archive_ages(con, cfg) if not was_erased and not dropped]
    feedback, ledger = con.execute(
        "SELECT min(first_seen) FILTER (WHERE first_seen >= ?), "
        "min(last_seen) FILTER (WHERE status = 'removed' AND last_seen >= ?) FROM meta.ingest_log",
        [now - dt.timedelta(days=cfg.retain_feedback_days), now - dt.timedelta(days=cfg.retain_ledger_days)],
    ).fetchall()[0]
    if feedback is not None:
        ends.append(feedback + dt.timedelta(days=cfg.retain_feedback_days))
    if ledger is not None:
        ends.append(ledger + dt.timedelta(days=cfg.retain_ledger_days))
    later = [end for end in ends if end > now]
    return min(later) if later else None


def _sweep_feedback(con: duckdb.DuckDBPyConnection, cfg: Settings, now: dt.datetime, done: Sweep) -> None:
    cutoff = now - dt.timedelta(days=cfg.retain_feedback_days)
    old = con.execute("SELECT agency, list(path) FROM meta.ingest_log WHERE first_seen < ? GROUP BY agency "
                      "ORDER BY agency", [cutoff]).fetchall()
    for agency, paths in old:
        done.feedback_removed += remove_feedback(con, Path(cfg.raw_dir), agency, set(paths), receipts=False)
