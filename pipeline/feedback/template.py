"""The standard register template (`ppa template`): an .xlsx with the contract's headers and
drop-down lists of the vocabularies, for agencies that want to start from a clean register,
and a nil-report sheet (laporan nihil) for a month without a case.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.config import SCHEMAS_DIR
from pipeline.contract import load_contract
from pipeline.feedback.files import _atomic_save_workbook
from pipeline.feedback.sheet import put
from pipeline.feedback.summary import _height
from pipeline.feedback.words import texts
from pipeline.feedback.workbook import _letter, _print_setup
from pipeline.registry import Agency, get_agency

# ---------------------------------------------------------------- the register template

NIL_PERIOD_ROW, NIL_HEADER_ROW = 3, 5  # the nil-report sheet: the period beside 'Periode:', the header

def write_template(agency: Agency | str, path: Path) -> Path:
    """A blank register with the standard headers, drop-down lists, a nil-report sheet and a notes sheet."""
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

    _nil_sheet(wb, ag, t, [headers[c] for c in order])

    notes = wb.create_sheet(t["notes_sheet"], 2)
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


def _nil_sheet(wb, ag: Agency, t: dict, headers: list[str]) -> None:
    """The nil-report sheet (laporan nihil): staff write the period beside 'Periode:' and keep the
    NIHIL row; the pipeline reads it as a register sheet that covers that period with no case
    (ledger status nil_report, its months reported_zero). No example period is written in its
    title block: any month and year there would be read as the period."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    ws = wb.create_sheet(t["nil_sheet"], 1)
    put(ws, 1, 1, t["nil_title"]).font = Font(bold=True, size=14)
    put(ws, 2, 1, ag.name).font = Font(bold=True, size=12)
    put(ws, NIL_PERIOD_ROW, 1, t["nil_period_label"]).font = Font(bold=True)
    period = ws.cell(row=NIL_PERIOD_ROW, column=2)
    period.fill = PatternFill("solid", fgColor="FFEB9C")
    prompt = DataValidation(allow_blank=True, showInputMessage=True, promptTitle=t["nil_period_label"][:32],
                            prompt=t["nil_period_prompt"][:255])
    prompt.add(period.coordinate)
    ws.add_data_validation(prompt)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for c, header in enumerate(headers, 1):
        cell = put(ws, NIL_HEADER_ROW, c, header)
        cell.font, cell.fill = Font(bold=True), fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[_letter(c)].width = max(12, min(28, len(header) + 3))
    ws.column_dimensions["B"].width = 30
    put(ws, NIL_HEADER_ROW + 1, 1, t["nil_marker"]).font = Font(bold=True)
    _print_setup(ws, landscape=True)


def write_recap_template(agency: Agency | str, path: Path) -> Path:
    """A blank recap sheet (data contract, section 9): months down the side; victims by sex, by
    age class and by form, and the totals of victims and cases across the top, in a two-row
    header that the pipeline reads as it reads an agency's own recap."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    ag = agency if isinstance(agency, Agency) else get_agency(agency)
    t = texts()["recap_template"]
    h = t["headers"]
    data = yaml.safe_load((SCHEMAS_DIR / "contract.yaml").read_text(encoding="utf-8"))
    forms = [str(labels[0]).title() for labels in data["vocabularies"]["violence_forms"].values()]
    groups = [(t["month"], [None]), (t["sex"], [h["L"], h["P"]]), (t["age"], [h["ANAK"], h["DEWASA"]]),
              (t["forms"], forms), (h["victims"], [None]), (h["cases"], [None])]
    wb = Workbook()
    ws = wb.active
    ws.title = t["sheet_name"]
    put(ws, 1, 1, t["title"]).font = Font(bold=True, size=14)
    put(ws, 2, 1, ag.name).font = Font(bold=True, size=12)
    put(ws, 3, 1, t["note"]).alignment = Alignment(wrap_text=False)
    upper, lower, fill = 5, 6, PatternFill("solid", fgColor="DDEBF7")
    c = 1
    for group, names in groups:
        cell = put(ws, upper, c, group)
        if names == [None]:  # one column: its header over both rows
            ws.merge_cells(start_row=upper, start_column=c, end_row=lower, end_column=c)
        else:
            ws.merge_cells(start_row=upper, start_column=c, end_row=upper, end_column=c + len(names) - 1)
            for i, name in enumerate(names):
                put(ws, lower, c + i, name)
        cell.font, cell.fill = Font(bold=True), fill
        c += len(names)
    last_col = c - 1
    for col in range(1, last_col + 1):
        ws.cell(row=lower, column=col).font = Font(bold=True)
        ws.cell(row=lower, column=col).alignment = Alignment(wrap_text=True, vertical="center")
        ws.column_dimensions[_letter(col)].width = 14 if col == 1 else 11
    for r, number in enumerate(sorted(data["months"], key=int), lower + 1):
        put(ws, r, 1, str(data["months"][number][0]).title())
    dv = DataValidation(type="whole", operator="between", formula1="0", formula2="100000", allow_blank=True,
                        showErrorMessage=True, errorStyle="stop", showInputMessage=True,
                        prompt=t["prompt"][:255], error=t["prompt"][:255])
    dv.add(f"B{lower + 1}:{_letter(last_col)}{lower + 12}")
    ws.add_data_validation(dv)
    ws.freeze_panes = ws.cell(row=lower + 1, column=2)
    _print_setup(ws, landscape=True)
    path = Path(path)
    _atomic_save_workbook(wb, path)
    return path


def contract_header(column: str) -> str:
    """The first header synonym of a column in contract.yaml, capitalised."""
    data = yaml.safe_load((SCHEMAS_DIR / "contract.yaml").read_text(encoding="utf-8"))
    return str(data["columns"][column]["headers"][0]).title()
