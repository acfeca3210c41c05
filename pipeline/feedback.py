"""Feedback for agency staff, written into their own folder (raw/<agency>/umpan-balik/).

- a feedback workbook per file with problems (<name>.umpan-balik.xlsx): a copy of
  the agency's sheets with every bad cell coloured and commented in Bahasa
  Indonesia, a status column per row, and a first sheet "Ringkasan";
- a receipt per file (<name>.tanda-terima.html): when it arrived and what became of it;
- a summary page (index.html): every file ever sent, the months with and without
  data, and the year-on-year figures.

Pure functions, no Dagster. `build_feedback` reads the warehouse; the dry run
(`write_feedback_for_file`) takes the frames of `ingest.read_file` and
`staging.stage_agency`; both end in `write_feedback_workbook`.

Only the feedback workbooks hold values from the files (the agency's own data,
copied back to it). Receipts, the summary page, logs and return values hold file
names, counts and messages without values. Text copied from a file is always
written as text, never as a formula, and every text in HTML is escaped.
Wording lives in schemas/feedback_messages.yaml.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pandas as pd
import yaml

from pipeline.config import SCHEMAS_DIR
from pipeline.contract import load_contract, norm_header
from pipeline.ingest import FEEDBACK_DIR, sha256_file  # FEEDBACK_DIR: the folder the pipeline and the sensor skip
from pipeline.messages import catalogue, render
from pipeline.registry import Agency, get_agency

FEEDBACK_SUFFIX = ".umpan-balik.xlsx"
RECEIPT_SUFFIX = ".tanda-terima.html"
INDEX_FILE = "index.html"
TMP_MARK = ".tmp-umpan-balik"
MAX_COPY_ROWS = 200_030

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


@lru_cache(maxsize=1)
def texts() -> dict:
    """The wording in schemas/feedback_messages.yaml (key `feedback`)."""
    data = yaml.safe_load((SCHEMAS_DIR / "feedback_messages.yaml").read_text(encoding="utf-8"))
    return data["feedback"]


# ---------------------------------------------------------------- what one file gave

@dataclass
class FileFeedback:
    """Everything the feedback says about one file: its ledger row and its rows' fates.

    Frames use the warehouse's column names: `sheets` as meta.sheets, `rejected`
    as staging.rejected_rows, `warnings` as staging.cell_warnings, `staged` and
    `superseded` with at least _source_sheet and _source_row (+ superseded_by).
    """

    path: str  # as in the ledger, e.g. "kukar/register_2024.xlsx"
    status: str  # loaded / superseded / rejected / ignored / removed
    reason_code: str | None = None
    message: str | None = None
    data_rows: int = 0
    rows_staged: int = 0
    rows_rejected: int = 0
    rows_superseded: int = 0
    rows_warned: int = 0
    superseded_by: list[str] = field(default_factory=list)
    supersedes: list[str] = field(default_factory=list)
    unknown_headers: list[str] = field(default_factory=list)
    personal_columns_dropped: list[str] = field(default_factory=list)
    first_seen: object = None  # naive UTC, as the ledger keeps it
    modified_at: object = None  # naive UTC
    size_bytes: int | None = None
    sha256: str | None = None
    archived_as: str | None = None
    sheets: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: pd.DataFrame = field(default_factory=pd.DataFrame)
    staged: pd.DataFrame = field(default_factory=pd.DataFrame)
    superseded: pd.DataFrame = field(default_factory=pd.DataFrame)
    dry_run: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def duplicate_headers(self) -> list[str]:
        if self.sheets.empty or "duplicate_headers" not in self.sheets:
            return []
        return sorted({h for hs in self.sheets["duplicate_headers"] for h in _as_list(hs)})

    @property
    def has_problems(self) -> bool:
        """Worth a feedback workbook: rejects, warnings, unknown headers, a rejected or superseded file."""
        if self.status in ("ignored", "removed"):
            return False
        return bool(self.status in ("rejected", "superseded") or self.rows_rejected or self.rows_warned
                    or self.rows_superseded or len(self.rejected) or len(self.warnings) or len(self.superseded)
                    or self.unknown_headers or self.duplicate_headers)


def _as_list(value: object) -> list:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value]


def _int(value: object) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


def _str(value: object) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)




# Per frame: the query (agencies as {}), and whether the frame keeps its agency column.
_FRAME_QUERIES = {
    "ledger": ("SELECT * FROM meta.ingest_log WHERE agency IN ({}) ORDER BY agency, path", True),
    "sheets": ("SELECT * FROM meta.sheets WHERE agency IN ({}) ORDER BY agency, path, sheet_index", True),
    "rejected": ("SELECT agency, _source_file, _source_sheet, _source_row, case_id, rules, reasons, details "
                 "FROM staging.rejected_rows WHERE agency IN ({}) "
                 "ORDER BY agency, _source_file, _source_sheet, _source_row", False),
    "warnings": ('SELECT agency, _source_file, _source_sheet, _source_row, "column", header, value, code, message '
                 "FROM staging.cell_warnings WHERE agency IN ({}) "
                 "ORDER BY agency, _source_file, _source_sheet, _source_row", False),
    "staged": ("SELECT agency, _source_file, _source_sheet, _source_row FROM staging.case_victims "
               "WHERE agency IN ({})", False),
    "superseded": ("SELECT agency, _source_file, _source_sheet, _source_row, superseded_by "
                   "FROM staging.superseded_rows WHERE agency IN ({})", False),
}


def _split(frame: pd.DataFrame, column: str, keys: list[str], keep: bool = True) -> dict[str, pd.DataFrame]:
    """The frame's rows for each key of `column`, in the frame's order, each part indexed from 0
    (one pass over the frame instead of a filter per key). `keep=False` drops `column`."""
    positions = frame.groupby(column, sort=False).indices if len(frame) and column in frame else {}
    if not keep:
        frame = frame.drop(columns=column)
    return {k: (frame.take(positions[k]) if k in positions else frame.iloc[0:0]).reset_index(drop=True)
            for k in keys}


def _per_agency(frame: pd.DataFrame, agencies: list[str], keep_agency: bool = True) -> dict[str, pd.DataFrame]:
    """A frame of several agencies' rows, split by agency."""
    # DuckDB gives text as str or object depending on the values the query met: make a part's
    # columns the same whatever other agencies were read with it (object, None when missing)
    frame = frame.assign(**{c: frame[c].astype(object).where(frame[c].notna(), None)
                            for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)})
    return _split(frame, "agency", agencies, keep_agency)


def load_agencies_frames(con, agencies: list[str]) -> dict[str, dict[str, pd.DataFrame]]:
    """Agencies' ledgers, sheets, rejects, warnings and row fates from the warehouse: one query
    per table for all of them (a query per agency and table cost the national run 9 s)."""
    marks = ", ".join("?" * len(agencies))
    out: dict[str, dict[str, pd.DataFrame]] = {a: {} for a in agencies}
    for name, (sql, keep_agency) in _FRAME_QUERIES.items():
        parts = _per_agency(con.execute(sql.format(marks), agencies).df(), agencies, keep_agency)
        for agency, part in parts.items():
            out[agency][name] = part
    return out


