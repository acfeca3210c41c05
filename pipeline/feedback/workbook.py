"""The feedback workbook for one file (<name>.umpan-balik.xlsx): a copy of the agency's
sheets with every bad cell coloured and commented in Bahasa Indonesia, a status column
per row, and a first sheet "Ringkasan" (summary.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from pipeline.contract import load_contract, norm_header
from pipeline.feedback.gather import FileFeedback, _as_list
from pipeline.feedback.marks import column_finder, header_names, recap_marks, sheet_marks
from pipeline.feedback.sheet import (
    BOLD,
    RED,
    ROW_COLOURS,
    TOP,
    WRAP,
    YELLOW,
    Sheet,
    _fill,
    _font,
    _save_workbook,
    _sheet_title,
)
from pipeline.feedback.source import read_by_reader, read_sheets
from pipeline.feedback.summary import NOTE_WIDTH, _height, _write_summary
from pipeline.feedback.words import texts
from pipeline.ingest.read import sheet_labels
from pipeline.messages import render
from pipeline.privacy import mask
from pipeline.registry import Agency, get_agency
from pipeline.safefs import SafeDir

# ---------------------------------------------------------------- the feedback workbook

def write_feedback_workbook(fb: FileFeedback, source: Path | None, target: Path, agency: Agency | str,
                            fingerprint: str | None = None, folder: SafeDir | None = None) -> Path:
    """The agency's sheets with every bad cell marked, behind a "Ringkasan" sheet.

    `fingerprint` (see workbook_fingerprint) is stored as a custom document property.
    `folder`: target's folder, opened by safe_dir (else target's folder is the root).
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

    labels = sheet_labels([src.name for src in sheets or []])  # the names the ledger stored
    for src, label in zip(sheets or [], labels):
        ws = Sheet(_sheet_title(src.name, used), src.rows)
        out.append(ws)
        if src.rows is None:
            copy_notes.append(t["sheet_copy_failed"].format(sheet=src.name))
            continue
        rows = src.rows
        width = max((len(r) for r in rows), default=0)
        meta = info.get(label)
        top = int(meta["header_row"]) - int(meta.get("header_rows") or 1) if meta and meta.get("is_register") else 0
        _fit_columns(ws, rows[top:])
        has_marks = False
        if meta is not None and meta.get("is_register") and not pd.isna(meta.get("header_row")):
            header_row, header_rows = int(meta["header_row"]), int(meta.get("header_rows") or 1)
            written = json.loads(meta["columns"]) if isinstance(meta.get("columns"), str) else {}
            names = header_names(rows, header_row, header_rows)
            find = column_finder(names, written)
            erased = _erased_rows(rows, header_row, find(written.get("case_id"), "case_id"), ag.code,
                                  set(fb.erased_cases))
            rows = ws.rows = _without_personal(rows, names, header_row, erased, t)
            personal = [mask(names[c])[0] for c in _personal_columns(names)]
            if personal:
                copy_notes.append(t["personal_not_copied"].format(sheet=src.name, columns=", ".join(personal)))
            marks = sheet_marks(fb, label, find)
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
            has_marks = _mark_cells(ws, marks, notes, status_col, t, reject_notes=False)
            _write_notes(ws, notes, note_col, status_col)
            _mark_headers(ws, meta, names, header_row, t)
            has_marks = has_marks or bool(marks.row_status)
            ws.frozen_rows = header_row
            ws.title_rows = (header_row - header_rows + 1, header_row)
        elif meta is not None and meta.get("is_recap") in (True, 1) and not pd.isna(meta.get("header_row")):
            header_row, note_col = int(meta["header_row"]), width + 1
            ws.rows = _without_personal(rows, {}, 0, set(), t)  # counts and labels; a NIK typed in is masked
            ws.put(header_row, note_col, t["added_note_header"], BOLD)
            ws.widths[note_col] = NOTE_WIDTH
            notes = {}
            has_marks = _mark_cells(ws, recap_marks(fb, label), notes, note_col, t, reject_notes=True)
            _write_notes(ws, notes, note_col, note_col - 1)
            ws.frozen_rows = header_row
        else:  # not a register: nothing says which of its cells are personal, so none is copied
            ws.rows = []
            ws.put(1, 1, t["sheet_not_copied"].format(sheet=src.name))
            copy_notes.append(t["sheet_not_copied"].format(sheet=src.name))
        ws.hidden = not src.visible and not has_marks

    if source is None or sheets is None:
        copy_notes.insert(0, t["cannot_copy_sheets"])
    _write_summary(summary, fb, ag, copy_notes)
    _save_workbook(out, target, fingerprint, folder)
    return target


