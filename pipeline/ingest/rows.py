"""A sheet's rows to its header and its data rows, as text: cells as the file wrote them (cut to
Excel's 32,767 characters), the header found and mapped through contract.yaml, personal-data
columns dropped and personal values typed into a kept column masked; blank, total and NIHIL
rows are not data. Pure functions over rows, whoever read them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from pipeline import privacy
from pipeline.contract import Contract, norm_header, norm_value
from pipeline.ingest.limits import UnreadableFile, column_letters

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
            elif key not in contract.harmless_headers:  # a row number or a remark is not worth a word
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


