"""What a container check refuses and why: the refusal (UnreadableFile, a message code and a
detail), the limits (from the environment), and the area of a sheet against them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

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


