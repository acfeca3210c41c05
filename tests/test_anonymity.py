"""k-anonymity and l-diversity of the researchers' rows (pipeline/publish/anonymity.py), checked
with the project's own measure and with pyCANON, a library written by others."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pycanon import anonymity as canon

from pipeline.publish.anonymity import PUBLISHED_QI, SENSITIVE, kept_shares, measure, release

GROUPS = ["0-5", "6-12", "13-17", "18-24", "25-44", "45-59", "60+"]
FORMS = ["FISIK", "PSIKIS", "SEKSUAL", "FISIK,PSIKIS", "PENELANTARAN"]
RELATIONS = ["ORANG_TUA", "KELUARGA_SAUDARA", "SUAMI_ISTRI", "PACAR_TEMAN", "TETANGGA", "GURU", None]
PLACES = ["RUMAH_TANGGA", "SEKOLAH", "FASILITAS_UMUM", "LAINNYA", None]


def rows(n: int, agency: str, seed: int, kecamatan: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(GROUPS + [None], n, p=[0.1, 0.2, 0.25, 0.15, 0.15, 0.05, 0.04, 0.06])
    return pd.DataFrame({
        "agency": agency, "year": rng.choice([2023, 2024], n), "report_month": rng.integers(1, 13, n),
        "victim_age_group": group,
        "is_child": pd.array([None if g is None else g in GROUPS[:3] for g in group], dtype="boolean"),
        "victim_sex": rng.choice(["P", "L"], n, p=[0.8, 0.2]),
        "kecamatan_code": rng.choice([f"64.02.{i:02d}" for i in range(1, kecamatan + 1)] + [None], n),
        "perp_relation": rng.choice(RELATIONS, n), "place": rng.choice(PLACES, n),
        SENSITIVE: rng.choice(FORMS, n, p=[0.3, 0.2, 0.35, 0.1, 0.05]),
    })


def one(**values) -> dict:
    base = {"agency": "ppu", "year": 2024, "report_month": 3, "victim_age_group": "6-12", "is_child": True,
            "victim_sex": "P", "kecamatan_code": "64.09.01", "perp_relation": "ORANG_TUA", "place": "RUMAH_TANGGA",
            SENSITIVE: "SEKSUAL"}
    return {**base, **values}


def pycanon_k_l(published: pd.DataFrame) -> tuple[int, int]:
    """pyCANON on the published rows: NULL becomes a value of its own (pyCANON drops NaN rows)
    and the index a RangeIndex (pyCANON indexes by position)."""
    table = published[[*PUBLISHED_QI, SENSITIVE]].astype(object).fillna("<null>").astype(str).reset_index(drop=True)
    return canon.k_anonymity(table, list(PUBLISHED_QI)), canon.l_diversity(table, list(PUBLISHED_QI), [SENSITIVE])


@pytest.mark.parametrize("k", [2, 5, 10])
def test_every_published_group_has_k_rows_and_two_forms_by_pycanon_too(k):
    data = pd.concat([rows(3000, "batam", 1, kecamatan=12), rows(400, "kutim", 2, kecamatan=18),
                      rows(40, "ppu", 3, kecamatan=4), rows(1, "tiny", 4)], ignore_index=True)
    result = release(data, k)
    published = result.rows
    assert len(published) > 0.5 * len(data)
    found = measure(published)
    assert found["k"] >= k and found["l"] >= 2
    assert pycanon_k_l(published)[0] >= k and pycanon_k_l(published)[1] >= 2
    # the input itself breaks it, so the check can fail
    raw = data.assign(report_quarter=(data["report_month"] - 1) // 3 + 1)
    assert measure(raw)["k"] == 1 and pycanon_k_l(raw)[0] == 1
    # an agency's one row can never be protected: dropped, and recorded
    assert "tiny" not in set(published["agency"])
    tiny = result.disclosure[result.disclosure["agency"] == "tiny"]
    assert set(tiny["rows_dropped"]) == {1} and tiny["rows"].sum() == 0


def test_the_disclosure_accounts_for_every_row():
    data = pd.concat([rows(800, "kukar", 5), rows(60, "bontang", 6, kecamatan=3)], ignore_index=True)
    result = release(data, 5)
    table = result.disclosure
    for agency, part in table.groupby("agency"):
        n_in = int((data["agency"] == agency).sum())
        n_out = int((result.rows["agency"] == agency).sum())
        assert set(part["rows_in"]) == {n_in} and set(part["rows_dropped"]) == {n_in - n_out}
        assert (part.groupby("quasi_identifier")["rows"].sum() == n_out).all()
    period = table[(table["agency"] == "kukar") & (table["quasi_identifier"] == "report_period")]
    published = result.rows[result.rows["agency"] == "kukar"]
    by_level = dict(zip(period["level"], period["rows"]))
    assert by_level.get("month", 0) == published["report_month"].notna().sum()
    assert by_level.get("year", 0) == published["report_quarter"].isna().sum()
    # a blanked kecamatan was known before: the cells changed to blank are the newly blank ones
    kec = table[(table["agency"] == "kukar") & (table["quasi_identifier"] == "kecamatan_code")].set_index("level")
    before = data.loc[published.index, "kecamatan_code"]
    assert kec.loc["blank", "cells_changed"] == (before.notna() & published["kecamatan_code"].isna()).sum()


def test_the_period_is_generalised_before_anything_is_blanked():
    data = pd.DataFrame([one(report_month=m, **{SENSITIVE: f}) for m, f in
                         [(1, "FISIK"), (1, "SEKSUAL"), (2, "FISIK"), (2, "PSIKIS"), (3, "SEKSUAL"), (3, "FISIK")]])
    result = release(data, 5)
    assert len(result.rows) == 6
    assert result.rows["report_month"].isna().all() and (result.rows["report_quarter"] == 1).all()
    assert result.rows["kecamatan_code"].notna().all() and result.rows["victim_age_group"].notna().all()


def test_a_group_that_is_safe_is_never_touched_and_the_rarest_value_goes_first():
    safe = [one(**{SENSITIVE: f}) for f in ["FISIK", "SEKSUAL", "PSIKIS", "SEKSUAL", "FISIK"]]
    # two groups of three that differ by kecamatan only: blanking it merges them into six
    merged = [one(year=2023, kecamatan_code=kec, **{SENSITIVE: f}) for kec in ("64.09.02", "64.09.03")
              for f in ("FISIK", "SEKSUAL", "PSIKIS")]
    data = pd.DataFrame(safe + merged)
    result = release(data, 5)
    kept = result.rows
    assert len(kept) == 11
    assert kept.loc[:4, "report_month"].tolist() == [3] * 5 and kept.loc[:4, "kecamatan_code"].notna().all()
    late = kept.loc[5:]
    assert late["kecamatan_code"].isna().all()  # the rarest value: 3 rows each in the agency
    assert late["victim_age_group"].notna().all() and late["perp_relation"].notna().all()  # 11 rows: kept


def test_rows_that_cannot_be_protected_are_dropped_and_l_diversity_counts():
    # five rows alike, one form only: k holds, l does not; nothing to merge them with
    data = pd.DataFrame([one(**{SENSITIVE: "SEKSUAL"}) for _ in range(5)])
    result = release(data, 5)
    assert result.rows.empty
    assert set(result.disclosure["rows_dropped"]) == {5}
    assert release(data, 5, l=1).rows.shape[0] == 5


def test_the_age_goes_to_child_or_adult_before_it_is_blanked():
    data = pd.DataFrame([one(victim_age_group=g, **{SENSITIVE: f}) for g, f in
                         [("0-5", "FISIK"), ("6-12", "SEKSUAL"), ("6-12", "PSIKIS"), ("13-17", "FISIK"),
                          ("13-17", "SEKSUAL")]])
    result = release(data, 5)
    assert len(result.rows) == 5
    assert result.rows["victim_age_group"].isna().all() and result.rows["is_child"].all()


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="missing columns"):
        release(pd.DataFrame({"agency": ["a"]}), 5)
    with pytest.raises(ValueError, match="at least 1"):
        release(pd.DataFrame([one()]), 0)


def test_kept_shares_say_what_the_protection_cost():
    data = pd.concat([rows(2000, "batam", 7)], ignore_index=True)
    result = release(data, 5)
    shares = kept_shares(data, result.rows)
    assert 0 < shares["rows"] <= 1 and 0 <= shares["month"] <= shares["rows"]
    assert kept_shares(data, data.iloc[:0]) == {"rows": 0.0, "age_group": 0.0, "kecamatan": 0.0, "month": 0.0}


def test_agencies_protected_apart_give_what_all_at_once_gives():
    """The analytics copy protects a batch of agencies at a time (publish/analytics.release_rows):
    right only because no group crosses agencies, which this checks on the whole result."""
    data = pd.concat([rows(900, "batam", 5), rows(300, "kutim", 6, kecamatan=18), rows(30, "ppu", 7),
                      rows(2, "tiny", 8)], ignore_index=True)
    whole = release(data, 5)
    parts = [release(data[data["agency"] == a], 5) for a in ["batam", "kutim", "ppu", "tiny"]]
    pd.testing.assert_frame_equal(whole.rows.sort_index(), pd.concat([p.rows for p in parts]).sort_index())
    pd.testing.assert_frame_equal(whole.disclosure, pd.concat([p.disclosure for p in parts], ignore_index=True))


def test_agency_batches_keep_the_order_and_the_limit():
    from pipeline.publish.analytics import agency_batches

    counts = [("a", 30), ("b", 30), ("c", 50), ("d", 120), ("e", 10), ("f", 5)]
    assert agency_batches(counts, 60) == [["a", "b"], ["c"], ["d"], ["e", "f"]]
    assert agency_batches(counts, 1000) == [["a", "b", "c", "d", "e", "f"]]
    assert agency_batches([], 60) == []
