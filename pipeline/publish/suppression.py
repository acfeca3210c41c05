"""Small-count suppression (statistical disclosure control) for the published marts.

The rule, with threshold k (default 5):

1. Primary suppression. Every published count of victims, cases or records from 1 to k-1
   is suppressed. A zero is published (it names nobody), unless `zeros_are_disclosive=True`.
2. Secondary suppression. More counts are suppressed until no suppressed count can be
   worked out exactly from what is published: row and column totals, the same count in
   another table, last year's count repeated in this year's row, differences, rates and
   shares. A count that is not published but can be worked out from published ones (for
   example victims of unknown sex = victims - female - male) must not come out between
   1 and k-1 either. The extra counts are chosen small and non-zero, preferring ones that
   do not force yet more suppressions; at the end, any extra suppression that turns out
   not to be needed is published again. The result is the same on every run.
3. Derived values follow their counts. A rate, share, change, percentage change or
   previous-year value is suppressed when any count it is computed from is suppressed.
4. An independent audit solves the published numbers and their relations exactly (linear
   algebra over the rationals) and lists every suppressed count it can recover; the
   published marts must give an empty list.

How a suppressed value looks: the value is NULL (an empty field in CSV) in its usual numeric
column, and a boolean column `<column>_suppressed` right after it is true. Why:
- columns keep their numeric types in Parquet and DuckDB, so sums and filters still work
  and a suppressed count can never be read as 0 or parsed as text;
- one symbol such as "<5" would be false for secondary suppressions, which can be large;
- the flag tells a suppressed value apart from one missing for another reason (change_pct
  when last year had 0 victims, the previous year of the first year).
Primary and secondary suppressions carry the same flag on purpose: telling them apart
would show which counts are the small ones.

Known limits: the attacker modelled is linear (no use of "counts are whole and not
negative", nor of inequalities such as form counts <= victims), so a suppressed count can
still be narrowed to an interval; implicit aggregates are modelled for the table margins
only (sex x age class in victims_by_region_year and victims_by_age_sex, age-group totals,
monthly records of child perpetrators); the secondary choice is a heuristic, not optimal.
The breakdown marts leave out empty rows, so with zeros_are_disclosive a zero still shows
by its absence; yoy_by_region.months_reported still counts months whose has_data is
suppressed. All marts must go through `protect_marts` in one call, since they share counts;
a mart with no reader here raises ValueError rather than being published unprotected.

Complexity: cells are split into independent groups (linked by relations through hidden
cells; in the marts at most one agency-year, under 40 hidden cells). Each group is solved
by exact elimination, O(m * n * r) for m relations, n hidden cells and rank r. Inside
`protect` and `audit` cells are numbers (see Table). `protect` keeps the groups up to date
as it hides cells, so each exact pass solves only the groups changed since the last one;
a group solved twice keeps an elimination from then on, updated cell by cell as cells are
hidden (and, in the clean-up, published again), so the clean-up asks only which of a few
rows lose their last hidden cell; it skips groups larger than CLEANUP_MAX_GROUP hidden
cells (they keep their suppressions). `audit` runs one elimination over all relations
(groups share no hidden cell, so they do not interact). The cyclic garbage collector is
paused meanwhile. Every shortcut gives exactly the suppressions of the plain algorithm
(tests/test_suppression_fast.py). National benchmark (W2: 514 agencies x 7 years, 287,443
cells, 152,548 relations, 3,598 agency-years; about 29,700 groups at the first exact pass,
33 passes, 23,310 secondary suppressions tried by the clean-up), CPU seconds:
`protect_marts` 23.2 -> 2.2 (reading the marts 0.5, `protect` 1.6), `audit_marts` 3.1 ->
1.0 (reading 0.5, the elimination 0.4); `public.build_public` 23.2 -> 2.6 s. On the
sample (about 3,000 cells, 1,500 relations) `protect_marts` takes about 0.03 s.
"""

from __future__ import annotations

import functools
import gc
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import pandas as pd