def files_from_frames(frames: dict[str, pd.DataFrame]) -> list[FileFeedback]:
    """A FileFeedback per ledger row."""
    out = []
    paths = frames["ledger"]["path"].tolist()
    parts = {name: _split(frames[name], "path" if name == "sheets" else "_source_file", paths)
             for name in ("sheets", "rejected", "warnings", "staged", "superseded")}
    for row in frames["ledger"].to_dict("records"):
        path = row["path"]
        out.append(FileFeedback(
            path=path, status=row["status"], reason_code=_str(row.get("reason_code")),
            message=_str(row.get("message")), data_rows=_int(row.get("data_rows")),
            rows_staged=_int(row.get("rows_staged")), rows_rejected=_int(row.get("rows_rejected")),
            rows_superseded=_int(row.get("rows_superseded")), rows_warned=_int(row.get("rows_warned")),
            superseded_by=_as_list(row.get("superseded_by")), supersedes=_as_list(row.get("supersedes")),
            unknown_headers=_as_list(row.get("unknown_headers")),
            personal_columns_dropped=_as_list(row.get("personal_columns_dropped")),
            first_seen=row.get("first_seen"), modified_at=row.get("modified_at"),
            size_bytes=None if pd.isna(row.get("size_bytes")) else int(row["size_bytes"]),
            sha256=_str(row.get("sha256")), archived_as=_str(row.get("archived_as")),
            sheets=parts["sheets"][path], rejected=parts["rejected"][path], warnings=parts["warnings"][path],
            staged=parts["staged"][path], superseded=parts["superseded"][path],
        ))
    return out


def feedback_from_dry_run(read, result) -> FileFeedback:
    """A FileFeedback from `ingest.read_file(...)` and `staging.stage_agency(...)` of one file."""
    entry = read.entry
    rel = entry.rel
    staged, rejected, superseded, warnings = (_split(frame, "_source_file", [rel])[rel] for frame in (
        result.staged, result.rejected, result.superseded, result.warnings))
    if read.error_code:
        status, code = "rejected", read.error_code
    elif len(staged):
        status, code = "loaded", None
    elif len(superseded):
        status, code = "superseded", "superseded"
    else:
        status, code = "rejected", "no_data_rows" if len(read.raw) == 0 else "all_rows_rejected"
    winners = sorted(set(superseded["superseded_by"])) if len(superseded) else []
    sheets = read.sheets
    registers = sheets[sheets["is_register"].astype(bool)] if len(sheets) else sheets
    return FileFeedback(
        path=rel, status=status, reason_code=code,
        message=render(code, detail=read.error_detail, other=", ".join(winners)) if code else None,
        data_rows=len(read.raw), rows_staged=len(staged), rows_rejected=len(rejected),
        rows_superseded=len(superseded),
        rows_warned=warnings[["_source_sheet", "_source_row"]].drop_duplicates().shape[0] if len(warnings) else 0,
        superseded_by=winners,
        unknown_headers=sorted({h for hs in registers.get("unknown_headers", []) for h in _as_list(hs)}),
        personal_columns_dropped=sorted({h for hs in registers.get("personal_headers", []) for h in _as_list(hs)}),
        modified_at=pd.Timestamp(int(entry.mtime), unit="s"), size_bytes=entry.size, sha256=entry.sha256,
        sheets=sheets, rejected=rejected, warnings=warnings, staged=staged, superseded=superseded, dry_run=True,
    )


# ---------------------------------------------------------------- reading the agency's sheets

@dataclass
class SourceSheet:
    name: str
    visible: bool
    rows: list[list] | None  # None when the sheet could not be read


def read_sheets(path: Path, max_rows: int = MAX_COPY_ROWS, checked: bool = False) -> list[SourceSheet] | None:
    """Every sheet's values (python-calamine: .xlsx, .xlsm, .xls, .ods); None if unreadable.

    Read in the guarded reader process, after the same container checks as the load (unless
    `checked`: these bytes passed them already, see read_by_reader).
    """
    from pipeline import reader
    from pipeline.config import settings
    from pipeline.safety import UnreadableFile

    cfg = settings()
    try:
        sheets = reader.sheet_values(Path(path), max_rows, checked, cfg.reader_memory_mb, cfg.reader_timeout_s)
    except UnreadableFile:
        return None
    return [SourceSheet(name, visible, rows) for name, visible, rows in sheets]


def read_by_reader(fb: FileFeedback, source: Path) -> bool:
    """True when `source` holds the very bytes the reader opened: the reader found sheets in
    them (so they passed its container checks) and their sha256 is the ledger's."""
    return len(fb.sheets) > 0 and bool(fb.sha256) and sha256_file(source) == fb.sha256


def source_path(fb: FileFeedback, raw_dir: Path, archive_dir: Path | None) -> Path | None:
    """The bytes the run read: the file in the folder if unchanged, else its archived copy."""
    current = Path(raw_dir) / fb.path
    archived = Path(archive_dir) / fb.archived_as if archive_dir and fb.archived_as else None
    if current.is_file():
        if not fb.sha256 or sha256_file(current) == fb.sha256:
            return current
    if archived is not None and archived.is_file():
        return archived
    return None


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
    from pipeline.excel import cell_text

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


def _short(path: str | None) -> str:
    """A ledger path without the agency folder: 'kukar/a/b.xlsx' -> 'a/b.xlsx'."""
    if not path:
        return ""
    return path.split("/", 1)[1] if "/" in path else path


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


