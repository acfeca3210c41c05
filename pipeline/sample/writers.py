"""Sheets to file bytes: .xlsx (and .xlsm), .xls, .ods, a password-protected
workbook and Excel's lock file, written deterministically (fixed zip times).
"""

from __future__ import annotations

import io
import random
import re
import struct
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from pipeline.sample.truth import Victim


class _Sheet:
    def __init__(self, name: str, date_format: str = "DD/MM/YYYY"):
        self.name = name
        self.rows: list[list[Any]] = []
        self.merges: list[tuple[int, int, int, int]] = []
        self.bold_rows: set[int] = set()
        self.widths: dict[int, float] = {}
        self.hidden = False
        self.date_format = date_format
        self.placements: list[tuple[int, Victim]] = []
        self.chart: tuple[str, int, int] | None = None  # (data sheet, first row, last row)

    def add(self, values: Iterable[Any] = (), victim: Victim | None = None, bold: bool = False) -> int:
        self.rows.append(list(values))
        n = len(self.rows)
        if victim is not None:
            self.placements.append((n, victim))
        if bold:
            self.bold_rows.add(n)
        return n


@dataclass
class _Build:
    rel: str
    kind: str
    when: datetime                      # aware local time of the export
    fmt: str = "xlsx"                   # xlsx, xlsm, xls, ods, raw
    sheets: list[_Sheet] = field(default_factory=list)
    raw: bytes | None = None
    truncate_of: str | None = None      # a copy of another build, cut short
    recap: dict | None = None           # a recap's truth: year, victims, cases, months, detail, forms, cells


