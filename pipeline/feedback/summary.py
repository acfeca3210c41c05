"""The "Ringkasan" sheet of a feedback workbook: what became of the file, sheet by sheet,
and the reasons counted, in Bahasa Indonesia.
"""

from __future__ import annotations

import math

import pandas as pd

from pipeline.feedback.gather import FileFeedback, _as_list, _int
from pipeline.feedback.sheet import (
    BLUE,
    BLUE_TEXT,
    BOLD,
    CENTRE,
    GREEN,
    GREEN_TEXT,
    GREY,
    RED,
    RED_TEXT,
    TOP,
    WRAP,
    YELLOW,
    Sheet,
    _fill,
    _font,
)
from pipeline.feedback.words import _short, local_time, status_explained, texts
from pipeline.messages import catalogue, render
from pipeline.registry import Agency

NOTE_WIDTH = 80  # the added note column, in characters
SUMMARY_WIDTHS = (44, 14, 84)  # columns A, B, C of "Ringkasan", in characters


def _height(*cells: tuple[str, int]) -> float:
    """A row height (points) that shows wrapped texts of the given (text, width in characters)."""
    lines = 1
    for text, width in cells:
        if text:
            lines = max(lines, sum(max(1, math.ceil(len(part) * 0.95 / max(width, 1))) for part in text.split("\n")))
    return 15.0 * lines + 2


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
    recaps = bool(fb.recap_cells)
    if not registers and not recaps:  # nothing was read row by row: the message above is the whole story
        heading(s["next_steps"])
        text(s["next_steps_file"])
        if len(fb.sheets):
            _sheet_lines(fb, count, heading, s)
        return

    if registers:
        heading(s["counts"])
        for key in ("data_rows", "rows_staged", "rows_rejected", "rows_superseded", "rows_warned"):
            count(s[key], int(getattr(fb, key)))
    if recaps:
        heading(s["recap_counts"])
        for key in ("recap_cells", "recap_cells_staged", "recap_cells_rejected"):
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
    if recaps:
        text(s["legend_recap"].format(note_header=note_header))

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
        elif sheet.get("is_recap") in (True, 1):
            what = s["sheet_recap"].format(row=_int(sheet.get("header_row")), cells=_int(sheet.get("recap_cells")))
            rows = None
        else:
            what = render(sheet.get("reason") or "sheet_not_register", sheet=sheet["sheet"])
            rows = None
        if sheet.get("visible") is False or sheet.get("visible") == 0:
            what += s["sheet_hidden"]
        count(str(sheet["sheet"]), rows, what)


def _rule_counts(fb: FileFeedback) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for rules in [*fb.rejected.get("rules", []), *fb.recap_rejected.get("rules", [])]:
        for code in _as_list(rules):
            counts[code] = counts.get(code, 0) + 1
    order = list(catalogue())
    return sorted(counts.items(), key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else 999))


def _warning_counts(fb: FileFeedback) -> list[tuple[str, int]]:
    counts = fb.warnings["code"].value_counts() if len(fb.warnings) else pd.Series(dtype=int)
    return sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))


