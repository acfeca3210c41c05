"""Checks of a file's container before any parser (calamine, openpyxl) opens it.

A workbook is a zip of XML parts (.xlsx, .xlsm, .ods) or an OLE container
(.xls, and password-protected .xlsx). Before calamine touches a file we:

- name what the file really is (an empty file, a PDF or CSV renamed .xlsx, ...);
- list the zip's entries with Python's zipfile, then unpack each in 1 MB chunks
  (zlib, not trusting the sizes the zip declares, which can lie) and stop at a
  limit on the total unpacked size and on the compression ratio, so a zip bomb
  is refused in bounded memory and time;
- refuse any XML part with a DOCTYPE or ENTITY declaration (entity expansion,
  "billion laughs"), or in an encoding Excel never writes (UTF-16);
- measure every sheet's used area (the last row and column holding a value) and
  refuse a sheet whose area is over the row limit or the cell limit: calamine
  allocates the whole area at once, and one stray value in cell XFD1048576
  would make it ask for hundreds of gigabytes and abort the process;
- refuse a sheet with more than 100,000 merged ranges (each costs memory);
- find formula cells saved without a value (files written by scripts, not by
  Excel), so the reader can refuse to take them as empty cells.

.xls files have no such pre-check (the format caps a sheet at 65,536 x 256
cells); excel.read_workbook checks their area once calamine has read them.

Every refusal is an `UnreadableFile(code, detail)`; `code` names a message in
schemas/messages.yaml under `files:`.
"""

from __future__ import annotations

import os
import posixpath
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

CHUNK = 1 << 20  # bytes decompressed at a time
MAX_ENTRIES = 10_000  # parts in one zip
MAX_ELEMENT = 8 << 20  # one element of a sheet part (a cell holds at most 32,767 characters)
MAX_FORMULAS_LISTED = 1_000  # uncached formula cells remembered per sheet
MAX_MERGES = 100_000  # merged ranges in one sheet (a register has a few hundred at most)
EXCEL_MAX_COLUMNS = 16_384

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
ODS_MIME = b"application/vnd.oasis.opendocument.spreadsheet"
UNKNOWN = "format lain / other format"
XML_SUFFIXES = (".xml", ".rels", ".vml")
WORKBOOK_PARTS = (b"[Content_Types].xml", b"xl/", b"_rels/", b"mimetype", b"content.xml", b"docProps/")


class UnreadableFile(Exception):
    """The file cannot be read as a workbook. `code` names a message in the catalogue."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class SafetyLimits:
    max_unpacked_bytes: int = 300 * 1024 * 1024
    max_ratio: float = 100.0
    max_rows: int = 200_000
    max_cells: int = 5_000_000

    @classmethod
    def from_env(cls, max_rows: int | None = None) -> SafetyLimits:
        """Limits from the environment (read at each call, never cached)."""
        env = os.environ
        return cls(
            max_unpacked_bytes=int(float(env.get("PPA_MAX_UNCOMPRESSED_MB", "300")) * 1024 * 1024),
            max_ratio=float(env.get("PPA_MAX_COMPRESSION_RATIO", "100")),
            max_rows=max_rows if max_rows is not None else int(env.get("PPA_MAX_ROWS_PER_SHEET", "200000")),
            max_cells=int(env.get("PPA_MAX_CELLS_PER_SHEET", "5000000")),
        )


@dataclass
class SheetArea:
    """What a sheet part holds, measured from its XML without parsing it."""

    name: str  # the sheet's name in the workbook (the part's path when unknown)
    max_row: int = 0  # 1-based: last row holding a value
    max_col: int = 0  # 1-based: last column holding a value
    uncached: list[tuple[int, int]] = field(default_factory=list)  # (row, col) 1-based: formulas without a value


@dataclass
class Container:
    kind: str  # "xlsx", "ods" or "xls"
    sheets: dict[str, SheetArea] = field(default_factory=dict)  # by sheet name (xlsx and ods)

    def matches(self, suffix: str) -> bool:
        """True when the file's name says what its content is (calamine picks its reader by name)."""
        suffix = suffix.lower()
        return {"xlsx": suffix in (".xlsx", ".xlsm"), "ods": suffix == ".ods", "xls": suffix == ".xls"}[self.kind]


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


# ---------------------------------------------------------------- zip (.xlsx, .xlsm, .ods)

