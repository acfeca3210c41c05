"""Small-count suppression: primary and secondary suppression, and the audit that attacks it."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.publish.suppression import (
    FLAG,
    Exposure,
    Table,
    audit,
    audit_marts,
    protect,
    protect_marts,
    table_from_marts,
)

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- an independent oracle: floating-point rank, not the module's exact elimination ---------

def determined_by_rank(table: Table, unknown: set) -> set:
    """Unknown cells fixed by the relations: dropping the cell's column lowers the rank."""
    cells = sorted(unknown, key=repr)
    if not cells or not table.constraints:
        return set()
    index = {c: i for i, c in enumerate(cells)}
    a = np.zeros((len(table.constraints), len(cells)))
    for r, terms in enumerate(table.constraints):
        for c, x in terms.items():
            if c in index:
                a[r, index[c]] = x
    rank = np.linalg.matrix_rank(a)
    return {c for c in cells if np.linalg.matrix_rank(np.delete(a, index[c], axis=1)) < rank}


# --- random tables: an n-way table with every margin, some margins left unpublished ---------

@st.composite
def tables(draw):
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    if len(sizes) == 3:
        sizes = [min(s, 4) for s in sizes]
    small = st.integers(0, 12)
    value = st.one_of(small, small, small, st.integers(0, 60))
    interior = list(itertools.product(*(range(n) for n in sizes)))
    truth = {key: draw(value) for key in interior}
    # every margin: '*' in a dimension means summed over it
    for key in itertools.product(*([*range(n), "*"] for n in sizes)):
        if "*" in key:
            truth[key] = sum(truth[i] for i in interior if all(k == "*" or k == j for k, j in zip(key, i)))
    table = Table()
    margins = [key for key in truth if "*" in key]
    latent = set(draw(st.lists(st.sampled_from(margins), unique=True, max_size=len(margins) // 2)))
    for key, v in truth.items():
        if key not in latent:
            table.add(key, v)
    for key in truth:
        for d, k in enumerate(key):
            if k == "*":
                table.add_sum(key, [key[:d] + (i,) + key[d + 1:] for i in range(sizes[d])])
    # a second table that splits the grand total another way (the same total published twice)
    if draw(st.booleans()):
        grand = ("*",) * len(sizes)
        cuts = sorted(draw(st.lists(st.integers(0, truth[grand]), min_size=1, max_size=3)))
        parts = [b - a for a, b in zip([0, *cuts], [*cuts, truth[grand]])]
        names = [("other", i) for i in range(len(parts))]
        for name, v in zip(names, parts):
            table.add(name, v)
            truth[name] = v
        table.add_sum(("other", "total"), names)
        table.add(("other", "total"), truth[grand])
        truth[("other", "total")] = truth[grand]
        table.add_equal(("other", "total"), grand)
    k = draw(st.integers(3, 10))
    zeros = draw(st.booleans())
    return table, truth, latent, k, zeros


def sensitive(v, k, zeros):
    return 1 <= v < k or (zeros and v == 0)


@FAST
@given(tables())
def test_protect_leaves_nothing_to_recover(case):
    table, truth, latent, k, zeros = case
    result = protect(table, k, zeros)
    hidden = result.suppressed
    assert audit(table, hidden, k, zeros) == []
    # every small published count is suppressed; only published cells are suppressed
    assert {c for c, v in table.values.items() if sensitive(v, k, zeros)} == result.primary
    assert hidden <= set(table.values)
    assert not result.primary & result.secondary
    # the independent oracle agrees: no suppressed cell, and no small latent count, is fixed
    fixed = determined_by_rank(table, set(hidden) | latent)
    assert not fixed & hidden
    assert not {c for c in fixed & latent if truth[c] and sensitive(truth[c], k, zeros)}


@pytest.mark.slow
@FAST
@given(tables(), st.randoms(use_true_random=False))
def test_audit_matches_oracle_and_recovers_true_values(case, rnd):
    table, truth, latent, k, _ = case
    cells = sorted(table.values, key=repr)
    hidden = set(rnd.sample(cells, rnd.randint(0, len(cells))))
    found = audit(table, hidden, k)
    derived = {e.cell: e.value for e in found if e.reason == "derived"}
    fixed = determined_by_rank(table, hidden | latent)
    expected = (fixed & hidden) | {c for c in fixed & latent if 1 <= truth[c] < k}
    assert set(derived) == expected
    assert all(truth[c] == v for c, v in derived.items())
    assert {e.cell for e in found if e.reason == "published"} == {
        c for c in cells if c not in hidden and 1 <= table.values[c] < k}


# --- hand-written cases on the generic table ------------------------------------------------

def row(values: dict[str, int]) -> Table:
    t = Table()
    for c, v in values.items():
        t.add(c, v)
    t.add_sum("total", [c for c in values if c != "total"])
    return t


def test_row_total_with_one_small_cell_needs_a_second_suppression():
    t = row({"a": 2, "b": 9, "c": 20, "total": 31})
    assert audit(t, {"a"}) == [Exposure("a", 2, "derived")]
    result = protect(t)
    assert result.primary == {"a"}
    assert result.secondary == {"b"}          # the smallest other count
    assert audit(t, result.suppressed) == []


def test_a_spare_total_is_hidden_only_when_no_other_count_will_do():
    t = row({"a": 2, "b": 30, "total": 32})
    t.add("b1", 10)
    t.add("b2", 20)
    t.add_sum("b", ["b1", "b2"])  # hiding b would leave b = b1 + b2 with one hidden cell: costlier
    assert protect(t).secondary == {"total"}
    spared = protect(t, spare=["total"])
    assert "total" not in spared.secondary and audit(t, spared.suppressed) == []
    alone = row({"a": 2, "z": 0, "rest": 38, "total": 40})  # no other non-zero count: a spare, not the zero
    assert protect(alone, spare=["total", "rest"]).secondary == {"rest"}


def test_zero_is_not_a_complement_when_a_count_will_do():
    t = row({"a": 3, "z": 0, "b": 40, "total": 43})
    assert protect(t).secondary == {"b"}


def test_zeros_are_disclosive():
    t = row({"a": 0, "b": 40, "c": 50, "total": 90})
    assert protect(t).suppressed == set()
    result = protect(t, zeros_are_disclosive=True)
    assert result.primary == {"a"} and len(result.secondary) == 1
    assert audit(t, result.suppressed, zeros_are_disclosive=True) == []


def test_same_count_in_two_tables():
    t = Table()
    for name, v in {"t1.x": 3, "t1.y": 30, "t1.total": 33, "t2.x": 3, "t2.w": 12, "t2.total": 15}.items():
        t.add(name, v)
    t.add_sum("t1.total", ["t1.x", "t1.y"])
    t.add_sum("t2.total", ["t2.x", "t2.w"])
    t.add_equal("t1.x", "t2.x")
    result = protect(t)
    assert {"t1.x", "t2.x"} <= result.suppressed
    assert audit(t, result.suppressed) == []
    # hiding it in one table only gives it away
    assert [e.cell for e in audit(t, {"t1.x", "t1.y"}) if e.reason == "published"] == ["t2.x"]


def test_audit_sees_chains_the_one_cell_rule_misses():
    """Two suppressed rectangles joined by one cell: every row and column holds two or more
    hidden cells, yet the joining cell follows from the totals."""
    n = 4
    t = Table()
    values = {(i, j): 10 + i + j for i in range(n) for j in range(n)}
    for key, v in values.items():
        t.add(key, v)
    for i in range(n):
        t.add(("row", i), sum(values[i, j] for j in range(n)))
        t.add_sum(("row", i), [(i, j) for j in range(n)])
    for j in range(n):
        t.add(("col", j), sum(values[i, j] for i in range(n)))
        t.add_sum(("col", j), [(i, j) for i in range(n)])
    hidden = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (0, 2)}
    found = audit(t, hidden)
    assert [(e.cell, e.value) for e in found] == [((0, 2), values[0, 2])]


def test_latent_count_worked_out_by_difference_is_protected():
    """victims - female - male = victims of unknown sex, which is not published but small."""
    t = Table()
    for c, v in {"victims": 37, "female": 30, "male": 5}.items():
        t.add(c, v)
    t.add_sum("victims", ["female", "male", "unknown_sex"])
    assert [(e.cell, e.value) for e in audit(t, set())] == [("unknown_sex", 2)]
    result = protect(t)
    assert result.primary == set() and len(result.secondary) == 1
    assert audit(t, result.suppressed) == []


def test_bad_threshold_and_conflicting_values():
    with pytest.raises(ValueError):
        protect(Table(), k=0)
    t = Table()
    t.add("x", 1)
    with pytest.raises(ValueError):
        t.add("x", 2)
    t = row({"a": 1, "b": 1, "total": 5})
    with pytest.raises(ValueError, match="contradict"):
        audit(t, set())


# --- the marts ------------------------------------------------------------------------------

def small_marts() -> dict[str, pd.DataFrame]:
    """One agency, three years; 2020 has 3 victims."""
    years = [2019, 2020, 2021]
    victims = [30, 3, 40]
    female = [22, 3, 31]
    male = [8, 0, 9]
    child = [20, 3, 25]
    adult_f = [10, 0, 15]
    cases = [28, 3, 36]
    pop = 200_000
    region = pd.DataFrame({
        "agency": "kukar", "year": years, "cases": cases, "victims": victims, "victims_female": female,
        "victims_male": male, "child_victims": child, "adult_female_victims": adult_f,
        "population": pop, "victims_per_100k": [round(v * 1e5 / pop, 2) for v in victims],
        "child_population": 70_000, "child_victims_per_100k_children": [round(v * 1e5 / 70_000, 2) for v in child],
        "has_data": True})
    prev = [None, *victims[:-1]]
    prev_cases = [None, *cases[:-1]]
    yoy = pd.DataFrame({
        "agency": "kukar", "year": years, "victims": victims,
        "victims_prev_year": pd.array(prev, dtype="Int32"),
        "change_abs": pd.array([None if p is None else v - p for v, p in zip(victims, prev)], dtype="Int32"),
        "change_pct": [None if not p else round((v - p) * 100 / p, 1) for v, p in zip(victims, prev)],
        "cases": cases, "cases_prev_year": pd.array(prev_cases, dtype="Int32"),
        "cases_change_abs": pd.array([None if p is None else v - p for v, p in zip(cases, prev_cases)], dtype="Int32"),
        "cases_change_pct": [None if not p else round((v - p) * 100 / p, 1) for v, p in zip(cases, prev_cases)],
        "months_reported": 12, "months_expected": 12, "in_progress": False, "incomplete": False})
    form_counts = {2019: {"FISIK": 12, "SEKSUAL": 20}, 2020: {"FISIK": 1, "SEKSUAL": 2},
                   2021: {"FISIK": 3, "SEKSUAL": 38}}
    forms = pd.DataFrame([
        {"agency": "kukar", "year": y, "violence_form": f, "victims": n, "share_pct": round(n * 100 / t, 1)}
        for (y, counts), t in zip(form_counts.items(), victims) for f, n in counts.items()])
    age_sex = pd.DataFrame([
        ("kukar", 2019, "6-12", "P", "ANAK", 12), ("kukar", 2019, "13-17", "L", "ANAK", 8),
        ("kukar", 2019, "25-44", "P", "DEWASA", 10),
        ("kukar", 2020, "13-17", "P", "ANAK", 3),
        ("kukar", 2021, "6-12", "P", "ANAK", 16), ("kukar", 2021, "13-17", "L", "ANAK", 9),
        ("kukar", 2021, "25-44", "P", "DEWASA", 15)],
        columns=["agency", "year", "victim_age_group", "victim_sex", "age_class", "victims"])
    return {"victims_by_region_year": region, "yoy_by_region": yoy, "victims_by_form": forms,
            "victims_by_age_sex": age_sex}


def at(df: pd.DataFrame, year: int, column: str, **where):
    mask = df["year"] == year
    for c, v in where.items():
        mask &= df[c] == v
    (value,) = df.loc[mask, column].tolist()
    return value


def test_marts_year_on_year_rate_share_and_duplicates():
    pub = protect_marts(small_marts())
    region, yoy, forms = pub["victims_by_region_year"], pub["yoy_by_region"], pub["victims_by_form"]
    assert audit_marts(pub) == []
    # the small count, everywhere it appears, and everything computed from it
    assert pd.isna(at(region, 2020, "victims")) and at(region, 2020, "victims" + FLAG)
    assert pd.isna(at(region, 2020, "victims_per_100k")) and at(region, 2020, "victims_per_100k" + FLAG)
    for column in ("victims", "change_abs", "change_pct", "cases", "cases_change_abs"):
        assert pd.isna(at(yoy, 2020, column)) and at(yoy, 2020, column + FLAG)
    for column in ("victims_prev_year", "change_abs", "change_pct", "cases_prev_year"):
        assert pd.isna(at(yoy, 2021, column)) and at(yoy, 2021, column + FLAG)
    # shares of 2020 need the suppressed total; FISIK 2021 (3) is small itself
    assert forms.loc[forms["year"] == 2020, "share_pct"].isna().all()
    assert pd.isna(at(forms, 2021, "share_pct", violence_form="FISIK"))
    # untouched values keep their numbers and types
    assert at(region, 2019, "victims") == 30 and at(yoy, 2019, "victims") == 30
    assert at(yoy, 2021, "victims") == 40 and not at(yoy, 2021, "victims" + FLAG)
    assert at(forms, 2021, "share_pct", violence_form="SEKSUAL") == pytest.approx(95.0)
    assert str(region["victims"].dtype) == "Int64" and str(region["victims_per_100k"].dtype) == "Float64"
    assert region["victims" + FLAG].dtype == bool
    assert list(region.columns).index("victims" + FLAG) == list(region.columns).index("victims") + 1


def test_intervals_and_same_month_counts_follow_their_counts():
    """The interval of a suppressed count would give it away (10 -> 4.795-18.390): its bounds,
    rate bounds and `unstable` are suppressed with it. The same-months counts are counts: a
    small one is suppressed, and its change, p-value and significance with it."""
    from pipeline.marts.completeness import year_stats
    from pipeline.marts.stats import compare_counts

    marts = small_marts()
    region = year_stats(marts["victims_by_region_year"].assign(with_data=True)).drop(columns="with_data")
    yoy = marts["yoy_by_region"]
    intervals = region[["year", "victims_ci_low", "victims_ci_high", "victims_per_100k_ci_low",
                        "victims_per_100k_ci_high", "unstable"]]
    prev = [None, 30, 3]
    yoy = yoy.merge(intervals, on="year").assign(
        victims_same_months=pd.array([None, 3, 40], dtype="Int32"),
        victims_same_months_prev_year=pd.array(prev, dtype="Int32"),
        change_pct_same_months=[None, -90.0, 1233.3],
        change_p_value=[None, *(round(compare_counts(v, p), 4) for v, p in ((3, 30), (40, 3)))],
        change_significant=pd.array([None, True, True], dtype="boolean"))
    pub = protect_marts({**marts, "victims_by_region_year": region, "yoy_by_region": yoy})
    assert audit_marts(pub) == []
    bounds = ["victims_ci_low", "victims_ci_high", "victims_per_100k_ci_low", "victims_per_100k_ci_high", "unstable"]
    for df in (pub["victims_by_region_year"], pub["yoy_by_region"]):
        for column in bounds:
            assert pd.isna(at(df, 2020, column)) and at(df, 2020, column + FLAG), column
            assert not pd.isna(at(df, 2019, column)) and not at(df, 2019, column + FLAG), column
        assert at(df, 2021, "victims_ci_low") == pytest.approx(28.58, abs=0.01)  # 40 is published with its interval
    published = pub["yoy_by_region"]
    assert pd.isna(at(published, 2020, "victims_same_months")) and at(published, 2020, "victims_same_months" + FLAG)
    assert pd.isna(at(published, 2021, "victims_same_months_prev_year"))
    for year in (2020, 2021):  # each compares with a suppressed count
        for column in ("change_pct_same_months", "change_p_value", "change_significant"):
            assert pd.isna(at(published, year, column)) and at(published, year, column + FLAG), (year, column)
    assert at(published, 2021, "victims_same_months") == 40


@pytest.mark.parametrize("mart, year, column, where, reason", [
    ("yoy_by_region", 2021, "change_abs", {}, "shown although"),          # 40 - change = 3
    ("yoy_by_region", 2021, "victims_prev_year", {}, "shown in another"),
    ("victims_by_region_year", 2020, "victims_per_100k", {}, "shown although"),  # rate x population
    ("victims_by_form", 2020, "share_pct", {"violence_form": "SEKSUAL"}, "shown although"),
])
def test_audit_marts_catches_a_leak(mart, year, column, where, reason):
    original = small_marts()
    pub = protect_marts(original)
    df = pub[mart]
    mask = df["year"] == year
    for c, v in where.items():
        mask &= df[c] == v
    source = original[mart]
    df.loc[mask, column] = source.loc[mask.to_numpy(), column].to_numpy()
    df.loc[mask, column + FLAG] = False
    assert any(reason in e.reason for e in audit_marts(pub))


def test_audit_marts_catches_a_missing_secondary():
    pub = protect_marts(small_marts())
    age_sex = pub["victims_by_age_sex"]
    # 2019 is fine as published; show 2020's only age-sex row: it equals the suppressed total
    age_sex.loc[age_sex["year"] == 2020, "victims"] = 3
    age_sex.loc[age_sex["year"] == 2020, "victims" + FLAG] = False
    reasons = {e.reason for e in audit_marts(pub)}
    assert {"published", "derived"} <= reasons


def test_marts_unknown_sex_by_difference():
    marts = small_marts()
    region = marts["victims_by_region_year"]
    region.loc[region["year"] == 2019, "victims_male"] = 6        # 30 - 22 - 6 = 2 of unknown sex
    del marts["victims_by_age_sex"]
    assert any(e.cell == ("victims_sex", "kukar", 2019, "U") for e in audit_marts(marts))
    pub = protect_marts(marts)
    assert audit_marts(pub) == []
    row = pub["victims_by_region_year"].query("year == 2019")
    assert row[["victims" + FLAG, "victims_female" + FLAG, "victims_male" + FLAG]].to_numpy().any()


def test_unknown_mart_fails_closed():
    with pytest.raises(ValueError, match="no suppression rule"):
        protect_marts({"victims_by_something_new": pd.DataFrame({"victims": [1]})})


# --- the real mart SQL on random staging rows -----------------------------------------------

def staging_rows(seed: int, agencies) -> pd.DataFrame:
    from pipeline.staging.values import age_group

    rnd = random.Random(seed)
    forms = ["FISIK", "PSIKIS", "SEKSUAL", "EKSPLOITASI", "TRAFFICKING", "PENELANTARAN", "LAINNYA"]
    rows = []
    for agency in agencies[:3]:
        kecamatan = [*list(agency.kecamatan)[:4], "LUAR_WILAYAH", None]
        for case in range(rnd.randint(5, 60)):
            day = date(2021, 1, 1) + timedelta(days=rnd.randint(0, 900))
            for seq in range(rnd.choice([1, 1, 1, 2, 3])):
                age = rnd.choice([None, *range(0, 60)])
                rows.append({
                    "agency": agency.code, "case_id": f"{agency.code}-{case}", "victim_seq": seq + 1,
                    "report_date": day, "incident_date": None, "year": day.year,
                    "victim_sex": rnd.choice(["P", "P", "P", "L", None]), "victim_age": age,
                    "victim_age_group": age_group(age) if age is not None else rnd.choice([None, "18-24"]),
                    "is_child": None if age is None else age < 18,
                    "violence_forms": rnd.sample(forms, rnd.randint(1, 2)), "is_kdrt": rnd.random() < 0.4,
                    "child_role": rnd.choice([None, None, None, "KORBAN", "PELAKU"]),
                    "place": rnd.choice(["RUMAH_TANGGA", "SEKOLAH", None]),
                    "perp_relation": rnd.choice(["ORANG_TUA", "PACAR", "LAINNYA", None]),
                    "kecamatan_code": rnd.choice(kecamatan),
                    "services": rnd.sample(["HUKUM", "KESEHATAN"], rnd.randint(0, 2)),
                    "case_status": rnd.choice(["PROSES", "SELESAI"]), "_source_file": "x.xlsx",
                    "_source_sha256": "0", "_source_sheet": "s", "_source_row": len(rows), "_load_id": "l",
                    "_ingested_at": datetime(2024, 1, 1)})
    return pd.DataFrame(rows)


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 10))
def test_real_marts_are_protected(seed, k):
    from pipeline.marts.build import build_marts
    from pipeline.marts.sql import MARTS
    from pipeline.registry import load_registry
    from pipeline.staging.stage import add_counting_flags
    from pipeline.warehouse.db import DDL, insert_frame

    agencies = load_registry()
    con = duckdb.connect()
    try:
        con.execute(DDL)
        insert_frame(con, "staging.case_victims", add_counting_flags(staging_rows(seed, agencies)))
        build_marts(con, agencies)
        marts = {name: con.execute(f"SELECT * FROM marts.{name}").df() for name in MARTS}
    finally:
        con.close()
    # the modelled relations hold on the real SQL (audit raises if they contradict the values)
    raw = audit_marts(marts, k)
    assert any(e.reason == "published" for e in raw)
    pub = protect_marts(marts, k)
    assert audit_marts(pub, k) == []
    for name, df in pub.items():
        for column in [c for c in df.columns if c.endswith(FLAG)]:
            base = column[: -len(FLAG)]
            assert df.loc[df[column], base].isna().all()
    region = marts["victims_by_region_year"]
    assert len(table_from_marts(marts).values) > len(region)
