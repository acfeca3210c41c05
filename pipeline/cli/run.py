"""`ppa run`: the pipeline in this process, with its progress drawn from the run's own events.

The run is Dagster's `execute_in_process` on the project's instance. A listener on the
instance receives every event the run stores: step starts and ends, and the progress lines
the agency load and the feedback log after each batch of agencies (pipeline/progress.py). On a
terminal they become a progress display; elsewhere (a pipe, cron, CI) nothing is drawn and
only warnings and the result are printed. `-v` adds the INFO messages of our own steps;
`-vv` is Dagster's own DEBUG log of every event.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid

from pipeline.cli import common
from pipeline.config import ensure_dagster_home
from pipeline.names import clean
from pipeline.progress import finished

# Step keys of the job -> what a person reads (Indonesian / English)
STEPS = {
    "agency_load": "membaca file / reading files",
    "marts": "mart / marts",
    "meta__ingest_log_agencies_silent": "lembaga yang diam / silent agencies",
    "analytics__warehouse_copy": "salinan analitik / analytics copy",
    "public_tables": "tabel publik / public tables",
    "feedback__umpan_balik": "umpan balik / feedback",
    "meta__refresh_stamp": "cap run penuh / full-run stamp",
}
GX = "pemeriksaan mart / mart checks (GX)"
PER_AGENCY = ("agency_load", "feedback__umpan_balik")  # steps that log progress per batch of agencies


def step_label(key: str) -> str:
    return STEPS.get(key) or (GX if "_gx_" in key else key)


class RunDisplay:
    """Receives the run's events (the instance calls it for each one it stores)."""

    def __init__(self, agencies: list[str], steps: int, draw: bool, verbose: int):
        self.agencies, self.steps, self.draw, self.verbose = agencies, steps, draw, verbose
        self.started: dict[str, float] = {}
        self.done_steps = 0
        self.progress = None
        self.tasks: dict[str, int] = {}
        self.failed: list[str] = []

    def __enter__(self) -> RunDisplay:
        if self.draw:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.text import Text

            class Count(MofNCompleteColumn):  # "3/5" agencies; nothing for a step without a count
                def render(self, task):
                    return Text("") if task.total is None else super().render(task)

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), Count(),
                                     TimeElapsedColumn(), console=common.progress_console(), transient=True)
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _print(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(clean(text))
        else:
            common.say(text, stderr=True)

    def __call__(self, entry) -> None:
        try:
            self._event(entry)
        except Exception:  # the display never stops a run
            if common.debug():
                raise

    def _event(self, entry) -> None:
        step = entry.step_key
        event = entry.dagster_event
        if event is None:  # a log message of a step
            self._message(step, entry)
            return
        if event.is_step_start:
            self.started[step] = time.monotonic()
            if self.progress is not None:
                total = len(self.agencies) if step in PER_AGENCY else None
                self.tasks[step] = self.progress.add_task(
                    f"{self.done_steps + 1}/{self.steps} {step_label(step)}", total=total)
        elif event.is_step_success or event.is_step_failure:
            self.done_steps += 1
            took = time.monotonic() - self.started.get(step, time.monotonic())
            if event.is_step_failure:
                self.failed.append(step)
            if self.progress is not None and step in self.tasks:
                self.progress.remove_task(self.tasks.pop(step))
            if self.draw or self.verbose:
                mark = "GAGAL / FAILED" if event.is_step_failure else "ok"
                self._print(f"{mark:>4} {took:6.1f} s  {step_label(step)}")

    def _message(self, step: str | None, entry) -> None:
        level = entry.level if isinstance(entry.level, int) else logging.getLevelName(entry.level)
        text = entry.user_message or ""
        progress = finished(text)
        if progress is not None and self.progress is not None and step in self.tasks:
            done = progress[1]
            self.progress.advance(self.tasks[step], len(done))
            last = ", ".join(done[-3:]) + (" …" if len(done) > 3 else "")
            self.progress.update(self.tasks[step], description=clean(
                f"{self.done_steps + 1}/{self.steps} {step_label(step)}: {last}"))
        if level >= logging.WARNING or (self.verbose and level >= logging.INFO and progress is None):
            self._print(f"{logging.getLevelName(level)} {step or 'run'}: {text}")


def run(agency: str | None, verbose: int, reload: bool, force: bool = False) -> int:
    from pipeline.registry import agency_codes

    agency = common.agency(agency)
    codes = agency_codes()
    if agency is None and not (reload or force):
        from pipeline.automation import quiet
        from pipeline.config import settings

        decision = quiet.decide(settings(), codes)
        if decision.skip:
            common.say(decision.reason)
            common.say("`ppa run --force` menjalankan run tetap / runs anyway")
            return _tables(None)
        if verbose:
            common.say(f"run: {decision.reason}", stderr=True)
    draw = common.interactive() and verbose < 2
    with common.progress_console().status("Dagster dan definisi pipeline dimuat / loading Dagster and the pipeline",
                    spinner="dots") if draw else contextlib.nullcontext():
        ensure_dagster_home()
        import dagster as dg

        from pipeline.assets.ingest import RELOAD_TAG
        from pipeline.automation.recovery import fail_dead_runs
        from pipeline.definitions import FULL_REFRESH, build_definitions

        # built now, from the settings as they are: the module's `defs` holds the folders of
        # whenever it was first imported (a process that changed them since would run on those)
        job = build_definitions().resolve_job_def(FULL_REFRESH)
    # -vv: Dagster's own log of every event; otherwise our display prints what is worth reading
    level = "DEBUG" if verbose >= 2 else "CRITICAL"
    run_config = {"loggers": {"console": {"config": {"log_level": level}}}}
    tags = {RELOAD_TAG: "true"} if reload else {}
    kwargs = {"partition_key": agency, "tags": tags} if agency else {"tags": {
        **tags, "dagster/asset_partition_range_start": codes[0], "dagster/asset_partition_range_end": codes[-1]}}
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.get() as instance:
        for dead in fail_dead_runs(instance).failed:
            common.say(f"run {dead} had been killed; marked failed (run ini dimatikan paksa; ditandai gagal)")
        _say_if_busy()
        steps = len(job.graph.node_defs)
        with RunDisplay([agency] if agency else codes, steps, draw, verbose) as display:
            if verbose < 2:
                instance.add_event_listener(run_id, display)
            result = job.execute_in_process(instance=instance, raise_on_error=False, run_config=run_config,
                                            run_id=run_id, **kwargs)
    common.say(f"run {result.run_id}: {'ok' if result.success else 'FAILED'}")
    if not result.success:
        from pipeline.automation import quiet
        from pipeline.cli.runs import failure_text
        from pipeline.config import settings

        quiet.forget(settings())  # the next run starts whatever the folders say

        for event in result.all_events:
            if event.is_failure:
                common.say(f"  {event.step_key}: {failure_text(event)}", stderr=True)
        return 1
    return _tables(agency)


def _tables(agency: str | None) -> int:
    from pipeline.cli import status, tables

    status.print_summary(status.read_status(agency))
    common.say()
    return tables.yoy(agency)  # a run for one agency: that agency's table


def _say_if_busy() -> None:
    """Another process writes the warehouse: this run waits for it, and says so."""
    from pipeline.config import settings
    from pipeline.warehouse.db import writer_busy

    if writer_busy(settings().warehouse_path):
        common.say("run lain sedang menulis gudang data; run ini menunggu / another run is writing the "
                   "warehouse; this run waits for it", stderr=True)
