"""Who reads what: each agency's own copy, the researchers' k-anonymous rows, the public tables,
the permissions the pipeline sets on them, and a re-identification attack on what is published."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import duckdb
import pytest
from helpers import query, run_pipeline
from workbooks import register, row

from pipeline.publish import tiers
from pipeline.registry import agency_codes

K = 5
# public table -> (public column, the researchers' column as the marts label it), beyond agency and year
QUASI_IN_PUBLIC = {
    "victims_by_kecamatan": {"kecamatan_code": "coalesce(r.kecamatan_code, 'TIDAK_DIKETAHUI')"},
    "victims_by_age_sex": {"victim_age_group": "coalesce(r.victim_age_group, 'TIDAK_DIKETAHUI')",
                           "victim_sex": "coalesce(r.victim_sex, 'TIDAK_DIKETAHUI')"},
    "victims_by_place": {"place": "coalesce(r.place, 'TIDAK_DIKETAHUI')"},
    "victims_by_relation": {"perp_relation": "coalesce(r.perp_relation, 'TIDAK_DIKETAHUI')"},
    "victims_by_month": {"month": "r.report_month"},
    "victims_by_region_year": {},
}
QUASI = ("agency", "year", "report_quarter", "report_month", "victim_age_group", "is_child", "victim_sex",
         "kecamatan_code", "perp_relation", "place")


def kukar_register(raw: Path, n: int = 60) -> None:
    """n victims in Kukar, few enough kinds that many share their quasi-identifiers."""
    rows = [row(case_id=f"K{i:03d}", report=dt.date(2024, 1 + i % 3, 5), incident=dt.date(2024, 1 + i % 3, 1),
                age=["8 th", "15 th", "30 th"][i % 3], sex="P" if i % 4 else "L",
                kecamatan=["Tenggarong", "Loa Kulu"][i % 2], relation=["Ayah", "Tetangga"][i % 5 == 0],
                forms=["Seksual", "Fisik", "Psikis"][i % 3 if i % 2 else (i + 1) % 3]) for i in range(n)]
    register(raw / "kukar/a.xlsx", rows)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.slow
def test_each_reader_gets_its_own_tier_with_its_permissions(isolated_env):
    raw = isolated_env["raw"]
    kukar_register(raw)
    register(raw / "ppu/a.xlsx", [row(case_id="P1", kecamatan="Penajam")])
    result = run_pipeline()
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["release_k_anonymity"].passed
    assert checks["release_k_anonymity"].metadata["k_found"].value >= K
    wh = isolated_env["warehouse"]

    # an agency's analysts: only its rows, at the detail the agency has (case ids, ages, its own files)
    assert sorted(p.stem for p in (wh / "analytics").glob("*.duckdb")) == sorted(agency_codes())
    assert (wh / "analytics" / tiers.FINGERPRINTS).is_file()
    ppu = query(wh, "SELECT * FROM staging.case_victims", db="analytics/ppu.duckdb")
    assert ppu["case_id"].tolist() == ["P1"] and ppu["_source_file"].tolist() == ["ppu/a.xlsx"]
    assert "victim_key" not in ppu.columns and ppu["victim_age"].tolist() == [12]
    kukar = query(wh, "SELECT DISTINCT agency FROM marts.victims_by_region_year", db="analytics/kukar.duckdb")
    assert kukar["agency"].tolist() == ["kukar"]
    assert query(wh, "SELECT count(*) AS n FROM staging.case_victims", db="analytics/kukar.duckdb")["n"][0] == 60

    # researchers: every agency, k-anonymous: Penajam's one victim cannot be published
    rows = query(wh, "SELECT * FROM staging.case_victims", db="analytics.duckdb")
    assert set(rows["agency"]) == {"kukar"} and 0 < len(rows) <= 60
    assert "victim_age" not in rows.columns and "case_id" not in rows.columns
    disclosure = query(wh, "SELECT * FROM meta.release_disclosure", db="analytics.duckdb")
    assert disclosure.equals(query(wh, "SELECT * FROM meta.release_disclosure"))
    assert set(disclosure.loc[disclosure["agency"] == "ppu", "rows_dropped"]) == {1}

    # the modes match the README's "who reads what"
    assert mode(wh) == tiers.WAREHOUSE_DIR == 0o751
    assert mode(wh / "warehouse.duckdb") == 0o600
    assert mode(wh / "analytics") == 0o700
    assert {mode(p) for p in (wh / "analytics").iterdir()} == {0o600}  # the copies and their fingerprints
    assert mode(wh / "analytics.duckdb") == 0o640
    assert mode(wh / "parquet") == 0o750 and {mode(p) for p in (wh / "parquet").iterdir()} == {0o640}
    assert mode(wh / "public") == 0o755 and {mode(p) for p in (wh / "public").iterdir()} == {0o644}
    assert mode(isolated_env["archive"]) == 0o700


@pytest.mark.slow
def test_joining_public_tables_and_researcher_rows_finds_no_group_under_k(isolated_env):
    kukar_register(isolated_env["raw"], n=80)
    assert run_pipeline().success
    wh = isolated_env["warehouse"]
    con = duckdb.connect(str(wh / "analytics.duckdb"), read_only=True)
    try:
        con.execute("ATTACH ? AS wh (READ_ONLY)", [str(wh / "warehouse.duckdb")])
        # what the warehouse holds, shaped like the researchers' rows: the attack must find people there
        con.execute("""CREATE TEMP TABLE exact AS SELECT agency, year, quarter(report_date) AS report_quarter,
            month(report_date) AS report_month, victim_age_group, is_child, victim_sex, kecamatan_code,
            perp_relation, place FROM wh.staging.case_victims""")
        found = {}
        for rows in ("staging.case_victims", "exact"):
            small = matched = 0
            for table, columns in QUASI_IN_PUBLIC.items():
                on = " AND ".join(["p.agency = r.agency", "p.year = r.year"]
                                  + [f"p.{c} = {expr}" for c, expr in columns.items()])
                groups = con.execute(
                    f"SELECT p.*, {', '.join(f'r.{c}' for c in QUASI)}, count(*) AS n FROM wh.public.{table} p "
                    f"JOIN {rows} r ON {on} WHERE p.victims > 0 GROUP BY ALL").df()
                matched += int(groups["n"].sum())
                small += int((groups["n"] < K).sum())
            found[rows] = (matched, small)
    finally:
        con.close()
    assert found["staging.case_victims"][0] > 0 and found["staging.case_victims"][1] == 0
    assert found["exact"][1] > 0  # the same attack on unprotected rows singles people out


def test_permissions_are_set_without_following_links(tmp_path):
    wh = tmp_path / "warehouse"
    (wh / "public").mkdir(parents=True)
    (wh / "public" / "a.csv").write_text("x")
    (wh / "warehouse.duckdb").write_bytes(b"")
    outside = tmp_path / "outside.txt"
    outside.write_text("y")
    outside.chmod(0o604)
    (wh / "public" / "link.csv").symlink_to(outside)
    done = tiers.set_permissions(wh, tmp_path / "archive-missing")
    assert done == {".": 0o751, "warehouse.duckdb": 0o600, "public": 0o755, "public/a.csv": 0o644}
    assert mode(outside) == 0o604


@pytest.mark.slow
def test_the_copy_of_an_agency_no_longer_registered_is_removed(isolated_env):
    (isolated_env["warehouse"] / "analytics").mkdir()
    stale = isolated_env["warehouse"] / "analytics" / "oldagency.duckdb"
    stale.write_bytes(b"")
    register(isolated_env["raw"] / "ppu/a.xlsx", [row(case_id="P1", kecamatan="Penajam")])
    assert run_pipeline("ppu").success
    copies = isolated_env["warehouse"] / "analytics"
    assert not stale.exists() and (copies / "ppu.duckdb").exists()
    # an agency whose content did not change keeps its file; one that changed gets a new one
    inodes = {p.name: p.stat().st_ino for p in copies.glob("*.duckdb")}
    register(isolated_env["raw"] / "kutim/a.xlsx", [row(case_id="T1", kecamatan="Sangatta Utara")])
    assert run_pipeline().success
    now = {p.name: p.stat().st_ino for p in copies.glob("*.duckdb")}
    assert now["ppu.duckdb"] == inodes["ppu.duckdb"] and now["kutim.duckdb"] != inodes["kutim.duckdb"]
    assert query(isolated_env["warehouse"], "SELECT case_id FROM staging.case_victims",
                 db="analytics/kutim.duckdb")["case_id"].tolist() == ["T1"]


@pytest.mark.slow  # two runs
def test_an_unchanged_agency_keeps_its_researcher_rows_and_a_changed_one_is_protected_again(isolated_env):
    """The analytics copy takes an agency's protected rows from the copy before while its staged
    rows are the same (publish/analytics.release_rows, source_digest): the result must be what
    protecting every agency from nothing gives."""
    from pipeline.publish.analytics import release_rows
    from pipeline.warehouse.db import connect

    raw, wh = isolated_env["raw"], isolated_env["warehouse"]
    kukar_register(raw)
    forms = ["Seksual", "Fisik", "Psikis"]
    register(raw / "kutim/b.xlsx", [row(case_id=f"T{i}", kecamatan="Sangatta Utara", age=f"{9 + i % 3} th",
                                        forms=forms[i % 3]) for i in range(20)])
    assert run_pipeline().success
    digests = dict(query(wh, "SELECT DISTINCT agency, source_digest FROM meta.release_disclosure",
                         "analytics.duckdb").values.tolist())
    register(raw / "kutim/b.xlsx", [row(case_id=f"T{i}", kecamatan="Sangatta Utara", age=f"{9 + i % 3} th",
                                        forms=forms[i % 3], sex="L" if i == 0 else "P") for i in range(20)])
    assert run_pipeline().success
    after = dict(query(wh, "SELECT DISTINCT agency, source_digest FROM meta.release_disclosure",
                       "analytics.duckdb").values.tolist())
    assert after["kukar"] == digests["kukar"] and after["kutim"] != digests["kutim"]
    published = query(wh, "SELECT * FROM staging.case_victims", "analytics.duckdb")
    disclosure = query(wh, "SELECT * FROM meta.release_disclosure ORDER BY agency, rowid", "analytics.duckdb")
    with connect(wh / "warehouse.duckdb") as con:  # every agency protected from nothing
        fresh = con.execute(f"SELECT * FROM {release_rows(con, K)}").df()
        fresh_disclosure = con.execute("SELECT * FROM meta.release_disclosure ORDER BY agency, rowid").df()
    assert set(published["agency"]) == {"kukar", "kutim"}
    assert published.equals(fresh)
    assert disclosure.equals(fresh_disclosure)