class _Budget:
    """The unpacked bytes left for the whole file, and the ratio allowed."""

    def __init__(self, limits: SafetyLimits):
        self.limits = limits
        self.total = 0

    def add(self, name: str, n: int, entry_out: int, entry_in: int) -> None:
        self.total += n
        if self.total > self.limits.max_unpacked_bytes:
            raise UnreadableFile("file_zip_bomb", f"> {self.limits.max_unpacked_bytes / (1 << 20):.0f} MB")
        # the ratio so far, once the entry has unpacked more than 1 MB
        if entry_out > (1 << 20) and entry_out > self.limits.max_ratio * max(entry_in, 1):
            raise UnreadableFile("file_zip_bomb", f"{name}: > {self.limits.max_ratio:.0f}:1")


def _stream(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget):
    """Yield an entry's unpacked bytes in chunks, counting them against the budget.

    Unpacked here with zlib rather than zipfile's reader, which stops at the size
    the zip declares: a lying size would hide the rest of a bomb from us but not
    from calamine. The whole stream is unpacked; its size and CRC must match.
    """
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnreadableFile("file_damaged", f"{info.filename}: compression {info.compress_type}")
    handle = archive.fp
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise UnreadableFile("file_damaged", f"{info.filename}: no local header")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    out = crc = 0
    for piece, used in _unpacked(handle, info, start):
        out += len(piece)
        budget.add(info.filename, len(piece), out, used)
        crc = zlib.crc32(piece, crc)
        yield piece
    if out != info.file_size or crc != info.CRC:
        raise UnreadableFile("file_damaged", f"{info.filename}: size or CRC differs from the zip's directory")


def _unpacked(handle, info: zipfile.ZipInfo, start: int):
    """(piece, compressed bytes used so far) of one entry, at most CHUNK bytes a piece."""
    inflate = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    left, pos = info.compress_size, start
    while left > 0:
        handle.seek(pos)
        raw = handle.read(min(1 << 16, left))
        if not raw:
            break
        pos, left = pos + len(raw), left - len(raw)
        if inflate is None:
            yield raw, pos - start
            continue
        data = raw
        while data and not inflate.eof:
            piece = inflate.decompress(data, CHUNK)
            data = inflate.unconsumed_tail
            if piece:
                yield piece, pos - start
        if inflate.eof:
            return
    if inflate is not None:
        while not inflate.eof:  # output zlib still holds
            piece = inflate.decompress(b"", CHUNK)
            if not piece:
                raise UnreadableFile("file_damaged", f"{info.filename}: cut short")
            yield piece, pos - start


def _check_zip(archive: zipfile.ZipFile, limits: SafetyLimits) -> Container:
    infos = archive.infolist()
    if not infos:
        raise UnreadableFile("file_damaged", "ZIP: 0")
    if len(infos) > MAX_ENTRIES:
        raise UnreadableFile("file_zip_bomb", f"{len(infos)} parts")
    if any(info.flag_bits & 0x1 for info in infos):
        raise UnreadableFile("file_password", "zip")
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_unpacked_bytes:
        raise UnreadableFile("file_zip_bomb", f"> {limits.max_unpacked_bytes / (1024 * 1024):.0f} MB")
    names = {info.filename for info in infos}
    budget = _Budget(limits)
    if "mimetype" in names and "content.xml" in names:
        mime = b"".join(_stream(archive, archive.getinfo("mimetype"), budget))[:200].strip()
        if mime != ODS_MIME:
            raise UnreadableFile("file_unreadable", f"OpenDocument ({mime.decode('ascii', 'replace')[:60]})")
        kind, sheet_parts = "ods", {"content.xml": "content.xml"}
    elif "[Content_Types].xml" in names:
        workbook = _workbook_part(archive, names, budget)
        if workbook is None:
            kind = "Word" if any(n.startswith("word/") for n in names) else (
                "PowerPoint" if any(n.startswith("ppt/") for n in names) else "Office")
            raise UnreadableFile("file_unreadable", kind)
        kind, sheet_parts = "xlsx", _sheet_parts(archive, workbook, budget)
    else:
        raise UnreadableFile("file_unreadable", "ZIP")
    budget.total = 0  # the parts read to find the sheets are read again below
    container = Container(kind)
    for info in infos:
        if info.is_dir():
            continue
        xml = info.filename.lower().endswith(XML_SUFFIXES)
        if kind == "ods":
            scanner = _OdsScanner(limits) if info.filename == "content.xml" else None
        else:
            sheet = sheet_parts.get(info.filename)
            scanner = _SheetScanner(sheet, limits) if sheet is not None else None
        guard = _DoctypeGuard(info.filename) if xml else None
        for chunk in _stream(archive, info, budget):
            if guard is not None:
                guard.feed(chunk)
            if scanner is not None:
                scanner.feed(chunk)
        if scanner is not None:
            for area in scanner.finish():
                _check_area(area, limits)
                container.sheets[area.name] = area
    return container


