"""A night with nothing new: a second run over the same files writes no feedback file, no
public table, no Parquet file and no analytics copy again (their bytes and times stay as they
were); a changed file makes the copy again."""

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from helpers import run_pipeline
from workbooks import register

pytestmark = pytest.mark.slow  # two pipeline runs

D = dt.date


def listing(*places: Path) -> dict[str, tuple[int, int, str]]:
    """Every file at or below the places: its inode, time (ns) and sha256."""
    files = [p for place in places for p in ([place] if place.is_file() else sorted(place.rglob("*"))) if p.is_file()]
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in files}


def test_a_second_run_over_the_same_files_writes_nothing(isolated_env):
    raw, warehouse = isolated_env["raw"], isolated_env["warehouse"]
    rows = [[f"K{m}", D(2024, m, 3), None, "P", "30", "Fisik", "Sangatta Utara", 1, None] for m in range(1, 13)]
    rows.append(["BAD", "bukan tanggal", None, "X", "30", "Fisik", "Sangatta Utara", 1, None])  # a row to reject
    header = ["No Reg", "Tanggal Pengaduan", "Tanggal Kejadian", "JK", "Usia", "Jenis Kekerasan", "Kecamatan",
              "Korban Ke", "Status Anak"]
    register(raw / "kutim" / "register_2024.xlsx", rows, header=header)
    assert run_pipeline("kutim").success
    outputs = (raw / "kutim" / "umpan-balik", warehouse / "public", warehouse / "parquet", warehouse / "analytics",
               warehouse / "analytics.duckdb", isolated_env["reports"])
    before = listing(*outputs)
    assert any(name.endswith(".umpan-balik.xlsx") for name in before)  # feedback for the rejected row
    assert any(name.endswith("index.html") for name in before)
    assert any(name.endswith(".csv") for name in before) and any(name.endswith(".parquet") for name in before)
    assert run_pipeline("kutim").success
    assert listing(*outputs) == before

    rows[0][3] = "L"  # a female victim becomes male: the copy is made again
    register(raw / "kutim" / "register_2024.xlsx", rows, header=header)
    assert run_pipeline("kutim").success
    after = listing(*outputs)
    assert after[str(warehouse / "analytics.duckdb")] != before[str(warehouse / "analytics.duckdb")]
    assert after[str(warehouse / "analytics" / "kutim.duckdb")] != before[str(warehouse / "analytics" / "kutim.duckdb")]
