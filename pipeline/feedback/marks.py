"""Where each finding goes on the agency's sheet: the header cells by column, and a mark
per row and cell (rejected, warned, superseded) with its note in Bahasa Indonesia.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from pipeline.contract import norm_header
from pipeline.feedback.gather import FileFeedback, _str
from pipeline.feedback.words import _short, texts

# ---------------------------------------------------------------- marks on rows and cells

@dataclass
class Mark:
    severity: str  # "reject" or "warning"
    text: str


@dataclass
class SheetMarks:
    row_status: dict[int, tuple[str, str]] = field(default_factory=dict)  # Excel row -> (status, note)
    cells: dict[tuple[int, int | None], list[Mark]] = field(default_factory=dict)  # (row, 0-based col) -> marks


def header_names(rows: list[list], header_row: int, header_rows: int) -> dict[int, str]:
    """0-based column -> header text, the way excel.py names columns (lower cell, else the upper one)."""
    from pipeline.ingest.rows import cell_text

    lower = rows[header_row - 1] if 0 < header_row <= len(rows) else []
    upper = rows[header_row - 2] if header_rows == 2 and header_row >= 2 else []
    names = {}
    for c in range(max(len(lower), len(upper))):
        low = cell_text(lower[c]) if c < len(lower) else None
        up = cell_text(upper[c]) if c < len(upper) else None
        name = low or up
        if name:
            names[c] = name.strip()
    return names


def column_finder(names: dict[int, str], written: dict[str, str]):
    """A function (header, column) -> 0-based column index, or None when the sheet has no such column."""
    exact: dict[str, int] = {}
    normal: dict[str, int] = {}
    for c, name in sorted(names.items()):
        exact.setdefault(name, c)
        normal.setdefault(norm_header(name), c)

    def find(header: str | None, column: str | None) -> int | None:
        for text in (header, written.get(column or "")):
            if text:
                if text.strip() in exact:
                    return exact[text.strip()]
                if norm_header(text) in normal:
                    return normal[norm_header(text)]
        return None

    return find


def _rows_of_sheet(frame: pd.DataFrame, sheet: str, columns: list[str]) -> list[tuple]:
    """`columns` of the frame's rows on `sheet`, as tuples (plain lists: no frame per sheet)."""
    if not len(frame):
        return []
    values = [frame[c].tolist() if c in frame else [None] * len(frame) for c in columns]
    return [row[1:] for row in zip(frame["_source_sheet"].tolist(), *values) if row[0] == sheet]


def sheet_marks(fb: FileFeedback, sheet: str, find) -> SheetMarks:
    """Row statuses and cell marks of one sheet."""
    t = texts()
    marks = SheetMarks()
    for (row,) in _rows_of_sheet(fb.staged, sheet, ["_source_row"]):
        marks.row_status[int(row)] = ("loaded", "")
    for row, superseded_by in _rows_of_sheet(fb.superseded, sheet, ["_source_row", "superseded_by"]):
        other = _str(superseded_by)
        note = (t["row_superseded_note"].format(other=_short(other)) if other else t["row_superseded_note_unknown"])
        marks.row_status[int(row)] = ("superseded", note)
    for row, reasons, details in _rows_of_sheet(fb.rejected, sheet, ["_source_row", "reasons", "details"]):
        row = int(row)
        marks.row_status[row] = ("rejected", str(reasons or ""))
        details = json.loads(details) if isinstance(details, str) else (details or [])
        for d in details:
            col = find(d.get("header"), d.get("column"))
            marks.cells.setdefault((row, col), []).append(Mark("reject", str(d.get("message") or "")))
    for row, header, column, message in _rows_of_sheet(fb.warnings, sheet,
                                                       ["_source_row", "header", "column", "message"]):
        row = int(row)
        col = find(_str(header), _str(column))
        marks.cells.setdefault((row, col), []).append(Mark("warning", str(message or "")))
    return marks


def _cell(name: str) -> tuple[int, int]:
    """An Excel cell name to (row, 0-based column): "C7" -> (7, 2)."""
    letters = name.rstrip("0123456789")
    col = 0
    for ch in letters.upper():
        col = col * 26 + ord(ch) - 64
    return int(name[len(letters):]), col - 1


def recap_marks(fb: FileFeedback, sheet: str) -> SheetMarks:
    """The marks of a recap sheet, cell by cell: rejected counts and totals that differ from their parts."""
    marks = SheetMarks()
    for where, reasons in _rows_of_sheet(fb.recap_rejected, sheet, ["_source_cell", "reasons"]):
        marks.cells.setdefault(_cell(str(where)), []).append(Mark("reject", str(reasons or "")))
    for where, message in _rows_of_sheet(fb.warnings, sheet, ["_source_cell", "message"]):
        if _str(where):
            marks.cells.setdefault(_cell(str(where)), []).append(Mark("warning", str(message or "")))
    return marks