def _check_area(area: SheetArea, limits: SafetyLimits) -> None:
    check_area(area.name, area.max_row, area.max_col, limits)


def check_area(sheet: str, rows: int, cols: int, limits: SafetyLimits) -> None:
    """Refuse a sheet whose used area (1-based last row and column, titles included) is over the limits."""
    last = f"{sheet}!{column_letters(cols)}{rows}"
    if rows > limits.max_rows:
        raise UnreadableFile("sheet_too_many_rows", f"{last} > {limits.max_rows}")
    if rows * cols > limits.max_cells:
        raise UnreadableFile("sheet_too_large", f"{last}: {rows} x {cols} > {limits.max_cells}")


def column_letters(col: int) -> str:
    """1 -> A, 27 -> AA."""
    out = ""
    while col > 0:
        col, rest = divmod(col - 1, 26)
        out = chr(65 + rest) + out
    return out or "A"


def column_number(letters: bytes | str) -> int:
    n = 0
    for ch in letters.upper() if isinstance(letters, str) else letters.decode().upper():
        n = n * 26 + ord(ch) - 64
    return n


def _read_small(archive: zipfile.ZipFile, name: str, budget: _Budget) -> bytes:
    """A small part (workbook, relations), checked for DOCTYPE before it is parsed."""
    info = archive.getinfo(name)
    guard = _DoctypeGuard(name)
    data = bytearray()
    for chunk in _stream(archive, info, budget):
        guard.feed(chunk)
        data += chunk
        if len(data) > 16 << 20:
            raise UnreadableFile("file_damaged", f"{name} > 16 MB")
    return bytes(data)


def _parse(data: bytes, name: str):
    import defusedxml.ElementTree as DET

    try:
        return DET.fromstring(data)
    except Exception as exc:  # defusedxml refuses entities too; the guard saw them first
        raise UnreadableFile("file_damaged", f"{name}: {_short(exc)}") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rels(archive: zipfile.ZipFile, part: str, names: set[str], budget: _Budget) -> dict[str, str]:
    """Relationship id -> target part path, for a part's .rels."""
    folder, base = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    if rels not in names:
        return {}
    out = {}
    for rel in _parse(_read_small(archive, rels, budget), rels):
        target = rel.get("Target") or ""
        if rel.get("TargetMode") == "External":
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        out[rel.get("Id")] = path
    return out


def _workbook_part(archive: zipfile.ZipFile, names: set[str], budget: _Budget) -> str | None:
    for target in _rels(archive, "", names, budget).values():
        if target in names and target.lower().endswith(".xml") and "workbook" in target.lower():
            return target
    return "xl/workbook.xml" if "xl/workbook.xml" in names else None


def _sheet_parts(archive: zipfile.ZipFile, workbook: str, budget: _Budget) -> dict[str, str]:
    """Part path -> sheet name, for every sheet (and every part under xl/worksheets/)."""
    names = {i.filename for i in archive.infolist()}
    rels = _rels(archive, workbook, names, budget)
    out: dict[str, str] = {}
    for element in _parse(_read_small(archive, workbook, budget), workbook).iter():
        if _local(element.tag) != "sheet":
            continue
        rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
        target = rels.get(rid or "")
        if target in names:
            out[target] = element.get("name") or target
    for name in names:
        if name.startswith("xl/worksheets/") and name.endswith(".xml") and name not in out:
            out[name] = name
    return out


class _DoctypeGuard:
    """Refuses a DOCTYPE or ENTITY declaration anywhere in a part, and UTF-16 parts."""

    PATTERNS = (b"<!doctype", b"<!entity")

    def __init__(self, name: str):
        self.name = name
        self.tail = b""
        self.first = True

    def feed(self, chunk: bytes) -> None:
        if self.first:
            self.first = False
            start = chunk[:4]
            if start.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
                raise UnreadableFile("file_xml_unsafe", f"{self.name}: UTF-16")
        window = (self.tail + chunk).lower()
        for pattern in self.PATTERNS:
            if pattern in window:
                raise UnreadableFile("file_xml_unsafe", f"{self.name}: {pattern[2:].upper().decode()}")
        self.tail = window[-16:]


