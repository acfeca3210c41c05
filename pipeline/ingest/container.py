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

import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.parsers import expat

CHUNK = 1 << 20  # bytes decompressed at a time
MAX_ENTRIES = 10_000  # parts in one zip
MAX_ELEMENT = 8 << 20  # one tag of a sheet part (a cell holds at most 32,767 characters)
MAX_SMALL_PART = 16 << 20  # a workbook part or a relationships part
MAX_FORMULAS_LISTED = 1_000  # uncached formula cells remembered per sheet
MAX_MERGES = 100_000  # merged ranges in one sheet (a register has a few hundred at most)
EXCEL_MAX_COLUMNS = 16_384
ODS_MAX_ROWS = 1_048_576  # calamine caps an .ods table's rows there
HUGE = 1 << 32  # a row or column past any limit (calamine counts them in 32 bits, wrapping around)

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
    parts = _part_names(infos)
    names = {info.filename for info in infos}
    budget = _Budget(limits)
    ods = "mimetype" in names and "content.xml" in names
    if ods:
        mime = b"".join(_stream(archive, archive.getinfo("mimetype"), budget))[:200].strip()
        if mime != ODS_MIME:
            raise UnreadableFile("file_unreadable", f"OpenDocument ({mime.decode('ascii', 'replace')[:60]})")
        if "_rels/.rels" in parts:  # calamine would read it as one or the other, by its name or content
            raise UnreadableFile("file_damaged", "OOXML + OpenDocument")
        kind, sheets, strings = "ods", {}, None
    else:
        book = _workbook(archive, parts, budget) if "_rels/.rels" in parts else None
        if book is None:
            kind = "Word" if any(n.startswith("word/") for n in names) else (
                "PowerPoint" if any(n.startswith("ppt/") for n in names) else (
                    "Office" if "[Content_Types].xml" in names else "ZIP"))
            raise UnreadableFile("file_unreadable", kind)
        kind, (sheets, strings) = "xlsx", book
    budget.total = 0  # the parts read to find the sheets are read again below
    container = Container(kind)
    for info in infos:
        if info.is_dir():
            continue
        name = info.filename
        if ods and name == "content.xml":
            areas = _read_part(archive, info, budget, _OdsScanner(limits)).areas
        elif name in sheets:
            area = _read_sheet(archive, info, budget, sheets[name][0], limits)
            areas = [replace(area, name=sheet) for sheet in sheets[name]]
        else:
            _read_part(archive, info, budget, _StringsScanner(name, limits) if name == strings else None)
            areas = []
        for area in areas:
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


def _part_names(infos: list[zipfile.ZipInfo]) -> dict[str, str]:
    """Part names as calamine finds them (utils.rs build_zip_path_cache: '\\' read as '/', ASCII
    letters in lower case) -> the name in the zip. Two parts of one such name are refused: which
    of them calamine would read is not ours to guess."""
    out: dict[str, str] = {}
    for info in infos:
        key = _lower(info.filename.replace("\\", "/"))
        if key in out:
            raise UnreadableFile("file_damaged", f"{info.filename}: two parts of this name")
        out[key] = info.filename
    return out


