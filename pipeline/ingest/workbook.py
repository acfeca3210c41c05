"""Reading agency workbooks: find register sheets and their header, map the
columns through contract.yaml, and return the data rows as text.

Pure functions, no Dagster. Personal-data columns are dropped here, as the file
is read, and personal data typed into a kept column is masked here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, islice
from pathlib import Path

from pipeline import privacy
from pipeline.contract import Contract, load_contract, norm_header, norm_value
from pipeline.ingest.container import check_file
from pipeline.ingest.limits import SafetyLimits, UnreadableFile, check_area, column_letters

READABLE_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
HEADER_SCAN_ROWS = 30
MAX_CELL_CHARS = 32_767  # Excel's limit for one cell; a file written by a script can hold more


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
    cut: list[str] = field(default_factory=list)  # columns whose text was cut to MAX_CELL_CHARS


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
    uncached: list[str] = field(default_factory=list)  # data cells holding a formula saved without its value
    empty: bool = False  # the sheet holds no value at all
    title: list[str] = field(default_factory=list)  # the title block above the header, a line per row
    nil_rows: int = 0  # rows saying NIHIL / "Tidak ada kasus": a nil report, not data


@dataclass
class WorkbookResult:
    sheets: list[SheetResult]

    @property
    def registers(self) -> list[SheetResult]:
        return [s for s in self.sheets if s.is_register]


def cell_text(value: object) -> str | None:
    """A cell as text, the way the file wrote it. Dates become ISO text.

    Text is cut to MAX_CELL_CHARS before anything looks at it (mapping, masking), so
    the work per cell is bounded whatever the file holds.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > MAX_CELL_CHARS:
            value = value[:MAX_CELL_CHARS]
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
    singles: dict[int, Header] = {}

    def single(r: int) -> Header:  # each row mapped once, and only as far as the search goes
        if r not in singles:
            singles[r] = _map_header([rows[r]], r, contract)
        return singles[r]

    for r in range(limit):
        if r + 1 < len(rows):
            double = _map_header([rows[r], rows[r + 1]], r + 1, contract)
            # a two-row header only when the pair names more columns than either row alone
            if _is_register(double, contract) and len(double.columns) > max(
                    len(single(r).columns), len(single(r + 1).columns)):
                return double
        if _is_register(single(r), contract):
            return single(r)
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


def extract_rows(rows: Iterable[list[object]], header: Header, contract: Contract,
                 merges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None,
                 uncached: set[tuple[int, int]] | None = None,
                 formulas: list[str] | None = None, last_row: int | None = None
                 ) -> tuple[list[DataRow], int, int, int]:
    """Data rows below the header, and the total, blank and nil rows (not data) skipped.

    `rows` is the whole sheet from its first row, read lazily. A value merged over
    several data rows counts for each of them (in the merge's first column).
    `uncached` holds (row, column), 0-based, of formulas saved without a value; the
    ones in a kept column of a data row are added to `formulas` as cell names.
    """
    data: list[DataRow] = []
    totals = blanks = nils = 0
    first = header.row - header.rows
    header_rows: list[list[object]] = []
    personal_idx: list[int] = []
    identity_idx: int | None = None
    fill = _MergeFill(merges or [], header.row, last_row)
    for i, raw in enumerate(rows):
        if i < header.row:
            if i >= first:
                header_rows.append(raw)
                if i == header.row - 1:
                    personal_idx, identity_idx = _personal_indexes(header_rows, header, contract)
            continue
        if fill:
            raw = fill(raw, i)
        if any(_is_total(v, contract.total_markers) for v in raw if isinstance(v, str)):
            totals += 1
            continue
        if _is_nil(raw, contract.nil_markers):
            nils += 1
            continue
        if uncached and formulas is not None:
            formulas.extend(f"{column_letters(c + 1)}{i + 1}" for c in header.columns.values()
                            if (i, c) in uncached)
        values: dict[str, str | None] = {}
        masked: list[str] = []
        cut: list[str] = []
        for column, c in header.columns.items():
            value = raw[c] if c < len(raw) else None
            text = cell_text(value)
            if text is not None:
                if len(text) == MAX_CELL_CHARS and isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                    cut.append(column)
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
        data.append(DataRow(row=i + 1, values=values, masked=masked, identity=identity, cut=cut))
    return data, totals, blanks, nils


