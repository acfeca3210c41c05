"""`ppa backup` and `ppa restore-backup` (pipeline/automation/backup.py): a restore drill on the embedded
instance, incremental archive copies, refusals. tests/test_server.py drills server mode (pg_dump)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from helpers import query, run_pipeline
from workbooks import agency_row, register, row

from pipeline.automation.backup import MANIFEST, BackupError, backup, restore
from pipeline.cli import main
from pipeline.config import settings
from pipeline.publish.releases import verify, write_release
from pipeline.warehouse import db as warehouse

PROJECT_YAML = Path(__file__).parents[1] / "dagster_home" / "dagster.yaml"


def state(places: dict) -> dict:
    """What a restore must give back: every mart and the ledger, the archived bytes, the runs."""
    wh = places["warehouse"]
    marts = query(wh, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'marts' ORDER BY 1")["table_name"]
    archive = {p.relative_to(places["archive"]).as_posix(): p.read_bytes()
               for p in sorted(places["archive"].rglob("*")) if p.is_file() and not p.name.startswith(".")}
    with dg.DagsterInstance.get() as instance:
        runs = sorted((r.run_id, r.status.value) for r in instance.get_runs())
    return {
        "marts": {m: query(wh, f"SELECT * FROM marts.{m} ORDER BY ALL") for m in marts},
        "ledger": query(wh, "SELECT * EXCLUDE (last_seen, run_id) FROM meta.ingest_log ORDER BY agency, path"),
        "archive": archive, "runs": runs,
    }


def same(a: dict, b: dict) -> None:
    assert a["marts"].keys() == b["marts"].keys() and len(a["marts"]) >= 10
    for name in a["marts"]:
        assert a["marts"][name].equals(b["marts"][name]), name
    assert a["ledger"].equals(b["ledger"])
    assert a["archive"] == b["archive"] and a["runs"] == b["runs"]


@pytest.fixture
def installed(isolated_env, tmp_path, monkeypatch) -> dict:
    """A default install's key file and an operator's registry, outside the repository."""
    key = tmp_path / "etc" / "ppa_secret"
    key.parent.mkdir()
    key.write_text("k" * 64)
    registry = tmp_path / "etc" / "agencies.yaml"
    shutil.copy(Path(__file__).parents[1] / "pipeline" / "schemas" / "agencies.yaml", registry)
    monkeypatch.delenv("PPA_HASH_SECRET")
    monkeypatch.setenv("PPA_SECRET_FILE", str(key))
    monkeypatch.setenv("PPA_REGISTRY", str(registry))
    return {**isolated_env, "key": key, "registry": registry}


def wipe(places: dict, instance_yaml: Path = PROJECT_YAML) -> None:
    """Lose the machine: warehouse, archive, instance, key and registry."""
    for name in ("warehouse", "archive", "dagster_home", "releases"):
        for path in places[name].rglob("*"):  # a release is read-only: make it removable
            path.chmod(0o700 if path.is_dir() else 0o600)
        shutil.rmtree(places[name])
        places[name].mkdir()
    shutil.copy(instance_yaml, places["dagster_home"] / "dagster.yaml")  # the new machine's instance config
    places["key"].unlink()
    places["registry"].unlink()


def pipeline_run() -> None:
    with dg.DagsterInstance.get() as instance:
        assert run_pipeline(instance=instance).success


@pytest.mark.slow
def test_restore_drill_run_back_up_wipe_restore_and_run_on(installed, tmp_path):
    raw, dest = installed["raw"], tmp_path / "backups"
    register(raw / "kukar/register_2024.xlsx", [row(case_id=f"K{i}") for i in range(8)])
    register(raw / "batam/register_2024.xlsx", [agency_row("batam", case_id=f"B{i}") for i in range(6)])
    pipeline_run()
    first = backup(dest)
    assert first.copied_files == 2 and first.linked_files == 0

    register(raw / "bontang/register_2024.xlsx", [agency_row("bontang", case_id=f"T{i}") for i in range(5)])
    pipeline_run()
    release = write_release(settings(), "2026.12.01")
    second = backup(dest)  # only the new archived file is copied; the others are linked
    assert second.copied_files == 1 and second.linked_files == 2
    old = {p.name: p.stat().st_ino for p in (first.path / "archive").rglob("*") if p.is_file()}
    new = {p.name: p.stat().st_ino for p in (second.path / "archive").rglob("*") if p.is_file()}
    assert len(new) == 3 and all(new[name] == ino for name, ino in old.items())
    manifest = json.loads((second.path / MANIFEST).read_text())
    assert manifest["instance"] == {"mode": "embedded", "runs": 2} and manifest["previous"] == first.path.name
    assert {"warehouse/warehouse.duckdb", "warehouse/analytics.duckdb", "registry/agencies.yaml",
            "keys/ppa_secret", "dagster/history/runs.db", "dagster/schedules/schedules.db"} <= set(manifest["files"])
    assert stat_mode(second.path) == 0o700 and stat_mode(second.path / "keys" / "ppa_secret") == 0o600

    before = state(installed)
    key, registry = installed["key"].read_bytes(), installed["registry"].read_bytes()
    wipe(installed)
    done = restore(dest)  # the newest backup in the folder
    assert done.path == second.path
    after = state(installed)
    same(before, after)
    assert installed["key"].read_bytes() == key and installed["registry"].read_bytes() == registry
    # the release came back whole and read-only: later runs are protected against it
    assert verify(release.path) == [] and stat_mode(release.path / "public/victims_by_region_year.csv") == 0o444

    # the restored installation runs on: unchanged agencies are kept (not parsed again), new files load
    register(raw / "ppu/register_2024.xlsx", [agency_row("ppu", case_id=f"P{i}") for i in range(7)])
    pipeline_run()
    ledger = query(installed["warehouse"], "SELECT agency, parsed FROM meta.ingest_log ORDER BY agency")
    assert dict(zip(ledger["agency"], ledger["parsed"])) == {"batam": False, "bontang": False, "kukar": False,
                                                             "ppu": True}
    victims = query(installed["warehouse"], "SELECT agency, sum(victims)::INT AS v FROM marts.victims_by_region_year "
                                            "GROUP BY 1 HAVING v > 0 ORDER BY 1")
    assert dict(zip(victims["agency"], victims["v"])) == {"batam": 6, "bontang": 5, "kukar": 8, "ppu": 7}

    # a restore never writes over an installation
    with pytest.raises(BackupError, match="PPA_WAREHOUSE_DIR .* is not empty"):
        restore(dest)


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_a_backup_waits_for_the_writer_and_holds_what_it_committed(isolated_env, tmp_path):
    path = isolated_env["warehouse"] / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        con.execute("CREATE TABLE meta.t (x INTEGER)")
    holding = threading.Event()

    def writer():
        with warehouse.connect(path) as con:
            holding.set()
            time.sleep(1.5)
            con.execute("INSERT INTO meta.t VALUES (1)")

    thread = threading.Thread(target=writer)
    thread.start()
    holding.wait()
    summary = backup(tmp_path / "b")
    thread.join()
    con = duckdb.connect(str(summary.path / "warehouse" / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM meta.t").fetchone()[0] == 1
    finally:
        con.close()


def test_a_damaged_or_missing_backup_and_a_used_folder_are_refused(installed, tmp_path, capsys):
    register(installed["raw"] / "kukar/register_2024.xlsx", [row(case_id="K1")])
    installed["archive"].joinpath("ab").mkdir()
    installed["archive"].joinpath("ab", "ab" + "0" * 62 + ".xlsx").write_bytes(b"not what its name says")
    with pytest.raises(BackupError, match="does not match its sha256 name"):
        backup(tmp_path / "bad")
    shutil.rmtree(installed["archive"] / "ab")

    assert main(["backup", str(tmp_path / "b")]) == 0
    assert "cadangan ditulis / backup written" in capsys.readouterr().out
    snapshot = next((tmp_path / "b").iterdir())
    assert main(["restore-backup", str(tmp_path / "b")]) == 1  # the folders are in use
    assert "is not empty" in capsys.readouterr().err

    wipe(installed)
    (snapshot / "registry" / "agencies.yaml").write_text("changed after the backup")
    with pytest.raises(BackupError, match="missing or damaged .*registry/agencies.yaml"):
        restore(snapshot)
    with pytest.raises(BackupError, match="no backup in"):
        restore(tmp_path / "nothing-here")
    assert not any(installed["warehouse"].iterdir())  # nothing was written


def test_the_key_in_the_environment_is_not_backed_up_and_said_so(isolated_env, tmp_path):
    assert os.environ["PPA_HASH_SECRET"]
    summary = backup(tmp_path / "b")
    assert "PPA_HASH_SECRET" in summary.notes[0]
    assert not (summary.path / "keys").exists()
