"""Runs whose process died: marked failed, and their hold on the warehouse pool released.

A run killed outright (SIGKILL, the OOM killer, a power cut) cannot record its end. Dagster
then keeps it STARTED and keeps its claim on the "warehouse" pool slot, so the next run
waits for that slot forever and the nightly schedule skips ("a refresh is already
running"). Dagster's daemon detects dead run workers only for launchers with health checks,
and the default launcher and `ppa run` (in-process) have none.

Every Dagster event records the pid of the process that emitted it, and a STARTED run's
RUN_START came from the process that runs it. When that process is gone, or its pid now
belongs to a process started after the run began, the run is dead. The instance is local
SQLite, so its runs ran on this machine. `ppa run`, the sensor and the schedule call
`fail_dead_runs` before they start anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import psutil
from dagster._core.storage.dagster_run import FINISHED_STATUSES

CLOCK_SLACK_S = 1.0  # process start times are rounded; a RUN_START is always later than its process


@dataclass(frozen=True)
class Recovered:
    failed: list[str]  # runs marked failed (their process had died)
    freed: list[str]  # runs whose pool slots or pending claims were released


def process_alive(pid: int, since: float) -> bool:
    """Whether the process with this pid exists and was started no later than `since`."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= since + CLOCK_SLACK_S
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: alive, and not ours to judge
        return True


def fail_dead_runs(instance: dg.DagsterInstance) -> Recovered:
    """Mark STARTED runs whose process is gone as failed; free slots held by finished runs."""
    failed = []
    # Server mode: the launcher checks run workers' heartbeats and the daemon's run monitoring fails
    # dead runs, wherever they ran; a pid from another host or container says nothing here.
    by_pid = not instance.run_launcher.supports_check_run_worker_health
    started = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])) if by_pid else []
    for record in started:
        run = record.dagster_run
        starts = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
        if not starts:
            continue
        entry = starts[0].event_log_entry
        pid = entry.dagster_event.pid if entry.dagster_event else None
        if pid is None or process_alive(pid, entry.timestamp):
            continue
        run = instance.get_run_by_id(run.run_id)  # its process is gone, so all it wrote is here now
        if run is None or run.status != dg.DagsterRunStatus.STARTED:  # it ended between the two reads
            continue
        instance.report_run_failed(run, message=(
            f"The process running this run (pid {pid}) ended without recording an end: it was killed "
            "or the machine stopped. Marked failed so that the next run can start. / Proses run ini "
            "berhenti tanpa mencatat akhirnya (dimatikan paksa); ditandai gagal."))
        failed.append(run.run_id)

    storage = instance.event_log_storage
    freed = []
    if storage.supports_global_concurrency_limits:
        holders = storage.get_concurrency_run_ids()
        if holders:
            finished = instance.get_run_records(dg.RunsFilter(run_ids=sorted(holders), statuses=FINISHED_STATUSES))
            for record in finished:
                storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
                freed.append(record.dagster_run.run_id)
    return Recovered(failed, freed)
