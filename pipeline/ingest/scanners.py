"""Streaming XML scanners (expat, any quoting, spacing or namespace prefix) that measure what
calamine would allocate: each .xlsx sheet's used area, merges and formulas saved without a
value; each .ods table's area with repeated rows and cells; the shared strings' count.
"""

from __future__ import annotations

from xml.parsers import expat

from pipeline.ingest.limits import (
    EXCEL_MAX_COLUMNS,
    HUGE,
    MAX_ELEMENT,
    MAX_FORMULAS_LISTED,
    MAX_MERGES,
    ODS_MAX_ROWS,
    SafetyLimits,
    SheetArea,
    UnreadableFile,
    _check_area,
)


class _Done(Exception):
    """Stops a parser once it has seen what it was looking for."""


def _parser(name: str):
    """An expat parser that refuses a DOCTYPE (so any entity declaration) in part `name`."""
    parser = expat.ParserCreate()

    def refuse(*_args) -> None:
        raise UnreadableFile("file_xml_unsafe", f"{name}: DOCTYPE")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    return parser


class _Scanner:
    """Feeds a part to an expat parser chunk by chunk."""

    def __init__(self, name: str):
        self.name = name
        self.parser = _parser(name)
        self.parser.ordered_attributes = True
        self.fed = 0

    def feed(self, chunk: bytes) -> None:
        self.fed += len(chunk)
        self._parse(chunk, False)
        # expat keeps an unfinished tag in memory: a tag (or comment) of 8 MB is not a workbook's
        if self.fed - max(self.parser.CurrentByteIndex, 0) > MAX_ELEMENT:
            raise UnreadableFile("file_xml_unsafe", f"{self.name}: element > {MAX_ELEMENT >> 20} MB")

    def finish(self) -> None:
        self._parse(b"", True)

    def _parse(self, data: bytes, final: bool) -> None:
        try:
            self.parser.Parse(data, final)
        except expat.ExpatError as exc:
            raise UnreadableFile("file_damaged", f"{self.name}: {exc}") from None


class _InOrder(Exception):
    """A cell holding a value has no reference: its place is counted in order."""


# the elements of a sheet part that matter, by local name (any prefix); <v>, <is> and <f> are what
# calamine reads inside a <c> (any other child fails the sheet)
_CELL, _ROW, _VALUE, _INLINE, _FORMULA, _MERGE = 1, 2, 3, 4, 5, 6
_SHEET_TAGS = {"c": _CELL, "row": _ROW, "v": _VALUE, "is": _INLINE, "f": _FORMULA, "mergeCell": _MERGE}