class _Chunked:
    """Feeds a part's XML in pieces that end after a complete tag; keeps the rest for later."""

    def __init__(self):
        self.carry = b""

    def feed(self, chunk: bytes) -> None:
        self.count(chunk)
        buf = self.carry + chunk
        cut = buf.rfind(b">") + 1
        done = self.process(buf[:cut]) if cut else 0
        self.carry = buf[done:]
        if len(self.carry) > MAX_ELEMENT:
            raise UnreadableFile("file_xml_unsafe", f"{self.label()}: element > {MAX_ELEMENT >> 20} MB")

    def process(self, text: bytes) -> int:
        """Handle the complete tags of `text`; return how much of it was used."""
        raise NotImplementedError

    def count(self, chunk: bytes) -> None:
        """Look at every raw chunk (before any is skipped)."""

    def label(self) -> str:
        return ""


# a cell with content: a start tag that is not self-closing and not followed at once by its end tag
_NOT_EMPTY = rb"(?<!/)>(?!\s*</(?:\w+:)?c>)"
_VALUE_CELL = re.compile(rb"<(?:\w+:)?c(?:\s[^>]*)?" + _NOT_EMPTY)
_VALUE_CELL_REF = re.compile(rb"<(?:\w+:)?c\s[^>]*?\br=\"([A-Za-z]{1,3})([0-9]{1,7})\"[^>]*" + _NOT_EMPTY)
_PLAIN_CELL_REF = re.compile(rb"<c [^>]*?\br=\"([A-Za-z]{1,3})([0-9]{1,7})\"[^>]*" + _NOT_EMPTY)  # faster: a literal start
_TOKEN = re.compile(rb"(?P<rowtag><(?:\w+:)?row(?P<row>\s[^>]*)?>)|(?P<celltag><(?:\w+:)?c(?P<cell>\s[^>]*)?"
                    + _NOT_EMPTY + rb")")
_ROW_REF = re.compile(rb"<(?:\w+:)?row\s[^>]*?\br=\"([0-9]{1,7})\"")
_R = re.compile(rb"\br=\"([A-Za-z]{0,3})([0-9]{1,7})\"")
_FORMULA_CELL = re.compile(rb"<(?:\w+:)?c(\s[^>]*)?(?<!/)>\s*<(?:\w+:)?f[\s>/]")
_CELL_END = re.compile(rb"</(?:\w+:)?c>")
_CACHED = re.compile(rb"<(?:\w+:)?v>[^<]|<(?:\w+:)?is>")


class _SheetScanner(_Chunked):
    """The used area of an .xlsx sheet part, and its formula cells saved without a value."""

    def __init__(self, name: str, limits: SafetyLimits):
        super().__init__()
        self.area = SheetArea(name)
        self.limits = limits
        self.row = 0  # the current row, for cells written without a reference
        self.col = 0
        self.merges = 0

    def label(self) -> str:
        return self.area.name

    def count(self, chunk: bytes) -> None:
        self.merges += chunk.count(b"<mergeCell ") + chunk.count(b":mergeCell ")
        if self.merges > MAX_MERGES:
            raise UnreadableFile("sheet_too_many_merges", f"{self.area.name}: {self.merges} > {MAX_MERGES}")

    def process(self, text: bytes) -> int:
        if not any(marker in text for marker in (b"v>", b"is>", b"<f", b":f")):
            return len(text)  # no value, inline string or formula: blank (maybe formatted) cells only
        used = len(text)
        for match in _FORMULA_CELL.finditer(text) if (b"<f" in text or b":f" in text) else ():
            end = _CELL_END.search(text, match.end())
            if end is None:  # the cell goes on in the next piece
                used = match.start()
                break
            body = text[match.end(): end.start()]
            attrs = match.group(1) or b""
            empty_text = b't="str"' in attrs and b"<v" in body  # a formula whose value is "": Excel writes <v></v>
            if not (_CACHED.search(body) or empty_text):
                ref = _R.search(attrs)
                if ref and ref.group(1) and len(self.area.uncached) < MAX_FORMULAS_LISTED:
                    self.area.uncached.append((int(ref.group(2)), column_number(ref.group(1))))
        text = text[:used]
        prefixed = b":c " in text or b"<c\t" in text or b"<c\n" in text or b"<c\r" in text
        refs = (_VALUE_CELL_REF if prefixed else _PLAIN_CELL_REF).findall(text)  # every cell names its place
        if refs:
            cols, rows = zip(*refs)
            self.area.max_row = max(self.area.max_row, max(map(int, rows)))
            self.area.max_col = max(self.area.max_col, max(map(column_number, set(cols))))
        ends = text.count(b"</c>") + text.count(b":c>")  # every cell with content ends so
        if ends > len(refs) and len(_VALUE_CELL.findall(text)) != len(refs):
            self._in_order(text)
        else:
            last = max(text.rfind(b"<row "), text.rfind(b":row "))
            rows = _ROW_REF.findall(text, max(last - 32, 0)) if last >= 0 else []
            if rows:
                self.row, self.col = int(rows[-1]), 0
        _check_area(self.area, self.limits)
        return used

    def _in_order(self, text: bytes) -> None:
        """Rows and cells written without an `r` attribute: count them in order, as a reader does."""
        for match in _TOKEN.finditer(text):
            if match.group("rowtag"):
                ref = _R.search(match.group("row") or b"")
                self.row = int(ref.group(2)) if ref else self.row + 1
                self.col = 0
                continue
            ref = _R.search(match.group("cell") or b"")
            if ref and ref.group(1):
                self.col, row = column_number(ref.group(1)), int(ref.group(2))
            else:
                self.col, row = self.col + 1, max(self.row, 1)
            self.area.max_row = max(self.area.max_row, row)
            self.area.max_col = max(self.area.max_col, min(self.col, EXCEL_MAX_COLUMNS))

    def finish(self) -> list[SheetArea]:
        if self.carry.strip():
            self.process(self.carry + b"</c>")
        return [self.area]


