"""Reading agency workbooks with calamine (in the guarded reader process, ingest/reader.py):
the container checked first, every sheet read lazily, and each sheet's rows handed to rows.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path

from pipeline.contract import Contract, load_contract
from pipeline.ingest.container import check_file
from pipeline.ingest.limits import SafetyLimits, UnreadableFile, check_area
from pipeline.ingest.recap import RecapTable, cell_name, find_recap
from pipeline.ingest.rows import (
    HEADER_SCAN_ROWS,
    MAX_CELL_CHARS,
    DataRow,
    Header,
    cell_text,
    extract_rows,
    find_header,
    title_lines,
)

READABLE_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
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
    recap: RecapTable | None = None  # a recap sheet's table of counts (ingest/recap.py)


@dataclass
class WorkbookResult:
    sheets: list[SheetResult]

    @property
    def registers(self) -> list[SheetResult]:
        return [s for s in self.sheets if s.is_register]


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
        recap = None
        if not empty and find_recap(head, contract, merges) is not None:  # the whole sheet only for a recap
            recap = find_recap(head + list(rows), contract, merges)
        if recap is not None:
            formulas = [cell_name(r, c) for line in recap.lines for _, r, c in line.cells
                        if (r - 1, c - 1) in (uncached or ())]
            return SheetResult(name, visible, False, recap=recap, uncached=formulas,
                               title=title_lines(head[:recap.header_row - recap.header_rows]))
        if empty:
            empty = not any(cell_text(v) is not None for r in rows for v in r)
        return SheetResult(name, visible, False, reason="sheet_not_register", empty=empty)
    formulas: list[str] = []
    data, totals, blanks, nils = extract_rows(chain(head, rows), header, contract, merges, uncached, formulas,
                                              last_row)
    return SheetResult(name, visible, True, header=header, rows=data, total_rows=totals, blank_rows=blanks,
                       uncached=formulas, title=title_lines(head[:header.row - header.rows]), nil_rows=nils)