def _personal_columns(names: dict[int, str]) -> list[int]:
    """0-based columns whose header names personal data (the columns the load drops)."""
    from pipeline.privacy import is_personal_header

    contract = load_contract()
    return [c for c, name in sorted(names.items()) if norm_header(name) not in contract.header_to_column
            and is_personal_header(norm_header(name), contract.personal_headers)]


def _erased_rows(rows: list[list], header_row: int, case_col: int | None, agency: str, erased: set[str]) -> set[int]:
    """0-based indexes of the data rows of erased cases (their case id's key is in `erased`)."""
    from pipeline.ingest.rows import cell_text
    from pipeline.privacy import case_key

    if not erased or case_col is None:
        return set()
    out = set()
    for i in range(header_row, len(rows)):
        text = cell_text(rows[i][case_col]) if case_col < len(rows[i]) else None
        if text and case_key(agency, text.strip()) in erased:
            out.add(i)
    return out


def _without_personal(rows: list[list], names: dict[int, str], header_row: int, erased: set[int],
                      t: dict) -> list[list]:
    """The sheet's rows as copied: below the header, a personal column's cells are "[tidak
    disalin]", a NIK, phone number or e-mail typed into another cell is masked, as in the
    warehouse, and every cell of an erased case's row is "[dihapus]". A row with none of these
    is kept as it is (the same list)."""
    personal = _personal_columns(names)
    out = rows[:header_row]
    for i, line in enumerate(rows[header_row:], header_row):
        copied = None
        for c, value in enumerate(line):
            if value is None or value == "":
                continue
            if i in erased:
                new = t["erased"]
            elif c in personal:
                new = t["not_copied"]
            elif isinstance(value, str):
                new = mask(value)[0]
            else:
                continue
            if new != value:
                copied = copied or list(line)
                copied[c] = new
        out.append(copied or line)
    return out


def _mark_cells(ws: Sheet, marks, notes: dict[int, list[str]], fallback_col: int, t: dict,
                reject_notes: bool) -> bool:
    """Colour and comment each marked cell (red: rejected, yellow: warned), and gather the row
    notes: the warnings, and the rejects where the row has no status of its own
    (`reject_notes`, a recap's cells). A mark without a column goes on `fallback_col`."""
    for (row, col), items in sorted(marks.cells.items(), key=lambda kv: (kv[0][0], kv[0][1] or -1)):
        text = "\n".join(
            f"{t['cell_reject_prefix'] if m.severity == 'reject' else t['cell_warning_prefix']}: {m.text}"
            for m in items)
        notes.setdefault(row, []).extend(
            f"{t['cell_reject_prefix'] if m.severity == 'reject' else t['cell_warning_prefix']}: {m.text}"
            for m in items if m.severity == "warning" or reject_notes)
        if col is None:  # the sheet has no such column: the comment goes on the status cell
            ws.comment(row, fallback_col, text, t["comment_author"])
        else:
            ws.put(row, col + 1, None, _fill(RED if any(m.severity == "reject" for m in items) else YELLOW))
            ws.comment(row, col + 1, text, t["comment_author"])
    return bool(marks.cells)


def _write_notes(ws: Sheet, notes: dict[int, list[str]], note_col: int, last_col: int) -> None:
    for row, parts in notes.items():
        note = "; ".join(parts)
        ws.put(row, note_col, note, WRAP)
        ws.heights[row] = _height((note, NOTE_WIDTH - 4))
        for c in range(1, last_col + 1):  # a tall row reads from the top
            ws.put(row, c, None, TOP)


def _mark_headers(ws: Sheet, meta: dict, names: dict[int, str], header_row: int, t: dict) -> None:
    """Comment the header cells that were not read: unknown (yellow), repeated (yellow), personal data.
    The ledger stores headers masked (privacy.mask), so they are compared masked."""
    kinds = (("unknown_headers", "header_unknown", True), ("duplicate_headers", "header_duplicate", True),
             ("personal_headers", "header_personal", False))
    for key, code, fill in kinds:
        for header in _as_list(meta.get(key)):
            hint = t["header_unknown_hint"] if code == "header_unknown" else ""
            text = render(code, header=header) + (f"; {hint}" if hint else "")
            for c, name in sorted(names.items()):
                if mask(name)[0] != header or (code == "header_duplicate" and _first_is_read(names, c, name)):
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


