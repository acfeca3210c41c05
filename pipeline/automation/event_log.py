"""Dagster's SQLite event log, writing a batch of asset events in one transaction.

A run over all agencies records one planned event and one materialization per asset and
partition: about 8,000 events at national scale. Dagster's SQLite storage opens two
connections and commits twice for each (dagster-io/dagster#18789), which cost about 40 s
of a national run. Dagster already hands such events over in batches when
DAGSTER_EVENT_BATCH_SIZE is set, but its SQLite storage then stores them one by one. This
subclass stores each run of asset events in a batch in one transaction per database (a
batch of planned events holds the checks' planned events too, which go the usual way in
their place), and asks for the asset table's columns once rather than at every event.
The tables, files and rows are the same as Dagster's; any other event goes the usual way.

dagster_home/dagster.yaml names this class; it sets DAGSTER_EVENT_BATCH_SIZE when unset,
in every process that opens the instance (the CLI, the webserver, the daemon and the run
workers), since batching is off without it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import sqlalchemy.exc as db_exc
from dagster._config import StringSource
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import AssetKeyTable
from dagster._core.storage.sqlalchemy_compat import db_result

BATCH_SIZE = "1000"  # events per transaction


def _asset_only(event: EventLogEntry) -> bool:
    kind = event.dagster_event_type
    return (event.is_dagster_event and kind in ASSET_EVENTS and kind not in ASSET_CHECK_EVENTS
            and kind not in EVENT_TYPE_TO_PIPELINE_RUN_STATUS)


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage in Dagster's usual layout (`<dagster_home>/history/runs`)."""

    def __init__(self, base_dir: str, inst_data: Any = None):
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", BATCH_SIZE)
        super().__init__(base_dir, inst_data=inst_data)
        self._index_cols = False

    @classmethod
    def config_type(cls):
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # ty: ignore[invalid-method-override]
        return cls(os.path.join(config_value["dagster_home"], "history", "runs"), inst_data=inst_data)

    def _has_asset_key_index_cols_on_connection(self, conn) -> bool:
        """Dagster asks the database for the asset table's columns at every asset event (a schema
        inspection each time: 1.6 s of a national run). A migration adds the column and none
        removes it, so once seen it is remembered."""
        if not self._index_cols:
            self._index_cols = super()._has_asset_key_index_cols_on_connection(conn)
        return self._index_cols

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Runs of asset events in one transaction each; other events (a check planned among the
        assets' planned events, say) one by one, in their order."""
        if len({event.run_id for event in events}) != 1:
            for event in events:
                self.store_event(event)
            return
        for asset_only, group in itertools.groupby(events, key=_asset_only):
            if asset_only:
                self._store_asset_events(list(group))
            else:
                for event in group:
                    self.store_event(event)

    def _store_asset_events(self, events: list[EventLogEntry]) -> None:
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        # the same rows mirrored in the cross-run index, as store_event does one at a time
        with self.index_transaction() as conn:
            ids = []
            for statement in statements:
                with db_result(conn, statement) as result:
                    ids.append(result.inserted_primary_key[0])
            self._store_asset_event_tags(conn, events, ids)
            self._store_asset_entries(conn, events, ids)

    def _store_asset_entries(self, conn, events: list[EventLogEntry], ids: list[int]) -> None:
        """Dagster's `_store_asset_event` for a batch: the same rows of the asset table, each written once.

        Event by event, Dagster inserts an event's values into its asset's row, or updates the row
        when it exists (at every event but an asset's first, with a failed insert first). The values
        only set columns, so after the batch each column holds the value of the batch's last event
        that sets it: that row is written, once per asset."""
        index_cols = self._has_asset_key_index_cols_on_connection(conn)
        keyed = [(e.dagster_event.asset_key.to_string(), e, i) for e, i in zip(events, ids, strict=True)
                 if e.dagster_event and e.dagster_event.asset_key]
        rows: dict[str, dict[str, Any]] = {key: {} for key, _, _ in keyed}  # new rows in the order of their first event
        materialized: set[str] = set()
        for key, event, event_id in reversed(keyed):  # the last event first: it sets what it sets
            if event.dagster_event.is_step_materialization:
                if key in materialized:  # a later materialization set every column this one would
                    continue
                materialized.add(key)
            for column, value in self._get_asset_entry_values(event, event_id, index_cols).items():
                rows[key].setdefault(column, value)
        for key, values in rows.items():
            if not values:
                continue
            try:
                conn.execute(AssetKeyTable.insert().values(asset_key=key, **values))
            except db_exc.IntegrityError:
                conn.execute(AssetKeyTable.update().values(**values).where(AssetKeyTable.c.asset_key == key))
