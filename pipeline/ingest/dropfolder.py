"""The drop folder: every entry of an agency's folder, listed from lstat (never following a
link), what stands beside the agency folders, and file hashes. The run and the sensor
list the folder through the same function.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pipeline import names, safefs
from pipeline.ingest import archive
from pipeline.ingest import workbook as excel

FEEDBACK_DIR = "umpan-balik"
@dataclass
class FileEntry:
    path: Path  # as the OS gives it (a name that is not UTF-8 holds surrogates)
    rel: str  # path relative to the raw folder, escaped (names.escape), e.g. "kukar/register_2024.xlsx"
    size: int  # from lstat: nothing is opened to list a folder
    mtime: float
    ignored: bool = False
    sha256: str | None = None
    kind: str = "file"  # or "symlink", "folder", "FIFO", "socket", "device": never opened


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