def _fixed_zip(data: bytes, when: datetime, core_modified: datetime | None = None,
               macro: bool = False) -> bytes:
    """Rewrite a zip with fixed entry times (openpyxl and odfpy stamp the clock)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    stamp = when.replace(tzinfo=None).timetuple()[:6]
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if core_modified and info.filename == "docProps/core.xml":
                iso = core_modified.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                payload = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>" + iso + rb"\g<2>", payload)
            if macro and info.filename == "[Content_Types].xml":
                payload = payload.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
            zi = zipfile.ZipInfo(info.filename, date_time=stamp)
            zi.compress_type = info.compress_type
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, payload)
    return out.getvalue()


def _xlsx_bytes(sheets: list[_Sheet], when: datetime, macro: bool = False) -> bytes:
    import openpyxl
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for s in sheets:
        ws = wb.create_sheet(s.name)
        for r, row in enumerate(s.rows, 1):
            for c, val in enumerate(row, 1):
                if val is None:
                    continue
                cell = ws.cell(row=r, column=c, value=val)
                if isinstance(val, date):
                    cell.number_format = s.date_format
                if r in s.bold_rows:
                    cell.font = bold
        for r1, c1, r2, c2 in s.merges:
            ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)
        for col, width in s.widths.items():
            ws.column_dimensions[get_column_letter(col)].width = width
        if s.hidden:
            ws.sheet_state = "hidden"
        if s.chart:
            src, first, last = s.chart
            chart = BarChart()
            chart.title = "Jumlah korban per kecamatan"
            data = Reference(wb[src], min_col=3, max_col=4, min_row=first - 1, max_row=last)
            cats = Reference(wb[src], min_col=2, min_row=first, max_row=last)
            chart.add_data(data, titles_from_data=True)
            chart.set_categories(cats)
            ws.add_chart(chart, "B2")
    utc = when.astimezone(timezone.utc).replace(tzinfo=None)
    wb.properties.creator = "Operator"
    wb.properties.lastModifiedBy = "Operator"
    wb.properties.created = utc - timedelta(days=30)
    wb.properties.modified = utc
    buf = io.BytesIO()
    wb.save(buf)
    return _fixed_zip(buf.getvalue(), when, core_modified=utc, macro=macro)


def _xls_bytes(sheets: list[_Sheet]) -> bytes:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    bold = xlwt.easyxf("font: bold on")
    for s in sheets:
        ws = wb.add_sheet(s.name)
        for r, row in enumerate(s.rows):
            for c, val in enumerate(row):
                if val is None:
                    continue
                if isinstance(val, date):
                    ws.write(r, c, val, date_style)
                elif r + 1 in s.bold_rows:
                    ws.write(r, c, val, bold)
                else:
                    ws.write(r, c, val)
        if s.hidden:
            ws.visibility = 1
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _ods_bytes(sheets: list[_Sheet], when: datetime) -> bytes:
    from odf.element import Element

    # odfpy keeps declared namespaces in a class-level dict that grows with every
    # document in the process; start from an empty one so the bytes do not depend
    # on what was written before, and put it back afterwards.
    saved = dict(Element.namespaces)
    Element.namespaces.clear()
    try:
        return _ods_build(sheets, when)
    finally:
        Element.namespaces.clear()
        Element.namespaces.update(saved)


def _ods_build(sheets: list[_Sheet], when: datetime) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    for s in sheets:
        t = Table(name=s.name)
        for row in s.rows:
            tr = TableRow()
            for val in row or [None]:
                if val is None:
                    tc = TableCell()
                elif isinstance(val, date):
                    tc = TableCell(valuetype="date", datevalue=val.isoformat())
                    tc.addElement(P(text=val.strftime("%d/%m/%Y")))
                elif isinstance(val, (int, float)):
                    tc = TableCell(valuetype="float", value=str(val))
                    tc.addElement(P(text=str(val)))
                else:
                    tc = TableCell(valuetype="string")
                    tc.addElement(P(text=str(val)))
                tr.addElement(tc)
            t.addElement(tr)
        doc.spreadsheet.addElement(t)
    buf = io.BytesIO()
    doc.write(buf)
    return _fixed_zip(buf.getvalue(), when)


def _fake_encrypted_xlsx(rng: random.Random) -> bytes:
    """An OLE compound file shaped like a password-protected workbook: unreadable."""
    end, free, nostream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFF
    info = (b"\x04\x00\x04\x00\x40\x00\x00\x00" + b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
            b'<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption">'
            b'<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" '
            b'cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512"/>'
            b'</encryption>').ljust(4096, b"\x00")
    package = struct.pack("<Q", 18000) + rng.randbytes(8192 - 8)
    fat = [0xFFFFFFFD, end]
    start_info = len(fat)
    n_info = len(info) // 512
    fat += [start_info + i + 1 for i in range(n_info - 1)] + [end]
    start_pkg = len(fat)
    n_pkg = len(package) // 512
    fat += [start_pkg + i + 1 for i in range(n_pkg - 1)] + [end]
    fat += [free] * (128 - len(fat))
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", bytes.fromhex("D0CF11E0A1B11AE1"), b"\0" * 16,
                         0x3E, 3, 0xFFFE, 9, 6, b"\0" * 6, 0, 1, 1, 0, 4096, end, 0, end, 0)
    header += struct.pack("<109I", 0, *([free] * 108))

    def entry(name: str, typ: int, right: int, child: int, start: int, size: int) -> bytes:
        n = (name + "\0").encode("utf-16-le") if name else b""
        return struct.pack("<64sHBBIII16sIQQIQ", n.ljust(64, b"\0"), len(n), typ, 1, nostream,
                           right, child, b"\0" * 16, 0, 0, 0, start, size)
    directory = (entry("Root Entry", 5, nostream, 1, end, 0)
                 + entry("EncryptionInfo", 2, 2, nostream, start_info, len(info))
                 + entry("EncryptedPackage", 2, nostream, nostream, start_pkg, len(package))
                 + entry("", 0, nostream, nostream, 0, 0))
    return header + struct.pack("<128I", *fat) + directory + info + package


def _excel_lock(user: str) -> bytes:
    """The owner file Excel leaves next to an open workbook (~$name.xlsx)."""
    b = bytes([len(user)]) + user.encode("ascii").ljust(53, b" ")
    b += bytes([len(user), 0]) + user.encode("utf-16-le").ljust(108, b" ")
    return b[:162].ljust(162, b" ") + b"\x00\x00\x00"


# --------------------------------------------------------------------------- layouts

