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
by exact elimination, O(m * n * r) for m relations, n hidden cells and rank r. On the
synthetic sample (about 3,000 cells, 1,500 relations) `audit` takes about 0.03 s and
`protect` about 0.1 s. `protect` re-solves only groups that changed; its clean-up step
skips groups larger than CLEANUP_MAX_GROUP hidden cells.
"""

from __future__ import annotations

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


class Table:
    """Published cells with their counts, and the linear relations a reader can use.

    A relation is {cell: coefficient} meaning sum(coefficient * count) == 0. A cell that
    appears in a relation but was never added is latent: not published, but a reader may
    work it out. A cell added with value None is published but its value is unknown
    (the audit treats it like a latent cell).
    """

    def __init__(self) -> None:
        self.values: dict[Cell, int | None] = {}
        self.constraints: list[dict[Cell, int]] = []
        self._seen: set[frozenset] = set()

    def add(self, cell: Cell, value: int | None) -> None:
        """Publish a cell. The same quantity published twice is one cell (add it twice)."""
        old = self.values.get(cell)
        if old is not None and value is not None and old != value:
            raise ValueError(f"cell {cell!r} published with two values: {old} and {value}")
        self.values[cell] = old if value is None else int(value)

    def add_constraint(self, coefficients: Mapping[Cell, int]) -> None:
        terms = {c: int(v) for c, v in coefficients.items() if v}
        key = frozenset(terms.items())
        if terms and key not in self._seen:
            self._seen.add(key)
            self.constraints.append(terms)

    def add_sum(self, total: Cell, parts: Iterable[Cell]) -> None:
        """total = sum(parts). An empty sum says the total is 0."""
        terms: dict[Cell, int] = defaultdict(int)
        terms[total] += 1
        for part in parts:
            terms[part] -= 1
        self.add_constraint(terms)

    def add_equal(self, a: Cell, b: Cell) -> None:
        """Two cells hold the same quantity (prefer one cell added twice)."""
        self.add_sum(a, [b])

    @property
    def latent(self) -> set[Cell]:
        return {c for terms in self.constraints for c in terms if c not in self.values}


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


def _check_k(k: int) -> None:
    if int(k) != k or k < 1:
        raise ValueError(f"threshold k must be a positive integer, got {k!r}")


def _components(constraints: list[dict], unknown: set) -> list[tuple[frozenset, list[int]]]:
    """Groups of unknown cells linked by relations, with the relations of each group."""
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


def _solve(constraints: list[dict], rows: list[int], values: Mapping, unknown: set) -> dict[Cell, int | Fraction]:
    """Unknown cells fixed by the relations, with their values (exact elimination, RREF).

    Raises ValueError if the relations contradict the published values.
    """
    pivots: dict[Cell, list] = {}            # pivot cell -> [row {cell: coef}, rhs]
    holders: dict[Cell, set] = defaultdict(set)  # free cell -> pivots whose row holds it
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
                if c != p:
                    y = row.get(c, 0) - f * x
                    if y:
                        row[c] = y
                    else:
                        row.pop(c, None)
            rhs -= f * prhs
        if not row:
            if rhs:
                raise ValueError(f"published values contradict relation {constraints[i]!r}")
            continue
        p = next(iter(row))
        f = row[p]
        if f == -1:
            row = {c: -x for c, x in row.items()}
            rhs = -rhs
        elif f != 1:
            row = {c: Fraction(x) / f for c, x in row.items()}
            rhs = Fraction(rhs) / f
        # Clear p from earlier pivot rows, keeping every row fully reduced.
        for q in holders.pop(p, set()):
            qrow = pivots[q][0]
            g = qrow.pop(p)
            for c, x in row.items():
                if c != p:
                    y = qrow.get(c, 0) - g * x
                    if y:
                        if c not in qrow:
                            holders[c].add(q)
                        qrow[c] = y
                    elif c in qrow:
                        del qrow[c]
                        holders[c].discard(q)
            pivots[q][1] -= g * rhs
        pivots[p] = [row, rhs]
        for c in row:
            if c != p:
                holders[c].add(p)
    return {p: rhs for p, (row, rhs) in pivots.items() if len(row) == 1}


def _as_number(x: int | Fraction) -> int | Fraction:
    return int(x) if Fraction(x).denominator == 1 else x


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
    suppressed = set(suppressed)
    values = table.values
    unknown = suppressed | table.latent | {c for c, v in values.items() if v is None}
    found = [Exposure(c, v, "published") for c, v in values.items()
             if c not in unknown and _sensitive(v, k, zeros_are_disclosive)]
    for terms in table.constraints:
        if not any(c in unknown for c in terms) and sum(x * values[c] for c, x in terms.items()):
            raise ValueError(f"published values contradict relation {terms!r}")
    for _, rows in _components(table.constraints, unknown):
        for cell, value in _solve(table.constraints, rows, values, unknown).items():
            if cell in suppressed or (value and _sensitive(value, k, zeros_are_disclosive)):
                found.append(Exposure(cell, _as_number(value), "derived"))
    return found


def protect(table: Table, k: int = DEFAULT_K, zeros_are_disclosive: bool = False) -> Protection:
    """Primary suppression of sensitive counts, then secondary suppression until `audit` is clean.

    Secondary step: a relation with exactly one hidden sensitive cell gets one more
    suppression among its published cells: non-zero first, then the one that leaves the
    fewest other relations with a single hidden cell, then the smallest. This repeats to a
    fixed point; then exact elimination looks for any hidden cell still fixed by a longer
    chain of relations, and each such cell gets one more suppression next to it. Ends when
    nothing can be worked out (or raises RuntimeError if only hidden cells are left to use).
    """
    _check_k(k)
    values = table.values
    constraints = table.constraints
    order = {c: i for i, c in enumerate(values)}
    by_cell: dict[Cell, list[int]] = defaultdict(list)
    for i, terms in enumerate(constraints):
        for c in terms:
            by_cell[c].append(i)

    primary = {c for c, v in values.items() if _sensitive(v, k, zeros_are_disclosive)}
    unknown = primary | table.latent | {c for c, v in values.items() if v is None}
    must_hide = set(primary)   # suppressed cells and sensitive latent cells
    secondary: set[Cell] = set()
    n_unknown = [sum(c in unknown for c in terms) for terms in constraints]
    work = [i for i, n in enumerate(n_unknown) if n == 1]

    def latent_sensitive(cell: Cell, value) -> bool:
        return cell not in values and value != 0 and _sensitive(value, k, zeros_are_disclosive)

    def candidates(rows: Iterable[int]) -> list[Cell]:
        return [c for i in rows for c in constraints[i] if c not in unknown]

    def pick(pools: list[list[Cell]]) -> Cell | None:
        for pool in pools:
            if pool:
                return min(pool, key=lambda c: (sum(n_unknown[j] == 0 for j in by_cell[c]), values[c], order[c]))
        return None

    def suppress(cell: Cell) -> None:
        unknown.add(cell)
        must_hide.add(cell)
        secondary.add(cell)
        for j in by_cell[cell]:
            n_unknown[j] += 1
            if n_unknown[j] == 1:
                work.append(j)

    clean: set[frozenset] = set()
    while True:
        # Fast pass: relations with a single hidden cell.
        while work:
            i = work.pop()
            if n_unknown[i] != 1:
                continue
            terms = constraints[i]
            (u,) = [c for c in terms if c in unknown]
            if u not in must_hide and u not in values:
                if latent_sensitive(u, -Fraction(sum(x * values[c] for c, x in terms.items() if c != u), terms[u])):
                    must_hide.add(u)
            if u in must_hide:
                others = candidates([i])
                cell = pick([[c for c in others if values[c] != 0], others])
                if cell is not None:
                    suppress(cell)
        # Exact pass: anything still fixed by longer chains.
        changed = False
        for group, rows in _components(constraints, unknown):
            if group in clean:
                continue
            fixed = _solve(constraints, rows, values, unknown)
            exposed = []
            for cell, value in fixed.items():
                if cell in must_hide or latent_sensitive(cell, value):
                    must_hide.add(cell)
                    exposed.append(cell)
            if not exposed:
                clean.add(group)
                continue
            cell = min(exposed, key=lambda c: order.get(c, len(order)))
            near, far = candidates(by_cell[cell]), candidates(rows)
            choice = pick([[c for c in near if values[c] != 0], [c for c in far if values[c] != 0], near, far])
            if choice is None:
                raise RuntimeError(f"cannot protect {cell!r}: every related cell is already hidden")
            suppress(choice)
            changed = True
        if not changed and not work:
            break

    # Clean-up: publish again any secondary cell (largest first) that is not needed.
    def leaks(rows: set[int]) -> bool:
        fixed = _solve(constraints, sorted(rows), values, unknown)
        return any(cell in must_hide or latent_sensitive(cell, value) for cell, value in fixed.items())

    for cell in sorted(secondary, key=lambda c: (-values[c], -order[c])):
        unknown.discard(cell)
        rows: set[int] = set()
        group: set[Cell] = set()
        todo = list(by_cell[cell])
        while todo and len(group) <= CLEANUP_MAX_GROUP:   # relations linked to this cell through hidden cells
            i = todo.pop()
            if i not in rows:
                rows.add(i)
                hidden = [c for c in constraints[i] if c in unknown and c not in group]
                group.update(hidden)
                todo += [j for c in hidden for j in by_cell[c]]
        if len(group) > CLEANUP_MAX_GROUP or leaks(rows):
            unknown.add(cell)
        else:
            secondary.discard(cell)
            must_hide.discard(cell)
    return Protection(frozenset(primary), frozenset(secondary))


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
        out = []
        for i, (cell, value) in enumerate(zip(cells, df[column].tolist())):
            missing = value is None or pd.isna(value)
            if flags is not None and flags[i]:
                if not missing:
                    self.issues.append(Exposure(cell, int(value), f"{mart}.{column} is flagged but shows its value"))
                self.flagged.add(cell)
                self.table.add(cell, None)
                out.append(cell)
            elif missing or cell is None:
                out.append(None)
            else:
                self.table.add(cell, int(value))
                out.append(cell)
        self.counts[mart][column] = out

    def follows(self, mart: str, column: str, inputs: list[tuple]) -> None:
        self.derived[mart][column] = inputs

    def structure(self, a, y) -> None:
        """Victims by sex x age class with its margins (published or latent)."""
        if (a, y) in self._structured:
            return
        self._structured.add((a, y))
        t = self.table

        def sc(s, c):
            return ("victims_sex_class", a, y, s, c)
        t.add_sum(_victims(a, y), [("victims_sex", a, y, s) for s in SEXES])
        t.add_sum(_victims(a, y), [("victims_class", a, y, c) for c in AGE_CLASSES])
        for s in SEXES:
            t.add_sum(("victims_sex", a, y, s), [sc(s, c) for c in AGE_CLASSES])
        for c in AGE_CLASSES:
            t.add_sum(("victims_class", a, y, c), [sc(s, c) for s in SEXES])


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
        for (a, y), parts in groups.items():
            r.table.add_sum(_victims(a, y), parts)


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
    for a, y in {key[:2] for key in keys}:
        r.structure(a, y)
        for s in SEXES:
            for c in AGE_CLASSES:
                r.table.add_sum(("victims_sex_class", a, y, s, c), by_sex_class.get((a, y, s, c), []))
    for (a, y, g), parts in by_group.items():
        r.table.add_sum(("victims_age_group", a, y, g), parts)


def _month_sums(r: _Reader, keys: list[tuple]) -> None:
    groups: dict[tuple, list] = defaultdict(list)
    for a, y, m in keys:
        groups[(a, y)].append(("victims_month", a, y, m))
    for (a, y), parts in groups.items():
        r.table.add_sum(_victims(a, y), parts)


def _read_month(r: _Reader, mart: str, df: pd.DataFrame) -> None:
    keys = _keys(df, "agency", "year", "month")
    r.count(mart, df, "victims", [("victims_month", *key) for key in keys])
    _month_sums(r, keys)


def _read_completeness(r: _Reader, mart: str, df: pd.DataFrame) -> None:
    keys = _keys(df, "agency", "year", "month")
    rows = [("rows_staged", *key) for key in keys]
    r.count(mart, df, "victims", [("victims_month", *key) for key in keys])
    r.count(mart, df, "rows_staged", rows)
    r.follows(mart, "has_data", [(c,) for c in rows])
    _month_sums(r, keys)
    groups: dict[tuple, list] = defaultdict(list)
    for a, y, m in keys:
        perpetrators = ("perpetrator_records_month", a, y, m)   # latent: rows_staged - victims
        r.table.add_sum(("rows_staged", a, y, m), [("victims_month", a, y, m), perpetrators])
        groups[(a, y)].append(perpetrators)
    for (a, y), parts in groups.items():
        r.table.add_sum(("child_perpetrator_records", a, y), parts)


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


def audit_marts(published: Mapping[str, pd.DataFrame], k: int = DEFAULT_K,
                zeros_are_disclosive: bool = False) -> list[Exposure]:
    """Attack the published marts using only what they show; an empty list means safe.

    Finds small counts left visible, suppressed counts that can be worked out (also from
    another mart that shows the same count), and derived values (rates, shares, changes)
    shown although a count they come from is suppressed.
    """
    reader = _read(published, published=True)
    found = list(reader.issues)
    for cell in sorted(reader.flagged, key=repr):
        if reader.table.values.get(cell) is not None:
            found.append(Exposure(cell, reader.table.values[cell], "suppressed in one place, shown in another"))
    for name, columns in reader.derived.items():
        df = published[name].reset_index(drop=True)
        for column, inputs in columns.items():
            if column not in df:
                continue
            for value, cells in zip(df[column].tolist(), inputs):
                if not pd.isna(value) and any(c in reader.flagged for c in cells):
                    found.append(Exposure((name, column, cells[0]), value,
                                          f"{name}.{column} shown although its count is suppressed"))
    found += audit(reader.table, reader.flagged, k, zeros_are_disclosive)
    return found
