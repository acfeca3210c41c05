"""Runs whose process died are marked failed and release the warehouse pool."""

import datetime as dt
import logging
import os
import subprocess
import sys
import time

import dagster as dg
import psutil
import pytest
from dagster._core.events import DagsterEvent
from dagster._core.events.log import EventLogEntry

from pipeline.automation.recovery import fail_dead_runs, process_alive


@pytest.fixture(scope="module")
def defs():
    from pipeline.definitions import build_definitions

    return build_definitions()


@pytest.fixture(scope="module")
def job(defs):
    return defs.resolve_job_def("full_refresh")


@pytest.fixture(scope="module")
def shared_instance():
    with dg.instance_for_test() as instance:  # about 3 s to create, so one for the module
        yield instance


@pytest.fixture
def instance(shared_instance):
    """The module's instance, left with no run in progress and no slot held after each test."""
    yield shared_instance
    for record in shared_instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        shared_instance.report_run_failed(record.dagster_run)
    for run_id in shared_instance.event_log_storage.get_concurrency_run_ids():
        shared_instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def run_at(instance, job, event: dg.DagsterEventType, pid: int | None, at: float):
    """A new run whose last event is `event`, emitted by `pid` at `at` (it sets the run's status)."""
    run = instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.NOT_STARTED)
    instance.handle_new_event(EventLogEntry(
        error_info=None, level=logging.DEBUG, user_message="", run_id=run.run_id, timestamp=at,
        dagster_event=DagsterEvent(event_type_value=event.value, job_name=job.name, pid=pid)))
    return run


def started_run(instance, job, pid: int, at: float, slot: bool = True):
    """A STARTED run whose RUN_START came from `pid` at `at`, holding the warehouse slot."""
    run = run_at(instance, job, dg.DagsterEventType.RUN_START, pid, at)
    if slot:
        instance.event_log_storage.set_concurrency_slots("warehouse", 1)
        assert instance.event_log_storage.claim_concurrency_slot("warehouse", run.run_id, "agency_load").is_claimed
    return run


def slots_held(instance) -> int:
    return instance.event_log_storage.get_concurrency_info("warehouse").active_slot_count


def status(instance, run) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run.run_id).status


def nightly_tick(instance):
    """The nightly schedule's tick for 2025-03-04 02:00, on definitions of the folders set now."""
    from pipeline.definitions import build_definitions

    defs = build_definitions()
    schedule = defs.resolve_schedule_def("nightly_refresh")
    resources = {"drop_folder": defs.resources["drop_folder"], "warehouse": defs.resources["warehouse"]}
    with dg.build_schedule_context(instance=instance, resources=resources,
                                   scheduled_execution_time=dt.datetime(2025, 3, 4, 2, 0)) as ctx:
        return schedule.evaluate_tick(ctx)


def test_process_alive_tells_a_dead_a_live_and_a_reused_pid():
    me = psutil.Process().create_time()
    assert process_alive(os.getpid(), time.time())
    assert not process_alive(dead_pid(), time.time())
    assert not process_alive(os.getpid(), me - 3600)  # the pid now belongs to a later process


def test_a_killed_run_is_failed_and_its_slot_freed_a_live_one_is_left(job, instance):
    dead = started_run(instance, job, dead_pid(), time.time())
    assert slots_held(instance) == 1
    recovered = fail_dead_runs(instance)
    assert recovered.failed == [dead.run_id] and recovered.freed == [dead.run_id]
    assert status(instance, dead) == dg.DagsterRunStatus.FAILURE and slots_held(instance) == 0
    failure = instance.get_records_for_run(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    assert "killed" in failure[0].event_log_entry.message

    live = started_run(instance, job, os.getpid(), time.time())
    assert fail_dead_runs(instance).failed == []
    assert status(instance, live) == dg.DagsterRunStatus.STARTED and slots_held(instance) == 1


def test_a_reused_pid_does_not_keep_a_dead_run_alive(job, instance):
    # our pid, but the run started an hour before this process did
    run = started_run(instance, job, os.getpid(), psutil.Process().create_time() - 3600)
    assert fail_dead_runs(instance).failed == [run.run_id]
    assert status(instance, run) == dg.DagsterRunStatus.FAILURE and slots_held(instance) == 0


def test_a_finished_run_still_holding_a_slot_releases_it(job, instance):
    run = started_run(instance, job, os.getpid(), time.time())
    instance.report_run_canceled(instance.get_run_by_id(run.run_id))  # e.g. marked from the UI
    assert slots_held(instance) == 1
    recovered = fail_dead_runs(instance)
    assert recovered.failed == [] and recovered.freed == [run.run_id] and slots_held(instance) == 0
    assert status(instance, run) == dg.DagsterRunStatus.CANCELED


def test_the_nightly_schedule_is_not_blocked_by_a_killed_run(defs, job, instance, isolated_env):
    live = started_run(instance, job, os.getpid(), time.time(), slot=False)
    assert "already running" in nightly_tick(instance).skip_message  # a live run still blocks
    instance.report_run_failed(instance.get_run_by_id(live.run_id))

    dead = started_run(instance, job, dead_pid(), time.time())
    assert len(nightly_tick(instance).run_requests) == 1
    assert status(instance, dead) == dg.DagsterRunStatus.FAILURE and slots_held(instance) == 0


def test_the_sensor_frees_a_killed_runs_slot(defs, job, instance):
    sensor = defs.resolve_sensor_def("drop_folder_sensor")
    dead = started_run(instance, job, dead_pid(), time.time())
    with dg.build_sensor_context(instance=instance, resources={"drop_folder": defs.resources["drop_folder"],
                                                               "warehouse": defs.resources["warehouse"]}) as ctx:
        sensor.evaluate_tick(ctx)
    assert status(instance, dead) == dg.DagsterRunStatus.FAILURE and slots_held(instance) == 0


def test_ppa_status_says_a_run_was_killed(job):
    from pipeline.cli import recent_runs

    with dg.DagsterInstance.get() as home:  # the test's DAGSTER_HOME, with the project's dagster.yaml
        dead = started_run(home, job, dead_pid(), time.time())
        assert fail_dead_runs(home).failed == [dead.run_id]
    lines = recent_runs()
    assert f"FAILURE   manual       {dead.run_id[:8]}" in lines and "run: The process running this run" in lines


def test_the_daemon_fails_a_run_that_never_started_so_the_schedule_runs_again(defs, job, isolated_env,
                                                                               monkeypatch):
    from dagster._daemon.monitoring import run_monitoring

    with dg.DagsterInstance.from_config(str(isolated_env["dagster_home"])) as instance:  # the project's dagster.yaml
        assert instance.run_monitoring_enabled and instance.run_monitoring_start_timeout_seconds == 180
        stuck = run_at(instance, job, dg.DagsterEventType.RUN_STARTING, None, time.time())
        assert status(instance, stuck) == dg.DagsterRunStatus.STARTING
        assert "already running" in nightly_tick(instance).skip_message

        record = instance.get_run_record_by_id(stuck.run_id)
        run_monitoring.monitor_starting_run(instance, record, logging.getLogger("test"))  # within the timeout
        assert status(instance, stuck) == dg.DagsterRunStatus.STARTING
        later = time.time() + 181
        monkeypatch.setattr(run_monitoring, "get_current_timestamp", lambda: later)
        run_monitoring.monitor_starting_run(instance, record, logging.getLogger("test"))  # the daemon's check
        assert status(instance, stuck) == dg.DagsterRunStatus.FAILURE
        assert len(nightly_tick(instance).run_requests) == 1