class _SheetScanner(_Scanner):
    """The used area of an .xlsx sheet part as calamine reads it (xlsx/cells_reader.rs, next_cell),
    its merged ranges, and its formula cells saved without a value.

    A cell (local name c, any prefix) holds a value when it has a <v>, <is> or <f> child: calamine
    puts a cell with a value at its `r` reference (letters, then digits; anything else fails the
    sheet). A cell without `r` is put by calamine's counters: the last <row r>, plus one for each
    </row> since; the last cell's column, plus one for each </c> since. The first reading
    (`in_order` False) needs start tags only, as long as every cell with a value has its `r`, as
    Excel writes them; the sheet is read again with the counters when one has not.
    """

    def __init__(self, name: str, sheet: str, limits: SafetyLimits, in_order: bool):
        super().__init__(name)
        self.area = SheetArea(sheet)
        self.limits = limits
        self.in_order = in_order
        self.kinds: dict[str, int] = {}  # tag as written -> its kind (_SHEET_TAGS)
        self.cols: dict[str, int] = {}  # column letters -> number (0: not letters calamine reads)
        self.place: tuple[int, int] | None = None  # (row, column), 1-based, of that cell (in_order)
        self.row = self.col = 0  # calamine's counters, 0-based (in_order)
        self.merges = 0
        self.formula: list | None = None  # [row, col, t="str", has <v>, in <v>, cached] of a formula cell
        self.parser.StartElementHandler = self._handler()
        if in_order:
            self.parser.EndElementHandler = self._end

    def feed(self, chunk: bytes) -> None:
        super().feed(chunk)
        _check_area(self.area, self.limits)

    def _handler(self):
        """The start-tag handler: called for every element, so kept to a few steps for most."""
        kinds, cols, area, in_order = self.kinds, self.cols, self.area, self.in_order
        cell = None  # attributes of the cell whose first child has not come yet

        def start(tag: str, attrs: list[str]) -> None:
            nonlocal cell
            kind = kinds.get(tag)
            if kind is None:
                kind = kinds[tag] = _SHEET_TAGS.get(tag.rpartition(":")[2], 0)
            if kind == 0:
                return
            if kind == _CELL:
                cell = attrs
                if in_order:
                    self._place(attrs)
            elif kind == _ROW:
                cell = None
                if in_order:
                    self._row(attrs)
            elif kind == _MERGE:
                self.merges += 1
                if self.merges > MAX_MERGES:
                    raise UnreadableFile("sheet_too_many_merges", f"{area.name}: {self.merges} > {MAX_MERGES}")
            elif cell is not None:  # the first child of a cell: it holds a value
                attrs, cell = cell, None
                if in_order:
                    if self.place is None:
                        return
                    row, col = self.place
                else:
                    ref = attrs[1] if attrs and attrs[0] == "r" else _attr(attrs, "r")
                    if ref is None:
                        raise _InOrder
                    letters = ref.rstrip("0123456789")
                    col = cols.get(letters)
                    if col is None:
                        col = cols[letters] = _column_number(letters)
                    digits = len(ref) - len(letters)
                    if not col or not digits:
                        return  # a reference calamine cannot read: it fails the sheet
                    row = int(ref[len(letters):]) if digits < 11 else HUGE
                    if not row:
                        return
                if row > area.max_row:
                    area.max_row = row
                if col > area.max_col:
                    area.max_col = col
                if kind == _FORMULA:  # Excel writes <f> first, then the value it calculated
                    self._formula(row, col, _attr(attrs, "t") == "str")
            elif self.formula is not None:
                if kind == _VALUE:
                    self.formula[3] = self.formula[4] = True
                elif kind == _INLINE:
                    self.formula[5] = True

        return start

    def _row(self, attrs: list[str]) -> None:
        """A row's reference sets calamine's row counter (in_order)."""
        ref = _attr(attrs, "r")
        place = _reference(ref, self.cols, column=False) if ref is not None else None
        if place is not None:
            self.row = place[0] - 1

    def _place(self, attrs: list[str]) -> None:
        """Where calamine puts the cell starting now (in_order)."""
        ref = _attr(attrs, "r")
        if ref is None:
            self.place = (self.row + 1, self.col + 1)
            return
        self.place = _reference(ref, self.cols)
        if self.place is not None:
            self.col = self.place[1] - 1

    def _formula(self, row: int, col: int, text: bool) -> None:
        """A cell whose first child is <f>: follow it to its end to see whether a value was saved."""
        self.formula = [row, col, text, False, False, False]
        self.parser.EndElementHandler = self._end
        self.parser.CharacterDataHandler = self._text

    def _text(self, _data: str) -> None:
        if self.formula[4]:
            self.formula[5] = True

    def _end(self, tag: str) -> None:
        kind = self.kinds.get(tag)
        if kind == _CELL:
            self.col += 1
            if self.formula is not None:
                self._formula_done()
        elif kind == _ROW:
            self.row += 1
            self.col = 0
        elif kind == _VALUE and self.formula is not None:
            self.formula[4] = False

    def _formula_done(self) -> None:
        row, col, text, has_value, _, cached = self.formula
        # a formula whose value is "" has an empty <v></v> with t="str"
        if not (cached or (text and has_value)) and len(self.area.uncached) < MAX_FORMULAS_LISTED:
            self.area.uncached.append((row, col))
        self.formula = None
        self.parser.CharacterDataHandler = None
        if not self.in_order:
            self.parser.EndElementHandler = None


def _attr(attrs: list[str], key: str) -> str | None:
    """An attribute of an expat start tag (ordered_attributes: [key, value, key, value, ...])."""
    for i in range(0, len(attrs), 2):
        if attrs[i] == key:
            return attrs[i + 1]
    return None