def _is_nil(raw: list[object], markers: frozenset[str]) -> bool:
    """A row whose first non-empty cell says NIHIL, "Tidak ada kasus" or "0 kasus" (contract section 8)."""
    first = next((t for t in (cell_text(v) for v in raw) if t is not None), None)
    return first is not None and norm_value(first) in markers


def title_lines(rows: list[list[object]]) -> list[str]:
    """Rows of a title block as lines of text, cells joined by spaces."""
    lines = (" ".join(t.strip() for t in (cell_text(v) for v in row) if t) for row in rows)
    return [line for line in lines if line]


@lru_cache(maxsize=4096)
def _is_total(text: str, markers: frozenset[str]) -> bool:
    """A text cell that marks a total row ("Jumlah", "TOTAL"); the same texts recur in every row."""
    return norm_value(cell_text(text)) in markers


class _MergeFill:
    """Copies the value of a merge over several data rows into the rows it covers (first column only)."""

    def __init__(self, merges: list[tuple[tuple[int, int], tuple[int, int]]], first_data: int,
                 last_row: int | None = None, max_cells: int = 1_000_000):
        self.tops: dict[int, list[int]] = {}  # top row -> columns to remember
        self.covered: dict[int, list[tuple[int, int]]] = {}  # row -> [(column, top row)]
        self.values: dict[tuple[int, int], object] = {}
        cells = 0
        for (r0, c0), (r1, _c1) in set(merges):
            if last_row is not None:  # a merge may reach far below the last value: stop there
                r1 = min(r1, last_row)
            if r1 > r0 and r0 >= first_data:
                cells += r1 - r0
                if cells > max_cells:  # overlapping merges, made to exhaust memory
                    raise UnreadableFile("sheet_too_many_merges")
                self.tops.setdefault(r0, []).append(c0)
                for r in range(r0 + 1, r1 + 1):
                    self.covered.setdefault(r, []).append((c0, r0))

    def __bool__(self) -> bool:
        return bool(self.covered)

    def __call__(self, raw: list[object], i: int) -> list[object]:
        for c in self.tops.get(i, ()):
            self.values[(i, c)] = raw[c] if c < len(raw) else None
        for c, top in self.covered.get(i, ()):
            if c >= len(raw):
                raw = list(raw) + [""] * (c + 1 - len(raw))
            if cell_text(raw[c]) is None:
                raw[c] = self.values.get((top, c))
        return raw


def _personal_indexes(header_rows: list[list[object]], header: Header, contract: Contract) -> tuple[list[int], int | None]:
    """Columns of personal data, and the first that identifies a person (a NIK)."""
    width = max((len(r) for r in header_rows), default=0)
    out, identity = [], None
    for c in range(width):
        texts = [cell_text(r[c]) if c < len(r) else None for r in header_rows]
        name = texts[-1] or texts[0]
        if name and privacy.is_personal_header(norm_header(name), contract.personal_headers):
            out.append(c)
            if identity is None and norm_header(name) in contract.identity_headers:
                identity = c
    return out, identity


