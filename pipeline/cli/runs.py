"""The latest runs as Dagster records them (`ppa status --runs`), with why a run failed."""

from __future__ import annotations

from pipeline.cli.common import local_time
from pipeline.config import ensure_dagster_home
from pipeline.names import clean


def failure_text(event) -> str:
    """A failure event's message and the message of the error beneath Dagster's wrappers (a full
    disk, a weak key: the cause, not only that the step failed)."""
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cause is not None:  # Dagster wraps the error that says why
        error = error.cause
    cause = error.message.strip() if error is not None else ""
    return f"{event.message} {cause}" if cause else str(event.message)


def recent_runs(limit: int = 5) -> str:
    """The latest runs in the Dagster instance, with the reason of a failure."""
    ensure_dagster_home()
    import dagster as dg

    lines = ["Run terakhir / recent runs:"]
    with dg.DagsterInstance.get() as instance:
        for record in instance.get_run_records(limit=limit):
            run = record.dagster_run
            trigger = run.tags.get("ppa/trigger") or run.tags.get("dagster/schedule_name") or "manual"
            when = local_time(record.create_timestamp)
            line = f"  {when}  {run.status.value:<9} {trigger:<12} {run.run_id[:8]}"
            if run.status == dg.DagsterRunStatus.FAILURE:
                failures = instance.get_records_for_run(
                    run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=3).records
                reasons = {f.event_log_entry.dagster_event.step_key: failure_text(f.event_log_entry.dagster_event)
                           for f in failures}
                if not reasons:  # failed outside any step (say, killed and marked failed afterwards)
                    ended = instance.get_records_for_run(
                        run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE, limit=1, ascending=False).records
                    reasons = {"run": r.event_log_entry.message for r in ended}
                line += "".join(f"\n      {step}: {clean(msg, 400)}" for step, msg in reasons.items())
            lines.append(line)
    return "\n".join(lines) if len(lines) > 1 else "Belum ada run tercatat / no runs recorded yet."