Cell = Hashable
DEFAULT_K = 5
FLAG = "_suppressed"
# The clean-up step of `protect` re-solves the group of each secondary cell; it skips
# groups with more hidden cells than this (they keep their suppressions) to bound time.
CLEANUP_MAX_GROUP = 150
# A group solved this many times keeps an elimination (`_Elimination`) from then on, updated
# as cells are hidden, instead of being solved anew each pass: most groups are solved once,
# and making an elimination costs a few solves.
SOLVES_BEFORE_ELIMINATION = 2


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


@_gc_paused
def audit(table: Table, suppressed: Collection[Cell], k: int = DEFAULT_K,
          zeros_are_disclosive: bool = False) -> list[Exposure]:
    """What an attacker learns from the published cells and the relations.

    The attacker never sees the values of suppressed or latent cells. Returned:
    - every published (not suppressed) cell whose count is sensitive ('published');
    - every suppressed cell it can work out exactly ('derived');
    - every latent cell it can work out exactly whose count is sensitive ('derived').
    A count is sensitive if it lies in [1, k-1] (or is 0 with zeros_are_disclosive);
    a latent 0 is not (empty rows of a breakdown already show it).
    """
    _check_k(k)
    values, order, names, published = table._value, table._order, table._cells, table._published
    number = table._number
    hidden = {number[c] for c in suppressed if c in number}
    unknown = hidden | {n for n, position in enumerate(order) if position is None}
    unknown |= {n for n in published if values[n] is None}
    found = [Exposure(names[n], values[n], "published") for n in published
             if n not in unknown and _sensitive(values[n], k, zeros_are_disclosive)]
    constraints = table._rows
    rows = []
    for i, terms in enumerate(constraints):
        for c in terms:
            if c in unknown:
                rows.append(i)
                break
        else:
            if sum(x * values[c] for c, x in terms.items()):
                raise ValueError(f"published values contradict relation {_relation(terms, names)!r}")
    # One elimination over every relation that holds a hidden cell. Relations of different
    # groups (see _components) share no hidden cell, so they never reduce each other: the
    # cells fixed and their values are those of one elimination per group, without
    # finding the groups first.
    for n, value in _solve(constraints, rows, values, unknown, names).items():
        if n in hidden or (value and _sensitive(value, k, zeros_are_disclosive)):
            found.append(Exposure(names[n], _as_number(value), "derived"))
    return found


@_gc_paused
def protect(table: Table, k: int = DEFAULT_K, zeros_are_disclosive: bool = False) -> Protection:
    """Primary suppression of sensitive counts, then secondary suppression until `audit` is clean.

    Secondary step: a relation with exactly one hidden sensitive cell gets one more
    suppression among its published cells: non-zero first, then the one that leaves the
    fewest other relations with a single hidden cell, then the smallest. This repeats to a
    fixed point; then exact elimination looks for any hidden cell still fixed by a longer
    chain of relations, and each such cell gets one more suppression next to it. Ends when
    nothing can be worked out (or raises RuntimeError if only hidden cells are left to use).
    """
    return _protect(table, k, zeros_are_disclosive, incremental=True)


