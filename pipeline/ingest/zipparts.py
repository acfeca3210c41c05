"""A workbook's zip, read the way calamine reads it and in bounded memory: every part unpacked in
chunks against a budget (sizes the zip declares can lie), DOCTYPE and ENTITY refused, and the
parts calamine opens found through the package's relationships, as calamine finds them.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import replace
from xml.parsers import expat

from pipeline.ingest.limits import (
    CHUNK,
    MAX_ENTRIES,
    MAX_SMALL_PART,
    ODS_MIME,
    XML_SUFFIXES,
    Container,
    SafetyLimits,
    SheetArea,
    UnreadableFile,
    _check_area,
)
from pipeline.ingest.scanners import _Done, _InOrder, _OdsScanner, _parser, _SheetScanner, _StringsScanner

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


