"""Checks of a file's container before any parser (calamine, openpyxl) opens it.

A workbook is a zip of XML parts (.xlsx, .xlsm, .ods) or an OLE container
(.xls, and password-protected .xlsx). Before calamine touches a file we:

- name what the file really is (an empty file, a PDF or CSV renamed .xlsx, ...);
- list the zip's entries with Python's zipfile, then unpack each in 1 MB chunks
  (zlib, not trusting the sizes the zip declares, which can lie) and stop at a
  limit on the total unpacked size and on the compression ratio, so a zip bomb
  is refused in bounded memory and time;
- refuse any XML part with a DOCTYPE or ENTITY declaration (entity expansion,
  "billion laughs"), or in an encoding Excel never writes (UTF-16, UTF-32);
- find the parts calamine will read the way calamine finds them: the package's
  relationships to the workbook's folder, its relationships to each sheet
  (calamine's src/xlsx/mod.rs), part names matched without regard to case; a
  zip that is both an .xlsx and an .ods, or holds two parts of one name, is
  refused;
- measure every sheet's used area (the last row and column holding a value)
  with an XML parser (expat: any quoting, spacing or namespace prefix, cells
  with or without references, .ods rows and cells repeated), and refuse a sheet
  whose area is over the row limit or the cell limit: calamine allocates the
  whole area at once, and one stray value in cell XFD1048576 would make it ask
  for hundreds of gigabytes and abort the process;
- refuse shared strings that claim more strings than the cell limit (calamine
  reserves room for them all before it reads one);
- refuse a sheet with more than 100,000 merged ranges (each costs memory);
- find formula cells saved without a value (files written by scripts, not by
  Excel), so the reader can refuse to take them as empty cells.

.xls files have no such pre-check (the format caps a sheet at 65,536 x 256
cells); excel.read_workbook checks their area once calamine has read them.
Whatever this check misses, the reader's child process (reader.py) contains.

Every refusal is an `UnreadableFile(code, detail)`; `code` names a message in
schemas/messages.yaml under `files:`.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from pipeline.ingest.limits import (
    CHUNK,
    OLE_MAGIC,
    UNKNOWN,
    WORKBOOK_PARTS,
    ZIP_MAGIC,
    Container,
    SafetyLimits,
    UnreadableFile,
)
from pipeline.ingest.zipparts import _check_zip


def check_file(path: Path, limits: SafetyLimits | None = None) -> Container:
    """Look at a file's container; raise UnreadableFile when it must not be parsed."""
    limits = limits or SafetyLimits.from_env()
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not head:
        raise UnreadableFile("file_empty")
    if head.startswith(OLE_MAGIC):
        return _check_ole(path)
    if not head.startswith(ZIP_MAGIC):
        raise UnreadableFile("file_unreadable", sniff(head))
    try:
        with zipfile.ZipFile(path) as archive:
            return _check_zip(archive, limits)
    except UnreadableFile:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, OSError) as exc:
        if not any(name in head for name in WORKBOOK_PARTS):
            raise UnreadableFile("file_unreadable", "ZIP") from None  # zip bytes, but no workbook part in sight
        raise UnreadableFile("file_damaged", _short(exc)) from None  # a workbook cut short or corrupted


def sniff(head: bytes) -> str:
    """What a file that is not a workbook holds, by its first bytes."""
    signatures = ((b"%PDF", "PDF"), (b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
                  (b"Rar!", "RAR"), (b"7z\xbc\xaf", "7z"), (b"\x1f\x8b", "gzip"), (b"{\\rtf", "RTF"))
    for magic, name in signatures:
        if head.startswith(magic):
            return name
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<table" in text:
        return "HTML"
    if text.startswith(b"<?xml"):
        return "XML"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a character cut at the end of the sample is fine
                return UNKNOWN
        return "CSV/TXT"
    return UNKNOWN


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:120]}"


# ---------------------------------------------------------------- OLE (.xls, encrypted .xlsx)

def _check_ole(path: Path) -> Container:
    """An OLE container: an old .xls, or an Office file encrypted with a password."""
    marker = "EncryptedPackage".encode("utf-16-le")  # the stream name in the directory
    tail = b""
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            if marker in tail + chunk:
                raise UnreadableFile("file_password", "EncryptedPackage")
            tail = chunk[-len(marker):]
    return Container("xls")  # calamine itself reports an .xls with a password (FILEPASS)