def _save_workbook(sheets: list[Sheet], target: Path, fingerprint: str | None) -> None:
    """Write the sheets with XlsxWriter to a temp file, then into place (see _commit)."""
    import xlsxwriter

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(target)
    try:
        wb = xlsxwriter.Workbook(str(tmp), {"in_memory": True, "strings_to_numbers": False,
                                            "strings_to_formulas": False, "strings_to_urls": False})
        wb.set_properties({"author": "ppa-pipeline"})  # creator and lastModifiedBy
        if fingerprint is not None:
            wb.set_custom_property(FINGERPRINT_PROPERTY, fingerprint)
        formats: dict[tuple, object] = {}
        for sheet in sheets:
            _write_sheet(wb, sheet, formats)
        wb.close()
        _commit(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


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


# ---------------------------------------------------------------- the feedback workbook

def write_feedback_workbook(fb: FileFeedback, source: Path | None, target: Path, agency: Agency | str,
                            fingerprint: str | None = None) -> Path:
    """The agency's sheets with every bad cell marked, behind a "Ringkasan" sheet.

    `fingerprint` (see workbook_fingerprint) is stored as a custom document property.
    """
    ag = agency if isinstance(agency, Agency) else get_agency(agency)
    t = texts()
    summary = Sheet(t["summary"]["sheet_name"])
    out = [summary]
    used = {summary.title.lower()}
    sheets = read_sheets(source, checked=read_by_reader(fb, source)) if source is not None else None
    info = {s["sheet"]: s for s in fb.sheets.to_dict("records")} if len(fb.sheets) else {}
    fills = {k: _fill(v[0]) for k, v in ROW_COLOURS.items()}
    fonts = {k: _font(v[1], bold=True) for k, v in ROW_COLOURS.items()}
    copy_notes: list[str] = []

    for src in sheets or []:
        ws = Sheet(_sheet_title(src.name, used), src.rows)
        out.append(ws)
        if src.rows is None:
            copy_notes.append(t["sheet_copy_failed"].format(sheet=src.name))
            continue
        rows = src.rows
        width = max((len(r) for r in rows), default=0)
        meta = info.get(src.name)
        top = int(meta["header_row"]) - int(meta.get("header_rows") or 1) if meta and meta.get("is_register") else 0
        _fit_columns(ws, rows[top:])
        has_marks = False
        if meta is not None and meta.get("is_register") and not pd.isna(meta.get("header_row")):
            header_row, header_rows = int(meta["header_row"]), int(meta.get("header_rows") or 1)
            written = json.loads(meta["columns"]) if isinstance(meta.get("columns"), str) else {}
            names = header_names(rows, header_row, header_rows)
            find = column_finder(names, written)
            marks = sheet_marks(fb, src.name, find)
            for r in range(header_row - header_rows + 1, header_row + 1):
                for c in range(1, width + 1):
                    ws.put(r, c, None, BOLD)
            status_col, note_col = width + 1, width + 2
            ws.put(header_row, status_col, t["added_status_header"], BOLD)
            ws.put(header_row, note_col, t["added_note_header"], BOLD)
            ws.widths[status_col], ws.widths[note_col] = 20, NOTE_WIDTH
            notes: dict[int, list[str]] = {}
            for row, (status, note) in sorted(marks.row_status.items()):
                ws.put(row, status_col, t["row_status"][status], fills[status], fonts[status])
                if note:
                    notes.setdefault(row, []).append(note)
            for (row, col), items in sorted(marks.cells.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
                has_marks = True
                text = "\n".join(
                    f"{t['cell_reject_prefix'] if m.severity == 'reject' else t['cell_warning_prefix']}: {m.text}"
                    for m in items)
                warned = [f"{t['cell_warning_prefix']}: {m.text}" for m in items if m.severity == "warning"]
                notes.setdefault(row, []).extend(warned)  # reasons of a reject are in the row's note already
                if col is None:  # the sheet has no such column: the comment goes on the status cell
                    ws.comment(row, status_col, text, t["comment_author"])
                else:
                    ws.put(row, col + 1, None, _fill(RED if any(m.severity == "reject" for m in items) else YELLOW))
                    ws.comment(row, col + 1, text, t["comment_author"])
            for row, parts in notes.items():
                note = "; ".join(parts)
                ws.put(row, note_col, note, WRAP)
                ws.heights[row] = _height((note, NOTE_WIDTH - 4))
                for c in range(1, status_col + 1):  # a tall row reads from the top
                    ws.put(row, c, None, TOP)
            _mark_headers(ws, meta, names, header_row, t)
            has_marks = has_marks or bool(marks.row_status)
            ws.frozen_rows = header_row
            ws.title_rows = (header_row - header_rows + 1, header_row)
        ws.hidden = not src.visible and not has_marks

    if source is None or sheets is None:
        copy_notes.insert(0, t["cannot_copy_sheets"])
    _write_summary(summary, fb, ag, copy_notes)
    _save_workbook(out, target, fingerprint)
    return target


def _mark_headers(ws: Sheet, meta: dict, names: dict[int, str], header_row: int, t: dict) -> None:
    """Comment the header cells that were not read: unknown (yellow), repeated (yellow), personal data."""
    kinds = (("unknown_headers", "header_unknown", True), ("duplicate_headers", "header_duplicate", True),
             ("personal_headers", "header_personal", False))
    for key, code, fill in kinds:
        for header in _as_list(meta.get(key)):
            hint = t["header_unknown_hint"] if code == "header_unknown" else ""
            text = render(code, header=header) + (f"; {hint}" if hint else "")
            for c, name in sorted(names.items()):
                if name != header or (code == "header_duplicate" and _first_is_read(names, c, name)):
                    continue
                row = header_row if ws.value(header_row, c + 1) is not None else header_row - 1
                if fill:
                    ws.put(row, c + 1, None, _fill(YELLOW))
                ws.comment(row, c + 1, text, t["comment_author"])


def _first_is_read(names: dict[int, str], c: int, name: str) -> bool:
    """For a repeated column, the first header naming it is the one read."""
    to_column = load_contract().header_to_column
    column = to_column.get(norm_header(name))
    return min(k for k, v in names.items() if to_column.get(norm_header(v)) == column) == c


def _print_setup(ws, landscape: bool) -> None:
    """Print on A4, as wide as the page (an openpyxl sheet: the template)."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _letter(col: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(col)


def _fit_columns(ws: Sheet, rows: list[list]) -> None:
    """Column widths from the header and the first rows below it (title rows left out)."""
    widths: dict[int, int] = {}
    for values in rows[:300]:
        for c, value in enumerate(values, 1):
            if value is None or value == "":
                continue
            n = 11 if isinstance(value, (dt.date, dt.datetime)) else len(str(value))
            widths[c] = max(widths.get(c, 0), n)
    for c, n in widths.items():
        ws.widths[c] = max(6, min(32, n + 2))


NOTE_WIDTH = 80  # the added note column, in characters
SUMMARY_WIDTHS = (44, 14, 84)  # columns A, B, C of "Ringkasan", in characters


def _height(*cells: tuple[str, int]) -> float:
    """A row height (points) that shows wrapped texts of the given (text, width in characters)."""
    lines = 1
    for text, width in cells:
        if text:
            lines = max(lines, sum(max(1, math.ceil(len(part) * 0.95 / max(width, 1))) for part in text.split("\n")))
    return 15.0 * lines + 2


def status_explained(fb: FileFeedback) -> str:
    """The file's message from the ledger, or what its status means, with the rows that did not load."""
    s = texts()["status_explained"]
    text = fb.message or s.get(fb.status, "")
    if fb.status == "loaded" and fb.rows_rejected:
        text += " " + s["loaded_but_rejected"].format(n=fb.rows_rejected)
    if fb.status == "loaded" and fb.rows_superseded:
        text += " " + s["loaded_but_superseded"].format(n=fb.rows_superseded)
    return text


def _write_summary(ws: Sheet, fb: FileFeedback, agency: Agency, copy_notes: list[str]) -> None:
    t, s = texts(), texts()["summary"]
    wa, wb_, wc = SUMMARY_WIDTHS
    ws.gridlines, ws.landscape = False, False
    ws.widths.update(enumerate(SUMMARY_WIDTHS, 1))
    section = _font("1F4E79", bold=True, font_size=12)
    r = 1

    def fact(label: str, value: str, fill: str | None = None, font: dict | None = None) -> None:
        """label in A, a text over B:C."""
        nonlocal r
        ws.put(r, 1, label, BOLD, TOP)
        ws.put(r, 2, value, WRAP, _fill(fill) if fill else {}, font or {})
        ws.merges.append((r, 2, 3))
        ws.heights[r] = _height((label, wa), (value, wb_ + wc))
        r += 1

    def count(label: str, n: int, hint: str = "") -> None:
        """label in A, a number in B, a hint in C."""
        nonlocal r
        ws.put(r, 1, label, WRAP)
        ws.put(r, 2, n, CENTRE)
        if hint:
            ws.put(r, 3, hint, WRAP)
        ws.heights[r] = _height((label, wa), (hint, wc))
        r += 1

    def text(value: str, fill: str | None = None, label: str = "") -> None:
        """a text over A:C, or over B:C beside a coloured swatch."""
        nonlocal r
        if fill:
            ws.put(r, 1, label, _fill(fill), BOLD, CENTRE)
        first = 2 if fill else 1
        ws.put(r, first, value, WRAP)
        ws.merges.append((r, first, 3))
        ws.heights[r] = _height((value, (wb_ + wc) if fill else (wa + wb_ + wc)))
        r += 1

    def heading(value: str, columns: list[str] | None = None) -> None:
        nonlocal r
        r += 1
        ws.put(r, 1, value, section)
        r += 1
        if columns:
            for c, label in enumerate(columns, 1):
                ws.put(r, c, label, BOLD, _fill(GREY), CENTRE if c == 2 else TOP)
            r += 1

    ws.put(r, 1, s["title_dry_run"] if fb.dry_run else s["title"], _font(bold=True, font_size=14))
    r += 1
    ws.put(r, 1, agency.name, _font(font_size=12))
    r += 2
    colour = {"loaded": GREEN, "rejected": RED, "superseded": BLUE}.get(fb.status, GREY)
    text_colour = {"loaded": GREEN_TEXT, "rejected": RED_TEXT, "superseded": BLUE_TEXT}.get(fb.status, "000000")
    fact(s["file"], _short(fb.path))
    fact(s["status"], t["status"].get(fb.status, fb.status.upper()), fill=colour,
         font=_font(text_colour, bold=True))
    fact(s["message"], status_explained(fb))
    if fb.dry_run:
        text(s["dry_run_note"])
    else:
        fact(s["first_seen"], local_time(fb.first_seen, agency.timezone))
    fact(s["modified_at"], local_time(fb.modified_at, agency.timezone))
    for note in copy_notes:
        text(note)

    registers = bool(len(fb.sheets)) and bool(fb.sheets["is_register"].astype(bool).any())
    if not registers:  # nothing was read row by row: the message above is the whole story
        heading(s["next_steps"])
        text(s["next_steps_file"])
        if len(fb.sheets):
            _sheet_lines(fb, count, heading, s)
        return

    heading(s["counts"])
    for key in ("data_rows", "rows_staged", "rows_rejected", "rows_superseded", "rows_warned"):
        count(s[key], int(getattr(fb, key)))

    rules = _rule_counts(fb)
    heading(s["reasons"], s["reasons_columns"] if rules else None)
    for code, n in rules:
        count(t["rule_labels"].get(code, code), n, catalogue()[code].hint if code in catalogue() else "")
    if not rules:
        text(s["none"])

    warned = _warning_counts(fb)
    heading(s["warnings"], s["warnings_columns"] if warned else None)
    for code, n in warned:
        count(t["warning_labels"].get(code, code), n, catalogue()[code].hint if code in catalogue() else "")
    if not warned:
        text(s["none"])

    heading(s["columns"])
    column_lines = ([render("header_unknown", header=h) for h in fb.unknown_headers]
                    + [render("header_duplicate", header=h) for h in fb.duplicate_headers]
                    + [render("header_personal", header=h) for h in fb.personal_columns_dropped])
    for value in column_lines or [s["none"]]:
        text(value)

    if fb.superseded_by or fb.supersedes:
        heading(s["other_files"])
        if fb.superseded_by:
            text(s["superseded_by"].format(other=", ".join(_short(p) for p in fb.superseded_by)))
        if fb.supersedes:
            text(s["supersedes"].format(other=", ".join(_short(p) for p in fb.supersedes)))

    _sheet_lines(fb, count, heading, s)

    heading(s["legend"])
    status_header, note_header = t["added_status_header"], t["added_note_header"]
    text(s["legend_reject"], RED, t["row_status"]["rejected"])
    text(s["legend_warning"], YELLOW, t["cell_warning_prefix"])
    text(s["legend_loaded"].format(status_header=status_header, note_header=note_header), GREEN,
         t["row_status"]["loaded"])
    text(s["legend_superseded"], BLUE, t["row_status"]["superseded"])

    heading(s["next_steps"])
    text(s["next_steps_text"])
    text(s["privacy"])


def _sheet_lines(fb: FileFeedback, count, heading, s: dict) -> None:
    """One line per sheet: a register (and where its header is) or why it was skipped."""
    heading(s["sheets"], s["sheets_columns"])
    for sheet in fb.sheets.to_dict("records"):
        if sheet.get("is_register"):
            hr, n = int(sheet["header_row"]), int(sheet.get("header_rows") or 1)
            what = (s["sheet_register_two_rows"].format(upper=hr - 1, row=hr) if n == 2
                    else s["sheet_register"].format(row=hr))
            rows = _int(sheet.get("data_rows"))
        else:
            what = render(sheet.get("reason") or "sheet_not_register", sheet=sheet["sheet"])
            rows = None
        if sheet.get("visible") is False or sheet.get("visible") == 0:
            what += s["sheet_hidden"]
        count(str(sheet["sheet"]), rows, what)


def _rule_counts(fb: FileFeedback) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for rules in fb.rejected.get("rules", []):
        for code in _as_list(rules):
            counts[code] = counts.get(code, 0) + 1
    order = list(catalogue())
    return sorted(counts.items(), key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else 999))


def _warning_counts(fb: FileFeedback) -> list[tuple[str, int]]:
    counts = fb.warnings["code"].value_counts() if len(fb.warnings) else pd.Series(dtype=int)
    return sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))