_ODS_TOKEN = re.compile(
    rb"(?P<tabletag><(?:\w+:)?table(?P<table>\s[^>]*)?>)|(?P<end_table></(?:\w+:)?table>)"
    rb"|(?P<rowtag><(?:\w+:)?table-row(?P<row>\s[^>]*)?>)|(?P<end_row></(?:\w+:)?table-row>)"
    rb"|<(?:\w+:)?(?:covered-)?table-cell(?P<cell>\s[^>]*)?>")
_ODS_NAME = re.compile(rb"\bname=\"([^\"]*)\"")
_ODS_ROWS = re.compile(rb"number-rows-repeated=\"([0-9]+)\"")
_ODS_COLS = re.compile(rb"number-columns-repeated=\"([0-9]+)\"")
_ODS_VALUE = re.compile(rb"value-type=")


class _OdsScanner(_Chunked):
    """The used area of every table in an .ods content.xml, repeated rows and columns counted."""

    def __init__(self, limits: SafetyLimits):
        super().__init__()
        self.limits = limits
        self.areas: list[SheetArea] = []
        self.area = SheetArea("?")
        self.row_start = 0  # rows above the current row
        self.row_repeat = 1
        self.col = 0
        self.row_used = 0  # the last used column of the current row

    def label(self) -> str:
        return "content.xml"

    def process(self, text: bytes) -> int:
        for m in _ODS_TOKEN.finditer(text):
            tag = m.group(0)
            if m.group("tabletag"):
                name = _ODS_NAME.search(m.group("table") or b"")
                self.area = SheetArea(name.group(1).decode("utf-8", "replace") if name else f"#{len(self.areas) + 1}")
                self.areas.append(self.area)
                self.row_start = 0
            elif m.group("rowtag"):
                rep = _ODS_ROWS.search(m.group("row") or b"")
                self.row_repeat = int(rep.group(1)) if rep else 1
                self.col = self.row_used = 0
                if tag.endswith(b"/>"):  # an empty row
                    self.row_start += self.row_repeat
            elif m.group("end_row"):
                if self.row_used:
                    self.area.max_row = max(self.area.max_row, self.row_start + self.row_repeat)
                    self.area.max_col = max(self.area.max_col, self.row_used)
                    _check_area(self.area, self.limits)
                self.row_start += self.row_repeat
            elif not m.group("end_table"):  # a cell
                attrs = m.group("cell") or b""
                rep = _ODS_COLS.search(attrs)
                self.col += int(rep.group(1)) if rep else 1
                if not tag.endswith(b"/>") or _ODS_VALUE.search(attrs):
                    self.row_used = self.col
        return len(text)

    def finish(self) -> list[SheetArea]:
        return self.areas