def _lower(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").lower().decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- which parts calamine reads

class _Done(Exception):
    """Stops a parser once it has seen what it was looking for."""


def _parser(name: str):
    """An expat parser that refuses a DOCTYPE (so any entity declaration) in part `name`."""
    parser = expat.ParserCreate()

    def refuse(*_args) -> None:
        raise UnreadableFile("file_xml_unsafe", f"{name}: DOCTYPE")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


def _read_small(archive: zipfile.ZipFile, name: str, budget: _Budget) -> bytes:
    """A small part (workbook, relationships), checked for DOCTYPE before it is parsed."""
    data = bytearray()
    guard = _DoctypeGuard(name)
    for chunk in _stream(archive, archive.getinfo(name), budget):
        guard.feed(chunk)
        data += chunk
        if len(data) > MAX_SMALL_PART:
            raise UnreadableFile("file_damaged", f"{name} > {MAX_SMALL_PART >> 20} MB")
    return bytes(data)


def _tags(archive: zipfile.ZipFile, name: str, budget: _Budget, tag: str, end: str,
          begin: str | None = None) -> list[tuple[dict[bytes, bytes], dict[str, str]]]:
    """The start tags of local name `tag` in part `name`, in document order, as calamine's loops
    meet them: after the first start tag of local name `begin` (when given) and before the first
    end tag of local name `end`. Each with its attributes as raw bytes (calamine compares and
    decodes them raw, without unescaping) and as the parser decoded them."""
    data = _read_small(archive, name, budget)
    parser = _parser(name)
    found: list[tuple[dict[bytes, bytes], dict[str, str]]] = []
    on = begin is None

    def start(qname: str, attrs: dict[str, str]) -> None:
        nonlocal on
        local = qname.rpartition(":")[2]
        if local == begin:
            on = True
        elif on and local == tag:
            found.append((_raw_attributes(data, parser.CurrentByteIndex), attrs))

    def stop(qname: str) -> None:
        if on and qname.rpartition(":")[2] == end:
            raise _Done

    parser.StartElementHandler, parser.EndElementHandler = start, stop
    try:
        parser.Parse(data, True)
    except _Done:
        pass
    except expat.ExpatError as exc:
        raise UnreadableFile("file_damaged", f"{name}: {exc}") from None
    return found


_SPACE = b" \t\r\n"


def _raw_attributes(data: bytes, start: int) -> dict[bytes, bytes]:
    """The attributes of the start tag at data[start] (its '<'), raw, the way calamine splits them
    (attrs.rs RawAttrIter: the key up to '=', the value between its quotes). The parser has
    checked the tag is well formed."""
    i = start + 1
    while data[i] not in _SPACE and data[i] not in b"/>":  # the element's name
        i += 1
    out: dict[bytes, bytes] = {}
    while True:
        while data[i] in _SPACE:
            i += 1
        if data[i] in b"/>":
            return out
        eq = data.index(b"=", i)
        key = data[i:eq].rstrip(_SPACE)
        i = eq + 1
        while data[i] in _SPACE:
            i += 1
        close = data.index(data[i:i + 1], i + 1)
        out[key] = data[i + 1:close]
        i = close + 1


def _target(value: bytes, part: str) -> str:
    """A relationship's target as calamine uses it; only ASCII, which every reader decodes alike."""
    try:
        return value.decode("ascii")
    except UnicodeDecodeError:
        raise UnreadableFile("file_xml_unsafe", f"{part}: target {value[:60]!r}") from None


def _workbook(archive: zipfile.ZipFile, parts: dict[str, str],
              budget: _Budget) -> tuple[dict[str, list[str]], str | None] | None:
    """The parts calamine reads as this package's sheets (part -> sheet names) and its shared
    strings part, found the way calamine finds them (xlsx/mod.rs: read_package_relationships,
    read_relationships, read_workbook); None when the package holds no workbook.

    The last officeDocument relationship of _rels/.rels names the workbook's folder; calamine
    then reads <folder>workbook.xml, whatever the relationship's own file name, and
    <folder>_rels/workbook.xml.rels. Each <sheet>'s r:id (any prefix) is looked up there; a
    target starting with '/' is from the package's root, any other is <folder> + target, as is
    (no '..' resolved)."""
    document = None
    for raw, _ in _tags(archive, parts["_rels/.rels"], budget, "Relationship", end="Relationships",
                        begin="Relationships"):
        if raw.get(b"Type", b"").endswith(b"/relationships/officeDocument") and b"Target" in raw:
            document = raw[b"Target"]
    if document is None:
        return None
    if b"&" in document:  # calamine unescapes this one target: no entity may change it
        raise UnreadableFile("file_xml_unsafe", f"_rels/.rels: target {document[:60]!r}")
    target = _target(document, "_rels/.rels")
    folder = target[: target.rfind("/") + 1]
    folder = folder[1:] if folder.startswith("/") else folder
    workbook = parts.get(_lower(folder + "workbook.xml"))
    if workbook is None:
        return None
    relations = parts.get(_lower(folder + "_rels/workbook.xml.rels"))
    if relations is None:
        raise UnreadableFile("file_damaged", f"{folder}_rels/workbook.xml.rels: missing")
    targets = {raw[b"Id"]: raw.get(b"Target", b"")
               for raw, _ in _tags(archive, relations, budget, "Relationship", end="Relationships",
                                   begin="Relationships") if b"Id" in raw}
    sheets: dict[str, list[str]] = {}
    for raw, attrs in _tags(archive, workbook, budget, "sheet", end="workbook"):
        ids = [value for key, value in raw.items() if key == b"id" or key.endswith(b":id")]
        if not ids or ids[-1] not in targets:
            continue  # calamine cannot open the workbook
        path = _target(targets[ids[-1]], relations)
        part = parts.get(_lower(path[1:] if path.startswith("/") else folder + path))
        if part is not None:
            sheets.setdefault(part, []).append(attrs.get("name") or part)
    return sheets, parts.get(_lower(folder + "sharedStrings.xml"))


# ---------------------------------------------------------------- reading a part

def _read_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, scanner):
    """Unpack one part against the budget; check XML for DOCTYPE and UTF-16; feed the scanner."""
    guard = _DoctypeGuard(info.filename) if scanner or info.filename.lower().endswith(XML_SUFFIXES) else None
    for chunk in _stream(archive, info, budget):
        if guard is not None:
            guard.feed(chunk)
        if scanner is not None:
            scanner.feed(chunk)
    if scanner is not None:
        scanner.finish()
    return scanner


