"""A night with nothing new: a second run over the same files writes no feedback file, no
public table and no Parquet file again (their bytes and times stay as they were)."""

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from helpers import run_pipeline
from workbooks import register

pytestmark = pytest.mark.slow  # two pipeline runs

D = dt.date


def listing(*folders: Path) -> dict[str, tuple[int, str]]:
    """Every file below the folders: its time (ns) and sha256."""
    return {str(p): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_run_over_the_same_files_writes_nothing(isolated_env):
    raw, warehouse = isolated_env["raw"], isolated_env["warehouse"]
    rows = [[f"K{m}", D(2024, m, 3), None, "P", "30", "Fisik", "Sangatta Utara", 1, None] for m in range(1, 13)]
    rows.append(["BAD", "bukan tanggal", None, "X", "30", "Fisik", "Sangatta Utara", 1, None])  # a row to reject
    header = ["No Reg", "Tanggal Pengaduan", "Tanggal Kejadian", "JK", "Usia", "Jenis Kekerasan", "Kecamatan",
              "Korban Ke", "Status Anak"]
    register(raw / "kutim" / "register_2024.xlsx", rows, header=header)
    assert run_pipeline("kutim").success
    outputs = (raw / "kutim" / "umpan-balik", warehouse / "public", warehouse / "parquet")
    before = listing(*outputs)
    assert any(name.endswith(".umpan-balik.xlsx") for name in before)  # feedback for the rejected row
    assert any(name.endswith("index.html") for name in before)
    assert any(name.endswith(".csv") for name in before) and any(name.endswith(".parquet") for name in before)
    assert run_pipeline("kutim").success
    assert listing(*outputs) == before
