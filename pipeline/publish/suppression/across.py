"""Suppression across two releases: no count suppressed in one may be worked out with the other.

A reader holding two releases of the same tables knows more than either shows: where a count
did not change between them (which the release notes largely tell), the two releases publish
one quantity twice. A count suppressed as a secondary in the first and published in the
second, or fixed by the second's equations, can then give away a small count of the first by
difference. The attacker modelled here knows exactly which counts stayed the same (the
strongest such reader): the counts behind each release are kept (meta.release_cells, never
published) and a count equal in both releases is one unknown in the joint system of both
releases' published values and relations, which `audit` then solves.

`protect_across` protects the new release alone and, when the pair leaks, again with every
unchanged count the previous release suppressed suppressed too (and none it showed chosen as a
secondary), then with the published counts that share a relation with what is still found;
the single-release protection runs each time, so the new release stays safe on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping

import pandas as pd

from pipeline.publish.suppression.engine import audit
from pipeline.publish.suppression.marts import _read
from pipeline.publish.suppression.table import DEFAULT_K, Cell, Exposure, Table, _gc_paused

ROUNDS = 6
PREVIOUS, NEW, SAME = "previous", "new", "same"


def true_counts(marts: Mapping[str, pd.DataFrame]) -> dict[Cell, int]:
    """Every count the marts publish (before suppression), by cell."""
    return {c: v for c, v in _read(marts, published=False).table.values.items() if v is not None}


def cell_text(cell: Cell) -> str:
    return json.dumps(cell)


def text_cell(text: str) -> Cell:
    def tupled(x):
        return tuple(tupled(v) for v in x) if isinstance(x, list) else x
    return tupled(json.loads(text))


def unchanged(before: Mapping[Cell, int], now: Mapping[Cell, int]) -> set[Cell]:
    return {c for c, v in now.items() if before.get(c) == v}


@_gc_paused
def audit_pair(previous: Mapping[str, pd.DataFrame], new: Mapping[str, pd.DataFrame], same: Collection[Cell],
               k: int = DEFAULT_K, zeros_are_disclosive: bool = False) -> list[Exposure]:
    """What a reader of both published releases can work out that neither gives alone: each
    suppressed count recovered, named (release, cell) or ('same', cell) for a count of both."""
    same = set(same)
    joint = Table()
    flagged: set[Cell] = set()

    def name(side: str, cell: Cell) -> Cell:
        return (SAME, cell) if cell in same else (side, cell)

    for side, published in ((PREVIOUS, previous), (NEW, new)):
        reader = _read(published, published=True)
        table = reader.table
        joint._add_all([name(side, c) for c in table.values], table.values.values())
        for row in table.constraints:
            joint.add_constraint({name(side, c): x for c, x in row.items()})
        flagged |= {name(side, c) for c in reader.flagged}
    values = joint.values
    found = [Exposure(c, values[c], "suppressed in one release, shown in the other")
             for c in sorted(flagged, key=repr) if values.get(c) is not None]
    hidden = {c for c in flagged if values.get(c) is None}  # suppressed in both: the attacker's unknowns
    found += [e for e in audit(joint, hidden, k, zeros_are_disclosive) if e.reason == "derived"]
    return found


def protect_across(counts: Mapping[Cell, int], protect: Callable[[Collection[Cell], Collection[Cell]], dict],
                   previous: Mapping[str, pd.DataFrame] | None, previous_counts: Mapping[Cell, int],
                   k: int = DEFAULT_K, zeros_are_disclosive: bool = False) -> tuple[dict[str, pd.DataFrame], set]:
    """The marts whose counts are `counts` (true_counts), protected so that they and the
    `previous` release leak nothing together; returns them and the cells suppressed because of
    the previous release (beyond what protecting them alone suppresses). `protect(force, keep)`
    gives the marts with the cells of `force` suppressed too and none of `keep` chosen as a
    secondary suppression (protect_marts). When the marts protected alone leak with the previous
    release, a count unchanged since keeps its fate there: suppressed if it was, never
    suppressed as a secondary if it was shown (hiding it would protect nothing: it is public);
    then the published counts related to what can still be worked out are suppressed too."""
    alone = protect((), ())
    if not previous:
        return alone, set()
    same = unchanged(previous_counts, counts)
    found = audit_pair(previous, alone, same, k, zeros_are_disclosive)
    if not found:
        return alone, set()
    before = _read(previous, published=True)
    force = before.flagged & same
    keep = {c for c, v in before.table.values.items() if v is not None and c in same} - force
    for _ in range(ROUNDS):
        published = protect(force, keep)
        found = audit_pair(previous, published, same, k, zeros_are_disclosive)
        if not found:
            return published, _read(published, published=True).flagged - _read(alone, published=True).flagged
        more = _neighbours(published, {e.cell[1] for e in found}) - force - keep
        if not more:
            break
        force |= more
    raise RuntimeError(f"the new release and the previous one together reveal {len(found)} suppressed count(s), "
                       f"e.g. {found[0].cell!r}, and suppressing more did not help")


def _neighbours(published: Mapping[str, pd.DataFrame], cells: set[Cell]) -> set[Cell]:
    """Published counts that share a relation with one of `cells`."""
    reader = _read(published, published=True)
    shown = {c for c, v in reader.table.values.items() if v is not None}
    return {c for row in reader.table.constraints if cells & row.keys() for c in row if c in shown}