def _read_sheet(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget, sheet: str,
                limits: SafetyLimits) -> SheetArea:
    """A sheet part's used area: read once by the cells' own references, and read again counting
    rows and cells in order as calamine does when a cell with a value has no reference."""
    start = budget.total
    try:
        return _read_part(archive, info, budget, _SheetScanner(info.filename, sheet, limits, False)).area
    except _InOrder:
        budget.total = start
        return _read_part(archive, info, budget, _SheetScanner(info.filename, sheet, limits, True)).area


class _DoctypeGuard:
    """Refuses a DOCTYPE or ENTITY declaration anywhere in a part, and UTF-16 or UTF-32 parts."""

    PATTERNS = (b"<!doctype", b"<!entity")

    def __init__(self, name: str):
        self.name = name
        self.tail = b""
        self.first = True

    def feed(self, chunk: bytes) -> None:
        if self.first:
            self.first = False
            start = chunk[:4]
            if start.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in start:
                raise UnreadableFile("file_xml_unsafe", f"{self.name}: UTF-16")
        window = (self.tail + chunk).lower()
        for pattern in self.PATTERNS:
            if pattern in window:
                raise UnreadableFile("file_xml_unsafe", f"{self.name}: {pattern[2:].upper().decode()}")
        self.tail = window[-16:]


class _Scanner:
    """Feeds a part to an expat parser chunk by chunk."""

    def __init__(self, name: str):
        self.name = name
        self.parser = _parser(name)
        self.parser.ordered_attributes = True
        self.fed = 0

    def feed(self, chunk: bytes) -> None:
        self.fed += len(chunk)
        self._parse(chunk, False)
        # expat keeps an unfinished tag in memory: a tag (or comment) of 8 MB is not a workbook's
        if self.fed - max(self.parser.CurrentByteIndex, 0) > MAX_ELEMENT:
            raise UnreadableFile("file_xml_unsafe", f"{self.name}: element > {MAX_ELEMENT >> 20} MB")

    def finish(self) -> None:
        self._parse(b"", True)

    def _parse(self, data: bytes, final: bool) -> None:
        try:
            self.parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise UnreadableFile("file_damaged", f"{self.name}: {exc}") from None


class _InOrder(Exception):
    """A cell holding a value has no reference: its place is counted in order."""


# the elements of a sheet part that matter, by local name (any prefix); <v>, <is> and <f> are what
# calamine reads inside a <c> (any other child fails the sheet)
_CELL, _ROW, _VALUE, _INLINE, _FORMULA, _MERGE = 1, 2, 3, 4, 5, 6
_SHEET_TAGS = {"c": _CELL, "row": _ROW, "v": _VALUE, "is": _INLINE, "f": _FORMULA, "mergeCell": _MERGE}