def _protect(table: Table, k: int, zeros_are_disclosive: bool, incremental: bool) -> Protection:
    """`protect`. With incremental=False, the plain algorithm the tests hold it to: groups
    found anew on every exact pass and each solved from scratch, the clean-up walking from
    each cell to its group and solving that, no shortcut."""
    _check_k(k)
    # Cells are numbers here (see Table): values[c] the count, order[c] the position in
    # published cells (None for a latent cell), names[c] the cell.
    values, order, names, published = table._value, table._order, table._cells, table._published
    constraints = table._rows
    last = len(published)      # where latent cells sort, after every published cell
    by_cell: list[list[int]] = [[] for _ in names]
    for i, terms in enumerate(constraints):
        for c in terms:
            by_cell[c].append(i)

    primary = {c for c in published if _sensitive(values[c], k, zeros_are_disclosive)}
    latent = {c for c, position in enumerate(order) if position is None}
    unknown = primary | latent | {c for c in published if values[c] is None}
    must_hide = set(primary)   # suppressed cells and sensitive latent cells
    secondary: set[int] = set()
    groups = _Groups(constraints, by_cell, unknown)
    n_unknown = groups.counts    # hidden cells per relation, kept up to date by suppress
    work = [i for i, n in enumerate(n_unknown) if n == 1]

    def latent_sensitive(cell: int, value) -> bool:
        return order[cell] is None and value != 0 and _sensitive(value, k, zeros_are_disclosive)

    def candidates(rows: Iterable[int]) -> list[int]:
        return [c for i in rows for c in constraints[i] if c not in unknown]

    def pick(pools: list[list[int]]) -> int | None:
        for pool in pools:
            if pool:
                return min(pool, key=lambda c: (sum(n_unknown[j] == 0 for j in by_cell[c]), values[c], order[c]))
        return None

    def suppress(cell: int) -> None:
        unknown.add(cell)
        must_hide.add(cell)
        secondary.add(cell)
        for j in by_cell[cell]:
            n_unknown[j] += 1
            if n_unknown[j] == 1:
                work.append(j)
        groups.hide(cell)

    clean: set[frozenset] = set()
    while True:
        # Fast pass: relations with a single hidden cell.
        while work:
            i = work.pop()
            if n_unknown[i] != 1:
                continue
            terms = constraints[i]
            (u,) = [c for c in terms if c in unknown]
            if u not in must_hide and order[u] is None:
                if latent_sensitive(u, _lone(terms, u, values)):
                    must_hide.add(u)
            if u in must_hide:
                others = candidates([i])
                cell = pick([[c for c in others if values[c] != 0], others])
                if cell is not None:
                    suppress(cell)
        # Exact pass: anything still fixed by longer chains.
        changed = False
        # Only groups changed since the last pass can be unclean: every other group was
        # solved and found clean (the exposed ones got a suppression, which changed them).
        passing = groups.changed() if incremental else [(g, r, None, 0) for g, r in _components(constraints, unknown)]
        for group, rows, live, size in passing:
            if group in clean:
                continue
            if (live is not None and (live.reduced is not None or live.solved >= SOLVES_BEFORE_ELIMINATION)
                    and groups.of[live.cells[0]] is live and len(live.cells) == size):
                # Solved before and unchanged since this pass began: ask its elimination, kept
                # up to date from now on, which cells are fixed (the same cells, with the same
                # values, as solving its relations anew).
                reduced = live.reduced
                if reduced is None:
                    reduced = live.reduced = _Elimination(constraints, rows, unknown, values, names)
                exposed = [c for c in reduced.fixed()
                           if c in must_hide or (order[c] is None and latent_sensitive(c, reduced.value(c)))]
                must_hide.update(exposed)
                if len(exposed) > 1 and all(order[c] is None for c in exposed):
                    # Only latent cells: the first as `_solve` lists them is taken below.
                    exposed = [c for c in _solve(constraints, rows, values, unknown, names) if c in must_hide]
            else:
                # Solved for the first time (most groups are solved once: not worth an
                # elimination), or changed during this pass (a suppression joined it to a
                # group before it): solved on its relations as they were when the pass began.
                if live is not None:
                    live.solved += 1
                exposed = []
                if incremental and len(rows) == 1:
                    # One relation: it fixes its hidden cell if it holds only one (most groups).
                    terms = constraints[rows[0]]
                    lone = [c for c in terms if c in unknown]
                    fixed = {lone[0]: _lone(terms, lone[0], values)} if len(lone) == 1 else {}
                else:
                    fixed = _solve(constraints, rows, values, unknown, names)
                for cell, value in fixed.items():
                    if cell in must_hide or latent_sensitive(cell, value):
                        must_hide.add(cell)
                        exposed.append(cell)
            if not exposed:
                clean.add(group)
                continue
            cell = min(exposed, key=lambda c: last if order[c] is None else order[c])
            near, far = candidates(by_cell[cell]), candidates(rows)
            choice = pick([[c for c in near if values[c] != 0], [c for c in far if values[c] != 0], near, far])
            if choice is None:
                raise RuntimeError(f"cannot protect {names[cell]!r}: every related cell is already hidden")
            suppress(choice)
            changed = True
        if not changed and not work:
            break

    # Clean-up: publish again any secondary cell (largest first) that is not needed.
    def leaks(rows: set[int]) -> bool:
        fixed = _solve(constraints, sorted(rows), values, unknown, names)
        return any(cell in must_hide or latent_sensitive(cell, value) for cell, value in fixed.items())

    def revealed(cell: int) -> bool:
        """A relation of the cell left with one hidden cell, which must stay hidden.

        Then `leaks` would find that cell fixed (a lone hidden cell in a relation always is),
        so the cell is kept without looking further: the same answer for less work.
        """
        for j in by_cell[cell]:
            terms = constraints[j]
            us = [c for c in terms if c in unknown]
            if len(us) == 1:
                u = us[0]
                if u in must_hide:
                    return True
                if order[u] is None and latent_sensitive(u, _lone(terms, u, values)):
                    return True
        return False

    for cell in sorted(secondary, key=lambda c: (-values[c], -order[c])):
        unknown.discard(cell)
        if incremental and revealed(cell):
            unknown.add(cell)
            continue
        start = groups.of.get(cell) if incremental else None
        if start is not None and len(start.cells) <= CLEANUP_MAX_GROUP + 1:
            # The cell's group when the loop above ended. Publishing cells again only splits
            # groups, so the group around the cell now lies inside it, holds at most
            # CLEANUP_MAX_GROUP other hidden cells, and its other parts are unchanged and
            # clean (nothing in them is fixed that must not be): the cell leaks exactly
            # when publishing it newly fixes a cell that must stay hidden.
            reduced = start.reduced
            if reduced is None:    # reduce the group as it stands, with the cell hidden
                unknown.add(cell)
                reduced = start.reduced = _Elimination(constraints, sorted(start.rows), unknown, values, names)
                unknown.discard(cell)
            keep = any(p in must_hide or latent_sensitive(p, reduced.value(p)) for p in reduced.publish(cell))
            if keep:
                reduced.hide(cell)
        else:
            rows: set[int] = set()
            group: set[int] = set()
            todo = list(by_cell[cell])
            while todo and len(group) <= CLEANUP_MAX_GROUP:   # relations linked to this cell through hidden cells
                i = todo.pop()
                if i not in rows:
                    rows.add(i)
                    hidden = [c for c in constraints[i] if c in unknown and c not in group]
                    group.update(hidden)
                    todo += [j for c in hidden for j in by_cell[c]]
            keep = len(group) > CLEANUP_MAX_GROUP or leaks(rows)
        if keep:
            unknown.add(cell)
        else:
            secondary.discard(cell)
            must_hide.discard(cell)
    return Protection(frozenset(names[c] for c in primary), frozenset(names[c] for c in secondary))


