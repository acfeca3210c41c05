"""Feedback for agency staff, written into their own folder (raw/<agency>/umpan-balik/).

- a feedback workbook per file with problems (<name>.umpan-balik.xlsx, workbook.py);
- a receipt per file (<name>.tanda-terima.html) and the summary page (index.html, pages.py).

Pure functions, no Dagster. `build_feedback` reads the warehouse (gather.py); the dry run
(`write_feedback_for_file`) takes the frames of `ingest.read_file` and
`staging.stage_agency`; both end in `write_feedback_workbook`. A workbook whose
fingerprint (everything it is made of) is unchanged is not written again.

Only the feedback workbooks hold values from the files (the agency's own data,
copied back to it). Receipts, the summary page, logs and return values hold file
names, counts and messages without values. Every file is written through safefs.
Wording lives in schemas/feedback_messages.yaml.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.feedback.files import (
    FEEDBACK_SUFFIX,
    FINGERPRINT_PROPERTY,
    INDEX_FILE,
    RECEIPT_SUFFIX,
    TMP_MARK,
    feedback_name,
    write_text,
)
from pipeline.feedback.gather import (
    FeedbackInput,
    FileFeedback,
    feedback_from_dry_run,
    files_from_frames,
    gather_feedback,
)
from pipeline.feedback.pages import render_index, render_receipt
from pipeline.feedback.source import source_path
from pipeline.feedback.workbook import write_feedback_workbook
from pipeline.ingest.archive import readable
from pipeline.ingest.dropfolder import FEEDBACK_DIR
from pipeline.messages import render
from pipeline.names import output_stems
from pipeline.registry import Agency
from pipeline.safefs import SafeDir, UnsafePath, open_regular, safe_dir
from pipeline.versions import FEEDBACK, source_hash


def build_feedback(con, agency: Agency | str, raw_dir: Path, archive_dir: Path | None, out_dir: Path | None = None,
                   now: object = None) -> list[Path]:
    """Write an agency's feedback workbooks, receipts and index.html; return the paths written.

    `con` is an open DuckDB connection to the warehouse (only read). `out_dir`
    defaults to raw_dir/<agency>/umpan-balik/. Outputs of ours that no longer
    apply (a file fixed or gone) are removed; unchanged outputs are left as they are.
    """
    return write_feedback(gather_feedback(con, agency), raw_dir, archive_dir, out_dir, now)


def write_feedback(given: FeedbackInput, raw_dir: Path, archive_dir: Path | None, out_dir: Path | None = None,
                   now: object = None) -> list[Path]:
    """The files of `build_feedback`, from what `gather_feedback` read (no warehouse needed).

    A feedback workbook whose inputs did not change since it was written (same file bytes,
    same row fates, same wording and code: its fingerprint) is kept without being made again.
    """
    raw_dir = Path(raw_dir)
    out = Path(out_dir) if out_dir is not None else raw_dir / given.agency.code / FEEDBACK_DIR
    with safe_dir(out, raw_dir if out_dir is None else out) as folder:  # refuses a link on the way
        return _write_feedback(given, raw_dir, archive_dir, folder, now)


def _write_feedback(given: FeedbackInput, raw_dir: Path, archive_dir: Path | None, folder: SafeDir,
                    now: object) -> list[Path]:
    ag, out = given.agency, folder.path
    frames = given.frames
    files = files_from_frames(frames)
    stems = output_stems([f.path for f in files])
    written: list[Path] = []
    links: dict[str, dict[str, str]] = {}
    keep_since = retained_since()
    for fb in files:
        if fb.status == "ignored":
            continue
        link: dict[str, str] = {}
        if fb.has_problems and not (fb.first_seen is not None and fb.first_seen < keep_since):
            target = out / (stems[fb.path] + FEEDBACK_SUFFIX)
            source = source_path(fb, raw_dir, archive_dir)
            key = workbook_fingerprint(fb, ag, source is not None)
            if stored_fingerprint(target, folder) != key:
                with readable(source, archive_dir) as plain:  # an archived copy decrypted for the copy
                    write_feedback_workbook(fb, plain, target, ag, fingerprint=key, folder=folder)
            written.append(target)
            link["feedback"] = target.name
        receipt = out / (stems[fb.path] + RECEIPT_SUFFIX)
        write_text(receipt, render_receipt(fb, ag, link.get("feedback")), folder)
        written.append(receipt)
        link["receipt"] = receipt.name
        links[fb.path] = link
    # the page shows when the newest file came, not when a run last saw the folder: a night with
    # nothing new leaves index.html as it was (staleness is judged against the month of `now`)
    updated = now if now is not None else (frames["ledger"]["first_seen"].max() if len(frames["ledger"]) else None)
    today = now if now is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)
    written.append(write_text(out / INDEX_FILE, render_index(ag, files, links, given.months, given.yoy, updated,
                                                                  given.flags, given.reconciliation, given.changes,
                                                                  today=today),
                              folder))
    _remove_stale(folder, written)
    return written


def retained_since() -> dt.datetime:
    """Files received before this (naive UTC) get no feedback workbook any more: its copy of their
    rows is past PPA_RETAIN_FEEDBACK_DAYS (see retention.py); their receipt stays."""
    from pipeline.config import settings

    return dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=settings().retain_feedback_days)


@dataclass
class FeedbackTask:
    """One agency's feedback as a task of a worker pool (parallel.ordered_map)."""

    given: FeedbackInput
    raw_dir: Path
    archive_dir: Path | None
    debug: bool = False