class _SheetScanner(_Scanner):
    """The used area of an .xlsx sheet part as calamine reads it (xlsx/cells_reader.rs, next_cell),
    its merged ranges, and its formula cells saved without a value.

    A cell (local name c, any prefix) holds a value when it has a <v>, <is> or <f> child: calamine
    puts a cell with a value at its `r` reference (letters, then digits; anything else fails the
    sheet). A cell without `r` is put by calamine's counters: the last <row r>, plus one for each
    </row> since; the last cell's column, plus one for each </c> since. The first reading
    (`in_order` False) needs start tags only, as long as every cell with a value has its `r`, as
    Excel writes them; the sheet is read again with the counters when one has not.
    """

    def __init__(self, name: str, sheet: str, limits: SafetyLimits, in_order: bool):
        super().__init__(name)
        self.area = SheetArea(sheet)
        self.limits = limits
        self.in_order = in_order
        self.kinds: dict[str, int] = {}  # tag as written -> its kind (_SHEET_TAGS)
        self.cols: dict[str, int] = {}  # column letters -> number (0: not letters calamine reads)
        self.place: tuple[int, int] | None = None  # (row, column), 1-based, of that cell (in_order)
        self.row = self.col = 0  # calamine's counters, 0-based (in_order)
        self.merges = 0
        self.formula: list | None = None  # [row, col, t="str", has <v>, in <v>, cached] of a formula cell
        self.parser.StartElementHandler = self._handler()
        if in_order:
            self.parser.EndElementHandler = self._end

    def feed(self, chunk: bytes) -> None:
        super().feed(chunk)
        _check_area(self.area, self.limits)

    def _handler(self):
        """The start-tag handler: called for every element, so kept to a few steps for most."""
        kinds, cols, area, in_order = self.kinds, self.cols, self.area, self.in_order
        cell = None  # attributes of the cell whose first child has not come yet

        def start(tag: str, attrs: list[str]) -> None:
            nonlocal cell
            kind = kinds.get(tag)
            if kind is None:
                kind = kinds[tag] = _SHEET_TAGS.get(tag.rpartition(":")[2], 0)
            if kind == 0:
                return
            if kind == _CELL:
                cell = attrs
                if in_order:
                    self._place(attrs)
            elif kind == _ROW:
                cell = None
                if in_order:
                    self._row(attrs)
            elif kind == _MERGE:
                self.merges += 1
                if self.merges > MAX_MERGES:
                    raise UnreadableFile("sheet_too_many_merges", f"{area.name}: {self.merges} > {MAX_MERGES}")
            elif cell is not None:  # the first child of a cell: it holds a value
                attrs, cell = cell, None
                if in_order:
                    if self.place is None:
                        return
                    row, col = self.place
                else:
                    ref = attrs[1] if attrs and attrs[0] == "r" else _attr(attrs, "r")
                    if ref is None:
                        raise _InOrder
                    letters = ref.rstrip("0123456789")
                    col = cols.get(letters)
                    if col is None:
                        col = cols[letters] = _column_number(letters)
                    digits = len(ref) - len(letters)
                    if not col or not digits:
                        return  # a reference calamine cannot read: it fails the sheet
                    row = int(ref[len(letters):]) if digits < 11 else HUGE
                    if not row:
                        return
                if row > area.max_row:
                    area.max_row = row
                if col > area.max_col:
                    area.max_col = col
                if kind == _FORMULA:  # Excel writes <f> first, then the value it calculated
                    self._formula(row, col, _attr(attrs, "t") == "str")
            elif self.formula is not None:
                if kind == _VALUE:
                    self.formula[3] = self.formula[4] = True
                elif kind == _INLINE:
                    self.formula[5] = True

        return start

    def _row(self, attrs: list[str]) -> None:
        """A row's reference sets calamine's row counter (in_order)."""
        ref = _attr(attrs, "r")
        place = _reference(ref, self.cols, column=False) if ref is not None else None
        if place is not None:
            self.row = place[0] - 1

    def _place(self, attrs: list[str]) -> None:
        """Where calamine puts the cell starting now (in_order)."""
        ref = _attr(attrs, "r")
        if ref is None:
            self.place = (self.row + 1, self.col + 1)
            return
        self.place = _reference(ref, self.cols)
        if self.place is not None:
            self.col = self.place[1] - 1

    def _formula(self, row: int, col: int, text: bool) -> None:
        """A cell whose first child is <f>: follow it to its end to see whether a value was saved."""
        self.formula = [row, col, text, False, False, False]
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._text

    def _text(self, _data: str) -> None:
        if self.formula[4]:
            self.formula[5] = True

    def _end(self, tag: str) -> None:
        kind = self.kinds.get(tag)
        if kind == _CELL:
            self.col += 1
            if self.formula is not None:
                self._formula_done()
        elif kind == _ROW:
            self.row += 1
            self.col = 0
        elif kind == _VALUE and self.formula is not None:
            self.formula[4] = False

    def _formula_done(self) -> None:
        row, col, text, has_value, _, cached = self.formula
        # a formula whose value is "" has an empty <v></v> with t="str"
        if not (cached or (text and has_value)) and len(self.area.uncached) < MAX_FORMULAS_LISTED:
            self.area.uncached.append((row, col))
        self.formula = None
        self.parser.CharacterDataHandler = None
        if not self.in_order:
            self.parser.EndElementHandler = None


def _attr(attrs: list[str], key: str) -> str | None:
    """An attribute of an expat start tag (ordered_attributes: [key, value, key, value, ...])."""
    for i in range(0, len(attrs), 2):
        if attrs[i] == key:
            return attrs[i + 1]
    return None


