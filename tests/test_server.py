"""Server mode for real: deploy/dagster.yaml on a PostgreSQL server started by the tests.

A full run stores what the embedded (SQLite) instance stores, and the pooled event log what
dagster-postgres' own does; the daemon's sensor and schedule launch runs; a run whose process is
killed is failed (`ppa run`: by Dagster's run monitoring, through the heartbeat of
pipeline/automation/server.py), its pool slot is freed, and two runs queued after that take turns on the
warehouse; a backup made with pg_dump restores into an empty database.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from helpers import query, run_pipeline
from pg import DEPLOY, pg_server, pg_url, server_home, server_yaml  # noqa: F401 (fixtures)
from test_backup import installed  # noqa: F401 (fixture)
from workbooks import agency_row, register

pytestmark = [pytest.mark.slow, pytest.mark.server]
BIN = Path(sys.executable).parent
JOB = "full_refresh"
MARTS = ("victims_by_region_year", "yoy_by_region", "victims_by_form")
DAGSTER_POSTGRES = "telemetry:\n  enabled: false\nstorage:\n  postgres:\n    postgres_url:\n      env: DAGSTER_PG_URL\n"


def drop(raw: Path, agencies: dict[str, int], year: int = 2024) -> None:
    for agency, n in agencies.items():
        register(raw / f"{agency}/register_{year}.xlsx",
                 [agency_row(agency, case_id=f"{agency}-{year}-{i}") for i in range(n)])


def victims(warehouse: Path) -> dict[str, int]:
    if not (warehouse / "analytics.duckdb").exists():
        return {}
    frame = query(warehouse, "SELECT agency, sum(victims)::INT AS v FROM marts.victims_by_region_year GROUP BY 1 "
                  "HAVING v > 0", db="analytics.duckdb")
    return dict(zip(frame["agency"], frame["v"]))


def wait_for(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    tail = log.read_text()[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


@contextlib.contextmanager
def daemon(log: Path, **env: str):
    """`dagster-daemon run` on the test's instance, as the systemd unit starts it."""
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-m", "pipeline.definitions"],
                                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def launch(codes: list[str], label: str) -> subprocess.Popen:
    """Queue a refresh of the agencies, as the UI's Launchpad does; `label` tags the run for the test."""
    tags = {"dagster/asset_partition_range_start": codes[0], "dagster/asset_partition_range_end": codes[-1],
            "ppa/test": label}
    return subprocess.Popen([str(BIN / "dagster"), "job", "launch", "-m", "pipeline.definitions", "-j", JOB,
                             "--tags", json.dumps(tags)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def launched(proc: subprocess.Popen) -> None:
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out[-3000:]


def runs(instance: dg.DagsterInstance, **filters) -> list[dg.DagsterRun]:
    return [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(job_name=JOB, **filters))]


def ended(instance: dg.DagsterInstance, label: str, count: int = 1, tag: str = "ppa/test") -> list[dg.DagsterRun] | None:
    """The runs tagged `label`, once `count` of them have ended."""
    done = runs(instance, tags={tag: label}, statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE])
    return done if len(done) >= count else None


def step_windows(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """(start, end) of every step of a run in the warehouse pool (the checks only read)."""
    from pipeline.definitions import defs

    pooled = {node.name for node in defs.resolve_job_def(JOB).graph.nodes if node.definition.pool == "warehouse"}
    records = instance.get_records_for_run(run_id, limit=100_000).records
    starts, ends = {}, {}
    for record in records:
        event = record.event_log_entry
        kind = event.dagster_event_type
        if kind == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = event.timestamp
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            ends[event.step_key] = event.timestamp
    return [(starts[k], ends[k]) for k in starts if k in pooled]


def slots_held(instance: dg.DagsterInstance) -> int:
    return instance.event_log_storage.get_concurrency_info("warehouse").active_slot_count


def kill_in_first_step(instance: dg.DagsterInstance, run_id: str, log: Path) -> tuple[float, int]:
    """SIGKILL the process of a run once its first step (a warehouse step) has begun; when, and its pid."""
    start = wait_for(lambda: instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_START, limit=1).records, 60, "the run's first step", log)[0]
    pid = start.event_log_entry.dagster_event.pid
    os.kill(pid, signal.SIGKILL)
    assert slots_held(instance) == 1
    return time.monotonic(), pid


