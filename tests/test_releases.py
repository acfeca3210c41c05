"""Change reports, approvals and releases through real runs on a temporary warehouse."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import stat

import duckdb
import pandas as pd
import pytest

from pipeline.config import settings
from tests.helpers import query, run_pipeline
from tests.workbooks import agency_row, register

FORMS = ["Seksual", "Fisik", "Psikis", "Fisik, Psikis"]


def rows(agency: str, year: int, n: int, start: int = 0) -> list[list]:
    return [agency_row(agency, case_id=f"{agency}-{year}-{i:03d}", report=dt.date(year, 1 + i % 12, 5),
                       incident=dt.date(year, 1 + i % 12, 1), sex="P" if i % 3 else "L", age=f"{8 + i % 40} th",
                       forms=FORMS[i % len(FORMS)]) for i in range(start, start + n)]


def parquet(path) -> pd.DataFrame:
    with duckdb.connect() as con:
        return con.execute("SELECT * FROM read_parquet(?)", [str(path)]).df()


def file_sums(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_changes_approvals_and_releases_through_two_runs(isolated_env, capsys):
    from pipeline.cli import main
    from pipeline.publish.approvals import approve, sign_off, states
    from pipeline.publish.releases import ReleaseError, verify, write_release
    from pipeline.publish.report import build_html
    from pipeline.publish.views import read_analytics
    from pipeline.warehouse.db import connect

    raw, wh = isolated_env["raw"], isolated_env["warehouse"]
    register(raw / "ppu/register_2023.xlsx", rows("ppu", 2023, 30), title=False)
    register(raw / "ppu/register_2024.xlsx", rows("ppu", 2024, 25), title=False)
    register(raw / "kutim/register_2023.xlsx", rows("kutim", 2023, 40), title=False)
    assert run_pipeline().success
    assert query(wh, "SELECT count(*) n FROM meta.change_reports")["n"][0] == 0  # the first build compares nothing

    # the head of PPU approves 2023; a first release
    cfg = settings()
    approval = approve(cfg.warehouse_path, "ppu", 2023, None, "Kepala DP3A PPU")
    first = write_release(cfg, "2026.12.01")
    sums_first = file_sums(first.path)
    assert verify(first.path) == []
    region = parquet(first.path / "public/victims_by_region_year.parquet")
    assert set(region["release"]) == {"2026.12.01"}
    region = region[region["agency"].isin(["ppu", "kutim"]) & (region["victims"] > 0)]
    assert dict(zip(zip(region["agency"], region["year"]), region["approval_status"])) == {
        ("kutim", 2023): "provisional", ("ppu", 2023): "approved", ("ppu", 2024): "provisional"}

    # a corrected 2023 export replaces the file of the same name: two more victims
    register(raw / "ppu/register_2023.xlsx", rows("ppu", 2023, 32), title=False)
    result = run_pipeline()
    assert result.success
    shown = {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("marts")}
    assert shown["victims_by_region_year"]["figures_changed"].value >= 2
    assert "ppu/register_2023.xlsx diganti" in shown["victims_by_region_year"]["change_report"].value
    page = (raw / "ppu/umpan-balik/index.html").read_text(encoding="utf-8")
    assert "Angka yang berubah" in page and "Jumlah korban 2023 berubah dari 30 menjadi 32 karena file " in page
    assert "Angka yang berubah" not in (raw / "kutim/umpan-balik/index.html").read_text(encoding="utf-8")
    report = query(wh, "SELECT * FROM meta.change_reports WHERE measure = 'victims'")
    assert report[["agency", "year", "value_before", "value_after"]].values.tolist() == [["ppu", 2023, 30, 32]]
    assert report["message"][0] == ("Jumlah korban 2023 berubah dari 30 menjadi 32 karena file "
                                    "ppu/register_2023.xlsx diganti")
    assert report["files"][0].tolist() == ["ppu/register_2023.xlsx was replaced by a corrected version"]

    # the approval survives the correction as a pending revision; the public tables keep the approved figures
    with connect(cfg.warehouse_path, write=False) as con:
        state = states(con)
    ppu = state.set_index(["agency", "year"]).loc[("ppu", 2023)]
    assert (ppu["state"], ppu["victims_approved"], ppu["victims_now"]) == ("revision_pending", 30, 32)
    assert ppu["changes_since"] >= 1 and ppu["approval_id"] == approval.approval_id
    public = query(wh, "SELECT agency, year, victims, approval_status FROM public.victims_by_region_year "
                       "WHERE agency IN ('ppu', 'kutim') AND victims > 0 ORDER BY ALL").values.tolist()
    assert public == [["kutim", 2023, 40, "provisional"], ["ppu", 2023, 30, "revision_pending"],
                      ["ppu", 2024, 25, "provisional"]]
    yoy = query(wh, "SELECT year, victims_prev_year FROM public.yoy_by_region WHERE agency = 'ppu' ORDER BY year")
    assert yoy["victims_prev_year"].isna().all()  # 2024 against an approved 2023 with newer figures: withheld

    # the report shows the approved figures too, and says so in its header
    signed = sign_off(cfg.warehouse_path)
    frames = signed.apply(read_analytics(cfg.analytics_path))
    shown_ppu = frames["region_year"].set_index(["agency", "year"]).loc[("ppu", 2023)]
    assert (shown_ppu["victims"], shown_ppu["approval_status"]) == (30, "revision_pending")
    html = build_html(cfg.analytics_path, cfg.warehouse_path)
    assert "Rilis terakhir: 2026.12.01" in html
    assert "Revisi tertunda (angka yang disetujui ditampilkan): ppu 2023" in html

    assert main(["changes"]) == 0
    assert "ppu/register_2023.xlsx diganti" in capsys.readouterr().out
    assert main(["changes", "--since", "2026-01-01", "--agency", "ppu"]) == 0
    assert "ppu/register_2023.xlsx diganti" in capsys.readouterr().out
    assert main(["changes", "--since", "no-such-run"]) == 2
    assert "bukan tanggal" in capsys.readouterr().err
    assert main(["approvals"]) == 0
    assert "revisi tertunda" in capsys.readouterr().out

    second = write_release(cfg, "2026.12.02")
    # the first release never changed, and cannot be written again
    assert file_sums(first.path) == sums_first and verify(first.path) == []
    with pytest.raises(ReleaseError, match="never changed"):
        write_release(cfg, "2026.12.01")
    assert all(not p.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) for p in first.path.rglob("*"))
    # the two releases differ only where the data did (here: nowhere in what they publish, since PPU
    # 2023 is published as approved), apart from their version
    for name in ("victims_by_region_year", "victims_by_form", "victims_by_kecamatan"):
        a = pd.read_csv(first.path / f"public/{name}.csv").drop(columns=["release", "approval_status"])
        b = pd.read_csv(second.path / f"public/{name}.csv").drop(columns=["release", "approval_status"])
        pd.testing.assert_frame_equal(a, b)
    notes = (second.path / "RELEASE_NOTES.md").read_text()
    assert "Perubahan sejak rilis 2026.12.01" in notes and "ppu/register_2023.xlsx diganti" in notes
    validation = (second.path / "VALIDATION.md").read_text()
    assert re.search(r"suppression audit with the previous release \(2026\.12\.01\) +\| lulus / passed", validation)
    assert "Yang tidak divalidasi" in validation
    meta = json.loads((second.path / "release.json").read_text())
    assert meta["previous"] == "2026.12.01"

    # approved again: the new figures are published, and a third release shows them
    assert main(["approve", "--agency", "ppu", "--year", "2023", "--by", "Kepala DP3A PPU"]) == 0
    assert main(["approve", "--agency", "ppu", "--year", "2019", "--by", "X"]) == 2  # no figures to approve
    third = write_release(cfg)
    region = parquet(third.path / "public/victims_by_region_year.parquet")
    got = region.set_index(["agency", "year"])[["victims", "approval_status"]].loc[("ppu", 2023)].tolist()
    assert got == [32, "approved"]
    other = region[region["agency"] == "kutim"].drop(columns=["release"]).reset_index(drop=True)
    before = parquet(first.path / "public/victims_by_region_year.parquet")
    pd.testing.assert_frame_equal(other, before[before["agency"] == "kutim"].drop(columns=["release"])
                                  .reset_index(drop=True))