def _reference(ref: str, cols: dict[str, int], column: bool = True) -> tuple[int, int] | None:
    """(row, column), 1-based, of an A1 reference as calamine reads it (xlsx/mod.rs
    get_row_and_optional_column: ASCII letters, then ASCII digits); None when calamine cannot.
    `column` False: a row's reference, whose letters may be missing."""
    letters = ref.rstrip("0123456789")
    col = cols.get(letters)
    if col is None:
        col = cols[letters] = _column_number(letters)
    digits = len(ref) - len(letters)
    if not digits or (column and not col) or (letters and not col):
        return None
    row = int(ref[len(letters):]) if digits < 11 else HUGE
    return (row, col) if row else None


def _column_number(letters: str) -> int:
    """A -> 1, AA -> 27; 0 for anything but ASCII letters; HUGE past 32 bits."""
    if not (letters.isascii() and letters.isalpha()):
        return 0
    col = 0
    for ch in letters[:8].upper():
        col = col * 26 + ord(ch) - 64
    return min(col, HUGE)


class _OdsScanner(_Scanner):
    """The used area of every table of an .ods content.xml as calamine reads it (ods.rs: read_table,
    read_row): rows and cells repeated by table:number-rows-repeated and
    table:number-columns-repeated (capped at 1,048,576 rows and 16,384 columns, as calamine caps
    them). A cell holds a value when it has a value, a value type or a formula attribute."""

    VALUE = frozenset({"office:value", "office:string-value", "office:date-value", "office:time-value",
                       "office:boolean-value", "office:value-type", "table:formula"})

    def __init__(self, limits: SafetyLimits):
        super().__init__("content.xml")
        self.limits = limits
        self.areas: list[SheetArea] = []
        self.area: SheetArea | None = None  # the table being read
        self.rows = 0  # rows of the table above the current row
        self.repeat = 1
        self.col = 0
        self.used = 0  # the last column of the current row that holds a value
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end

    def _start(self, tag: str, attrs: list[str]) -> None:
        if tag == "table:table":
            if self.area is None:  # calamine reads a table inside a table as part of it
                self.area = SheetArea(_attr(attrs, "table:name") or f"#{len(self.areas) + 1}")
                self.areas.append(self.area)
                self.rows = 0
        elif self.area is None:
            return
        elif tag == "table:table-row":
            self.repeat = min(self._count(attrs, "table:number-rows-repeated"), ODS_MAX_ROWS - self.rows)
            self.col = self.used = 0
        elif tag in ("table:table-cell", "table:covered-table-cell"):
            self.col += min(self._count(attrs, "table:number-columns-repeated"), EXCEL_MAX_COLUMNS - self.col)
            if any(attrs[i] in self.VALUE for i in range(0, len(attrs), 2)):
                self.used = self.col

    def _end(self, tag: str) -> None:
        if self.area is None:
            return
        if tag == "table:table-row":
            if self.used:
                self.area.max_row = max(self.area.max_row, self.rows + self.repeat)
                self.area.max_col = max(self.area.max_col, self.used)
                _check_area(self.area, self.limits)
            self.rows += self.repeat
            self.used = 0
        elif tag == "table:table":
            self.area = None

    def _count(self, attrs: list[str], key: str) -> int:
        value = _attr(attrs, key)
        if value is None:
            return 1
        if not (value.isascii() and value.strip().lstrip("+").isdigit()):
            raise UnreadableFile("file_damaged", f"content.xml: {key}={value[:20]!r}")
        return int(value)


class _StringsScanner(_Scanner):
    """calamine reserves room for the shared strings' uniqueCount before it reads one: a count
    made up to be huge aborts it. Refused past the cell limit."""

    def __init__(self, name: str, limits: SafetyLimits):
        super().__init__(name)
        self.limits = limits
        self.done = False
        self.parser.StartElementHandler = self._start

    def feed(self, chunk: bytes) -> None:
        if not self.done:
            try:
                super().feed(chunk)
            except _Done:
                self.done = True

    def finish(self) -> None:
        if not self.done:
            try:
                super().finish()
            except _Done:
                self.done = True

    def _start(self, tag: str, attrs: list[str]) -> None:
        if tag.rpartition(":")[2] != "sst":
            return
        count = _attr(attrs, "uniqueCount") or ""
        if count.isascii() and count.isdigit() and int(count) > self.limits.max_cells:
            raise UnreadableFile("file_xml_unsafe", f"{self.name}: uniqueCount {count} > {self.limits.max_cells}")
        raise _Done
