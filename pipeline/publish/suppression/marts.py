"""The marts as cells and relations for the suppression engine: each mart's counts,
the totals and differences that link them, and the derived values (rates, shares,
changes) that follow their counts. `protect_marts` and `audit_marts` work on whole
marts, all of them in one call since they share counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping

import pandas as pd

from pipeline.publish.suppression.engine import audit, protect
from pipeline.publish.suppression.table import DEFAULT_K, FLAG, Cell, Exposure, Table, _gc_paused

# ---------------------------------------------------------------------------
# The marts as cells and relations.

SEXES = ("P", "L", "U")                        # U: not recorded (TIDAK_DIKETAHUI)
AGE_CLASSES = ("ANAK", "DEWASA", "TIDAK_DIKETAHUI")
# A region's victims and cases in a year: what comparisons are read from, hidden as a secondary
# suppression only when no other count will do.
HEADLINE = ("victims", "cases")
# Breakdowns where every victim counts once: the rows add up to the victims total.
ADDITIVE = {"victims_by_place": "place", "victims_by_relation": "perp_relation", "victims_by_kdrt": "is_kdrt",
            "victims_by_case_status": "case_status", "victims_by_kecamatan": "kecamatan_code"}
# Breakdowns where a victim can count under several rows: no sum.
MULTIPLE = {"victims_by_form": "violence_form", "victims_by_service": "service"}


def _victims(a, y):
    return ("victims", a, y)


class _Reader:
    """Reads marts into a Table and remembers where each cell and derived value sits."""

    def __init__(self, published: bool, relations: bool = True) -> None:
        self.published = published
        self.table = Table() if relations else _CellsOnly()
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
    for column in INTERVAL_COLUMNS:  # an interval's bounds tell its count: they follow it
        r.follows(mart, column, [(c,) for c in cells["victims"]])


# Columns computed from victims (a Poisson interval, the rule for counts under 20): suppressed with it.
INTERVAL_COLUMNS = ("victims_ci_low", "victims_ci_high", "victims_per_100k_ci_low", "victims_per_100k_ci_high",
                    "unstable")


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
    victims = [_victims(a, y) for a, y in keys]
    for column in INTERVAL_COLUMNS:
        r.follows(mart, column, [(c,) for c in victims])
    if "victims_same_months" in df:
        # sums of monthly counts over the months reported in both years (see _same_month_sums)
        same = [("victims_same_months", a, y) for a, y in keys]
        same_before = [("victims_same_months_prev_year", a, y) for a, y in keys]
        r.count(mart, df, "victims_same_months", same)
        r.count(mart, df, "victims_same_months_prev_year", same_before)
        for column in ("change_pct_same_months", "change_p_value", "change_significant"):
            r.follows(mart, column, list(zip(same, same_before)))


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
    # reported or reported_zero tells whether rows were staged, as has_data does
    r.follows(mart, "coverage_status", [(c,) for c in rows])
    _month_sums(r, keys, victims)
    perpetrators = [("perpetrator_records_month", *key) for key in keys]   # latent: rows_staged - victims
    # a month whose victims a recap gives has no staged rows behind them
    from_rows = (df["source"] != "recap").tolist() if "source" in df else [True] * len(keys)
    r.table.add_sums((row, (v, p)) for row, v, p, ok in zip(rows, victims, perpetrators, from_rows) if ok)
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


class _CellsOnly(Table):
    """A table that keeps nothing: for a reader asked only where each cell sits (`counts`,
    `derived`), as applying a decision already made needs, not for the relations and values
    that protecting or auditing needs."""

    def _add_all(self, cells, values) -> None:
        pass

    def add_constraint(self, coefficients) -> None:
        pass

    def add_sums(self, sums) -> None:
        pass


def _read(marts: Mapping[str, pd.DataFrame], published: bool, relations: bool = True) -> _Reader:
    unknown = sorted(set(marts) - set(READERS))
    if unknown:
        raise ValueError(f"no suppression rule for mart(s) {unknown}: add a reader to pipeline/suppression.py")
    reader = _Reader(published, relations)
    for name, df in marts.items():
        READERS[name](reader, name, df.reset_index(drop=True))
    if "yoy_by_region" in marts and "reporting_completeness" in marts:
        _same_month_sums(reader, marts["yoy_by_region"], marts["reporting_completeness"])
    return reader


def _same_month_sums(r: _Reader, yoy: pd.DataFrame, months: pd.DataFrame) -> None:
    """victims_same_months = the monthly victims of the months reported in both years, and
    victims_same_months_prev_year the same months a year before (coverage_status is public;
    where it is suppressed the month had rows, so it was reported)."""
    status = months["coverage_status"].astype(object)
    reported = {(str(a), int(y), int(m)) for a, y, m, s in zip(months["agency"], months["year"], months["month"], status)
                if s is None or pd.isna(s) or s in ("reported", "reported_zero")}
    keys = _keys(yoy.reset_index(drop=True), "agency", "year")
    sums = []
    for a, y in keys:
        same = [m for m in range(1, 13) if (a, y, m) in reported and (a, y - 1, m) in reported]
        if same:
            sums.append((("victims_same_months", a, y), [("victims_month", a, y, m) for m in same]))
            sums.append((("victims_same_months_prev_year", a, y), [("victims_month", a, y - 1, m) for m in same]))
    r.table.add_sums(sums)


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
                  zeros_are_disclosive: bool = False, force: Collection[Cell] = (),
                  keep: Collection[Cell] = ()) -> dict[str, pd.DataFrame]:
    """The publishable marts: suppressed values NULL, with a `<column>_suppressed` flag.

    All marts must be protected together: they share counts (victims per agency-year
    appears in several). A mart without a reader raises ValueError. `force`: cells to
    suppress whatever their count; `keep`: cells never suppressed as secondaries (see `protect`).
    """
    return suppress_marts(marts, k, zeros_are_disclosive, force, keep)[0]


@_gc_paused
def suppress_marts(marts: Mapping[str, pd.DataFrame], k: int = DEFAULT_K, zeros_are_disclosive: bool = False,
                   force: Collection[Cell] = (), keep: Collection[Cell] = (),
                   hidden: Collection[Cell] | None = None) -> tuple[dict[str, pd.DataFrame], set[Cell]]:
    """protect_marts, and the cells it suppressed (published or not: a margin nobody shows may
    be one). `hidden`: suppress these cells and choose none (the decision of an earlier run on
    the same marts, publish/public.py), instead of protecting."""
    reader = _read(marts, published=False, relations=hidden is None)
    if hidden is None:
        headline = [c for c in reader.table._cells if isinstance(c, tuple) and len(c) == 3 and c[0] in HEADLINE]
        hidden = protect(reader.table, k, zeros_are_disclosive, force, keep, spare=headline).suppressed
    hidden = set(hidden)
    out = {}
    for name, df in marts.items():
        df = df.reset_index(drop=True).copy()
        for column, cells in reader.counts[name].items():
            _hide(df, column, [c is not None and c in hidden for c in cells])
        for column, inputs in reader.derived[name].items():
            if column in df:
                _hide(df, column, [any(c in hidden for c in cells) for cells in inputs])
        out[name] = df
    return out, hidden


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