# ---------------------------------------------------------------- times and numbers, the Indonesian way

def local_time(value: object, timezone: str, short: bool = False) -> str:
    """A naive-UTC ledger time in the agency's time zone: '24 November 2025 pukul 14.33 WITA'."""
    t = texts()
    if value is None or pd.isna(value):
        return t["receipt"]["unknown_time"]
    when = pd.Timestamp(value)
    when = (when.tz_localize("UTC") if when.tzinfo is None else when).tz_convert(ZoneInfo(timezone))
    months = t["months_short"] if short else t["months"]
    return t["time_format_short" if short else "time_format"].format(
        day=when.day, month=months[when.month - 1], year=when.year, hour=when.hour, minute=when.minute,
        zone=when.tzname())


def fmt_num(value: object, digits: int = 0, sign: bool = False) -> str:
    """1.234 and 12,5 (Indonesian separators); '–' when missing."""
    if value is None or pd.isna(value):
        return "–"
    sign = sign and round(float(value), digits) != 0  # no "+0"
    text = f"{float(value):{'+' if sign else ''},.{digits}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{fmt_num(n / 1024, 1)} KB" if n < 1024 * 1024 else f"{fmt_num(n / 1024 / 1024, 1)} MB"


# ---------------------------------------------------------------- HTML (receipts and the summary page)

