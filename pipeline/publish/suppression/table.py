"""A table of published cells and the linear relations between them, and what the
suppression engine returns (Protection) or finds (Exposure).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

Cell = Hashable
DEFAULT_K = 5
FLAG = "_suppressed"


class Table:
    """Published cells with their counts, and the linear relations a reader can use.

    A relation is {cell: coefficient} meaning sum(coefficient * count) == 0. A cell that
    appears in a relation but was never added is latent: not published, but a reader may
    work it out. A cell added with value None is published but its value is unknown
    (the audit treats it like a latent cell).

    Inside, every cell gets a number when first seen, and relations are kept as
    {number: coefficient}: `protect` and `audit` hash small ints, not tuples of labels.
    Build a table with the methods; `values` and `constraints` are copies, for reading.
    """

    def __init__(self) -> None:
        self._number: dict[Cell, int] = {}
        self._cells: list[Cell] = []            # number -> cell
        self._value: list[int | None] = []      # number -> count (None: latent, or unknown)
        self._order: list[int | None] = []      # number -> position among published cells (None: latent)
        self._published: list[int] = []         # position -> number
        self._rows: list[dict[int, int]] = []   # the relations, by cell number
        self._seen: dict[int, list[dict]] = {}  # lowest cell number -> the relations holding it

    def _n(self, cell: Cell) -> int:
        n = self._number.get(cell)
        if n is None:
            n = self._number[cell] = len(self._cells)
            self._cells.append(cell)
            self._value.append(None)
            self._order.append(None)
        return n

    def add(self, cell: Cell, value: int | None) -> None:
        """Publish a cell. The same quantity published twice is one cell (add it twice)."""
        self._add_all((cell,), (value,))

    def _add_all(self, cells: Iterable[Cell], values: Iterable[int | None]) -> None:
        """`add` for each pair, in order."""
        get, number, value_of, order, published = self._number.get, self._n, self._value, self._order, self._published
        for cell, value in zip(cells, values):
            n = get(cell)
            if n is None:
                n = number(cell)
            old = value_of[n]
            if old is not None and value is not None and old != value:
                raise ValueError(f"cell {cell!r} published with two values: {old} and {value}")
            if order[n] is None:
                order[n] = len(published)
                published.append(n)
            if value is not None:
                value_of[n] = int(value)

    @property
    def values(self) -> dict[Cell, int | None]:
        """Published cells and their counts (None: value unknown), in the order added."""
        return {self._cells[n]: self._value[n] for n in self._published}

    def _add_row(self, row: dict[int, int]) -> None:
        """Keep a relation unless it is empty or already kept (the same terms in any order)."""
        if row:
            same = self._seen.setdefault(min(row), [])
            if row not in same:
                same.append(row)
                self._rows.append(row)

    def add_constraint(self, coefficients: Mapping[Cell, int]) -> None:
        self._add_row({self._n(c): int(v) for c, v in coefficients.items() if v})

    def add_sum(self, total: Cell, parts: Iterable[Cell]) -> None:
        """total = sum(parts). An empty sum says the total is 0."""
        self.add_sums(((total, parts),))

    def add_sums(self, sums: Iterable[tuple[Cell, Iterable[Cell]]]) -> None:
        """`add_sum` for each (total, parts), in order."""
        get, number, seen, rows = self._number.get, self._n, self._seen, self._rows
        # (`_add_row` inlined: this builds most of the relations of the marts)
        for total, parts in sums:
            n = get(total)
            row = {number(total) if n is None else n: 1}
            for part in parts:
                n = get(part)
                if n is None:
                    n = number(part)
                row[n] = row.get(n, 0) - 1
            if 0 in row.values():
                row = {n: x for n, x in row.items() if x}
            if row:
                same = seen.setdefault(min(row), [])
                if row not in same:
                    same.append(row)
                    rows.append(row)

    def add_equal(self, a: Cell, b: Cell) -> None:
        """Two cells hold the same quantity (prefer one cell added twice)."""
        self.add_sum(a, [b])

    @property
    def constraints(self) -> list[dict[Cell, int]]:
        cells = self._cells
        return [{cells[n]: x for n, x in row.items()} for row in self._rows]

    @property
    def latent(self) -> set[Cell]:
        return {self._cells[n] for row in self._rows for n in row if self._order[n] is None}


@dataclass(frozen=True)
class Protection:
    primary: frozenset
    secondary: frozenset

    @property
    def suppressed(self) -> frozenset:
        return self.primary | self.secondary


@dataclass(frozen=True)
class Exposure:
    """A cell an attacker can read or work out: reason 'published' or 'derived', or a mart issue."""
    cell: Cell
    value: int | Fraction | None
    reason: str


def _sensitive(value, k: int, zeros_are_disclosive: bool) -> bool:
    return value is not None and (1 <= value < k or (zeros_are_disclosive and value == 0))


def _gc_paused(function):
    """Run `function` without cyclic garbage collection.

    The cells and relations are hundreds of thousands of small tuples, dicts and lists,
    none in a cycle, yet each batch of new objects makes the collector walk all of them
    again: with it running, reading the national marts took three times as long. Reference
    counting still frees everything, and it does so as `function` returns, before the
    collector is switched back on (it would otherwise walk them once more).
    """
    @functools.wraps(function)
    def paused(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()
    return paused


def _check_k(k: int) -> None:
    if int(k) != k or k < 1:
        raise ValueError(f"threshold k must be a positive integer, got {k!r}")