def read_workbook(path: Path, contract: Contract | None = None, max_rows: int = 200_000,
                  limits: SafetyLimits | None = None) -> WorkbookResult:
    """Read every sheet of a workbook; raise UnreadableFile when it is not one, or not a safe one.

    The container is checked first (check_file: size when unpacked, XML
    declarations, each sheet's used area), so calamine never opens a hostile file.
    Rows are read one at a time, so memory follows the sheet's used area, not its
    copy as Python lists.
    """
    contract = contract or load_contract()
    import python_calamine as pc

    if path.suffix.lower() not in READABLE_SUFFIXES:
        raise UnreadableFile("format_unsupported", path.suffix)
    limits = limits or SafetyLimits.from_env(max_rows)
    container = check_file(path, limits)
    try:
        if container.matches(path.suffix):
            workbook = pc.CalamineWorkbook.from_path(str(path))
        else:  # e.g. an .xlsx saved under an .xls name: calamine picks its reader by content
            with open(path, "rb") as handle:
                workbook = pc.CalamineWorkbook.from_filelike(handle)
    except pc.PasswordError as exc:
        raise UnreadableFile("file_password", str(exc)) from None
    except Exception as exc:  # the container looked right, but calamine cannot read it
        raise UnreadableFile("file_damaged", f"{type(exc).__name__}: {str(exc)[:120]}") from None
    sheets: list[SheetResult] = []
    formulas: list[str] = []
    try:
        for meta in workbook.sheets_metadata:
            visible = meta.visible == pc.SheetVisibleEnum.Visible
            area = container.sheets.get(meta.name)
            try:
                sheet = workbook.get_sheet_by_name(meta.name)
                _check_loaded(meta.name, sheet, limits)
                uncached = {(r - 1, c - 1) for r, c in area.uncached} if area else set()
                result = read_sheet(meta.name, visible, sheet_rows(sheet), contract,
                                    merges=sheet.merged_cell_ranges or [], uncached=uncached,
                                    last_row=sheet.end[0] if sheet.end else 0)
            except UnreadableFile as exc:
                raise exc if exc.detail else UnreadableFile(exc.code, meta.name) from None
            except pc.PasswordError as exc:
                raise UnreadableFile("file_password", str(exc)) from None
            except Exception:
                sheets.append(SheetResult(meta.name, visible, False, reason="sheet_unreadable"))
                continue
            formulas.extend(f"{meta.name}!{cell}" for cell in result.uncached)
            sheets.append(result)
    finally:
        workbook.close()
    if formulas:
        more = f" (+{len(formulas) - 5})" if len(formulas) > 5 else ""
        raise UnreadableFile("formula_not_calculated", ", ".join(formulas[:5]) + more)
    if sheets and all(s.empty for s in sheets):
        raise UnreadableFile("workbook_empty")
    return WorkbookResult(sheets)


def sheet_values(path: Path, max_rows: int, checked: bool = False) -> list[tuple[str, bool, list[list] | None]]:
    """Every sheet's name, visibility and first `max_rows` rows of values (None when that sheet
    cannot be read), text cut to MAX_CELL_CHARS: the agency's sheets copied into its feedback.

    `checked`: these bytes passed the container checks already. Raises UnreadableFile when the
    file cannot be opened.
    """
    import python_calamine as pc

    if not checked:
        check_file(path)
    try:
        workbook = pc.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # password, damaged, not a workbook
        raise UnreadableFile("file_damaged", f"{type(exc).__name__}") from None
    out = []
    try:
        for meta in workbook.sheets_metadata:
            try:
                rows = workbook.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)[:max_rows]
                rows = [[v[:MAX_CELL_CHARS] if isinstance(v, str) else v for v in r] for r in rows]
            except Exception:
                rows = None
            out.append((meta.name, meta.visible == pc.SheetVisibleEnum.Visible, rows))
    finally:
        workbook.close()
    return out


def _check_loaded(name: str, sheet, limits: SafetyLimits) -> None:
    """Limits on a sheet calamine has read (.xls has no area check before; the format caps it)."""
    rows, cols = (sheet.end[0] + 1, sheet.end[1] + 1) if sheet.end else (0, 0)
    check_area(name, rows, cols, limits)


def sheet_rows(sheet) -> Iterator[list[object]]:
    """A calamine sheet's rows one at a time, each from column A, from row 1 (as Excel numbers them).

    python-calamine's iter_rows starts at row 1 but at the first used column;
    tests/test_hostile.py checks that this equals to_python(skip_empty_area=False).
    """
    if sheet.start is None:
        return
    pad = [""] * sheet.start[1]
    for row in sheet.iter_rows():
        yield pad + row if pad else row


def read_sheet(name: str, visible: bool, rows: Iterable[list[object]], contract: Contract,
               merges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None,
               uncached: set[tuple[int, int]] | None = None, last_row: int | None = None) -> SheetResult:
    """One sheet: its header and data rows. `rows` may be a list or a lazy iterator."""
    rows = iter(rows)
    head = list(islice(rows, HEADER_SCAN_ROWS + 1))
    empty = not any(cell_text(v) is not None for r in head for v in r)
    header = find_header(head, contract)
    if header is None:
        if empty:
            empty = not any(cell_text(v) is not None for r in rows for v in r)
        return SheetResult(name, visible, False, reason="sheet_not_register", empty=empty)
    formulas: list[str] = []
    data, totals, blanks, nils = extract_rows(chain(head, rows), header, contract, merges, uncached, formulas,
                                              last_row)
    return SheetResult(name, visible, True, header=header, rows=data, total_rows=totals, blank_rows=blanks,
                       uncached=formulas, title=title_lines(head[:header.row - header.rows]), nil_rows=nils)