# ---------------------------------------------------------------------------
# The marts as cells and relations.

SEXES = ("P", "L", "U")                        # U: not recorded (TIDAK_DIKETAHUI)
AGE_CLASSES = ("ANAK", "DEWASA", "TIDAK_DIKETAHUI")
# Breakdowns where every victim counts once: the rows add up to the victims total.
ADDITIVE = {"victims_by_place": "place", "victims_by_relation": "perp_relation", "victims_by_kdrt": "is_kdrt",
            "victims_by_case_status": "case_status", "victims_by_kecamatan": "kecamatan_code"}
# Breakdowns where a victim can count under several rows: no sum.
MULTIPLE = {"victims_by_form": "violence_form", "victims_by_service": "service"}


def _victims(a, y):
    return ("victims", a, y)


class _Reader:
    """Reads marts into a Table and remembers where each cell and derived value sits."""

    def __init__(self, published: bool) -> None:
        self.published = published
        self.table = Table()
        self.counts: dict[str, dict[str, list]] = defaultdict(dict)
        self.derived: dict[str, dict[str, list]] = defaultdict(dict)
        self.flagged: set[Cell] = set()
        self.issues: list[Exposure] = []
        self._structured: set = set()

    def count(self, mart: str, df: pd.DataFrame, column: str, cells: list) -> None:
        flags = None
        if self.published and column + FLAG in df:
            flags = df[column + FLAG].fillna(False).astype(bool).tolist()
        series = df[column]
        if flags is None and pd.api.types.is_integer_dtype(series.dtype) and not series.isna().any() \
                and None not in cells:
            # Every count shown (the raw marts): all published, in order.
            self.table._add_all(cells, series.tolist())
            self.counts[mart][column] = list(cells)
            return
        out = []
        added: list[Cell] = []
        counts: list[int | None] = []
        for i, (cell, value, missing) in enumerate(zip(cells, df[column].tolist(), df[column].isna().tolist())):
            if flags is not None and flags[i]:
                if not missing:
                    self.issues.append(Exposure(cell, int(value), f"{mart}.{column} is flagged but shows its value"))
                self.flagged.add(cell)
                added.append(cell)
                counts.append(None)
                out.append(cell)
            elif missing or cell is None:
                out.append(None)
            else:
                added.append(cell)
                counts.append(int(value))
                out.append(cell)
        self.table._add_all(added, counts)
        self.counts[mart][column] = out

    def follows(self, mart: str, column: str, inputs: list[tuple]) -> None:
        self.derived[mart][column] = inputs

    def structure(self, a, y) -> None:
        """Victims by sex x age class with its margins (published or latent)."""
        if (a, y) in self._structured:
            return
        self._structured.add((a, y))
        t = self.table

        victims = _victims(a, y)
        sex = {s: ("victims_sex", a, y, s) for s in SEXES}
        age = {c: ("victims_class", a, y, c) for c in AGE_CLASSES}
        sc = {(s, c): ("victims_sex_class", a, y, s, c) for s in SEXES for c in AGE_CLASSES}
        t.add_sums([(victims, sex.values()), (victims, age.values()),
                    *((sex[s], [sc[s, c] for c in AGE_CLASSES]) for s in SEXES),
                    *((age[c], [sc[s, c] for s in SEXES]) for c in AGE_CLASSES)])


