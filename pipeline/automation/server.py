"""Server mode (deploy/dagster.yaml): PostgreSQL's event log kept connected, and the run heartbeat
that lets Dagster's run monitoring find dead runs on any host.

In server mode runs may be launched by the daemon, the webserver or `ppa run`, in other
processes, containers or hosts than the daemon that watches them, so a process id says nothing
about whether a run lives. Dagster's run monitoring asks the run launcher about the health of
every STARTED run, but the default launcher cannot tell (`supports_check_run_worker_health` is
False), so a killed run would stay STARTED, holding the `warehouse` pool slot, until
`max_runtime_seconds`.

Here every run announces that it is alive: while the run holds the warehouse resource (every
step of every job does), a thread in its process writes the time into the instance's
key-value store (in PostgreSQL) every `heartbeat_interval_seconds`. `HeartbeatRunLauncher`,
Dagster's default launcher otherwise, reports a STARTED run whose last heartbeat is older than
`heartbeat_timeout_seconds` as FAILED; the daemon's run monitoring then marks the run failed,
and frees its pool slots once it has ended (`free_slots_after_run_end_seconds`). Hosts must
keep their clocks in step (NTP): the timeout is many times any usual drift.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

from pipeline.automation.event_log import BATCH_SIZE

log = logging.getLogger(__name__)
KEY_PREFIX = "ppa/heartbeat/"
POOL_OVERFLOW = 10  # connections a process may open beyond its one kept open, for threads writing at once


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres' event log, with its connection kept open and asset events written in batches.

    Dagster's PostgreSQL event log opens a new connection (a new server process) for every write,
    and a run over all 514 kab/kota records about 8,000 events: on this project's 2-core machine
    that took 91 to 323 s for a run of 514 partitions doing nothing else, and 2.6 s with this
    storage (bench/instance.py, bench/README.md "Server mode"). This storage keeps a connection
    open, the pool Dagster's webserver gives the same storage (`optimize_for_webserver`), turns on
    Dagster's batching of partitioned asset events (DAGSTER_EVENT_BATCH_SIZE, which dagster-postgres
    writes as one INSERT) in every process that opens the instance, as
    pipeline/automation/event_log.py does for SQLite, and writes the planned events of a run's
    creation in batches too (`store_event_batch`). The tables and rows are dagster-postgres' own.
    """

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, inst_data: Any = None,
                 token_provider: Any = None):
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", BATCH_SIZE)
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        self.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=POOL_OVERFLOW)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(pg_url_from_config(config_value), config_value.get("should_autocreate_tables", True),
                   inst_data=inst_data, token_provider=get_token_provider_from_config(config_value))

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """dagster-postgres writes a batch of materializations as one INSERT, but a batch of planned
        events (about 5,700 when a run is created over every agency) one event at a time, in two
        transactions each. Here a run of planned events of one run is one INSERT and one
        transaction for the asset rows, each asset's row set from its last planned event, as
        dagster-postgres does for materializations; the rest goes its way, in order."""
        if len({event.run_id for event in events}) != 1:
            return super().store_event_batch(events)
        for planned, group in itertools.groupby(events, key=_planned):
            if planned:
                self._store_planned(list(group))
            else:
                super().store_event_batch(list(group))

    def _store_planned(self, events: list[EventLogEntry]) -> None:
        with self._connect() as conn:
            result = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
            ids = [int(row[0]) for row in result.fetchall()]
        last = {event.dagster_event.asset_key: (event, event_id) for event, event_id in zip(events, ids, strict=True)}
        with self.index_transaction() as conn:
            self._store_asset_event_tags(conn, events, ids)
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)


def _planned(event: EventLogEntry) -> bool:
    return (event.is_dagster_event and event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED
            and event.dagster_event.asset_key is not None)


def heartbeat_key(run_id: str) -> str:
    return KEY_PREFIX + run_id


class HeartbeatRunLauncher(dg.DefaultRunLauncher):
    """Dagster's default launcher, able to tell the daemon whether a run's process still beats."""

    def __init__(self, heartbeat_interval_seconds: int = 10, heartbeat_timeout_seconds: int = 90,
                 inst_data: Any = None):
        if heartbeat_timeout_seconds < 3 * heartbeat_interval_seconds:
            raise ValueError("heartbeat_timeout_seconds must be at least three heartbeat_interval_seconds")
        self.heartbeat_interval_seconds = heartbeat_interval_seconds
        self.heartbeat_timeout_seconds = heartbeat_timeout_seconds
        super().__init__(inst_data=inst_data)

    @classmethod
    def config_type(cls):
        return {"heartbeat_interval_seconds": dg.Field(dg.IntSource, is_required=False, default_value=10),
                "heartbeat_timeout_seconds": dg.Field(dg.IntSource, is_required=False, default_value=90)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def last_heartbeat(self, run_id: str) -> dict | None:
        key = heartbeat_key(run_id)
        value = self._instance.run_storage.get_cursor_values({key}).get(key)
        return json.loads(value) if value else None

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        beat = self.last_heartbeat(run.run_id)
        if beat is None:  # dead before its first step began: measured from the run's start
            record = self._instance.get_run_record_by_id(run.run_id)
            since = (record.start_time or record.create_timestamp.timestamp()) if record else time.time()
            beat = {"t": since, "host": "?", "pid": None}
        age = time.time() - beat["t"]
        if age <= self.heartbeat_timeout_seconds:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, (
            f"no heartbeat for {age:.0f} s (limit {self.heartbeat_timeout_seconds} s); the last came from "
            f"host {beat['host']}, pid {beat['pid']}: the run's process was killed or its host stopped. / "
            f"Proses run ini tidak memberi tanda hidup selama {age:.0f} detik: dimatikan paksa; ditandai gagal."))


def _beat(instance: dg.DagsterInstance, run_id: str) -> None:
    value = json.dumps({"t": time.time(), "host": socket.gethostname(), "pid": os.getpid()})
    instance.run_storage.set_cursor_values({heartbeat_key(run_id): value})


@contextlib.contextmanager
def heartbeat(instance: dg.DagsterInstance | None, run_id: str | None) -> Iterator[None]:
    """While inside, beat for the run every interval (only where the instance's launcher checks)."""
    launcher = instance.run_launcher if instance is not None and run_id else None
    if not isinstance(launcher, HeartbeatRunLauncher):
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(launcher.heartbeat_interval_seconds):
            try:
                _beat(instance, run_id)
            except Exception:  # the database away for a moment: the next beat may reach it
                log.warning("heartbeat for run %s not written", run_id, exc_info=True)

    _beat(instance, run_id)
    thread = threading.Thread(target=loop, name=f"ppa-heartbeat-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