CSS = """
body{font-family:"Segoe UI",Arial,"DejaVu Sans",sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;
color:#1b1b1b;line-height:1.45;font-size:15px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;color:#1F4E79;border-bottom:2px solid #DDEBF7;
padding-bottom:4px}.sub{color:#555;margin:0 0 12px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:14px}th,td{border:1px solid #c8c8c8;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#EDEDED}td.n{text-align:right;white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:3px;font-weight:bold;font-size:13px;white-space:nowrap}
.loaded{background:#C6EFCE;color:#006100}.rejected{background:#FFC7CE;color:#9C0006}
.superseded{background:#DDEBF7;color:#1F4E79}.ignored,.removed{background:#EDEDED;color:#444}
.grid td{text-align:center;min-width:44px;padding:4px 2px}.grid td.y{text-align:left;font-weight:bold}
.grid td.has{background:#C6EFCE;color:#006100}.grid td.miss{background:#FFC7CE;color:#9C0006;font-weight:bold}
.grid td.fut{background:#f7f7f7;color:#aaa}.grid td.note{text-align:left;font-size:13px;min-width:200px}
.kv th{width:260px;background:#f4f4f4}.legend>span{margin-right:22px}td.d{white-space:nowrap}
.small{font-size:13px;color:#555}
.warn{background:#FFEB9C;padding:8px 12px;border-left:4px solid #c9a000;margin:8px 0}
.tot td{font-size:20px;font-weight:bold;text-align:center;min-width:120px}.tot th{text-align:center}
table.files{width:100%}.files td.msg{min-width:260px}.files th{font-size:13px}
.files div.small{white-space:nowrap}
"""


