"""Primary and secondary suppression of a Table (`protect`) and the independent audit
that tries to recover every suppressed cell (`audit`); the rule is in the package's
docstring.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pipeline.publish.suppression.algebra import (
    _as_number,
    _components,
    _Elimination,
    _Groups,
    _lone,
    _relation,
    _solve,
)
from pipeline.publish.suppression.table import (
    DEFAULT_K,
    Cell,
    Exposure,
    Protection,
    Table,
    _check_k,
    _gc_paused,
    _sensitive,
)

# The clean-up step of `protect` re-solves the group of each secondary cell; it skips
# groups with more hidden cells than this (they keep their suppressions) to bound time.
CLEANUP_MAX_GROUP = 150
# A group solved this many times keeps an elimination (`_Elimination`) from then on, updated
# as cells are hidden, instead of being solved anew each pass: most groups are solved once,
# and making an elimination costs a few solves.
SOLVES_BEFORE_ELIMINATION = 2
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
def protect(table: Table, k: int = DEFAULT_K, zeros_are_disclosive: bool = False,
            force: Collection[Cell] = (), keep: Collection[Cell] = (), spare: Collection[Cell] = ()) -> Protection:
    """Primary suppression of sensitive counts, then secondary suppression until `audit` is clean.

    `force`: cells suppressed and protected like sensitive ones whatever their count (the cells
    another release suppressed, suppression/across.py); they are returned among the primary.
    `keep`: cells never chosen as secondary suppressions (another release shows them: hiding
    them would protect nothing).
    `spare`: cells chosen as secondary suppressions only when no other cell of the relation will
    do (the headline counts a comparison is read from: a region's victims and cases in a year).

    Secondary step: a relation with exactly one hidden sensitive cell gets one more
    suppression among its published cells: non-zero first, then the one that leaves the
    fewest other relations with a single hidden cell, then the smallest. This repeats to a
    fixed point; then exact elimination looks for any hidden cell still fixed by a longer
    chain of relations, and each such cell gets one more suppression next to it. Ends when
    nothing can be worked out (or raises RuntimeError if only hidden cells are left to use).
    """
    return _protect(table, k, zeros_are_disclosive, incremental=True, force=force, keep=keep, spare=spare)


def _protect(table: Table, k: int, zeros_are_disclosive: bool, incremental: bool,
             force: Collection[Cell] = (), keep: Collection[Cell] = (), spare: Collection[Cell] = ()) -> Protection:
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
    primary |= {table._number[c] for c in force if c in table._number and order[table._number[c]] is not None}
    latent = {c for c, position in enumerate(order) if position is None}
    unknown = primary | latent | {c for c in published if values[c] is None}
    must_hide = set(primary)   # suppressed cells and sensitive latent cells
    secondary: set[int] = set()
    groups = _Groups(constraints, by_cell, unknown)
    n_unknown = groups.counts    # hidden cells per relation, kept up to date by suppress
    work = [i for i, n in enumerate(n_unknown) if n == 1]

    def latent_sensitive(cell: int, value) -> bool:
        return order[cell] is None and value != 0 and _sensitive(value, k, zeros_are_disclosive)

    shown = {table._number[c] for c in keep if c in table._number}
    last_resort = {table._number[c] for c in spare if c in table._number}

    def candidates(rows: Iterable[int]) -> list[int]:
        return [c for i in rows for c in constraints[i] if c not in unknown and c not in shown]

    def pick(pools: list[list[int]]) -> int | None:
        """The best cell of the earliest pool, except that a zero comes after every non-zero count
        (the weakest complement) and a spare cell after every other non-zero count."""
        ranked = [(values[c] == 0, c in last_resort, p, sum(n_unknown[j] == 0 for j in by_cell[c]), values[c],
                   order[c], c) for p, pool in enumerate(pools) for c in pool]
        return min(ranked)[-1] if ranked else None

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

    # Clean-up: publish again any secondary cell (spare cells, then the largest, first) that is not needed.
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

    for cell in sorted(secondary, key=lambda c: (c not in last_resort, -values[c], -order[c])):
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


