"""A feedback sheet before it is written, and writing it with XlsxWriter: styles merged
per cell, and text from a file always written as text, never as a formula.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

from pipeline.feedback.files import FINGERPRINT_PROPERTY, _write
from pipeline.safefs import SafeDir

# Fills (Excel's own light red / yellow / green) and a blue for superseded rows.
RED, RED_TEXT = "FFC7CE", "9C0006"
YELLOW, YELLOW_TEXT = "FFEB9C", "7F4F00"
GREEN, GREEN_TEXT = "C6EFCE", "006100"
BLUE, BLUE_TEXT = "DDEBF7", "1F4E79"
GREY = "EDEDED"
ROW_COLOURS = {"loaded": (GREEN, GREEN_TEXT), "rejected": (RED, RED_TEXT), "superseded": (BLUE, BLUE_TEXT)}
# A cell starting with one of these could be taken for a formula by a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
# ---------------------------------------------------------------- writing cells safely

def put(ws, row: int, col: int, value: object):
    """Write one value into an openpyxl sheet (the template); text always stays text (never a formula)."""
    cell = ws.cell(row=row, column=col)
    if value is None or (isinstance(value, str) and value == ""):
        return cell
    if isinstance(value, bool):
        cell.value = value
    elif isinstance(value, (dt.date, dt.time)):
        cell.value = value
        cell.number_format = _number_format(value)
    elif isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        _put_text(cell, str(value))
    elif isinstance(value, (int, float)):
        cell.value = value
    else:
        _put_text(cell, str(value))
    return cell


def _put_text(cell, text: str) -> None:
    text = _text(text)
    cell.value = text
    cell.data_type = "s"  # openpyxl would take a leading "=" for a formula
    if text.startswith(FORMULA_START):
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited


def _text(value: object) -> str:
    return _ILLEGAL.sub("", str(value))[:32767]


def _number_format(value: dt.date | dt.time) -> str:
    if isinstance(value, dt.datetime):
        return "DD/MM/YYYY" if value.time() == dt.time(0) else "DD/MM/YYYY HH:MM"
    return "DD/MM/YYYY" if isinstance(value, dt.date) else "HH:MM"


def _sheet_title(name: str, used: set[str]) -> str:
    title = re.sub(r"^[\s']+|[\s']+$", "", re.sub(r"[\\/*?:\[\]]", "_", name)[:31]) or "Lembar"
    base, n = title, 2
    while title.lower() in used:
        suffix = f" ({n})"
        title, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(title.lower())
    return title


# ---------------------------------------------------------------- a feedback sheet before it is written

# Cell styles: XlsxWriter format properties, merged per cell.
BOLD = {"bold": True}
TOP = {"valign": "top"}
WRAP = {"text_wrap": True, "valign": "top"}
CENTRE = {"align": "center", "valign": "top"}


def _fill(colour: str) -> dict:
    return {"pattern": 1, "bg_color": f"#{colour}"}


def _font(colour: str | None = None, **style) -> dict:
    return {**style, **({"font_color": f"#{colour}"} if colour else {})}


class Sheet:
    """One sheet of a feedback workbook, held until it is written.

    XlsxWriter takes a cell's value and format together, once; marks, notes and
    alignments reach a cell one after the other. Rows and columns count from 1.
    `rows` are the agency's values (not copied); `values` the cells we add.
    """

    def __init__(self, title: str, rows: list[list] | None = None) -> None:
        self.title, self.rows = title, rows or []
        self.values: dict[tuple[int, int], object] = {}
        self.styles: dict[tuple[int, int], dict] = {}
        self.comments: dict[tuple[int, int], tuple[str, dict]] = {}
        self.widths: dict[int, float] = {}
        self.heights: dict[int, float] = {}
        self.merges: list[tuple[int, int, int]] = []  # (row, first column, last column)
        self.frozen_rows = 0
        self.title_rows: tuple[int, int] | None = None
        self.landscape, self.hidden, self.gridlines = True, False, True

    def put(self, row: int, col: int, value: object = None, *styles: dict) -> None:
        """Give a cell a value (None and "" give none) and add styles to it."""
        if value is not None and value != "":
            self.values[row, col] = value
        if styles:
            style = self.styles.setdefault((row, col), {})
            for s in styles:
                style.update(s)

    def value(self, row: int, col: int) -> object:
        if (row, col) in self.values:
            return self.values[row, col]
        line = self.rows[row - 1] if 0 < row <= len(self.rows) else []
        value = line[col - 1] if col <= len(line) else None
        return None if value == "" else value

    def comment(self, row: int, col: int, text: str, author: str) -> None:
        lines = sum(max(1, math.ceil(len(line) / 48)) for line in text.split("\n"))
        self.comments[row, col] = (text, {"author": author, "width": 340, "height": min(400, 24 + 16 * lines)})


def _save_workbook(sheets: list[Sheet], target: Path, fingerprint: str | None, folder: SafeDir | None) -> None:
    """Write the sheets with XlsxWriter, atomically (see _write)."""
    import xlsxwriter

    def fill(handle) -> None:
        wb = xlsxwriter.Workbook(handle, {"in_memory": True, "strings_to_numbers": False,
                                          "strings_to_formulas": False, "strings_to_urls": False})
        wb.set_properties({"author": "ppa-pipeline"})  # creator and lastModifiedBy
        if fingerprint is not None:
            wb.set_custom_property(FINGERPRINT_PROPERTY, fingerprint)
        formats: dict[tuple, object] = {}
        for sheet in sheets:
            _write_sheet(wb, sheet, formats)
        wb.close()

    _write(target, fill, folder)


def _write_sheet(wb, sheet: Sheet, formats: dict[tuple, object]) -> None:
    ws = wb.add_worksheet(sheet.title)

    def fmt(style: dict | None, number: str | None = None):
        """One format per distinct style in the workbook."""
        key = tuple(sorted(style.items())) if style else ()
        if number:
            key += (("num_format", number),)
        if not key:
            return None
        if key not in formats:
            formats[key] = wb.add_format(dict(key))
        return formats[key]

    def write(row: int, col: int, value: object):
        """Text always as text (never a formula); rows and columns from 1."""
        style = sheet.styles.get((row, col))
        if not isinstance(value, str):  # most cells are text: tested first
            if isinstance(value, bool):
                return ws.write_boolean(row - 1, col - 1, value, fmt(style))
            if isinstance(value, (dt.date, dt.time)):
                return ws.write_datetime(row - 1, col - 1, value, fmt(style, _number_format(value)))
            if isinstance(value, (int, float)) and math.isfinite(value):
                return ws.write_number(row - 1, col - 1, value, fmt(style))
        text = _text(value)
        if text.startswith(FORMULA_START):  # Excel keeps it text when the cell is edited
            style = {**(style or {}), "quote_prefix": True}
        return ws.write_string(row - 1, col - 1, text, fmt(style))

    for row, first, last in sheet.merges:
        ws.merge_range(row - 1, first - 1, row - 1, last - 1, "", fmt(sheet.styles.get((row, first))))
    for r, line in enumerate(sheet.rows, 1):
        for c, value in enumerate(line, 1):
            if value is not None and value != "":
                write(r, c, value)
    for (r, c), value in sheet.values.items():
        write(r, c, value)
    for (r, c), style in sheet.styles.items():
        if sheet.value(r, c) is None:
            ws.write_blank(r - 1, c - 1, None, fmt(style))
    for (r, c), (text, options) in sheet.comments.items():
        ws.write_comment(r - 1, c - 1, text, options)
    for c, width in sheet.widths.items():
        ws.set_column(c - 1, c - 1, width)
    for r, height in sheet.heights.items():
        ws.set_row(r - 1, height)
    if sheet.frozen_rows:
        ws.freeze_panes(sheet.frozen_rows, 0)
    if sheet.title_rows:
        ws.repeat_rows(sheet.title_rows[0] - 1, sheet.title_rows[1] - 1)
    ws.set_paper(9)  # A4, as wide as the page
    ws.set_landscape() if sheet.landscape else ws.set_portrait()
    ws.fit_to_pages(1, 0)
    if not sheet.gridlines:
        ws.hide_gridlines(2)
    if sheet.hidden:
        ws.hide()


