"""Exact linear algebra over the rationals for the suppression engine: which hidden
cells the published relations pin down, solved group by group (cells linked through
hidden cells), with eliminations kept up to date as cells are hidden or published.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from fractions import Fraction

from pipeline.publish.suppression.table import Cell


def _components(constraints: list[dict], unknown: set) -> list[tuple[frozenset, list[int]]]:
    """Groups of unknown cells linked by relations, with the relations of each group.

    Computed from scratch over every relation; `_Groups` gives the same groups kept up to date.
    """
    parent: dict[Cell, Cell] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    touched = []
    for i, terms in enumerate(constraints):
        us = [c for c in terms if c in unknown]
        if not us:
            continue
        touched.append((i, us[0]))
        root = find(us[0])
        for c in us[1:]:
            other = find(c)
            if other != root:
                parent[other] = root
    cells: dict[Cell, list] = defaultdict(list)
    rows: dict[Cell, list[int]] = defaultdict(list)
    for c in list(parent):
        cells[find(c)].append(c)
    for i, first in touched:
        rows[find(first)].append(i)
    return [(frozenset(cells[r]), rows[r]) for r in rows]


class _Group:
    __slots__ = ("cells", "rows", "first", "reduced", "solved")

    def __init__(self, cells: list, rows: set[int], first: int) -> None:
        self.cells, self.rows, self.first = cells, rows, first
        self.reduced: _Elimination | None = None    # its relations reduced, kept once made
        self.solved = 0                             # times it, or a group it took in, was solved


class _Groups:
    """The groups of `_components`, kept up to date while cells are hidden one by one.

    Hiding a cell can only join groups, so `hide` merges the groups it links (the smaller
    into the larger) and marks the result changed; `changed` lists, in the order of
    `_components`, only the groups that changed since the last call (all of them the
    first time), so a pass over the groups costs what changed, not the whole table.
    A group's elimination (`_Elimination`), once made, follows it the same way.
    """

    def __init__(self, constraints: list[dict], by_cell: list[list[int]], unknown: set) -> None:
        self.constraints, self.by_cell, self.unknown = constraints, by_cell, unknown
        self.of: dict[Cell, _Group] = {}
        self.counts: list[int] = []          # hidden cells per relation
        of, counts = self.of, self.counts
        for i, terms in enumerate(constraints):
            us = [c for c in terms if c in unknown]
            counts.append(len(us))
            group = None
            for c in us:
                other = of.get(c)
                if other is None:
                    if group is None:
                        group = _Group([], set(), i)
                    group.cells.append(c)
                    of[c] = group
                elif group is None:
                    group = other
                else:
                    group = self._merge(group, other)
            if group is not None:
                group.rows.add(i)
        self.dirty: set[_Group] = set(of.values())

    def _merge(self, a: _Group, b: _Group) -> _Group:
        if a is b:
            return a
        if len(a.cells) < len(b.cells):
            a, b = b, a
        of = self.of
        for c in b.cells:
            of[c] = a
        a.cells += b.cells
        a.rows |= b.rows
        a.first = min(a.first, b.first)
        return a

    def hide(self, cell: Cell) -> None:
        """`cell` has just been hidden (it is in `unknown`)."""
        rows = self.by_cell[cell]
        if not rows or cell in self.of:
            return
        of = self.of
        linked: list[_Group] = []
        for j in rows:
            for c in self.constraints[j]:
                other = of.get(c)
                if other is not None and all(other is not g for g in linked):
                    linked.append(other)
        added = [j for j in rows if all(j not in g.rows for g in linked)]
        eliminations = [g.reduced for g in linked]
        group = _Group([cell], set(rows), min(rows))
        of[cell] = group
        for other in linked:
            group = self._merge(group, other)
        group.solved = max((g.solved for g in linked), default=0)
        if linked and None not in eliminations:
            # The groups' eliminations joined, the cell hidden in them, its other relations added.
            reduced = max(eliminations, key=lambda e: len(e.pivots))
            for other in eliminations:
                if other is not reduced:
                    reduced.absorb(other)
            reduced.hide(cell)
            for j in added:
                reduced.add(j)
            group.reduced = reduced
        else:
            group.reduced = None    # made again when next asked for
        self.dirty.add(group)

    def changed(self) -> list[tuple[frozenset, list[int], _Group, int]]:
        """(cells, relations, group, its size) of each group changed since the last call."""
        live = sorted((g for g in self.dirty if self.of[g.cells[0]] is g), key=lambda g: g.first)
        self.dirty = set()
        return [(frozenset(g.cells), sorted(g.rows), g, len(g.cells)) for g in live]


class _Elimination:
    """The relations of a group kept reduced while its cells are hidden and published again.

    Unlike `_solve`, published cells stay in the rows as columns (they are never pivots), so
    a pivot row reads: pivot + sum(coefficient * cell) == 0 over its free cells, hidden or
    published. Hiding or publishing a cell then changes a few rows rather than asking for a
    new elimination: a pivot is fixed exactly while its row holds no hidden cell (rows stay
    fully reduced: no row holds another row's pivot), and `publish` / `hide` return the
    pivots that became fixed. `hidden` is the caller's set of hidden cells; it must already
    say so when either method is called.
    """

    def __init__(self, constraints: list[dict], rows: Iterable[int], hidden: set, values,
                 names: list | None = None) -> None:
        self.constraints, self.hidden, self.values, self.names = constraints, hidden, values, names
        self.pivots: dict[int, dict] = {}              # pivot -> {other cell: coefficient}
        self.holders: dict[int, set] = defaultdict(set)  # cell -> pivots whose row holds it
        self.free: dict[int, int] = {}                 # pivot -> hidden cells in its row
        self.null: list[dict] = []                     # rows left with published cells only
        for i in rows:
            self.add(i)

    def add(self, i: int) -> None:
        """Add relation i."""
        if not self._place(self._reduce(dict(self.constraints[i])), []):
            row = self.null[-1] if self.null else {}
            if sum(x * self.values[c] for c, x in row.items()):
                raise ValueError(f"published values contradict relation {_relation(self.constraints[i], self.names)!r}")

    def absorb(self, other: _Elimination) -> None:
        """Take in the rows of an elimination over other hidden cells."""
        self.pivots.update(other.pivots)
        self.free.update(other.free)
        for c, holders in other.holders.items():
            self.holders[c] |= holders
        self.null += other.null

    def fixed(self) -> list[int]:
        """The pivots fixed now (their rows hold published cells only)."""
        return [p for p, n in self.free.items() if not n]

    def _reduce(self, row: dict) -> dict:
        pivots = self.pivots
        for p in [c for c in row if c in pivots]:
            f = row.pop(p)
            for c, x in pivots[p].items():
                y = row.get(c, 0) - f * x
                if y:
                    row[c] = y
                else:
                    del row[c]
        return row

    def _place(self, row: dict, fixed: list[int]) -> bool:
        """Add a row that holds no pivot: a new pivot row (True), or a null row (False, kept
        if not empty). Pivots that became fixed are appended to `fixed`."""
        hidden = self.hidden
        p = next((c for c in row if c in hidden), None)
        if p is None:
            if row:
                self.null.append(row)
            return False
        f = row.pop(p)
        if f == -1:
            row = {c: -x for c, x in row.items()}
        elif f != 1:
            row = {c: Fraction(x) / f for c, x in row.items()}
        pivots, holders, free = self.pivots, self.holders, self.free
        for q in holders.pop(p, ()):
            qrow = pivots[q]
            g = qrow.pop(p)
            n = free[q] - 1
            for c, x in row.items():
                y = qrow.get(c, 0) - g * x
                if y:
                    if c not in qrow:
                        holders[c].add(q)
                        if c in hidden:
                            n += 1
                    qrow[c] = y
                elif c in qrow:
                    del qrow[c]
                    holders[c].discard(q)
                    if c in hidden:
                        n -= 1
            free[q] = n
            if not n:
                fixed.append(q)
        pivots[p] = row
        n = 0
        for c in row:
            holders[c].add(p)
            if c in hidden:
                n += 1
        free[p] = n
        if not n:
            fixed.append(p)
        return True

    def value(self, p: int) -> int | Fraction:
        """The value of a fixed pivot."""
        values = self.values
        return -sum(x * values[c] for c, x in self.pivots[p].items())

    def publish(self, cell: int) -> list[int]:
        """`cell` is no longer hidden; returns the pivots that became fixed."""
        fixed: list[int] = []
        row = self.pivots.pop(cell, None)
        if row is None:
            for q in self.holders.get(cell, ()):
                self.free[q] -= 1
                if not self.free[q]:
                    fixed.append(q)
        else:
            del self.free[cell]
            for c in row:
                self.holders[c].discard(cell)
            row[cell] = 1
            self._place(row, fixed)
        return fixed

    def hide(self, cell: int) -> list[int]:
        """`cell` is now hidden; returns the pivots that became fixed."""
        fixed: list[int] = []
        for q in self.holders.get(cell, ()):
            self.free[q] += 1
        rows = [row for row in self.null if cell in row]
        if rows:
            self.null = [row for row in self.null if cell not in row]
            for row in rows:
                self._place(self._reduce(row), fixed)
        return fixed


def _solve(constraints: list[dict], rows: list[int], values, unknown: set,
           names: list | None = None) -> dict[Cell, int | Fraction]:
    """Unknown cells fixed by the relations, with their values (exact elimination, RREF).

    Cells are keys of `values` (here, cell numbers indexing a list); `names` turns them
    back into cells for the error message. Raises ValueError if the relations contradict
    the published values.
    """
    pivots: dict[Cell, list] = {}     # pivot cell -> [its row without it {cell: coef}, rhs]
    holders: dict[Cell, set] = defaultdict(set)   # free cell -> pivots whose row holds it
    for i in rows:
        row: dict[Cell, int | Fraction] = {}   # ints while pivots are +-1 (fast), else Fractions
        rhs: int | Fraction = 0
        for cell, coef in constraints[i].items():
            if cell in unknown:
                row[cell] = coef
            else:
                rhs -= coef * values[cell]
        # Reduce by the pivots found so far (their rows hold no other pivot).
        for p in [c for c in row if c in pivots]:
            f = row.pop(p)
            prow, prhs = pivots[p]
            for c, x in prow.items():
                y = row.get(c, 0) - f * x
                if y:
                    row[c] = y
                else:
                    del row[c]
            rhs -= f * prhs
        if not row:
            if rhs:
                raise ValueError(f"published values contradict relation {_relation(constraints[i], names)!r}")
            continue
        p = next(iter(row))
        f = row.pop(p)
        if f == -1:
            row = {c: -x for c, x in row.items()}
            rhs = -rhs
        elif f != 1:
            row = {c: Fraction(x) / f for c, x in row.items()}
            rhs = Fraction(rhs) / f
        # Clear p from earlier pivot rows, keeping every row fully reduced.
        for q in holders.pop(p, ()):
            entry = pivots[q]
            qrow = entry[0]
            g = qrow.pop(p)
            for c, x in row.items():
                y = qrow.get(c, 0) - g * x
                if y:
                    if c not in qrow:
                        holders[c].add(q)
                    qrow[c] = y
                elif c in qrow:
                    del qrow[c]
                    holders[c].discard(q)
            entry[1] -= g * rhs
        pivots[p] = [row, rhs]
        for c in row:
            holders[c].add(p)
    return {p: rhs for p, (row, rhs) in pivots.items() if not row}


def _lone(terms: dict, u: int, values) -> int | Fraction:
    """The value of u in a relation where every other cell is known."""
    rest = sum(x * values[c] for c, x in terms.items() if c != u)
    f = terms[u]
    return -rest if f == 1 else rest if f == -1 else -Fraction(rest, f)


def _relation(terms: dict, names: list | None) -> dict:
    return terms if names is None else {names[c]: x for c, x in terms.items()}


def _as_number(x: int | Fraction) -> int | Fraction:
    return int(x) if Fraction(x).denominator == 1 else x


