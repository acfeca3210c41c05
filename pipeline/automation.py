"""The drop-folder sensor and the nightly refresh.

The sensor looks only at names, sizes, modification times and content hashes;
it never parses Excel. A file whose modification time is within the last few
seconds is still being copied and waits for the next tick. New, changed and
deleted files of several agencies give one run covering those agencies.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipeline.ingest import FEEDBACK_DIR, is_ignored_name, sha256_file
from pipeline.recovery import fail_dead_runs
from pipeline.registry import agency_codes
from pipeline.resources import DropFolderResource

SETTLE_SECONDS = float(os.environ.get("PPA_SETTLE_SECONDS", "10"))
SENSOR_INTERVAL_S = int(os.environ.get("PPA_SENSOR_INTERVAL_S", "30"))
NIGHTLY_CRON = os.environ.get("PPA_NIGHTLY_CRON", "0 2 * * *")  # an operator may move the refresh
NIGHTLY_TZ = "Asia/Makassar"


@dataclass(frozen=True)
class FileStat:
    rel: str
    agency: str
    size: int
    mtime: float


@dataclass
class TickPlan:
    agencies: list[str]  # agencies that need a run, in registry order
    run_key: str | None
    cursor: dict
    changes: list[str] = field(default_factory=list)  # "new kukar/a.xlsx", "changed …", "deleted …"
    waiting: list[str] = field(default_factory=list)  # files still being copied
    seen: int = 0


def list_drop_files(raw_dir: Path, agencies: list[str]) -> list[FileStat]:
    """stat() every candidate file; lock files, hidden files and output folders are left out."""
    out = []
    for agency in agencies:
        folder = raw_dir / agency
        if not folder.is_dir():
            continue
        for path in folder.rglob("*"):
            parts = path.relative_to(folder).parts
            if any(p == FEEDBACK_DIR or p.startswith(".") for p in parts[:-1]) or is_ignored_name(path.name):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            if path.is_file():
                out.append(FileStat(path.relative_to(raw_dir).as_posix(), agency, stat.st_size, stat.st_mtime))
    return sorted(out, key=lambda f: f.rel)


def plan_tick(cursor: dict, files: list[FileStat], now: float, hasher: Callable[[str], str],
              order: list[str], settle_seconds: float = SETTLE_SECONDS) -> TickPlan:
    """Compare the folder with the cursor: what changed, what is still arriving."""
    known: dict = cursor.get("files", {})
    state: dict = {}
    changes: list[str] = []
    waiting: list[str] = []
    agencies: set[str] = set()
    present = {f.rel for f in files}
    for f in files:
        before = known.get(f.rel)
        if now - f.mtime < settle_seconds:
            waiting.append(f.rel)
            if before:
                state[f.rel] = before
            continue
        if before and before[0] == f.size and before[1] == f.mtime:
            state[f.rel] = before
            continue
        sha = hasher(f.rel)
        state[f.rel] = [f.size, f.mtime, sha, f.agency]
        if not before or before[2] != sha:
            changes.append(f"{'changed' if before else 'new'} {f.rel}")
            agencies.add(f.agency)
    for rel, before in known.items():
        if rel not in present:
            changes.append(f"deleted {rel}")
            agencies.add(before[3])
    generation = int(cursor.get("generation", 0))
    run_key = None
    if agencies:
        generation += 1
        digest = hashlib.sha256(json.dumps(sorted(
            [rel, state.get(rel, [None, None, "deleted"])[2]] for rel in
            {c.split(" ", 1)[1] for c in changes}), sort_keys=True).encode()).hexdigest()[:24]
        run_key = f"drop-{digest}-{generation}"
    ordered = [a for a in order if a in agencies]
    return TickPlan(ordered, run_key, {"generation": generation, "files": state}, sorted(changes), waiting, len(files))


def refresh_tags(agencies: list[str], order: list[str]) -> dict[str, str]:
    """One run over the agencies: the contiguous range of the registry that holds them all."""
    positions = sorted(order.index(a) for a in agencies)
    return {"dagster/asset_partition_range_start": order[positions[0]],
            "dagster/asset_partition_range_end": order[positions[-1]]}


def _recover(context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext) -> None:
    """Runs killed outright would hold the warehouse slot (and block the nightly run) forever."""
    recovered = fail_dead_runs(context.instance)
    for run_id in recovered.failed:
        context.log.warning(f"run {run_id} had been killed; marked failed so that new runs can start")


def build_drop_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=SENSOR_INTERVAL_S, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Watches data/raw/<agency>/ and starts one run for the agencies with new, changed "
                           "or deleted files. Never parses Excel.")
    def drop_folder_sensor(context: dg.SensorEvaluationContext, drop_folder: DropFolderResource):
        _recover(context)
        raw_dir = Path(drop_folder.raw_dir)
        order = agency_codes(Path(drop_folder.registry_path))
        cursor = json.loads(context.cursor) if context.cursor else {}
        files = list_drop_files(raw_dir, order)
        plan = plan_tick(cursor, files, time.time(), lambda rel: sha256_file(raw_dir / rel), order)
        context.update_cursor(json.dumps(plan.cursor))
        if not plan.agencies:
            note = f"; still being copied: {', '.join(plan.waiting)}" if plan.waiting else ""
            return dg.SkipReason(f"{plan.seen} files seen in {len(order)} agency folders, none new, changed "
                                 f"or deleted{note}")
        tags = {**refresh_tags(plan.agencies, order), "ppa/trigger": "drop_folder",
                "ppa/agencies": ",".join(plan.agencies)}
        context.log.info("; ".join(plan.changes))
        return dg.RunRequest(run_key=plan.run_key, tags=tags)

    return drop_folder_sensor


def build_nightly_schedule(job) -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule=NIGHTLY_CRON, execution_timezone=NIGHTLY_TZ,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="Nightly refresh at 02:00 WITA: every agency folder, the marts and the analytics copy.")
    def nightly_refresh(context: dg.ScheduleEvaluationContext, drop_folder: DropFolderResource):
        _recover(context)
        active = context.instance.get_run_records(dg.RunsFilter(
            job_name=job.name,
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                      dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]))
        if active:
            return dg.SkipReason(f"a refresh is already running ({active[0].dagster_run.run_id}); skipping this tick")
        order = agency_codes(Path(drop_folder.registry_path))
        return dg.RunRequest(tags={**refresh_tags(order, order), "ppa/trigger": "nightly"})

    return nightly_refresh