def feedback_task(task: FeedbackTask) -> tuple[str, int, str | None]:
    """write_feedback in a worker: (agency, files written or kept, None), or, when the feedback
    folder is a link or not a folder, (agency, 0, the refusal's message): nothing is written."""
    from pipeline.names import escape, shown
    from pipeline.privacy import scrubbed

    code = task.given.agency.code
    try:
        return code, len(write_feedback(task.given, task.raw_dir, task.archive_dir)), None
    except UnsafePath as exc:  # umpan-balik/ (or the agency folder) is a link: never written through
        where = os.path.relpath(exc.filename or code, task.raw_dir)
        return code, 0, f"{render('feedback_folder_refused', detail=shown(escape(where)))} / " \
                        f"{render('feedback_folder_refused', 'en', detail=shown(escape(where)))}"
    except Exception as exc:  # the message may quote a cell of the agency's file
        if task.debug:
            raise
        raise scrubbed(exc, f"feedback for agency {task.given.agency.code}") from None


# ---------------------------------------------------------------- fingerprints: skip what did not change

# Columns that change on every run without changing what the workbook shows.
_RUN_COLUMNS = {"run_id", "_load_id", "_ingested_at", "last_seen", "parser_version"}


def workbook_fingerprint(fb: FileFeedback, agency: Agency, has_source: bool) -> str:
    """A hash of everything a feedback workbook is made of: the file's bytes (by sha256), its
    ledger row and row fates, the agency, the wording and this module's code."""
    import hashlib

    digest = hashlib.sha256(source_hash(FEEDBACK).encode())
    for name, value in sorted(vars(fb).items()):
        if isinstance(value, pd.DataFrame):
            run_columns = [c for c in value.columns if c in _RUN_COLUMNS]
            kept = value.drop(columns=run_columns) if run_columns else value  # a copy only when needed
            text = kept.to_json(orient="split", date_format="iso", default_handler=str)
        else:
            text = repr(value)
        digest.update(f"\0{name}\0{text}".encode())
    digest.update(f"\0{agency!r}\0{has_source}".encode())
    return digest.hexdigest()


def stored_fingerprint(path: Path, folder: SafeDir | None = None) -> str | None:
    """The fingerprint a feedback workbook was written with, or None (missing, edited, not ours,
    not a regular file). Read without following a link (in `folder` when given)."""
    try:
        handle = folder.open_file(path.name) if folder is not None else os.fdopen(open_regular(path), "rb")
        if handle is None:
            return None
        with handle, zipfile.ZipFile(handle) as archive_:
            xml = archive_.read("docProps/custom.xml").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    found = re.search(rf'name="{FINGERPRINT_PROPERTY}"[^>]*>\s*<vt:lpwstr>([0-9a-f]{{64}})</vt:lpwstr>', xml)
    return found.group(1) if found else None


def _remove_stale(folder: SafeDir, keep: list[Path]) -> None:
    """Our outputs that no longer apply, and temporary files of killed runs, removed."""
    kept = {p.name for p in keep}
    for name in folder.names():
        ours = name.endswith((FEEDBACK_SUFFIX, RECEIPT_SUFFIX)) or name.endswith(TMP_MARK)
        if ours and name not in kept and folder.kind(name) == "file":
            folder.remove(name)
    folder.remove_leftovers()


def write_feedback_for_file(path: Path, agency: Agency | str, read, result, out_dir: Path | None = None) -> Path:
    """The feedback workbook for one file that was never dropped (`ppa validate FILE --feedback`).

    `read` is `ingest.read_file(...)` of the file, `result` is `staging.stage_agency(...)`
    of `read.raw`. Written next to the file, or into `out_dir`.
    """
    path = Path(path)
    fb = feedback_from_dry_run(read, result)
    target = Path(out_dir or path.parent) / feedback_name(path.name)
    return write_feedback_workbook(fb, path, target, agency)


def feedback_for_new_file(path: Path, agency: Agency | str, out_dir: Path | None = None) -> Path:
    """Dry run of one file and its feedback workbook, without a warehouse."""
    from pipeline.ingest.dryrun import dry_run

    read, result = dry_run(Path(path), agency)
    return write_feedback_for_file(Path(path), agency, read, result, out_dir)