def _keys(df: pd.DataFrame, *columns: str) -> list[tuple]:
    """Row keys as plain Python values: year and month as int, labels as str."""
    parts = [[int(x) for x in df[c].tolist()] if c in ("year", "month") else [str(x) for x in df[c].tolist()]
             for c in columns]
    return list(zip(*parts))


def _read_region_year(r: _Reader, mart: str, df: pd.DataFrame) -> None:
    keys = _keys(df, "agency", "year")
    for a, y in keys:
        r.structure(a, y)
    cells = {
        "cases": [("cases", a, y) for a, y in keys],
        "victims": [_victims(a, y) for a, y in keys],
        "victims_female": [("victims_sex", a, y, "P") for a, y in keys],
        "victims_male": [("victims_sex", a, y, "L") for a, y in keys],
        "child_victims": [("victims_class", a, y, "ANAK") for a, y in keys],
        "adult_female_victims": [("victims_sex_class", a, y, "P", "DEWASA") for a, y in keys],
    }
    for column, col_cells in cells.items():
        r.count(mart, df, column, col_cells)
    r.follows(mart, "victims_per_100k", [(c,) for c in cells["victims"]])
    r.follows(mart, "child_victims_per_100k_children", [(c,) for c in cells["child_victims"]])
    r.follows(mart, "has_data", [(c,) for c in cells["victims"]])


