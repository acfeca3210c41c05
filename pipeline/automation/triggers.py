"""The drop-folder sensor and the nightly refresh.

The sensor looks only at names, sizes, modification times and content hashes;
it never parses Excel. A file whose modification time is within the last few
seconds is still being copied and waits for the next tick. New, changed and
deleted files of several agencies give one run covering those agencies.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from pipeline.assets.resources import DropFolderResource, WarehouseResource, resource_settings
from pipeline.automation import quiet
from pipeline.automation.recovery import fail_dead_runs
from pipeline.config import settings
from pipeline.ingest.dropfolder import scan_folder, sha256_file, stray_items
from pipeline.names import shown
from pipeline.registry import agency_codes

NIGHTLY_TZ = "Asia/Makassar"


@dataclass(frozen=True)
class FileStat:
    rel: str  # escaped (names.escape), as in the ledger
    agency: str
    size: int
    mtime: float
    path: Path | None = None
    kind: str = "file"  # a link, FIFO... is never opened: a change of it shows in size and time


@dataclass
class TickPlan:
    agencies: list[str]  # agencies that need a run, in registry order
    run_key: str | None
    cursor: dict
    changes: list[str] = field(default_factory=list)  # "new kukar/a.xlsx", "changed …", "deleted …"
    waiting: list[str] = field(default_factory=list)  # files still being copied
    seen: int = 0


def list_drop_files(raw_dir: Path, agencies: list[str]) -> list[FileStat]:
    """What the ledger would list (ingest.scan_folder, the same filter), lock and hidden files left out."""
    out = [FileStat(e.rel, agency, e.size, e.mtime, e.path, e.kind)
           for agency in agencies for e in scan_folder(raw_dir, agency) if not e.ignored]
    return sorted(out, key=lambda f: f.rel)


def content_id(f: FileStat, max_bytes: int) -> str:
    """The content hash of a file the pipeline would read; for anything it refuses without
    opening (a link, not a file, too large) a mark of what it is, size and time."""
    if f.kind != "file" or f.size > max_bytes:
        return f"{f.kind}:{f.size}:{f.mtime}"
    try:
        return sha256_file(f.path, max_bytes=max_bytes)
    except OSError:  # replaced or grown since listed: seen again next tick
        return f"changing:{f.size}:{f.mtime}"


def plan_tick(cursor: dict, files: list[FileStat], now: float, hasher: Callable[[str], str],
              order: list[str], settle_seconds: float | None = None) -> TickPlan:
    """Compare the folder with the cursor: what changed, what is still arriving."""
    settle_seconds = settings().settle_seconds if settle_seconds is None else settle_seconds
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


def ledger_cursor(warehouse_path: Path, files: list[FileStat], max_bytes: int) -> dict | None:
    """The first cursor: what the ledger already holds, so that the sensor's first tick does not
    run again over files `ppa run` loaded. A file is taken as known when the ledger has its
    content hash (it is hashed again on the first tick, having no time in the cursor), or when it
    was refused unopened then and is still unopenable now. None while a run holds the warehouse
    (the next tick tries again); an empty cursor when nothing was ever loaded."""
    import duckdb

    from pipeline.warehouse.locks import ReaderLockTimeout, reader_lock

    if not warehouse_path.exists():
        return {}
    try:
        with reader_lock(warehouse_path, 0), duckdb.connect(str(warehouse_path), read_only=True) as con:
            if not con.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = 'meta' "
                               "AND table_name = 'ingest_log'").fetchall():
                return {}
            ledger = dict(con.execute("SELECT path, sha256 FROM meta.ingest_log WHERE status <> 'removed'").fetchall())
    except ReaderLockTimeout:  # a run is writing: the next tick tries again
        return None
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            return None
        raise
    known = {}
    for f in files:
        if f.rel not in ledger:
            continue
        if ledger[f.rel]:
            known[f.rel] = [f.size, None, ledger[f.rel], f.agency]
        elif f.kind != "file" or f.size > max_bytes:
            known[f.rel] = [f.size, f.mtime, content_id(f, max_bytes), f.agency]
    return {"generation": 0, "files": known}


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


def _succeeded(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether the run that wrote the stamp ended well (a check after its last write can fail it)."""
    record = instance.get_run_record_by_id(run_id)
    return record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS


def build_drop_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=settings().sensor_interval_s, default_status=dg.DefaultSensorStatus.RUNNING,
               description="Watches data/raw/<agency>/ and starts one run for the agencies with new, changed "
                           "or deleted files. Never parses Excel.")
    def drop_folder_sensor(context: dg.SensorEvaluationContext, drop_folder: DropFolderResource,
                           warehouse: WarehouseResource):
        _recover(context)
        raw_dir = Path(drop_folder.raw_dir)
        order = agency_codes(Path(drop_folder.registry_path))
        files = list_drop_files(raw_dir, order)
        cursor = json.loads(context.cursor) if context.cursor else ledger_cursor(warehouse.path, files,
                                                                                drop_folder.max_file_bytes)
        if cursor is None:
            return dg.SkipReason("first tick: a run holds the warehouse; the ledger is read on the next tick")
        by_rel = {f.rel: f for f in files}
        plan = plan_tick(cursor, files, time.time(), lambda rel: content_id(by_rel[rel], drop_folder.max_file_bytes),
                         order)
        context.update_cursor(json.dumps(plan.cursor))
        if not plan.agencies:
            note = f"; still being copied: {', '.join(shown(w) for w in plan.waiting)}" if plan.waiting else ""
            strays = stray_items(raw_dir, order)
            if strays:
                note += f"; not read (tidak dibaca): {', '.join(shown(name) for name, _ in strays)}"
            return dg.SkipReason(f"{plan.seen} files seen in {len(order)} agency folders, none new, changed "
                                 f"or deleted{note}")
        tags = {**refresh_tags(plan.agencies, order), "ppa/trigger": "drop_folder",
                "ppa/agencies": ",".join(plan.agencies)}
        context.log.info("; ".join(shown(change) for change in plan.changes))
        return dg.RunRequest(run_key=plan.run_key, tags=tags)

    return drop_folder_sensor


def build_nightly_schedule(job) -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule=settings().nightly_cron, execution_timezone=NIGHTLY_TZ,
                 default_status=dg.DefaultScheduleStatus.RUNNING,
                 description="Nightly refresh at 02:00 WITA: every agency folder, the marts and the analytics copy; "
                             "skipped when nothing changed since the last full run and the calendar changes nothing "
                             "(automation/quiet.py).")
    def nightly_refresh(context: dg.ScheduleEvaluationContext, drop_folder: DropFolderResource,
                        warehouse: WarehouseResource):
        _recover(context)
        active = context.instance.get_run_records(dg.RunsFilter(
            job_name=job.name,
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                      dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]))
        if active:
            return dg.SkipReason(f"a refresh is already running ({active[0].dagster_run.run_id}); skipping this tick")
        order = agency_codes(Path(drop_folder.registry_path))
        decision = quiet.decide(resource_settings(warehouse, drop_folder), order)
        if decision.skip and _succeeded(context.instance, decision.stamp["run_id"]):
            return dg.SkipReason(decision.reason)
        return dg.RunRequest(tags={**refresh_tags(order, order), "ppa/trigger": "nightly",
                                   "ppa/why": decision.reason[:200] if not decision.skip else "the last full run failed"})

    return nightly_refresh
