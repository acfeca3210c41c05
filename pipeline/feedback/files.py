"""Feedback files: their names (bounded, collision-free) and writing them through safefs,
not at all when the content is what the folder already holds.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from pipeline.names import bounded_name
from pipeline.safefs import SafeDir, atomic_write

FEEDBACK_SUFFIX = ".umpan-balik.xlsx"
RECEIPT_SUFFIX = ".tanda-terima.html"
INDEX_FILE = "index.html"
TMP_MARK = ".tmp-umpan-balik"  # temporary files of earlier versions, removed as stale
# ---------------------------------------------------------------- writing files atomically

def _same_content(new, old, xlsx: bool) -> bool:
    """Equal files (open handles); for .xlsx, equal apart from the timestamps in docProps/core.xml."""
    if not xlsx:
        return new.read() == old.read()
    try:
        with zipfile.ZipFile(new) as za, zipfile.ZipFile(old) as zb:
            names = [n for n in za.namelist() if n != "docProps/core.xml"]
            if names != [n for n in zb.namelist() if n != "docProps/core.xml"]:
                return False
            return all(za.read(n) == zb.read(n) for n in names)
    except (zipfile.BadZipFile, OSError):
        return False


def _write(target: Path, writer, folder: SafeDir | None) -> Path:
    """Write target atomically through safefs (never through a link), leaving it untouched
    when it already holds the same content. `folder`: target's folder opened by safe_dir;
    without it, target's own folder is the root."""
    xlsx = target.suffix.lower() == ".xlsx"

    def same(new, old) -> bool:
        return _same_content(new, old, xlsx)

    if folder is not None:
        return folder.write(target.name, writer, keep_if_same=same)
    return atomic_write(target, writer, root=target.parent, keep_if_same=same)


def _atomic_save_workbook(wb, target: Path) -> None:
    wb.properties.creator = "ppa-pipeline"
    wb.properties.lastModifiedBy = "ppa-pipeline"
    _write(target, wb.save, None)


def write_text(target: Path, text: str, folder: SafeDir | None = None) -> Path:
    """Write a text file atomically, leaving it untouched when unchanged (see _write)."""
    return _write(target, lambda handle: handle.write(text.encode("utf-8")), folder)


# ---------------------------------------------------------------- names of the outputs

def feedback_name(file_name: str) -> str:
    """The feedback workbook's name for a file: 'register_2024.xlsx' -> 'register_2024.umpan-balik.xlsx'
    (made safe and kept short, see names.bounded_name)."""
    return bounded_name(Path(file_name).stem or file_name, FEEDBACK_SUFFIX)


# ---------------------------------------------------------------- the two entry points

FINGERPRINT_PROPERTY = "ppa_feedback_fingerprint"