def _read_yoy(r: _Reader, mart: str, df: pd.DataFrame) -> None:
    keys = _keys(df, "agency", "year")
    for a, y in keys:
        r.structure(a, y)
    for kind, prefix in (("victims", ""), ("cases", "cases_")):
        now = [(kind, a, y) for a, y in keys]
        before = [(kind, a, y - 1) for a, y in keys]
        r.count(mart, df, kind, now)
        r.count(mart, df, f"{kind}_prev_year", before)
        change = "change" if kind == "victims" else "cases_change"
        r.follows(mart, f"{change}_abs", list(zip(now, before)))
        r.follows(mart, f"{change}_pct", list(zip(now, before)))


def _read_breakdown(r: _Reader, mart: str, df: pd.DataFrame, column: str, additive: bool) -> None:
    keys = _keys(df, "agency", "year", column)
    cells = [(mart, a, y, c) for a, y, c in keys]
    r.count(mart, df, "victims", cells)
    if "share_pct" in df:
        r.follows(mart, "share_pct", [(cell, _victims(a, y)) for cell, (a, y, _) in zip(cells, keys)])
    if additive:
        groups: dict[tuple, list] = defaultdict(list)
        for cell, (a, y, _) in zip(cells, keys):
            groups[(a, y)].append(cell)
        r.table.add_sums((_victims(a, y), parts) for (a, y), parts in groups.items())


def _read_age_sex(r: _Reader, mart: str, df: pd.DataFrame) -> None:
    keys = _keys(df, "agency", "year", "victim_age_group", "victim_sex", "age_class")
    cells = [("victims_age_sex", *key) for key in keys]
    r.count(mart, df, "victims", cells)
    by_sex_class: dict[tuple, list] = defaultdict(list)
    by_group: dict[tuple, list] = defaultdict(list)
    for cell, (a, y, g, s, c) in zip(cells, keys):
        s = s if s in ("P", "L") else "U"
        c = c if c in AGE_CLASSES else "TIDAK_DIKETAHUI"
        by_sex_class[(a, y, s, c)].append(cell)
        by_group[(a, y, g)].append(cell)
    for a, y in dict.fromkeys(key[:2] for key in keys):
        r.structure(a, y)
        r.table.add_sums((("victims_sex_class", a, y, s, c), by_sex_class.get((a, y, s, c), ()))
                         for s in SEXES for c in AGE_CLASSES)
    r.table.add_sums((("victims_age_group", a, y, g), parts) for (a, y, g), parts in by_group.items())


def _month_sums(r: _Reader, keys: list[tuple], cells: list) -> None:
    groups: dict[tuple, list] = defaultdict(list)
    for (a, y, _), cell in zip(keys, cells):
        groups[(a, y)].append(cell)
    r.table.add_sums((_victims(a, y), parts) for (a, y), parts in groups.items())


def _read_month(r: _Reader, mart: str, df: pd.DataFrame) -> None:
    keys = _keys(df, "agency", "year", "month")
    cells = [("victims_month", *key) for key in keys]
    r.count(mart, df, "victims", cells)
    _month_sums(r, keys, cells)


def _read_completeness(r: _Reader, mart: str, df: pd.DataFrame) -> None:
    keys = _keys(df, "agency", "year", "month")
    rows = [("rows_staged", *key) for key in keys]
    victims = [("victims_month", *key) for key in keys]
    r.count(mart, df, "victims", victims)
    r.count(mart, df, "rows_staged", rows)
    r.follows(mart, "has_data", [(c,) for c in rows])
    _month_sums(r, keys, victims)
    perpetrators = [("perpetrator_records_month", *key) for key in keys]   # latent: rows_staged - victims
    r.table.add_sums(zip(rows, zip(victims, perpetrators)))
    groups: dict[tuple, list] = defaultdict(list)
    for (a, y, _), cell in zip(keys, perpetrators):
        groups[(a, y)].append(cell)
    r.table.add_sums((("child_perpetrator_records", a, y), parts) for (a, y), parts in groups.items())


def _read_child_perpetrators(r: _Reader, mart: str, df: pd.DataFrame) -> None:
    keys = _keys(df, "agency", "year")
    r.count(mart, df, "child_perpetrator_records", [("child_perpetrator_records", a, y) for a, y in keys])


