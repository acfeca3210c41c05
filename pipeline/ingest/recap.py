"""Recap sheets as the file wrote them (data contract, section 9): tables of counts instead
of cases. Pure functions over rows, run in the guarded reader process beside rows.py.

A sheet with no register header is a recap when, within its first rows, a header row (or
two: the lower cell names a column, the upper is its group label) names count columns (a
form of violence, a sex, children or adults, a total) and the column left of them labels
the lines: headed by a period or kecamatan word, or holding periods. Turned the other way,
a header naming periods (months, years, quarters) over lines that name count categories is
read turned, so that its lines are periods too. The lines run down to the first JUMLAH /
TOTAL line, which is the sum of the lines above it.

What is found here is text: every count cell as written, with its address, and the
category its column names (contract.yaml `recap`). What the labels mean (which month,
which kecamatan) and whether a count is a whole number is staging's (staging/recap.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline import privacy
from pipeline.contract import Contract, norm_header, norm_value
from pipeline.ingest.limits import column_letters
from pipeline.ingest.rows import HEADER_SCAN_ROWS, cell_text

_YEAR = re.compile(r"(?:19|20)\d\d")
_NUMERAL = re.compile(r"(?:iv|i{1,3}|[1-4])")


@dataclass
class RecapColumn:
    header: str  # as written: the lower cell of a two-row header, else the upper one
    group: str | None  # the upper cell over it (a group label such as "Jenis Kelamin"), when another
    dimension: str  # total, victim_sex, age_class or violence_form
    category: str | None  # L, P, ANAK, DEWASA, a form; None for the total
    measure: str  # victims, or cases when its header says "kasus"


@dataclass
class RecapLine:
    label: str | None  # as written: a month, a year, a kecamatan, JUMLAH
    group: str | None  # the group label over the label (a turned table: the year over its months)
    total: bool  # a JUMLAH / TOTAL line: the sum of the lines above it
    row: int  # the Excel row of the line (of a turned table: of its header)
    label_cell: str  # where the label is, e.g. "B7"
    cells: list[tuple[str | None, int, int]]  # per column: (text as written, Excel row, Excel column)


@dataclass
class RecapTable:
    axis: str  # what the lines are: "period" or "kecamatan"
    turned: bool  # the periods ran across the top: read turned
    header_row: int  # Excel row of the (lower) header row
    header_rows: int  # 1 or 2
    label_header: str | None  # the header of the label column, as written
    columns: list[RecapColumn]
    lines: list[RecapLine]
    unknown: list[str] = field(default_factory=list)  # headers (or turned: labels) naming no count

    @property
    def cells(self) -> int:
        return sum(len(line.cells) for line in self.lines)


def cell_name(row: int, col: int) -> str:
    """An Excel cell name: (7, 2) -> "B7"."""
    return f"{column_letters(col)}{row}"


def recap_column(text: str | None, group: str | None, contract: Contract) -> tuple[str, str | None, str] | None:
    """(dimension, category, measure) of a count column's header, or None when it names none.

    The words that only say what is counted ("Jumlah", "Korban", "Kasus") are taken out
    first; nothing left is the total. A "kasus" in the header or its group label counts cases.
    """
    words = contract.recap
    if not text:
        return None
    key = norm_header(text)
    tokens = key.split()
    measure = "cases" if any(t in words.case_words for t in tokens + norm_header(group).split()) else "victims"
    found = words.categories.get(key)
    if found is None:
        rest = " ".join(t for t in tokens if t not in words.count_words)
        found = ("total", None) if not rest else words.categories.get(rest)
    return None if found is None else (*found, measure)


def period_like(text: str | None, contract: Contract) -> bool:
    """A label that names a period: a month ("Januari", "Jan 2024"), a year, a quarter or a half year."""
    tokens = norm_header(text).split()
    if not tokens:
        return False
    first = tokens[0]
    if first in contract.months or _YEAR.fullmatch(first):
        return True
    words = contract.coverage_words
    spans = set(words.get("quarter_words", ())) | set(words.get("half_words", ()))
    return first in spans and len(tokens) > 1 and bool(_NUMERAL.fullmatch(tokens[1]))


def _is_total(text: str | None, contract: Contract) -> bool:
    return text is not None and norm_value(text) in contract.total_markers


def _masked(text: str | None) -> str | None:
    return None if text is None else privacy.mask(text.strip())[0]


def _header_grid(rows: list[list[object]], first: int, last: int,
                 merges: list[tuple[tuple[int, int], tuple[int, int]]]) -> list[list[str | None]]:
    """The texts of header rows first..last (0-based), a merged value in every cell it covers."""
    grid = [[cell_text(v) for v in rows[r]] for r in range(first, last + 1)]
    for (r0, c0), (r1, c1) in merges:
        if r0 > last or r1 < first or r0 < first:
            continue
        value = grid[r0 - first][c0] if c0 < len(grid[r0 - first]) else None
        for r in range(r0, min(r1, last) + 1):
            line = grid[r - first]
            if len(line) <= min(c1, 255):
                line.extend([None] * (min(c1, 255) + 1 - len(line)))
            for c in range(c0, min(c1, 255) + 1):
                line[c] = value
    return grid


def _names(grid: list[list[str | None]]) -> dict[int, tuple[str, str | None]]:
    """Column -> (name, group label): the lower cell names it, else the upper cell."""
    width = max(len(line) for line in grid)
    out = {}
    for c in range(width):
        texts = [line[c] if c < len(line) else None for line in grid]
        name = texts[-1] or texts[0]
        if name:
            group = texts[0] if len(texts) > 1 and texts[0] and texts[0] != name else None
            out[c] = (name.strip(), group.strip() if group else None)
    return out


@dataclass
class _Header:
    row: int  # 0-based index of the lower header row
    rows: int
    names: dict[int, tuple[str, str | None]]
    counts: dict[int, RecapColumn]  # column -> what it counts (counts across)
    periods: list[int]  # columns naming a period or a total (periods across)


def _header(grid: list[list[str | None]], row: int, contract: Contract) -> _Header:
    names = _names(grid)
    counts, periods = {}, []
    for c, (name, group) in names.items():
        found = recap_column(name, group, contract)
        if found is not None:
            counts[c] = RecapColumn(name, group, *found)
        if period_like(name, contract) or _is_total(name, contract):
            periods.append(c)
    return _Header(row, len(grid), names, counts, periods)


def _label_column(header: _Header, before: int, contract: Contract) -> int | None:
    """The leftmost column left of `before` that is not a numbering column."""
    numbering = contract.recap.numbering_headers
    for c in range(before):
        name = header.names.get(c, (None, None))[0]
        if name is None or norm_header(name) not in numbering:
            return c
    return None


def find_recap(rows: list[list[object]], contract: Contract,
               merges: list[tuple[tuple[int, int], tuple[int, int]]] | None = None) -> RecapTable | None:
    """The recap table of a sheet (its rows from row 1, from column A), or None when it has none.
    A sheet whose first rows name a personal-data column is a list of people, never a recap."""
    merges = merges or []
    limit = min(len(rows), HEADER_SCAN_ROWS)
    singles = [_header(_header_grid(rows, r, r, merges), r, contract) for r in range(min(len(rows), limit + 1))]
    if any(_personal(h, contract) for h in singles):
        return None
    for r in range(limit):
        header = singles[r]
        if r + 1 < len(singles):
            double = _header(_header_grid(rows, r, r + 1, merges), r + 1, contract)
            lower = singles[r + 1]
            # a two-row header only when the pair names more columns than either row alone
            if len(double.counts) > max(len(header.counts), len(lower.counts)) or \
                    len(double.periods) > max(len(header.periods), len(lower.periods)):
                header = double
        table = _across(rows, header, contract) or _turned(rows, header, contract)
        if table is not None:
            return table
    return None


def _personal(header: _Header, contract: Contract) -> bool:
    """A header naming a personal-data column exactly (nama korban, NIK, alamat …)."""
    return any(norm_header(name) in contract.personal_headers for name, _ in header.names.values())


def _across(rows: list[list[object]], header: _Header, contract: Contract) -> RecapTable | None:
    """Count columns across the top, lines down the side."""
    if not header.counts:
        return None
    label = _label_column(header, min(header.counts), contract)
    if label is None:
        return None
    label_header = header.names.get(label, (None, None))[0]
    axis = contract.recap.label_headers.get(norm_header(label_header)) if label_header else None
    columns = sorted(header.counts)
    lines = []
    for i in range(header.row + 1, len(rows)):
        raw = rows[i]
        text = cell_text(raw[label]) if label < len(raw) else None
        cells = [(cell_text(raw[c]) if c < len(raw) else None, i + 1, c + 1) for c in columns]
        left = [cell_text(v) for v in raw[:min(columns)]]
        marker = next((t for t in left if _is_total(t, contract)), None)
        total = marker is not None
        empty = all(t is None for t, _, _ in cells)
        if text is None and empty and not total:
            continue
        if axis != "kecamatan" and not total and empty and not period_like(text, contract):
            continue  # a note under the table, not a line of counts
        lines.append(RecapLine(_masked(text or marker), None, total, i + 1, cell_name(i + 1, label + 1),
                               [(_masked(t), r, c) for t, r, c in cells]))
        if total:
            break
    if axis is None:  # no period or kecamatan word over the labels: the labels must be periods
        named = [line.label for line in lines if not line.total and line.label]
        if not named or sum(period_like(t, contract) for t in named) * 2 < len(named):
            return None
        axis = "period"
    if not lines:
        return None
    unknown = [name for c, (name, _) in sorted(header.names.items())
               if c not in header.counts and c != label and norm_header(name) not in contract.recap.numbering_headers]
    return RecapTable(axis, False, header.row + 1, header.rows, _masked(label_header),
                      [header.counts[c] for c in columns], lines, [_masked(u) for u in unknown])


def _turned(rows: list[list[object]], header: _Header, contract: Contract) -> RecapTable | None:
    """Periods across the top, count categories down the side: read turned."""
    periods = [c for c in header.periods if not _is_total(header.names[c][0], contract)]
    if len(periods) < 2:
        return None
    label = _label_column(header, min(header.periods), contract)
    if label is None:
        return None
    columns: list[RecapColumn] = []
    sources: list[int] = []  # the sheet row of each column
    unknown: list[str] = []
    for i in range(header.row + 1, len(rows)):
        raw = rows[i]
        text = cell_text(raw[label]) if label < len(raw) else None
        if text is None:
            continue
        found = recap_column(text, None, contract)
        if found is None:
            if any(cell_text(raw[c]) is not None for c in header.periods if c < len(raw)):
                unknown.append(_masked(text))
            continue
        columns.append(RecapColumn(_masked(text), None, *found))
        sources.append(i)
    if not columns:
        return None
    lines = []
    for c in sorted(header.periods):
        name, group = header.names[c]
        cells = [(_masked(cell_text(rows[i][c]) if c < len(rows[i]) else None), i + 1, c + 1) for i in sources]
        lines.append(RecapLine(_masked(name), _masked(group), _is_total(name, contract), header.row + 1,
                               cell_name(header.row + 1, c + 1), cells))
    label_header = header.names.get(label, (None, None))[0]
    return RecapTable("period", True, header.row + 1, header.rows, _masked(label_header), columns, lines, unknown)
