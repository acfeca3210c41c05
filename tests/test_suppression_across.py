"""Suppression across two releases (pipeline/publish/suppression/across.py): a planted differencing leak."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.publish.suppression import audit_marts, protect_marts
from pipeline.publish.suppression.across import audit_pair, cell_text, protect_across, text_cell, true_counts

KECAMATAN = {"A": 3, "B": 8, "C": 20}


def marts() -> dict[str, pd.DataFrame]:
    total = sum(KECAMATAN.values())
    region = pd.DataFrame({"agency": ["kukar"], "year": [2023], "cases": [total], "victims": [total],
                           "victims_female": [total], "victims_male": [0], "child_victims": [total],
                           "adult_female_victims": [0]})
    kec = pd.DataFrame({"agency": "kukar", "year": 2023, "kecamatan_code": list(KECAMATAN),
                        "victims": list(KECAMATAN.values())})
    return {"victims_by_region_year": region, "victims_by_kecamatan": kec}


def published(hidden: set[str]) -> dict[str, pd.DataFrame]:
    """The marts as a release shows them with the kecamatan in `hidden` suppressed."""
    out = marts()
    kec = out["victims_by_kecamatan"]
    mask = kec["kecamatan_code"].isin(hidden)
    kec["victims"] = kec["victims"].astype("Int64").mask(mask)
    kec.insert(kec.columns.get_loc("victims") + 1, "victims_suppressed", mask)
    return out


def test_each_release_alone_is_safe_but_the_pair_reveals_the_small_count():
    before, after = published({"A", "C"}), published({"A", "B"})
    assert audit_marts(before) == [] and audit_marts(after) == []
    same = set(true_counts(marts()))  # nothing changed between the releases
    found = audit_pair(before, after, same)
    assert [(e.cell, e.value) for e in found if e.reason == "derived"] == [
        (("same", ("victims_by_kecamatan", "kukar", 2023, "A")), 3)]
    # C suppressed in one release is shown in the other: that alone is reported too
    assert any(e.cell == ("same", ("victims_by_kecamatan", "kukar", 2023, "C")) for e in found)


def test_counts_that_changed_are_not_linked():
    before, after = published({"A", "C"}), published({"A", "B"})
    assert audit_pair(before, after, same=set()) == []


def protect(force, keep):
    return protect_marts(marts(), force=force, keep=keep)


def test_a_release_like_the_previous_one_needs_nothing_more():
    counts = true_counts(marts())
    protected, forced = protect_across(counts, protect, published({"A", "B"}), counts)
    assert forced == set()
    assert protected["victims_by_kecamatan"]["victims_suppressed"].tolist() == [True, True, False]


def test_protect_across_suppresses_more_in_the_new_release_until_the_pair_is_safe():
    before = published({"A", "C"})
    counts = true_counts(marts())
    protected, forced = protect_across(counts, protect, before, counts)
    kec = protected["victims_by_kecamatan"].set_index("kecamatan_code")
    assert protect_marts(marts())["victims_by_kecamatan"]["victims_suppressed"].tolist() == [True, True, False]
    # the previous release's pattern is carried over: B, which only the new release hid, is published again
    assert kec["victims_suppressed"].to_dict() == {"A": True, "B": False, "C": True}
    assert forced == {("victims_by_kecamatan", "kukar", 2023, "C")}  # beyond protecting the release alone
    assert audit_pair(before, protected, set(counts)) == []
    assert audit_marts(protected) == []


def test_without_a_previous_release_nothing_more_is_suppressed():
    protected, forced = protect_across(true_counts(marts()), protect, None, {})
    assert forced == set()
    assert protected["victims_by_kecamatan"]["victims_suppressed"].tolist() == [True, True, False]


@pytest.mark.parametrize("cell", [("victims", "kukar", 2023), ("victims_sex_class", "x", 2020, "P", "ANAK")])
def test_cells_round_trip_through_text(cell):
    assert text_cell(cell_text(cell)) == cell