def esc(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    return html.escape(str(value), quote=True)


def _href(name: str) -> str:
    return html.escape(quote(name), quote=True)


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"id\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def _badge(status: str) -> str:
    label = texts()["status"].get(status, status.upper())
    return f'<span class="badge {esc(status)}">{esc(label)}</span>'


def render_receipt(fb: FileFeedback, agency: Agency, feedback_name: str | None) -> str:
    """A receipt: the file arrived, when, and what became of it. No values from the file."""
    r, s = texts()["receipt"], texts()["summary"]
    rows = [
        (r["agency"], esc(agency.name)),
        (r["file"], f"<b>{esc(_short(fb.path))}</b>"),
        (r["received"], esc(local_time(fb.first_seen, agency.timezone))),
        (r["modified"], esc(local_time(fb.modified_at, agency.timezone))),
        (r["size"], esc(_size(fb.size_bytes))),
        (r["fingerprint"], f"<code>{esc((fb.sha256 or '')[:12] or '–')}</code>"),
        (r["status"], _badge(fb.status)),
        (r["message"], esc(status_explained(fb))),
    ]
    kv = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    counts = "".join(f"<tr><th>{esc(s[k])}</th><td class=\"n\">{fmt_num(getattr(fb, k))}</td></tr>"
                     for k in ("data_rows", "rows_staged", "rows_rejected", "rows_superseded", "rows_warned"))
    parts = [f"<h1>{esc(r['title'])}</h1><p class=\"sub\">{esc(agency.name)}</p>",
             f"<table class=\"kv\">{kv}</table>"]
    if fb.status not in ("ignored",) and (fb.data_rows or fb.status != "rejected"):
        parts.append(f"<h2>{esc(r['counts'])}</h2><table class=\"kv\">{counts}</table>")
    if fb.superseded_by:
        parts.append(f"<p>{esc(s['superseded_by'].format(other=', '.join(_short(p) for p in fb.superseded_by)))}</p>")
    if fb.supersedes:
        parts.append(f"<p>{esc(s['supersedes'].format(other=', '.join(_short(p) for p in fb.supersedes)))}</p>")
    if feedback_name:
        parts.append(f"<p class=\"warn\">{esc(r['feedback_link'])} "
                     f"<a href=\"{_href(feedback_name)}\">{esc(feedback_name)}</a></p>")
    elif fb.status == "loaded":
        parts.append(f"<p>{esc(r['no_problems'])}</p>")
    parts.append(f"<p class=\"small\"><a href=\"{INDEX_FILE}\">{esc(r['back'])}</a></p>")
    return _page(f"{r['title']}: {_short(fb.path)}", "\n".join(parts))


def render_index(agency: Agency, files: list[FileFeedback], links: dict[str, dict[str, str]],
                 months: pd.DataFrame, yoy: pd.DataFrame, updated: object) -> str:
    """The summary page: totals, the month grid, year-on-year, and every file ever sent."""
    t = texts()
    x = t["index"]
    live = [f for f in files if f.status not in ("removed", "ignored")]
    parts = [f"<h1>{esc(x['title'])}</h1>",
             f"<p class=\"sub\"><b>{esc(agency.name)}</b> &middot; {esc(x['updated'])}: "
             f"{esc(local_time(updated, agency.timezone))}</p>",
             f"<p>{esc(x['intro'])}</p>"]

    totals = [(x["totals_files"], len(live)), (x["totals_staged"], sum(f.rows_staged for f in live)),
              (x["totals_rejected"], sum(f.rows_rejected for f in live)),
              (x["totals_superseded"], sum(f.rows_superseded for f in live)),
              (x["totals_problem_files"], sum(1 for f in live if f.has_problems))]
    parts.append(f"<h2>{esc(x['totals'])}</h2><table class=\"tot\"><tr>"
                 + "".join(f"<th>{esc(k)}</th>" for k, _ in totals) + "</tr><tr>"
                 + "".join(f"<td>{fmt_num(v)}</td>" for _, v in totals) + "</tr></table>")

    parts.append(f"<h2>{esc(x['months'])}</h2><p>{esc(x['months_intro'])}</p>")
    parts.append(_month_grid(months))

    parts.append(f"<h2>{esc(x['yoy'])}</h2>")
    parts.append(_yoy_table(yoy))

    parts.append(f"<h2>{esc(x['files'])}</h2>")
    if files:
        head = "".join(f"<th>{esc(c)}</th>" for c in x["files_columns"])
        body = []
        for f in files:
            link = links.get(f.path, {})
            anchors = []
            if "feedback" in link:
                anchors.append(f"<a href=\"{_href(link['feedback'])}\">{esc(x['feedback_link'])}</a>")
            if "receipt" in link:
                anchors.append(f"<a href=\"{_href(link['receipt'])}\">{esc(x['receipt_link'])}</a>")
            when = (f"{esc(x['received'])} {esc(local_time(f.first_seen, agency.timezone, short=True))}<br>"
                    f"{esc(x['modified'])} {esc(local_time(f.modified_at, agency.timezone, short=True))}")
            body.append(
                f"<tr><td><b>{esc(_short(f.path))}</b><div class=\"small\">{when}</div></td>"
                f"<td>{_badge(f.status)}</td>"
                + "".join(f"<td class=\"n\">{fmt_num(getattr(f, k))}</td>" for k in
                          ("data_rows", "rows_staged", "rows_rejected", "rows_superseded", "rows_warned"))
                + f"<td class=\"msg\">{esc(status_explained(f))}</td><td class=\"d\">{'<br>'.join(anchors)}</td></tr>")
        parts.append(f"<table class=\"files\"><tr>{head}</tr>{''.join(body)}</table>")
    else:
        parts.append(f"<p>{esc(x['no_files'])}</p>")
    return _page(f"{x['title']} – {agency.name}", "\n".join(parts))


def missing_months(months: pd.DataFrame) -> list[tuple[int, int]]:
    """(year, month) without data in marts.reporting_completeness rows of one agency."""
    if months.empty:
        return []
    gone = months[~months["has_data"].astype(bool)]
    return [(int(y), int(m)) for y, m in zip(gone["year"], gone["month"])]


def _month_grid(months: pd.DataFrame) -> str:
    t = texts()
    x = t["index"]
    if months.empty or not months["has_data"].astype(bool).any():
        return f"<p>{esc(x['no_months'])}</p>"
    short = t["months_short"]
    head = (f"<tr><th>{esc(x['months_year'])}</th>" + "".join(f"<th>{esc(m)}</th>" for m in short)
            + f"<th>{esc(x['months_filled'])}</th><th>{esc(x['months_missing'])}</th></tr>")
    by_key = {(int(r["year"]), int(r["month"])): r for r in months.to_dict("records")}
    rows = []
    for year in sorted({y for y, _ in by_key}):
        cells, filled, missing = [], 0, []
        for m in range(1, 13):
            r = by_key.get((year, m))
            if r is None:
                cells.append(f"<td class=\"fut\" title=\"{esc(x['month_not_yet'])}\">·</td>")
            elif bool(r["has_data"]):
                filled += 1
                cells.append(f"<td class=\"has\">{fmt_num(r['victims'])}</td>")
            else:
                missing.append(t["months"][m - 1])
                cells.append(f"<td class=\"miss\" title=\"{esc(t['months'][m - 1])} {year}\">"
                             f"{esc(x['month_missing_cell'])}</td>")
        expected = sum(1 for m in range(1, 13) if (year, m) in by_key)
        rows.append(f"<tr><td class=\"y\">{year}</td>{''.join(cells)}<td>{filled}/{expected}</td>"
                    f"<td class=\"note\">{esc(', '.join(missing)) if missing else '–'}</td></tr>")
    gone = missing_months(months)
    summary = (esc(x["months_none_missing"]) if not gone else
               f"<b>{esc(x['months_missing'])}:</b> "
               + esc(", ".join(f"{t['months'][m - 1]} {y}" for y, m in gone)))
    legend = "<p class=\"legend small\">" + "".join(
        f"<span><span class=\"badge {cls}\">{esc(label)}</span> {esc(text)}</span>"
        for cls, label, text in (("loaded", "12", x["month_legend_data"]),
                                 ("rejected", x["month_missing_cell"], x["month_legend_missing"]),
                                 ("ignored", "·", x["month_legend_future"]))) + "</p>"
    return f"<table class=\"grid\">{head}{''.join(rows)}</table>{legend}<p>{summary}</p>"


def _yoy_table(yoy: pd.DataFrame) -> str:
    t = texts()
    x = t["index"]
    if yoy.empty:
        return f"<p>{esc(x['no_yoy'])}</p>"
    head = "".join(f"<th>{esc(c)}</th>" for c in x["yoy_columns"])
    rows = []
    for r in sorted(yoy.to_dict("records"), key=lambda r: -int(r["year"])):
        reported, expected = r.get("months_reported"), r.get("months_expected")
        notes = []
        if reported is not None and expected is not None and not pd.isna(reported) and int(reported) < int(expected):
            notes.append(x["yoy_incomplete"])
        if expected is not None and not pd.isna(expected) and int(expected) < 12:
            notes.append(x["yoy_in_progress"].format(months=t["months"][int(expected) - 1]))
        months_cell = (f"{_int(reported)}/{_int(expected)}" if expected is not None and not pd.isna(expected) else "–")
        rows.append(
            f"<tr><td>{int(r['year'])}</td><td class=\"n\">{fmt_num(r.get('victims'))}</td>"
            f"<td class=\"n\">{fmt_num(r.get('victims_prev_year'))}</td>"
            f"<td class=\"n\">{fmt_num(r.get('change_abs'), sign=True)}</td>"
            f"<td class=\"n\">{fmt_num(r.get('change_pct'), 1, sign=True)}</td>"
            f"<td class=\"n\">{fmt_num(r.get('cases'))}</td><td class=\"n\">{months_cell}</td>"
            f"<td>{esc('; '.join(notes)) if notes else ''}</td></tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table><p class=\"small\">{esc(x['yoy_note'])}</p>"


# ---------------------------------------------------------------- writing files atomically

def _tmp(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}{TMP_MARK}")


def _same_content(a: Path, b: Path) -> bool:
    """Equal files; for .xlsx, equal apart from the timestamps written into docProps/core.xml."""
    if b.suffix.lower() != ".xlsx":  # b is the target; a is a temp file with another suffix
        return a.read_bytes() == b.read_bytes()
    try:
        with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
            names = [n for n in za.namelist() if n != "docProps/core.xml"]
            if names != [n for n in zb.namelist() if n != "docProps/core.xml"]:
                return False
            return all(za.read(n) == zb.read(n) for n in names)
    except (zipfile.BadZipFile, OSError):
        return False


def _commit(tmp: Path, target: Path) -> None:
    """Move tmp into place, unless the target already holds the same content (then keep it as it is)."""
    if target.is_file() and _same_content(tmp, target):
        tmp.unlink()
        return
    os.replace(tmp, target)


def _atomic_save_workbook(wb, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.properties.creator = "ppa-pipeline"
    wb.properties.lastModifiedBy = "ppa-pipeline"
    tmp = _tmp(target)
    try:
        wb.save(tmp)
        _commit(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(target: Path, text: str) -> Path:
    """Write a text file atomically (temp + os.replace), leaving it untouched when unchanged."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(target)
    try:
        tmp.write_text(text, encoding="utf-8")
        _commit(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


# ---------------------------------------------------------------- names of the outputs

def output_stems(paths: list[str]) -> dict[str, str]:
    """Ledger path -> stem of its outputs: 'kukar/register_2024.xlsx' -> 'register_2024'.

    Files in subfolders get the folders in front ('2024__register'); two files that
    differ only by extension keep it ('register.xls', 'register.xlsx').
    """
    def base(path: str, keep_suffix: bool) -> str:
        parts = path.split("/")[1:] or [path]
        last = parts[-1] if keep_suffix else (Path(parts[-1]).stem or parts[-1])
        return "__".join([*parts[:-1], last])

    first = {p: base(p, False) for p in paths}
    clashes = {s for s in first.values() if list(first.values()).count(s) > 1}
    return {p: base(p, True) if s in clashes else s for p, s in first.items()}


def feedback_name(file_name: str) -> str:
    """The feedback workbook's name for a file: 'register_2024.xlsx' -> 'register_2024.umpan-balik.xlsx'."""
    return (Path(file_name).stem or file_name) + FEEDBACK_SUFFIX


# ---------------------------------------------------------------- the two entry points

@dataclass
class FeedbackInput:
    """What the warehouse holds about one agency's files: all the feedback is made of."""

    agency: Agency
    frames: dict[str, pd.DataFrame]
    months: pd.DataFrame
    yoy: pd.DataFrame


def gather_feedback(con, agency: Agency | str) -> FeedbackInput:
    """Read one agency's ledger, row fates and marts (`con`: an open DuckDB connection, only read)."""
    return gather_feedbacks(con, [agency])[0]


def gather_feedbacks(con, agencies: list[Agency | str]) -> list[FeedbackInput]:
    """gather_feedback for several agencies, with one query per table for all of them."""
    ags = [a if isinstance(a, Agency) else get_agency(a) for a in agencies]
    codes = [a.code for a in ags]
    frames, (months, yoy) = load_agencies_frames(con, codes), _marts(con, codes)
    return [FeedbackInput(a, frames[a.code], months[a.code], yoy[a.code]) for a in ags]


def build_feedback(con, agency: Agency | str, raw_dir: Path, archive_dir: Path | None, out_dir: Path | None = None,
                   now: object = None) -> list[Path]:
    """Write an agency's feedback workbooks, receipts and index.html; return the paths written.

    `con` is an open DuckDB connection to the warehouse (only read). `out_dir`
    defaults to raw_dir/<agency>/umpan-balik/. Outputs of ours that no longer
    apply (a file fixed or gone) are removed; unchanged outputs are left as they are.
    """
    return write_feedback(gather_feedback(con, agency), raw_dir, archive_dir, out_dir, now)


def write_feedback(given: FeedbackInput, raw_dir: Path, archive_dir: Path | None, out_dir: Path | None = None,
                   now: object = None) -> list[Path]:
    """The files of `build_feedback`, from what `gather_feedback` read (no warehouse needed).

    A feedback workbook whose inputs did not change since it was written (same file bytes,
    same row fates, same wording and code: its fingerprint) is kept without being made again.
    """
    ag = given.agency
    raw_dir = Path(raw_dir)
    out = Path(out_dir) if out_dir is not None else raw_dir / ag.code / FEEDBACK_DIR
    out.mkdir(parents=True, exist_ok=True)
    frames = given.frames
    files = files_from_frames(frames)
    stems = output_stems([f.path for f in files])
    written: list[Path] = []
    links: dict[str, dict[str, str]] = {}
    for fb in files:
        if fb.status == "ignored":
            continue
        link: dict[str, str] = {}
        if fb.has_problems:
            target = out / (stems[fb.path] + FEEDBACK_SUFFIX)
            source = source_path(fb, raw_dir, archive_dir)
            key = workbook_fingerprint(fb, ag, source is not None)
            if stored_fingerprint(target) != key:
                write_feedback_workbook(fb, source, target, ag, fingerprint=key)
            written.append(target)
            link["feedback"] = target.name
        receipt = out / (stems[fb.path] + RECEIPT_SUFFIX)
        write_text(receipt, render_receipt(fb, ag, link.get("feedback")))
        written.append(receipt)
        link["receipt"] = receipt.name
        links[fb.path] = link
    updated = now if now is not None else (frames["ledger"]["last_seen"].max() if len(frames["ledger"]) else None)
    written.append(write_text(out / INDEX_FILE, render_index(ag, files, links, given.months, given.yoy, updated)))
    _remove_stale(out, written)
    return written


@dataclass
class FeedbackTask:
    """One agency's feedback as a task of a worker pool (parallel.ordered_map)."""

    given: FeedbackInput
    raw_dir: Path
    archive_dir: Path | None
    debug: bool = False


def feedback_task(task: FeedbackTask) -> tuple[str, int]:
    """write_feedback in a worker; returns (agency, files written or kept)."""
    from pipeline.privacy import scrubbed

    try:
        return task.given.agency.code, len(write_feedback(task.given, task.raw_dir, task.archive_dir))
    except Exception as exc:  # the message may quote a cell of the agency's file
        if task.debug:
            raise
        raise scrubbed(exc, f"feedback for agency {task.given.agency.code}") from None


# ---------------------------------------------------------------- fingerprints: skip what did not change

FINGERPRINT_PROPERTY = "ppa_feedback_fingerprint"
# Columns that change on every run without changing what the workbook shows.
_RUN_COLUMNS = {"run_id", "_load_id", "_ingested_at", "last_seen", "parser_version"}


@lru_cache(maxsize=1)
def _code_version() -> str:
    import hashlib

    digest = hashlib.sha256()
    for path in (Path(__file__), SCHEMAS_DIR / "feedback_messages.yaml", SCHEMAS_DIR / "messages.yaml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def workbook_fingerprint(fb: FileFeedback, agency: Agency, has_source: bool) -> str:
    """A hash of everything a feedback workbook is made of: the file's bytes (by sha256), its
    ledger row and row fates, the agency, the wording and this module's code."""
    import hashlib

    digest = hashlib.sha256(_code_version().encode())
    for name, value in sorted(vars(fb).items()):
        if isinstance(value, pd.DataFrame):
            run_columns = [c for c in value.columns if c in _RUN_COLUMNS]
            kept = value.drop(columns=run_columns) if run_columns else value  # a copy only when needed
            text = kept.to_json(orient="split", date_format="iso", default_handler=str)
        else:
            text = repr(value)
        digest.update(f"\0{name}\0{text}".encode())
    digest.update(f"\0{agency!r}\0{has_source}".encode())
    return digest.hexdigest()


def stored_fingerprint(path: Path) -> str | None:
    """The fingerprint a feedback workbook was written with, or None (missing, edited, not ours)."""
    try:
        with zipfile.ZipFile(path) as archive_:
            xml = archive_.read("docProps/custom.xml").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    found = re.search(rf'name="{FINGERPRINT_PROPERTY}"[^>]*>\s*<vt:lpwstr>([0-9a-f]{{64}})</vt:lpwstr>', xml)
    return found.group(1) if found else None


def _marts(con, agencies: list[str]) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Each agency's months reported and year-on-year rows (empty before the marts are built)."""
    import duckdb

    marks = ", ".join("?" * len(agencies))
    try:
        months = con.execute("SELECT agency, year, month, has_data, victims FROM marts.reporting_completeness "
                             f"WHERE agency IN ({marks}) ORDER BY agency, year, month", agencies).df()
        yoy = con.execute(f"SELECT * FROM marts.yoy_by_region WHERE agency IN ({marks}) ORDER BY agency, year",
                          agencies).df()
    except duckdb.CatalogException:  # marts not built yet
        empty = pd.DataFrame(columns=["year", "month", "has_data", "victims"])
        return {a: empty for a in agencies}, {a: pd.DataFrame() for a in agencies}
    return _per_agency(months, agencies, keep_agency=False), _per_agency(yoy, agencies)


def _remove_stale(out: Path, keep: list[Path]) -> None:
    kept = {p.name for p in keep}
    for path in out.iterdir():
        ours = path.name.endswith((FEEDBACK_SUFFIX, RECEIPT_SUFFIX)) or path.name.endswith(TMP_MARK)
        if ours and path.is_file() and path.name not in kept:
            path.unlink()


def write_feedback_for_file(path: Path, agency: Agency | str, read, result, out_dir: Path | None = None) -> Path:
    """The feedback workbook for one file that was never dropped (`ppa validate FILE --feedback`).

    `read` is `ingest.read_file(...)` of the file, `result` is `staging.stage_agency(...)`
    of `read.raw`. Written next to the file, or into `out_dir`.
    """
    path = Path(path)
    fb = feedback_from_dry_run(read, result)
    target = Path(out_dir or path.parent) / feedback_name(path.name)
    return write_feedback_workbook(fb, path, target, agency)


def feedback_for_new_file(path: Path, agency: Agency | str, out_dir: Path | None = None) -> Path:
    """Dry run of one file and its feedback workbook, without a warehouse."""
    from pipeline.dryrun import dry_run

    read, result = dry_run(Path(path), agency)
    return write_feedback_for_file(Path(path), agency, read, result, out_dir)


# ---------------------------------------------------------------- the register template

def write_template(agency: Agency | str, path: Path) -> Path:
    """A blank register with the standard headers, drop-down lists and a notes sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    ag = agency if isinstance(agency, Agency) else get_agency(agency)
    t = texts()["template"]
    contract = load_contract()
    headers: dict[str, str] = dict(t["headers"])
    for column in contract.columns:
        headers.setdefault(column, contract_header(column))
    choices: dict[str, list[str]] = {k: list(v) for k, v in t["choices"].items()}
    choices["kecamatan"] = [names[0] for _, names in sorted(ag.kecamatan.items())] + [t["outside_region"]]

    wb = Workbook()
    ws = wb.active
    ws.title = t["sheet_name"]
    put(ws, 1, 1, t["title"]).font = Font(bold=True, size=14)
    put(ws, 2, 1, ag.name).font = Font(bold=True, size=12)
    put(ws, 3, 1, t["year_line"])
    header_row, first, last = 4, 5, 1004
    fill = PatternFill("solid", fgColor="DDEBF7")
    order = [c for c in contract.columns if c in headers]
    col_of = {column: i for i, column in enumerate(order, 1)}
    for column, c in col_of.items():
        cell = put(ws, header_row, c, headers[column])
        cell.font, cell.fill = Font(bold=True), fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        widest = max([len(headers[column])] + [len(v) for v in choices.get(column, [])][:12])
        ws.column_dimensions[_letter(c)].width = max(12, min(28, widest + 3))
    ws.freeze_panes = ws.cell(row=first, column=1)

    lists = wb.create_sheet(t["lists_sheet"])
    for i, (column, values) in enumerate(choices.items(), 1):
        put(lists, 1, i, f"{t['lists_sheet']}: {headers[column]}")
        for r, value in enumerate(values, 2):
            put(lists, r, i, value)
        if column not in col_of:
            continue
        ref = f"'{t['lists_sheet']}'!${_letter(i)}$2:${_letter(i)}${len(values) + 1}"
        multi = column in ("violence_forms", "services")
        dv = DataValidation(type="list", formula1=ref, allow_blank=True, showDropDown=False,
                            showErrorMessage=not multi, errorStyle="stop", showInputMessage=True,
                            promptTitle=t["prompt_title"][:32],
                            prompt=(t["prompt_multi"] if multi else t["prompt_title"])[:255],
                            errorTitle=t["error_title"][:32], error=t["error_text"][:255])
        col = _letter(col_of[column])
        dv.add(f"{col}{first}:{col}{last}")
        ws.add_data_validation(dv)
    lists.sheet_state = "hidden"

    for column in ("report_date", "incident_date"):
        col = _letter(col_of[column])
        dv = DataValidation(type="date", operator="between", formula1="42005", formula2="73050", allow_blank=True,
                            showErrorMessage=True, errorStyle="warning", showInputMessage=True,
                            prompt=t["prompt_date"][:255], error=t["prompt_date"][:255])
        dv.add(f"{col}{first}:{col}{last}")
        ws.add_data_validation(dv)
        for r in range(first, last + 1):
            ws.cell(row=r, column=col_of[column]).number_format = "DD/MM/YYYY"
    for column, lo, hi, prompt in (("victim_seq", "1", "99", t["prompt_seq"]),
                                   ("victim_age", "0", "120", t["prompt_age"])):
        col = _letter(col_of[column])
        dv = DataValidation(type="whole", operator="between", formula1=lo, formula2=hi, allow_blank=True,
                            showErrorMessage=True, errorStyle="warning", showInputMessage=True,
                            prompt=prompt[:255], error=prompt[:255])
        dv.add(f"{col}{first}:{col}{last}")
        ws.add_data_validation(dv)

    notes = wb.create_sheet(t["notes_sheet"], 1)
    notes.column_dimensions["A"].width = 30
    notes.column_dimensions["B"].width = 100
    top, wrap = Alignment(vertical="top"), Alignment(wrap_text=True, vertical="top")
    r = 1
    for i, (label, text) in enumerate(t["notes"]):
        cell = put(notes, r, 1, label)
        cell.font, cell.alignment = Font(bold=True, size=14 if i == 0 else 11), top
        put(notes, r, 2, text).alignment = wrap
        notes.row_dimensions[r].height = max(20 if i == 0 else 15, _height((text, 96)))
        r += 1
    r += 1
    for c, label in enumerate(t["columns_heading"], 1):
        put(notes, r, c, label).font = Font(bold=True, size=12)
    r += 1
    for column in order:
        help_text = t["column_help"].get(column) or ""
        options = choices.get(column)
        if options:
            help_text = (help_text + " " if help_text else "") + t["choices_label"] + ", ".join(options)
        put(notes, r, 1, headers[column]).alignment = top
        put(notes, r, 2, help_text).alignment = wrap
        notes.row_dimensions[r].height = _height((help_text, 96))
        r += 1
    notes.sheet_view.showGridLines = False
    _print_setup(notes, landscape=False)
    _print_setup(ws, landscape=True)
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_area = f"A1:{_letter(len(order))}{first + 39}"  # a printed form with 40 empty rows
    ws.print_options.gridLines = True
    wb.active = 0
    path = Path(path)
    _atomic_save_workbook(wb, path)
    return path


def contract_header(column: str) -> str:
    """The first header synonym of a column in contract.yaml, capitalised."""
    data = yaml.safe_load((SCHEMAS_DIR / "contract.yaml").read_text(encoding="utf-8"))
    return str(data["columns"][column]["headers"][0]).title()
