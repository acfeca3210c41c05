"""Reading agency workbooks: find register sheets and their header, map the
columns through contract.yaml, and return the data rows as text.

Pure functions, no Dagster. Personal-data columns are dropped here, as the file
is read, and personal data typed into a kept column is masked here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import privacy
from pipeline.contract import Contract, load_contract, norm_header, norm_value

READABLE_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
HEADER_SCAN_ROWS = 30


class UnreadableFile(Exception):
    """The file cannot be read as a workbook. `code` names a message in the catalogue."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


@dataclass
class Header:
    row: int  # Excel row number of the (lower) header row
    rows: int  # 1 or 2
    columns: dict[str, int]  # canonical column -> 0-based column index
    written: dict[str, str]  # canonical column -> header as the agency wrote it
    unknown: list[str]  # headers that matched nothing (names only)
    personal: list[str]  # personal-data headers dropped
    duplicates: list[str]  # headers naming a column already taken


@dataclass
class DataRow:
    row: int  # Excel row number
    values: dict[str, str | None]  # canonical column -> text as written (masked)
    masked: list[str] = field(default_factory=list)  # kinds of personal data masked
    identity: str | None = None  # keyed hash of the victim's NIK, never the NIK


@dataclass
class SheetResult:
    name: str
    visible: bool
    is_register: bool
    reason: str = ""  # why a sheet was skipped (a message code)
    header: Header | None = None
    rows: list[DataRow] = field(default_factory=list)
    total_rows: int = 0  # JUMLAH / TOTAL rows skipped
    blank_rows: int = 0  # rows with nothing in a recognised column


@dataclass
class WorkbookResult:
    sheets: list[SheetResult]

    @property
    def registers(self) -> list[SheetResult]:
        return [s for s in self.sheets if s.is_register]


def cell_text(value: object) -> str | None:
    """A cell as text, the way the file wrote it. Dates become ISO text."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e17:
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def find_header(rows: list[list[object]], contract: Contract) -> Header | None:
    """The first row (or pair of rows) that names a register's required columns."""
    limit = min(len(rows), HEADER_SCAN_ROWS)
    singles = [_map_header([rows[r]], r, contract) for r in range(min(len(rows), limit + 1))]
    for r in range(limit):
        if r + 1 < len(singles):
            double = _map_header([rows[r], rows[r + 1]], r + 1, contract)
            # a two-row header only when the pair names more columns than either row alone
            if _is_register(double, contract) and len(double.columns) > max(
                    len(singles[r].columns), len(singles[r + 1].columns)):
                return double
        if _is_register(singles[r], contract):
            return singles[r]
    return None


def _is_register(header: Header, contract: Contract) -> bool:
    cols = header.columns
    return all(c in cols for c in contract.register_all) and any(c in cols for c in contract.register_any)


def _map_header(header_rows: list[list[object]], last_index: int, contract: Contract) -> Header:
    width = max(len(r) for r in header_rows)
    columns: dict[str, int] = {}
    written: dict[str, str] = {}
    unknown: list[str] = []
    personal: list[str] = []
    duplicates: list[str] = []
    for c in range(width):
        texts = [cell_text(r[c]) if c < len(r) else None for r in header_rows]
        # in a two-row header the lower cell names the column; the upper is a group label
        name = texts[-1] if texts[-1] else (texts[0] if len(texts) > 1 else None)
        if not name:
            continue
        key = norm_header(name)
        column = contract.header_to_column.get(key)
        if column is None:
            if privacy.is_personal_header(key, contract.personal_headers):
                personal.append(name.strip())
            else:
                unknown.append(name.strip())
        elif column in columns:
            duplicates.append(name.strip())
        else:
            columns[column] = c
            written[column] = name.strip()
    return Header(
        row=last_index + 1,
        rows=len(header_rows),
        columns=columns,
        written=written,
        unknown=unknown,
        personal=personal,
        duplicates=duplicates,
    )


def extract_rows(rows: list[list[object]], header: Header, contract: Contract) -> tuple[list[DataRow], int, int]:
    """Data rows below the header; blank rows and total rows are not data."""
    data: list[DataRow] = []
    totals = blanks = 0
    personal_idx, identity_idx = _personal_indexes(rows, header, contract)
    for i in range(header.row, len(rows)):
        raw = rows[i]
        if any(norm_value(cell_text(v)) in contract.total_markers for v in raw if isinstance(v, str)):
            totals += 1
            continue
        values: dict[str, str | None] = {}
        masked: list[str] = []
        for column, c in header.columns.items():
            text = cell_text(raw[c]) if c < len(raw) else None
            if text is not None:
                text, kinds = privacy.mask(text)
                masked.extend(kinds)
            values[column] = text
        has_personal = any(c < len(raw) and cell_text(raw[c]) is not None for c in personal_idx)
        if all(v is None for v in values.values()) and not has_personal:
            blanks += 1
            continue
        identity = None
        if identity_idx is not None and identity_idx < len(raw):
            identity = privacy.identity_key(raw[identity_idx])
        data.append(DataRow(row=i + 1, values=values, masked=masked, identity=identity))
    return data, totals, blanks


def _personal_indexes(rows: list[list[object]], header: Header, contract: Contract) -> tuple[list[int], int | None]:
    """Columns of personal data, and the first that identifies a person (a NIK)."""
    first = header.row - header.rows
    width = max((len(r) for r in rows[first : header.row]), default=0)
    out, identity = [], None
    for c in range(width):
        texts = [cell_text(r[c]) if c < len(r) else None for r in rows[first : header.row]]
        name = texts[-1] or texts[0]
        if name and privacy.is_personal_header(norm_header(name), contract.personal_headers):
            out.append(c)
            if identity is None and norm_header(name) in contract.identity_headers:
                identity = c
    return out, identity


def read_workbook(path: Path, contract: Contract | None = None, max_rows: int = 200_000) -> WorkbookResult:
    """Read every sheet of a workbook; raise UnreadableFile when it is not one."""
    contract = contract or load_contract()
    import python_calamine as pc

    if path.suffix.lower() not in READABLE_SUFFIXES:
        raise UnreadableFile("format_unsupported", path.suffix)
    try:
        workbook = pc.CalamineWorkbook.from_path(str(path))
    except pc.PasswordError as exc:
        raise UnreadableFile("file_password", str(exc)) from None
    except Exception as exc:  # calamine raises many kinds for broken files
        raise UnreadableFile("file_unreadable", type(exc).__name__) from None
    sheets: list[SheetResult] = []
    try:
        for meta in workbook.sheets_metadata:
            visible = meta.visible == pc.SheetVisibleEnum.Visible
            try:
                sheet = workbook.get_sheet_by_name(meta.name)
                if sheet.total_height > max_rows + HEADER_SCAN_ROWS:
                    raise UnreadableFile("sheet_too_many_rows", f"{meta.name}: {sheet.total_height}")
                rows = sheet.to_python(skip_empty_area=False)
            except UnreadableFile:
                raise
            except Exception as exc:
                sheets.append(SheetResult(meta.name, visible, False, reason="sheet_unreadable"))
                continue
            sheets.append(read_sheet(meta.name, visible, rows, contract))
    finally:
        workbook.close()
    return WorkbookResult(sheets)


def read_sheet(name: str, visible: bool, rows: list[list[object]], contract: Contract) -> SheetResult:
    header = find_header(rows, contract)
    if header is None:
        return SheetResult(name, visible, False, reason="sheet_not_register")
    data, totals, blanks = extract_rows(rows, header, contract)
    return SheetResult(name, visible, True, header=header, rows=data, total_rows=totals, blank_rows=blanks)
