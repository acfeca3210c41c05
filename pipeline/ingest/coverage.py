"""The period a register sheet covers (data contract, section 8): a zero is not a missing export.

The period is found in this order, the first that applies winning: the title block above
the header, the sheet name, the file name, else the months from the earliest to the latest
report date of its rows. It never reaches past the export date ("Dicetak tanggal …" in the
title block, else the file's modification time). Rows dated outside a stated period still
load; the sheet then gets the warning `coverage_mismatch`, and its coverage is the stated
period plus the months of its rows. A sheet that covers a period and holds no data row is
a nil report (laporan nihil): its months are reported, with zero victims.

Pure functions; the words are data (contract.yaml `coverage` and `months`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pandas as pd

from pipeline.contract import Contract
from pipeline.staging.values import parse_date

EARLIEST = dt.date(2015, 1, 1)  # the contract's oldest report date
SOURCES = ("title", "sheet_name", "file_name", "rows")
ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass
class Coverage:
    """What one register sheet covers."""

    start: dt.date | None = None  # first day covered
    end: dt.date | None = None  # last day covered (capped at the export date)
    source: str | None = None  # title, sheet_name, file_name or rows
    export_date: dt.date | None = None
    export_source: str | None = None  # title or file_time
    stated: Period | None = None  # the period the sheet states, before capping
    months: list[str] = field(default_factory=list)  # months covered, YYYY-MM
    rows_outside: int = 0  # rows dated outside the stated period

    @property
    def mismatch(self) -> bool:
        return self.rows_outside > 0


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_between(start: dt.date, end: dt.date) -> list[str]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


# ---------------------------------------------------------------- the patterns, built from the contract's words

def _alt(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@dataclass(frozen=True)
class _Patterns:
    span: re.Pattern
    year_span: re.Pattern
    quarter: re.Pattern
    half: re.Pattern
    month_year: re.Pattern
    month_alone: re.Pattern
    month_word: re.Pattern
    year_word: re.Pattern
    year: re.Pattern
    dates: re.Pattern
    export: re.Pattern


_COMPILED: dict[int, tuple[Contract, _Patterns]] = {}


def _patterns(contract: Contract) -> _Patterns:
    """The patterns of a contract, compiled once per contract object."""
    hit = _COMPILED.get(id(contract))
    if hit is None or hit[0] is not contract:
        hit = _COMPILED[id(contract)] = (contract, _compile(contract))
    return hit[1]


def _compile(contract: Contract) -> _Patterns:
    words = contract.coverage_words
    month = rf"(?:{_alt(contract.months)})"
    year = r"(?:19|20)\d\d"
    sep = rf"\s*(?:{_alt(words['span_separators'])})\s*"
    years = _alt(words["year_words"])
    numeral = r"(iv|i{1,3}|[1-4])"
    b, e = r"(?<![a-z0-9])", r"(?![a-z0-9])"  # word edges that also hold next to _ and digits
    return _Patterns(
        span=re.compile(rf"{b}({month})\.?(?:\s+({year}))?{sep}({month})\.?\s*(?:{years})?\s*({year}){e}"),
        year_span=re.compile(rf"{b}({year}){sep}({year}){e}"),
        quarter=re.compile(rf"{b}(?:{_alt(words['quarter_words'])})\s*\.?\s*{numeral}{e}\s*(?:{years})?\s*({year}){e}"),
        half=re.compile(rf"{b}(?:{_alt(words['half_words'])})\s*\.?\s*{numeral}{e}\s*(?:{years})?\s*({year}){e}"),
        month_year=re.compile(rf"{b}({month})\.?\s*(?:{years})?\s*({year}){e}"),
        month_alone=re.compile(rf"^\s*(?:(?:{_alt(words['month_words'])})\s+)?({month})\.?\s*$"),
        month_word=re.compile(rf"{b}(?:{_alt(words['month_words'])})\s+({month}){e}"),
        year_word=re.compile(rf"{b}(?:{years})\s*\.?\s*({year}){e}"),
        year=re.compile(rf"{b}({year}){e}"),
        # full dates are not periods: "17 November 2025", "17/11/2025", "2025-11-17"
        dates=re.compile(rf"{b}\d{{1,2}}[\s/.\-]+(?:\d{{1,2}}|{month})\.?[\s/.\-]+\d{{2,4}}{e}|{b}\d{{4}}-\d{{1,2}}-\d{{1,2}}"),
        export=re.compile(rf"{b}(?:{_alt(words['export_markers'])})(?![a-z0-9])"),
    )


def _month(contract: Contract, name: str) -> int:
    return contract.months[name.lower().rstrip(".")]


def _numeral(text: str) -> int:
    return ROMAN.get(text) or int(text)


def find_period(text: str, contract: Contract, year_hint: int | None = None,
                whole_month: bool = False) -> Period | None:
    """The period one text states, the most specific kind first: a span of months, a quarter,
    a half-year, a month and year, a year. A month without a year takes `year_hint`; with
    `whole_month` (a sheet name) the text may be a month name alone ("Maret")."""
    p = _patterns(contract)
    t = p.dates.sub(" ", text.lower().replace("_", " "))
    if m := p.span.search(t):
        end_year = int(m[4])
        first, last = _month(contract, m[1]), _month(contract, m[3])
        start_year = int(m[2]) if m[2] else (end_year if first <= last else end_year - 1)
        return Period(dt.date(start_year, first, 1), month_end(end_year, last))
    if m := p.quarter.search(t):
        q, y = _numeral(m[1]), int(m[2])
        return Period(dt.date(y, 3 * q - 2, 1), month_end(y, 3 * q)) if 1 <= q <= 4 else None
    if m := p.half.search(t):
        h, y = _numeral(m[1]), int(m[2])
        return Period(dt.date(y, 6 * h - 5, 1), month_end(y, 6 * h)) if h in (1, 2) else None
    if m := p.month_year.search(t):
        y, mo = int(m[2]), _month(contract, m[1])
        return Period(dt.date(y, mo, 1), month_end(y, mo))
    if year_hint is not None:
        alone = p.month_alone.match(t) if whole_month else None
        named = alone or p.month_word.search(t)
        if named:
            mo = _month(contract, named[1])
            return Period(dt.date(year_hint, mo, 1), month_end(year_hint, mo))
    if m := p.year_span.search(t):
        return Period(dt.date(int(m[1]), 1, 1), dt.date(int(m[2]), 12, 31)) if m[1] <= m[2] else None
    if m := p.year_word.search(t) or p.year.search(t):
        y = int(m[1])
        return Period(dt.date(y, 1, 1), dt.date(y, 12, 31))
    return None


def _year_in(text: str, contract: Contract) -> int | None:
    p = _patterns(contract)
    m = p.year.search(p.dates.sub(" ", text.lower().replace("_", " ")))
    return int(m[1]) if m else None


def export_date(lines: list[str], contract: Contract) -> dt.date | None:
    """The export date a title block states: a date after "Dicetak", "Per tanggal", "Kondisi per"…"""
    p = _patterns(contract)
    for line in lines:
        low = line.lower()
        marker = p.export.search(low)
        if marker is None:
            continue
        rest = low[marker.end():]
        found = p.dates.search(rest)
        if found:
            day = parse_date(found.group(0), contract)
            if day is not None:
                return day
    return None


# ---------------------------------------------------------------- one sheet

def sheet_coverage(contract: Contract, *, title: list[str], sheet_name: str, file_name: str,
                   report_dates: list[str | None], modified: dt.date, today: dt.date) -> Coverage:
    """The coverage of one register sheet.

    title: the title block's lines; report_dates: the report-date cells of its data rows as
    written; modified: the file's modification date (the export date when the title gives
    none); today: the day of the run (later report dates are typos, not coverage).
    """
    p = _patterns(contract)
    exported = export_date(title, contract)
    cover = Coverage(export_date=exported or modified, export_source="title" if exported else "file_time")
    days = [d for d in (parse_date(t, contract) if t else None for t in report_dates)
            if d is not None and EARLIEST <= d <= today]
    rows_year = Counter(d.year for d in days).most_common(1)[0][0] if days else None
    periods = [line for line in title if not p.export.search(line.lower())]
    title_year = next((y for y in (_year_in(line, contract) for line in periods) if y), None)
    file_year = _year_in(file_name, contract)
    hint = title_year or file_year or rows_year
    stated, source = None, None
    # the title block: the most specific period any line states ("TAHUN 2024" and "BULAN MARET" -> March)
    found = [f for f in (find_period(line, contract, hint) for line in periods) if f]
    if found:
        stated, source = min(found, key=lambda f: f.end - f.start), "title"
    elif (f := find_period(sheet_name, contract, hint, whole_month=True)) is not None:
        stated, source = f, "sheet_name"
    elif (f := find_period(file_name.rsplit(".", 1)[0], contract, rows_year)) is not None:
        stated, source = f, "file_name"
    covered: set[str] = set()
    if stated is not None:
        cover.stated, cover.source = stated, source
        end = min(stated.end, cover.export_date) if cover.export_date else stated.end
        if end >= stated.start:
            covered.update(months_between(stated.start, end))
        cover.rows_outside = sum(not stated.contains(d) for d in days)
        outside = [d for d in days if not stated.contains(d)]
        covered.update(month_key(d) for d in outside)
    elif days:
        cover.source = "rows"
        covered.update(months_between(min(days), max(days)))
    if covered:
        cover.months = sorted(covered)
        first, last = cover.months[0], cover.months[-1]
        cover.start = dt.date(int(first[:4]), int(first[5:]), 1)
        cover.end = month_end(int(last[:4]), int(last[5:]))
        if stated is not None and cover.export_date and month_key(cover.export_date) == last:
            # the month of the export is covered up to the export date (or its latest row)
            cover.end = max([cover.export_date, *(d for d in days if month_key(d) == last)])
    return cover


def month_names(contract: Contract) -> list[str]:
    """The full Indonesian month names, January first (the first spelling contract.yaml lists)."""
    names: dict[int, str] = {}
    for name, number in contract.months.items():
        names.setdefault(number, name.capitalize())
    return [names[n] for n in range(1, 13)]


def describe(start: dt.date | None, end: dt.date | None, contract: Contract, lang: str = "id") -> str:
    """A period in words: 'Januari–Juni 2024', 'Maret 2023', '2023', 'Januari–Juli 2024 (s.d. 15)'."""
    if start is None or end is None:
        return "-"
    names = month_names(contract) if lang == "id" else [calendar.month_name[i] for i in range(1, 13)]
    full_end = end == month_end(end.year, end.month)
    if start.month == 1 and start.day == 1 and end.month == 12 and full_end:
        return str(start.year) if start.year == end.year else f"{start.year}–{end.year}"
    tail = f"{names[end.month - 1]} {end.year}" + ("" if full_end else f" (s.d. {end.day})" if lang == "id"
                                                   else f" (to day {end.day})")
    if (start.year, start.month) == (end.year, end.month):
        return tail
    return names[start.month - 1] + ("" if start.year == end.year else f" {start.year}") + "–" + tail


# ---------------------------------------------------------------- the frames of a load

def add_to_sheets(sheets: pd.DataFrame, results: list, file_name: str, mtime: float, timezone: str,
                  now: dt.datetime, contract: Contract) -> pd.DataFrame:
    """meta.sheets records (one per sheet, in the workbook's order) with each register sheet's coverage,
    and each recap sheet's stated period (its months come from its lines: staging/recap.py)."""
    modified = dt.datetime.fromtimestamp(int(mtime), ZoneInfo(timezone)).date()
    values: dict[str, list] = {c: [] for c in SHEET_FIELDS}
    for sheet in results:
        cover = None
        if sheet.is_register or sheet.recap is not None:
            column = sheet.header.columns.get("report_date") if sheet.header else None
            dates = [row.values.get("report_date") for row in sheet.rows] if column is not None else []
            cover = sheet_coverage(contract, title=sheet.title, sheet_name=sheet.name, file_name=file_name,
                                   report_dates=dates, modified=modified, today=now.date())
            if sheet.recap is not None:  # what a recap sheet states of itself; no month is covered by it
                cover = Coverage(source=cover.source if cover.stated else None, export_date=cover.export_date,
                                 export_source=cover.export_source, stated=cover.stated)
        for name, value in _fields(cover, sheet).items():
            values[name].append(value)
    out = sheets.copy()
    for name, column in values.items():
        out[name] = pd.Series(column, index=out.index, dtype=object)
    return out


SHEET_FIELDS = ("period_start", "period_end", "coverage_start", "coverage_end", "coverage_source",
                "coverage_months", "export_date", "export_date_source", "rows_outside_period", "nil_rows",
                "nil_report")


def _fields(cover: Coverage | None, sheet) -> dict[str, object]:
    if cover is None:
        return dict.fromkeys(SHEET_FIELDS) | {"coverage_months": [], "nil_rows": sheet.nil_rows,
                                              "nil_report": False}
    return {"period_start": cover.stated.start if cover.stated else None,
            "period_end": cover.stated.end if cover.stated else None,
            "coverage_start": cover.start, "coverage_end": cover.end, "coverage_source": cover.source,
            "coverage_months": cover.months, "export_date": cover.export_date,
            "export_date_source": cover.export_source, "rows_outside_period": cover.rows_outside,
            "nil_rows": sheet.nil_rows, "nil_report": not sheet.rows and bool(cover.months) and sheet.is_register}


def _registers(sheets: pd.DataFrame) -> pd.DataFrame:
    return sheets[sheets["is_register"].astype(bool)] if len(sheets) else sheets


def is_nil_report(sheets: pd.DataFrame) -> bool:
    """A file whose every register sheet is a nil report (ledger status nil_report). A blank form
    (a register sheet with no period, no data row and no NIHIL row, such as the template's
    register sheet beside its filled nil-report sheet) says nothing and does not count."""
    registers = _registers(sheets)
    if not len(registers) or "nil_report" not in registers:
        return False
    blank = [(months is None or len(months) == 0) and not rows and not nils for months, rows, nils in
             zip(registers["coverage_months"], registers["data_rows"].fillna(0), registers["nil_rows"].fillna(0))]
    said = registers[[not b for b in blank]]
    return len(said) > 0 and bool(said["nil_report"].fillna(False).all())


def _months(registers: pd.DataFrame) -> list[str]:
    if "coverage_months" not in registers:
        return []
    return sorted({m for months in registers["coverage_months"] if months is not None for m in months})


def of_file(registers: pd.DataFrame) -> dict[str, object]:
    """The ledger's coverage columns of one file, from its register sheets."""
    if not len(registers) or "coverage_start" not in registers:
        return {"coverage_start": None, "coverage_end": None, "months_covered": 0, "export_date": None}
    starts, ends = registers["coverage_start"].dropna(), registers["coverage_end"].dropna()
    exports = registers["export_date"].dropna()
    return {"coverage_start": min(starts) if len(starts) else None, "coverage_end": max(ends) if len(ends) else None,
            "months_covered": len(_months(registers)), "export_date": max(exports) if len(exports) else None}


def file_period(registers: pd.DataFrame) -> tuple[str, str]:
    """The period a file covers in words, Indonesian and English ('Agustus 2023')."""
    from pipeline.contract import load_contract

    found = of_file(registers)
    contract = load_contract()
    return (describe(found["coverage_start"], found["coverage_end"], contract),
            describe(found["coverage_start"], found["coverage_end"], contract, "en"))


def with_mismatch_warnings(warnings: pd.DataFrame, staged: pd.DataFrame, sheets: pd.DataFrame) -> pd.DataFrame:
    """The cell warnings plus one `coverage_mismatch` per staged row dated outside its sheet's stated period."""
    from pipeline.contract import load_contract
    from pipeline.messages import render

    if not len(staged) or not len(sheets) or "period_start" not in sheets:
        return warnings
    periods = sheets.loc[sheets["is_register"].astype(bool) & sheets["period_start"].notna(),
                         ["path", "sheet", "period_start", "period_end", "columns"]]
    if periods.empty:
        return warnings
    rows = staged[["agency", "_source_file", "_source_sheet", "_source_row", "report_date", "_load_id"]].merge(
        periods, left_on=["_source_file", "_source_sheet"], right_on=["path", "sheet"])
    day = pd.to_datetime(rows["report_date"])
    rows = rows[(day < pd.to_datetime(rows["period_start"])) | (day > pd.to_datetime(rows["period_end"]))]
    if rows.empty:
        return warnings
    contract = load_contract()
    records = []
    for r in rows.to_dict("records"):  # (itertuples renames the lineage columns: they start with _)
        header = json.loads(r["columns"]).get("report_date", "report_date") if r["columns"] else "report_date"
        value = pd.Timestamp(r["report_date"]).date().isoformat()
        args = dict(value=value, header=header)
        period = (r["period_start"], r["period_end"])
        records.append({
            "agency": r["agency"], "_source_file": r["_source_file"], "_source_sheet": r["_source_sheet"],
            "_source_row": r["_source_row"], "column": "report_date", "header": header, "value": value,
            "code": "coverage_mismatch",
            "message": render("coverage_mismatch", period=describe(*period, contract), **args),
            "message_en": render("coverage_mismatch", "en", period=describe(*period, contract, "en"), **args),
            "_load_id": r["_load_id"]})
    found = pd.DataFrame.from_records(records, columns=warnings.columns)
    return pd.concat([warnings, found], ignore_index=True) if len(warnings) else found