READERS = {
    "victims_by_region_year": _read_region_year,
    "yoy_by_region": _read_yoy,
    "victims_by_age_sex": _read_age_sex,
    "victims_by_month": _read_month,
    "reporting_completeness": _read_completeness,
    "child_perpetrators_by_region_year": _read_child_perpetrators,
    **{m: (lambda r, mart, df, col=col: _read_breakdown(r, mart, df, col, True)) for m, col in ADDITIVE.items()},
    **{m: (lambda r, mart, df, col=col: _read_breakdown(r, mart, df, col, False)) for m, col in MULTIPLE.items()},
}


def _read(marts: Mapping[str, pd.DataFrame], published: bool) -> _Reader:
    unknown = sorted(set(marts) - set(READERS))
    if unknown:
        raise ValueError(f"no suppression rule for mart(s) {unknown}: add a reader to pipeline/suppression.py")
    reader = _Reader(published)
    for name, df in marts.items():
        READERS[name](reader, name, df.reset_index(drop=True))
    return reader


def table_from_marts(marts: Mapping[str, pd.DataFrame]) -> Table:
    """The cells and relations of the marts (for inspection and tests)."""
    return _read(marts, published=False).table


def _nullable(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.astype("boolean")
    if pd.api.types.is_integer_dtype(series):
        return series.astype("Int64")
    if pd.api.types.is_float_dtype(series):
        return series.astype("Float64")
    return series.astype(object)


def _hide(df: pd.DataFrame, column: str, mask: list[bool]) -> None:
    hidden = pd.Series(mask, index=df.index, dtype=bool)
    values = _nullable(df[column])
    df[column] = values.mask(hidden)
    df.insert(df.columns.get_loc(column) + 1, column + FLAG, hidden)


@_gc_paused
def protect_marts(marts: Mapping[str, pd.DataFrame], k: int = DEFAULT_K,
                  zeros_are_disclosive: bool = False) -> dict[str, pd.DataFrame]:
    """The publishable marts: suppressed values NULL, with a `<column>_suppressed` flag.

    All marts must be protected together: they share counts (victims per agency-year
    appears in several). A mart without a reader raises ValueError.
    """
    reader = _read(marts, published=False)
    hidden = protect(reader.table, k, zeros_are_disclosive).suppressed
    out = {}
    for name, df in marts.items():
        df = df.reset_index(drop=True).copy()
        for column, cells in reader.counts[name].items():
            _hide(df, column, [c is not None and c in hidden for c in cells])
        for column, inputs in reader.derived[name].items():
            if column in df:
                _hide(df, column, [any(c in hidden for c in cells) for cells in inputs])
        out[name] = df
    return out


@_gc_paused
def audit_marts(published: Mapping[str, pd.DataFrame], k: int = DEFAULT_K,
                zeros_are_disclosive: bool = False) -> list[Exposure]:
    """Attack the published marts using only what they show; an empty list means safe.

    Finds small counts left visible, suppressed counts that can be worked out (also from
    another mart that shows the same count), and derived values (rates, shares, changes)
    shown although a count they come from is suppressed.
    """
    reader = _read(published, published=True)
    found = list(reader.issues)
    table, flagged = reader.table, reader.flagged
    for cell in sorted((c for c in flagged if table._value[table._number[c]] is not None), key=repr):
        found.append(Exposure(cell, table._value[table._number[cell]], "suppressed in one place, shown in another"))
    for name, columns in reader.derived.items():
        df = published[name].reset_index(drop=True)
        for column, inputs in columns.items():
            if column not in df:
                continue
            for value, shown, cells in zip(df[column].tolist(), df[column].notna().tolist(), inputs):
                if shown and any(c in flagged for c in cells):
                    found.append(Exposure((name, column, cells[0]), value,
                                          f"{name}.{column} shown although its count is suppressed"))
    found += audit(reader.table, reader.flagged, k, zeros_are_disclosive)
    return found