def test_a_full_run_on_postgres_stores_what_the_embedded_instance_does(server_home, isolated_env, monkeypatch):
    drop(isolated_env["raw"], {"kukar": 6, "bontang": 4, "batam": 3})
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PooledPostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        began = time.time()
        result = run_pipeline(instance=instance)
        assert result.success
        on_postgres = Counter(r.event_log_entry.dagster_event_type
                              for r in instance.get_records_for_run(result.run_id, limit=100_000).records)
        beat = instance.run_launcher.last_heartbeat(result.run_id)  # the run beat while it ran
        assert beat is not None and began <= beat["t"] <= time.time() and beat["pid"] == os.getpid()
        partitions = instance.get_materialized_partitions(dg.AssetKey(["staging", "case_victims"]))
    marts = {m: query(isolated_env["warehouse"], f"SELECT * FROM marts.{m} ORDER BY ALL") for m in MARTS}
    assert victims(isolated_env["warehouse"]) == {"kukar": 6, "bontang": 4, "batam": 3}
    assert partitions == {"kukar", "kutim", "ppu", "bontang", "batam"}

    # the same files on the embedded instance: the same marts and the same record of events
    embedded = isolated_env["reports"] / "embedded"
    monkeypatch.setenv("PPA_WAREHOUSE_DIR", str(embedded / "warehouse"))
    monkeypatch.setenv("DAGSTER_HOME", str(embedded / "home"))
    (embedded / "home").mkdir(parents=True)
    (embedded / "home" / "dagster.yaml").write_text((Path(__file__).parents[1] / "dagster_home/dagster.yaml")
                                                    .read_text())
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "BatchedSqliteEventLogStorage"
        result = run_pipeline(instance=instance)
        assert result.success
        on_sqlite = Counter(r.event_log_entry.dagster_event_type
                            for r in instance.get_records_for_run(result.run_id, limit=100_000).records)
    assert on_postgres == on_sqlite
    for mart, frame in marts.items():
        other = query(embedded / "warehouse", f"SELECT * FROM marts.{mart} ORDER BY ALL")
        assert frame.drop(columns=[c for c in frame if c.startswith("_")]).equals(
            other.drop(columns=[c for c in other if c.startswith("_")])), mart


