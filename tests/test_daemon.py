"""Automation for real: the Dagster daemon on a temporary instance picks up a
dropped workbook and its rows reach the marts; overlapping runs never collide
on the DuckDB lock; readers of the analytics copy never block a run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from workbooks import agency_row, register, row

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _victims(warehouse: Path, agency: str) -> int | None:
    path = warehouse / "analytics.duckdb"
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT sum(victims) FROM marts.victims_by_region_year WHERE agency = ?", [agency]).fetchall()
        return rows[0][0]
    finally:
        con.close()


def test_daemon_sensor_loads_a_dropped_file_into_the_marts(isolated_env):
    home = isolated_env["dagster_home"]
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nconcurrency:\n  runs:\n    max_concurrent_runs: 2\n"
        "  pools:\n    default_limit: 1\n")
    env = {**os.environ, "PPA_SENSOR_INTERVAL_S": "2", "PPA_SETTLE_SECONDS": "1"}
    log = open(isolated_env["reports"] / "daemon.log", "w")
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-m", "pipeline.definitions"], env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(8)  # the daemon starts and ticks once on the empty folder
        dropped = time.monotonic()
        register(isolated_env["raw"] / "bontang/register_2024.xlsx", [row(case_id="A1"), row(case_id="A2")])
        victims = None
        while time.monotonic() - dropped < 180:
            victims = _victims(isolated_env["warehouse"], "bontang")
            if victims == 2:
                break
            time.sleep(1)
        elapsed = time.monotonic() - dropped
        assert victims == 2, (isolated_env["reports"] / "daemon.log").read_text()[-3000:]
        print(f"file landing to rows in the marts: {elapsed:.1f} s")
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()


def test_overlapping_runs_and_a_reader_never_collide(isolated_env):
    raw = isolated_env["raw"]
    for agency in ("kukar", "kutim", "batam"):
        register(raw / f"{agency}/register_2024.xlsx", [agency_row(agency, case_id=f"{agency}-{i}") for i in range(30)])
    subprocess.run([str(BIN / "ppa"), "run"], check=True, capture_output=True, timeout=300)
    analytics = isolated_env["warehouse"] / "analytics.duckdb"
    # a researcher's process holds the copy open the whole time, another queries it in a loop
    holder = duckdb.connect(str(analytics), read_only=True)
    reader = subprocess.Popen([sys.executable, "-c", f"""
import duckdb, time
seen = set()
end = time.time() + 25
while time.time() < end:
    con = duckdb.connect({str(analytics)!r}, read_only=True)
    seen.add(con.execute("SELECT sum(victims) FROM marts.victims_by_region_year").fetchall()[0][0])
    con.close()
print(sorted(seen))
"""], stdout=subprocess.PIPE, text=True)
    runs = [subprocess.Popen([str(BIN / "ppa"), "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for args in ([], ["--agency", "kutim"], [], ["--agency", "batam"])]
    outputs = [r.communicate(timeout=600) for r in runs]
    for run, (out, err) in zip(runs, outputs):
        assert run.returncode == 0, err[-2000:]
        assert "Could not set lock" not in err and "Conflicting lock" not in err
    seen, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0
    assert eval(seen) == [90]  # never a half-built mart: always all three agencies' 90 victims
    assert holder.execute("SELECT sum(victims) FROM marts.victims_by_region_year").fetchall()[0][0] == 90
    holder.close()
