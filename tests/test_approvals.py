"""Approved figures in what is published (pipeline/publish/approvals.py): pure functions on frames."""

from __future__ import annotations

import json

import pandas as pd

from pipeline.publish.approvals import content_hash, period_rows, with_approvals


def marts(victims_2023: int) -> dict[str, pd.DataFrame]:
    region = pd.DataFrame({"agency": "ppu", "year": [2023, 2024], "victims": [victims_2023, 25],
                           "cases": [victims_2023 - 2, 24]})
    yoy = pd.DataFrame({"agency": "ppu", "year": [2023, 2024], "victims": [victims_2023, 25],
                        "victims_prev_year": [20, victims_2023], "change_abs": [victims_2023 - 20, 25 - victims_2023]})
    months = pd.DataFrame({"agency": "ppu", "year": 2023, "month": [1, 2], "victims": [10, victims_2023 - 10]})
    return {"victims_by_region_year": region, "yoy_by_region": yoy, "victims_by_month": months}


def approval(frames, approval_id="ppu:2023@1", month=None) -> pd.DataFrame:
    rows = period_rows(frames, "ppu", 2023, month)
    return pd.DataFrame([{"approval_id": approval_id, "agency": "ppu", "year": 2023, "month": month,
                          "content_sha256": content_hash(rows), "figures": json.dumps(rows)}])


def test_the_hash_ignores_row_order_but_not_values():
    a = period_rows(marts(30), "ppu", 2023)
    b = {name: list(reversed(rows)) for name, rows in a.items()}
    assert content_hash(a) == content_hash(b) != content_hash(period_rows(marts(31), "ppu", 2023))


def test_unchanged_figures_are_published_as_approved():
    out = with_approvals(marts(30), approval(marts(30)))
    region = out["victims_by_region_year"]
    assert region["approval_status"].tolist() == ["approved", "provisional"]
    assert region["approval_id"].tolist()[0] == "ppu:2023@1"
    assert out["yoy_by_region"]["victims_prev_year"].tolist() == [20, 30]


def test_a_correction_after_approval_publishes_the_approved_rows_as_a_pending_revision():
    out = with_approvals(marts(32), approval(marts(30)))
    region = out["victims_by_region_year"].reset_index(drop=True)
    assert region[["year", "victims", "cases", "approval_status"]].values.tolist() == [
        [2023, 30, 28, "revision_pending"], [2024, 25, 24, "provisional"]]
    assert out["victims_by_month"]["victims"].tolist() == [10, 20]  # the approved months too
    yoy = out["yoy_by_region"].reset_index(drop=True)
    assert yoy["victims"].tolist() == [30, 25]
    # the comparison with the years beside an approved year with newer figures is withheld
    assert yoy["victims_prev_year"].isna().all() and yoy["change_abs"].isna().all()


def test_a_changed_month_is_provisional_with_the_current_figures():
    out = with_approvals(marts(32), approval(marts(30), "ppu:2023-02@1", month=2))
    months = out["victims_by_month"]
    assert months["victims"].tolist() == [10, 22]
    assert months["approval_status"].tolist() == ["provisional", "provisional"]
    unchanged = with_approvals(marts(32), approval(marts(32), "ppu:2023-02@1", month=2))["victims_by_month"]
    assert unchanged["approval_status"].tolist() == ["provisional", "approved"]


def test_release_versions_are_dated_and_never_reused():
    import datetime as dt

    from pipeline.publish.releases import VERSION, next_version

    day = dt.date(2026, 12, 5)
    assert next_version(set(), day) == "2026.12.05"
    assert next_version({"2026.12.05", "2026.12.05-2"}, day) == "2026.12.05-3"
    assert VERSION.match("2026.12.05-2") and not VERSION.match("../x") and not VERSION.match("latest")


def test_verify_finds_a_changed_a_missing_and_an_added_file(tmp_path):
    import hashlib

    from pipeline.publish.releases import SUMS, verify

    tmp_path = tmp_path / "release"
    tmp_path.mkdir()
    for name, text in (("a.csv", "1"), ("public/b.csv", "2")):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / SUMS).write_text("".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {n}\n"
                                         for n, p in (("a.csv", tmp_path / "a.csv"),
                                                      ("public/b.csv", tmp_path / "public/b.csv"))))
    assert verify(tmp_path) == []
    (tmp_path / "a.csv").write_text("changed")
    (tmp_path / "public/b.csv").unlink()
    (tmp_path / "extra.csv").write_text("3")
    assert verify(tmp_path) == ["a.csv", "public/b.csv", "extra.csv"]