def test_the_pooled_event_log_records_what_dagster_postgres_does(pg_server, tmp_path, monkeypatch):
    """pipeline/automation/server.py's event log on the ranged runs of tests/test_event_log.py, against
    dagster-postgres' own: the same events and partition states, with far fewer connections."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool
    from test_event_log import _history

    connects = Counter()

    def connected(*_):
        connects["connect"] += 1

    from pipeline.automation.server import PooledPostgresEventLogStorage

    planned_alone = Counter()
    store_event = PooledPostgresEventLogStorage.store_event

    def one_by_one(self, entry):
        planned_alone[entry.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED] += 1
        return store_event(self, entry)

    monkeypatch.setattr(PooledPostgresEventLogStorage, "store_event", one_by_one)
    event.listen(Pool, "connect", connected)
    try:
        recorded = {}
        for name, yaml_text in (("pooled", (DEPLOY / "dagster.yaml").read_text()), ("dagster", DAGSTER_POSTGRES)):
            (tmp_path / name).mkdir()
            (tmp_path / name / "dagster.yaml").write_text(yaml_text)
            monkeypatch.setenv("DAGSTER_PG_URL", pg_server.url(pg_server.create_database()))
            monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
            before = connects["connect"]
            storage, events, state = _history(tmp_path / name, monkeypatch)
            assert (os.environ.get("DAGSTER_EVENT_BATCH_SIZE") == "1000") == (name == "pooled")  # batching on
            recorded[name] = storage, events, state, connects["connect"] - before
    finally:
        event.remove(Pool, "connect", connected)
    assert recorded["pooled"][0] == "PooledPostgresEventLogStorage"
    assert recorded["dagster"][0] == "PostgresEventLogStorage"
    assert recorded["pooled"][1:3] == recorded["dagster"][1:3]
    print(f"connections opened: pooled {recorded['pooled'][3]}, dagster-postgres {recorded['dagster'][3]}")
    assert recorded["pooled"][3] * 3 < recorded["dagster"][3]
    assert planned_alone[True] == 0 and planned_alone[False] > 0  # every planned event went in a batch


def test_the_daemon_runs_the_sensor_and_the_schedule(server_home, isolated_env):
    raw, warehouse, log = isolated_env["raw"], isolated_env["warehouse"], isolated_env["reports"] / "daemon.log"
    drop(raw, {"kutim": 5})
    with dg.DagsterInstance.get() as instance, daemon(log, PPA_SENSOR_INTERVAL_S="2", PPA_SETTLE_SECONDS="1",
                                                      PPA_NIGHTLY_CRON="* * * * *"):
        sensed = wait_for(lambda: ended(instance, "drop_folder", tag="ppa/trigger"), 180, "the sensor's run", log)
        assert [r.status for r in sensed] == [dg.DagsterRunStatus.SUCCESS]
        assert victims(warehouse) == {"kutim": 5}

        nightly = wait_for(lambda: ended(instance, "nightly_refresh", tag="dagster/schedule_name"), 240,
                           "the schedule's run", log)
        assert [r.status for r in nightly] == [dg.DagsterRunStatus.SUCCESS]
        assert nightly[0].tags["dagster/asset_partition_range_end"] == "batam"  # every agency
        ledger = query(warehouse, "SELECT DISTINCT run_id FROM meta.ingest_log")  # the files seen again
        assert list(ledger["run_id"]) == [nightly[0].run_id]
        # runs launched by the daemon beat too, from their own process
        beat = instance.run_launcher.last_heartbeat(nightly[0].run_id)
        assert beat is not None and beat["pid"] not in (os.getpid(), None)


def test_killed_runs_are_failed_and_free_the_warehouse_and_queued_runs_take_turns(isolated_env, pg_url, monkeypatch):
    home, raw, log = isolated_env["dagster_home"], isolated_env["raw"], isolated_env["reports"] / "daemon.log"
    (home / "dagster.yaml").write_text(server_yaml(heartbeat_interval_seconds=2, heartbeat_timeout_seconds=8,
                                                   poll_interval_seconds=2, free_slots_after_run_end_seconds=1))
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    codes = ["kukar", "kutim", "ppu", "bontang", "batam"]
    drop(raw, dict.fromkeys(codes, 20))
    with dg.DagsterInstance.get() as instance, daemon(log, PPA_SENSOR_INTERVAL_S="2", PPA_SETTLE_SECONDS="1"):
        # the sensor's run, its process killed inside its first warehouse step, holding the slot:
        # the code server that started the process sees it end and fails the run
        sensed = wait_for(lambda: runs(instance, statuses=[dg.DagsterRunStatus.STARTED]), 120, "the sensor's run",
                          log)[0]
        kill_in_first_step(instance, sensed.run_id, log)
        wait_for(lambda: instance.get_run_by_id(sensed.run_id).status == dg.DagsterRunStatus.FAILURE, 60,
                 "the killed run to be failed", log)
        wait_for(lambda: slots_held(instance) == 0, 30, "the killed run's slot to be freed", log)

        # `ppa run` killed the same way: no code server watches it, only its heartbeat stops, and
        # the daemon's run monitoring fails it
        cli = subprocess.Popen([str(BIN / "ppa"), "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            by_cli = wait_for(lambda: runs(instance, statuses=[dg.DagsterRunStatus.STARTED]), 120, "`ppa run`",
                              log)[0]
            killed_at, pid = kill_in_first_step(instance, by_cli.run_id, log)
        finally:
            cli.kill()
            cli.wait()
        assert pid == cli.pid  # the run's steps ran in the `ppa run` process
        wait_for(lambda: instance.get_run_by_id(by_cli.run_id).is_finished, 60, "run monitoring to fail `ppa run`",
                 log)
        detected = time.monotonic() - killed_at
        failure = instance.get_records_for_run(by_cli.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        assert "no heartbeat" in failure[0].event_log_entry.message and f"pid {pid}" in failure[0].event_log_entry.message
        wait_for(lambda: slots_held(instance) == 0, 30, "the killed run's slot to be freed", log)
        print(f"`ppa run` killed: failed by run monitoring {detected:.1f} s after the kill")

        # two runs queued at once: both succeed, and no two of their warehouse steps overlap
        for proc in [launch(codes, "queued"), launch(["bontang"], "queued")]:
            launched(proc)
        done = wait_for(lambda: ended(instance, "queued", 2), 240, "the two queued runs", log)
        assert [r.status for r in done] == [dg.DagsterRunStatus.SUCCESS] * 2
        windows = sorted(w for run in done for w in step_windows(instance, run.run_id))
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(windows, windows[1:])), windows
        assert victims(isolated_env["warehouse"]) == dict.fromkeys(codes, 20)


def test_a_server_mode_backup_restores_into_an_empty_database(server_home, installed, pg_server, monkeypatch, tmp_path):
    from test_backup import same, state, wipe

    from pipeline.automation.backup import BackupError, backup, restore

    drop(installed["raw"], {"kukar": 4, "batam": 3})
    with dg.DagsterInstance.get() as instance:
        assert run_pipeline(instance=instance).success
    summary = backup(tmp_path / "backups")
    manifest = json.loads((summary.path / "manifest.json").read_text())
    assert manifest["instance"] == {"mode": "server", "runs": 1} and "dagster/dagster.pgdump" in manifest["files"]
    before = state(installed)

    wipe(installed, DEPLOY / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", pg_server.url(pg_server.create_database()))
    restore(summary.path)
    same(before, state(installed))
    with dg.DagsterInstance.get() as instance:  # the restored history: the partitions and their run
        assert instance.get_materialized_partitions(dg.AssetKey(["staging", "case_victims"])) == {
            "kukar", "kutim", "ppu", "bontang", "batam"}
        assert run_pipeline(instance=instance).success  # and it runs on
        assert instance.get_runs_count() == 2

    for name in ("warehouse", "archive", "dagster_home"):  # empty folders, but the database is in use
        shutil.rmtree(installed[name])
        installed[name].mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", installed["dagster_home"])
    with pytest.raises(BackupError, match="already holds runs"):
        restore(summary.path)
