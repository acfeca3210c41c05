"""The agency's own sheets, read again (in the guarded reader) to be copied into a
feedback workbook: from the drop folder while it holds the same bytes, else the archive.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.feedback.gather import FileFeedback
from pipeline.ingest.dropfolder import sha256_file
from pipeline.names import unescape

MAX_COPY_ROWS = 200_030
# ---------------------------------------------------------------- reading the agency's sheets

@dataclass
class SourceSheet:
    name: str
    visible: bool
    rows: list[list] | None  # None when the sheet could not be read


def read_sheets(path: Path, max_rows: int = MAX_COPY_ROWS, checked: bool = False) -> list[SourceSheet] | None:
    """Every sheet's values (python-calamine: .xlsx, .xlsm, .xls, .ods); None if unreadable.

    Read in the guarded reader process, after the same container checks as the load (unless
    `checked`: these bytes passed them already, see read_by_reader).
    """
    from pipeline.config import settings
    from pipeline.ingest import reader
    from pipeline.ingest.limits import UnreadableFile

    cfg = settings()
    try:
        sheets = reader.sheet_values(Path(path), max_rows, checked, cfg.reader_memory_mb, cfg.reader_timeout_s)
    except UnreadableFile:
        return None
    return [SourceSheet(name, visible, rows) for name, visible, rows in sheets]


def read_by_reader(fb: FileFeedback, source: Path) -> bool:
    """True when `source` holds the very bytes the reader opened: the reader found sheets in
    them (so they passed its container checks) and their sha256 is the ledger's."""
    return len(fb.sheets) > 0 and bool(fb.sha256) and sha256_file(source) == fb.sha256


def source_path(fb: FileFeedback, raw_dir: Path, archive_dir: Path | None) -> Path | None:
    """The bytes the run read: its archived copy, else the file in the folder if it still holds
    them. Only a file hashed by the run qualifies (never a link, a FIFO or a file refused for
    its size), and it is opened without following a link."""
    if not fb.sha256:
        return None
    archived = Path(archive_dir) / fb.archived_as if archive_dir and fb.archived_as else None
    if archived is not None and archived.is_file():
        return archived
    current = Path(raw_dir) / unescape(fb.path)
    try:
        if sha256_file(current, root=raw_dir) == fb.sha256:
            return current
    except OSError:  # gone, a link now, or not a file
        pass
    return None


