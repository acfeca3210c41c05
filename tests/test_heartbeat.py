"""The run heartbeat of server mode (pipeline/automation/server.py), against Dagster's own run monitoring.

These run on a SQLite instance configured with the heartbeat launcher, so they run in every
`make test`; tests/test_server.py does the same against PostgreSQL with the real daemon. They
also pin what pipeline/automation/server.py takes from Dagster's private modules (CheckRunHealthResult,
WorkerStatus) and how run monitoring uses them: a Dagster upgrade that changes either fails here.
"""

from __future__ import annotations

import json
import logging
import os
import time

import dagster as dg
import pytest
from dagster._daemon.monitoring import run_monitoring
from test_recovery import dead_pid, run_at

from pipeline.automation.recovery import fail_dead_runs
from pipeline.automation.server import HeartbeatRunLauncher, heartbeat, heartbeat_key

LAUNCHER = {"module": "pipeline.automation.server", "class": "HeartbeatRunLauncher",
            "config": {"heartbeat_interval_seconds": 1, "heartbeat_timeout_seconds": 10}}


@pytest.fixture(scope="module")
def job():
    from pipeline.definitions import build_definitions

    return build_definitions().resolve_job_def("full_refresh")


@pytest.fixture
def instance():
    with dg.instance_for_test(overrides={"run_launcher": LAUNCHER,
                                         "run_monitoring": {"enabled": True, "max_resume_run_attempts": 0}}) as inst:
        yield inst


def started(instance, job, pid=None):
    run = run_at(instance, job, dg.DagsterEventType.RUN_START, pid, time.time())
    return instance.get_run_record_by_id(run.run_id)


def monitor(instance, record):
    """One pass of the daemon's run monitoring over a STARTED run."""
    run_monitoring.monitor_started_run(instance, None, record, logging.getLogger("test"))
    return instance.get_run_by_id(record.dagster_run.run_id).status


@pytest.mark.slow  # it waits for beats
def test_a_run_that_beats_is_left_running_one_that_stopped_is_failed(instance, job):
    launcher = instance.run_launcher
    assert isinstance(launcher, HeartbeatRunLauncher) and launcher.supports_check_run_worker_health
    record = started(instance, job)
    run_id = record.dagster_run.run_id
    with heartbeat(instance, run_id):
        first = launcher.last_heartbeat(run_id)
        assert first["pid"] == os.getpid() and abs(first["t"] - time.time()) < 5
        time.sleep(2.2)  # two intervals: the thread beat again
        assert launcher.last_heartbeat(run_id)["t"] > first["t"]
        assert monitor(instance, record) == dg.DagsterRunStatus.STARTED
    last = launcher.last_heartbeat(run_id)["t"]
    time.sleep(1.5)
    assert launcher.last_heartbeat(run_id)["t"] == last  # stopped with the run
    assert monitor(instance, record) == dg.DagsterRunStatus.STARTED  # 1.5 s: well within the timeout

    instance.run_storage.set_cursor_values({heartbeat_key(run_id): json.dumps(
        {"t": time.time() - 60, "host": "web-1", "pid": 4242})})
    assert monitor(instance, record) == dg.DagsterRunStatus.FAILURE
    failure = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    message = failure[0].event_log_entry.message
    assert "no heartbeat for 60 s" in message and "host web-1, pid 4242" in message and "ditandai gagal" in message


def test_a_run_that_never_beat_is_failed_once_the_timeout_has_passed_since_its_start(instance, job, monkeypatch):
    record = started(instance, job)
    assert monitor(instance, record) == dg.DagsterRunStatus.STARTED
    later = time.time() + 11
    monkeypatch.setattr("pipeline.automation.server.time.time", lambda: later)
    assert monitor(instance, record) == dg.DagsterRunStatus.FAILURE


def test_pids_are_not_judged_in_server_mode(instance, job):
    """A pid from another host or container means nothing: `ppa run` and the sensor leave the run to
    run monitoring (in the embedded mode, tests/test_recovery.py fails it by its pid)."""
    record = started(instance, job, pid=dead_pid())
    with heartbeat(instance, record.dagster_run.run_id):
        assert fail_dead_runs(instance).failed == []
        assert monitor(instance, record) == dg.DagsterRunStatus.STARTED


def test_the_embedded_instance_does_not_beat(job):
    with dg.instance_for_test() as instance:  # Dagster's default launcher
        run_id = started(instance, job).dagster_run.run_id
        with heartbeat(instance, run_id):
            pass
        assert instance.run_storage.get_cursor_values({heartbeat_key(run_id)}) == {}


def test_a_timeout_shorter_than_three_beats_is_refused():
    with pytest.raises(ValueError, match="three heartbeat_interval_seconds"):
        HeartbeatRunLauncher(heartbeat_interval_seconds=30, heartbeat_timeout_seconds=60)
