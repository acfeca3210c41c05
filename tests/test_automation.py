"""The drop-folder sensor and the nightly schedule, driven through their contexts."""

import datetime as dt
import json
import os
import time
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from workbooks import register, row


@pytest.fixture
def defs(isolated_env):
    from pipeline.definitions import build_definitions

    return build_definitions()


def tick(defs, cursor=None, instance=None):
    sensor = defs.resolve_sensor_def("drop_folder_sensor")
    resources = {"drop_folder": defs.resources["drop_folder"], "warehouse": defs.resources["warehouse"]}
    with dg.instance_for_test() as inst, dg.build_sensor_context(
            cursor=cursor, instance=instance or inst, resources=resources) as context:
        result = sensor.evaluate_tick(context)
        return result, context.cursor


def settled(path, seconds=60):
    old = time.time() - seconds
    os.utime(path, (old, old))
    return path


@pytest.mark.slow
def test_new_same_edited_halfcopied_lock_and_deleted_files(defs, isolated_env):
    raw = isolated_env["raw"]
    a = settled(register(raw / "kukar/a.xlsx", [row()]))
    result, cursor = tick(defs)
    [request] = result.run_requests
    assert request.tags["ppa/agencies"] == "kukar"
    assert request.tags["dagster/asset_partition_range_start"] == "kukar"
    assert request.tags["dagster/asset_partition_range_end"] == "kukar"
    first_key = request.run_key

    # the same file dropped again (new mtime, same bytes) does nothing
    content = a.read_bytes()
    a.unlink()
    a.write_bytes(content)
    settled(a, 30)
    result, cursor = tick(defs, cursor)
    assert not result.run_requests and "none new, changed or deleted" in result.skip_message

    # an edited file runs again, with a different key
    settled(register(a, [row(), row(case_id="002")]), 20)
    result, cursor = tick(defs, cursor)
    [request] = result.run_requests
    assert request.run_key != first_key

    # a half-copied file (modified just now) waits; an Excel lock file is ignored
    (raw / "kukar/b.xlsx").write_bytes(b"PK\x03\x04partial")
    (raw / "kukar/~$a.xlsx").write_bytes(b"lock")
    result, cursor = tick(defs, cursor)
    assert not result.run_requests and "still being copied: kukar/b.xlsx" in result.skip_message
    settled(raw / "kukar/b.xlsx")
    result, cursor = tick(defs, cursor)
    assert len(result.run_requests) == 1
    assert "~$a.xlsx" not in json.dumps(json.loads(cursor))

    # a deleted file starts a run for its agency
    (raw / "kukar/b.xlsx").unlink()
    result, cursor = tick(defs, cursor)
    [request] = result.run_requests
    assert request.tags["ppa/agencies"] == "kukar"


def test_files_of_several_agencies_give_one_run(defs, isolated_env):
    raw = isolated_env["raw"]
    settled(register(raw / "kutim/a.xlsx", [row()]))
    settled(register(raw / "batam/a.xlsx", [row()]))
    (raw / "kutim/umpan-balik").mkdir()
    settled(register(raw / "kutim/umpan-balik/a_umpan_balik.xlsx", [row()]))
    result, cursor = tick(defs)
    [request] = result.run_requests
    assert request.tags["ppa/agencies"] == "kutim,batam"
    assert (request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]) \
        == ("kutim", "batam")
    assert "umpan-balik" not in cursor


@pytest.mark.slow
def test_first_tick_starts_from_the_ledger_not_from_nothing(defs, isolated_env):
    """The daemon's first start after `ppa run` does not run again over what the run loaded;
    what changed since, and what the ledger never saw, still start a run."""
    from helpers import run_pipeline

    raw = isolated_env["raw"]
    settled(register(raw / "kutim/a.xlsx", [row()]))
    settled(register(raw / "kutim/b.xlsx", [row(case_id="002")]))
    os.symlink(raw / "kutim/a.xlsx", raw / "kutim/link.xlsx")  # refused unopened: no hash in the ledger
    assert run_pipeline("kutim").success
    result, cursor = tick(defs)
    assert not result.run_requests and "3 files seen" in result.skip_message
    assert set(json.loads(cursor)["files"]) == {"kutim/a.xlsx", "kutim/b.xlsx", "kutim/link.xlsx"}

    settled(register(raw / "kutim/a.xlsx", [row(), row(case_id="002")]))  # edited after the run
    settled(register(raw / "batam/b.xlsx", [row()]))  # never loaded
    result, _ = tick(defs)
    [request] = result.run_requests
    assert request.tags["ppa/agencies"] == "kutim,batam"


def test_first_tick_waits_while_a_run_holds_the_warehouse(defs, isolated_env):
    import subprocess
    import sys

    settled(register(isolated_env["raw"] / "kukar/a.xlsx", [row()]))
    path = isolated_env["warehouse"] / "warehouse.duckdb"
    writer = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"  # another process writes the warehouse
        result, cursor = tick(defs)
    finally:
        writer.kill()
        writer.wait()
    assert not result.run_requests and "holds the warehouse" in result.skip_message and not cursor
    result, _ = tick(defs)  # nothing was ever loaded: every file is new
    assert len(result.run_requests) == 1


def test_sensor_never_parses_excel(defs, isolated_env, monkeypatch):
    from pipeline.ingest import reader
    from pipeline.ingest import workbook as excel

    for module in (excel, reader):
        monkeypatch.setattr(module, "read_workbook", lambda *a, **k: pytest.fail("the sensor parsed a workbook"))
    settled(register(isolated_env["raw"] / "ppu/a.xlsx", [row()]))
    result, _ = tick(defs)
    assert len(result.run_requests) == 1


def test_nightly_schedule_at_two_wita(defs):
    schedule = defs.resolve_schedule_def("nightly_refresh")
    assert schedule.cron_schedule == "0 2 * * *" and schedule.execution_timezone == "Asia/Makassar"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    resources = {"drop_folder": defs.resources["drop_folder"], "warehouse": defs.resources["warehouse"]}
    when = dt.datetime(2025, 3, 4, 2, 0, tzinfo=ZoneInfo("Asia/Makassar"))
    with dg.instance_for_test() as instance, dg.build_schedule_context(
            scheduled_execution_time=when, instance=instance, resources=resources) as context:
        data = schedule.evaluate_tick(context)
    [request] = data.run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "kukar"
    assert request.tags["dagster/asset_partition_range_end"] == "batam"
    # 02:00 WITA is 18:00 UTC the day before
    from dagster._utils.schedules import cron_string_iterator

    start = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC).timestamp()
    first = next(cron_string_iterator(start, "0 2 * * *", "Asia/Makassar"))
    assert first.astimezone(dt.UTC) == dt.datetime(2025, 3, 3, 18, 0, tzinfo=dt.UTC)


def test_nightly_schedule_skips_while_a_refresh_runs(defs):
    job = defs.resolve_job_def("full_refresh")
    schedule = defs.resolve_schedule_def("nightly_refresh")
    with dg.instance_for_test() as instance:
        instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED,
                                    tags={"dagster/asset_partition_range_start": "kukar",
                                          "dagster/asset_partition_range_end": "batam"})
        with dg.build_schedule_context(instance=instance, resources={"drop_folder": defs.resources["drop_folder"],
                                                                  "warehouse": defs.resources["warehouse"]},
                                       scheduled_execution_time=dt.datetime(2025, 3, 4, 2, 0)) as context:
            data = schedule.evaluate_tick(context)
    assert not data.run_requests and "already running" in data.skip_message