def _reference(ref: str, cols: dict[str, int], column: bool = True) -> tuple[int, int] | None:
    """(row, column), 1-based, of an A1 reference as calamine reads it (xlsx/mod.rs
    get_row_and_optional_column: ASCII letters, then ASCII digits); None when calamine cannot.
    `column` False: a row's reference, whose letters may be missing."""
    letters = ref.rstrip("0123456789")
    col = cols.get(letters)
    if col is None:
        col = cols[letters] = _column_number(letters)
    digits = len(ref) - len(letters)
    if not digits or (column and not col) or (letters and not col):
        return None
    row = int(ref[len(letters):]) if digits < 11 else HUGE
    return (row, col) if row else None


def _column_number(letters: str) -> int:
    """A -> 1, AA -> 27; 0 for anything but ASCII letters; HUGE past 32 bits."""
    if not (letters.isascii() and letters.isalpha()):
        return 0
    col = 0
    for ch in letters[:8].upper():
        col = col * 26 + ord(ch) - 64
    return min(col, HUGE)


class _OdsScanner(_Scanner):
    """The used area of every table of an .ods content.xml as calamine reads it (ods.rs: read_table,
    read_row): rows and cells repeated by table:number-rows-repeated and
    table:number-columns-repeated (capped at 1,048,576 rows and 16,384 columns, as calamine caps
    them). A cell holds a value when it has a value, a value type or a formula attribute."""

    VALUE = frozenset({"office:value", "office:string-value", "office:date-value", "office:time-value",
                       "office:boolean-value", "office:value-type", "table:formula"})

    def __init__(self, limits: SafetyLimits):
        super().__init__("content.xml")
        self.limits = limits
        self.areas: list[SheetArea] = []
        self.area: SheetArea | None = None  # the table being read
        self.rows = 0  # rows of the table above the current row
        self.repeat = 1
        self.col = 0
        self.used = 0  # the last column of the current row that holds a value
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end

    def _start(self, tag: str, attrs: list[str]) -> None:
        if tag == "table:table":
            if self.area is None:  # calamine reads a table inside a table as part of it
                self.area = SheetArea(_attr(attrs, "table:name") or f"#{len(self.areas) + 1}")
                self.areas.append(self.area)
                self.rows = 0
        elif self.area is None:
            return
        elif tag == "table:table-row":
            self.repeat = min(self._count(attrs, "table:number-rows-repeated"), ODS_MAX_ROWS - self.rows)
            self.col = self.used = 0
        elif tag in ("table:table-cell", "table:covered-table-cell"):
            self.col += min(self._count(attrs, "table:number-columns-repeated"), EXCEL_MAX_COLUMNS - self.col)
            if any(attrs[i] in self.VALUE for i in range(0, len(attrs), 2)):
                self.used = self.col

    def _end(self, tag: str) -> None:
        if self.area is None:
            return
        if tag == "table:table-row":
            if self.used:
                self.area.max_row = max(self.area.max_row, self.rows + self.repeat)
                self.area.max_col = max(self.area.max_col, self.used)
                _check_area(self.area, self.limits)
            self.rows += self.repeat
            self.used = 0
        elif tag == "table:table":
            self.area = None

    def _count(self, attrs: list[str], key: str) -> int:
        value = _attr(attrs, key)
        if value is None:
            return 1
        if not (value.isascii() and value.strip().lstrip("+").isdigit()):
            raise UnreadableFile("file_damaged", f"content.xml: {key}={value[:20]!r}")
        return int(value)


class _StringsScanner(_Scanner):
    """calamine reserves room for the shared strings' uniqueCount before it reads one: a count
    made up to be huge aborts it. Refused past the cell limit."""

    def __init__(self, name: str, limits: SafetyLimits):
        super().__init__(name)
        self.limits = limits
        self.done = False
        self.parser.StartElementHandler = self._start

    def feed(self, chunk: bytes) -> None:
        if not self.done:
            try:
                super().feed(chunk)
            except _Done:
                self.done = True

    def finish(self) -> None:
        if not self.done:
            try:
                super().finish()
            except _Done:
                self.done = True

    def _start(self, tag: str, attrs: list[str]) -> None:
        if tag.rpartition(":")[2] != "sst":
            return
        count = _attr(attrs, "uniqueCount") or ""
        if count.isascii() and count.isdigit() and int(count) > self.limits.max_cells:
            raise UnreadableFile("file_xml_unsafe", f"{self.name}: uniqueCount {count} > {self.limits.max_cells}")
        raise _Done
