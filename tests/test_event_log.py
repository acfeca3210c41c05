"""The batched SQLite event log (pipeline/automation/event_log.py) keeps the same record as Dagster's own."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest

from pipeline.automation.event_log import BatchedSqliteEventLogStorage

PROJECT_YAML = Path(__file__).parents[1] / "dagster_home" / "dagster.yaml"
KEYS = [f"a{i:03d}" for i in range(30)]
PARTITIONS = dg.StaticPartitionsDefinition(KEYS)
SPECS = [dg.AssetSpec(dg.AssetKey(["s", f"t{i}"])) for i in range(3)]


@dg.multi_asset(specs=SPECS, partitions_def=PARTITIONS, backfill_policy=dg.BackfillPolicy.single_run())
def tables(context):
    if context.run.tags.get("fail"):
        raise RuntimeError("boom")
    for spec in SPECS:
        yield dg.MaterializeResult(asset_key=spec.key, metadata={"rows": len(context.partition_keys)})


@dg.asset(key=["m", "mart"], deps=SPECS)
def mart():
    return dg.MaterializeResult()


@dg.asset_check(asset=mart, name="positive")
def positive():
    return dg.AssetCheckResult(passed=True)


# the check's planned event falls among the assets' planned events, in one batch
JOB = dg.Definitions(assets=[tables, mart], asset_checks=[positive],
                     jobs=[dg.define_asset_job("j", selection=dg.AssetSelection.all())]).resolve_job_def("j")


def _order(records) -> list[tuple]:
    return [(r.event_log_entry.dagster_event_type, r.event_log_entry.dagster_event.asset_key,
             r.event_log_entry.dagster_event.partition) for r in records if r.event_log_entry.is_dagster_event]


def _history(home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list, list]:
    """Two ranged runs (one succeeds, one fails part-way) and what the instance says of them."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        events, run_ids = [], []
        for start, end, tags in (("a000", "a019", {}), ("a010", "a024", {"fail": "1"})):
            result = JOB.execute_in_process(instance=instance, raise_on_error=False, tags={
                **tags, "dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end})
            records = instance.get_records_for_run(result.run_id, limit=10_000).records
            events.append(Counter(r.event_log_entry.dagster_event_type for r in records))
            events.append(_order(records))
            run_ids.append(result.run_id)
        status = [instance.get_status_by_partition(spec.key, KEYS, PARTITIONS) for spec in SPECS]
        last = [instance.get_latest_materialization_event(spec.key).dagster_event.partition for spec in SPECS]
        materialized = [instance.get_materialized_partitions(spec.key) for spec in SPECS]
        # the asset table's rows (written once per batch by ours), in the order they were made (their ids
        # themselves may have gaps, PostgreSQL's sequences count refused inserts): which run, which event
        records = sorted(instance.get_asset_records([*(s.key for s in SPECS), mart.key]), key=lambda r: r.storage_id)
        entries = [(r.asset_entry.asset_key, run_ids.index(r.asset_entry.last_run_id),
                    r.asset_entry.last_materialization_record.storage_id,
                    r.asset_entry.last_materialization_record.event_log_entry.dagster_event.partition)
                   for r in records]
        return type(instance.event_log_storage).__name__, events, [status, last, materialized, entries]


@pytest.mark.slow
def test_batched_event_log_records_what_dagsters_own_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    plain, batched = tmp_path / "plain", tmp_path / "batched"
    plain.mkdir()
    batched.mkdir()
    (plain / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    shutil.copy(PROJECT_YAML, batched / "dagster.yaml")

    opened = Counter()
    connect = BatchedSqliteEventLogStorage.run_connection

    def counting(self, run_id=None):
        opened[run_id] += 1
        return connect(self, run_id)

    single = Counter()
    store_event = BatchedSqliteEventLogStorage.store_event

    def one_by_one(self, event):
        single[event.dagster_event_type] += 1
        return store_event(self, event)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "run_connection", counting)
    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event", one_by_one)
    name, batched_events, batched_state = _history(batched, monkeypatch)
    # every planned event went in a batch but the check's, stored alone in its place; only the
    # unpartitioned mart's materialization (one, the failed run has none) came alone
    assert single[dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED] == 0
    assert single[dg.DagsterEventType.ASSET_MATERIALIZATION] == 1
    assert single[dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED] == 2
    assert name == "BatchedSqliteEventLogStorage"
    # the project's instance turns batching on, and stores a batch in one transaction
    assert int(os.environ["DAGSTER_EVENT_BATCH_SIZE"]) > 1
    assert sum(batched_events[0].values()) > 3 * max(opened.values())

    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE")
    name, plain_events, plain_state = _history(plain, monkeypatch)
    assert name == "SqliteEventLogStorage"
    assert batched_events == plain_events
    assert batched_events[0][dg.DagsterEventType.ASSET_MATERIALIZATION] == 61  # 3 assets x 20 partitions, the mart
    assert batched_state == plain_state
    status = batched_state[0][0]
    assert Counter(s.value if s else None for s in status.values()) == {"FAILED": 15, "MATERIALIZED": 10, None: 5}
    # the run history of an instance written with Dagster's storage reads the same with ours
    monkeypatch.setenv("DAGSTER_HOME", str(plain))
    shutil.copy(PROJECT_YAML, plain / "dagster.yaml")
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage) is BatchedSqliteEventLogStorage
        assert instance.get_status_by_partition(SPECS[0].key, KEYS, PARTITIONS) == status
