"""Dagster resources: the DuckDB warehouse and the drop folder."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb

from pipeline.automation.server import heartbeat
from pipeline.warehouse import db as warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse folder. Every write goes through `connect()`, which
    holds the one-writer lock for as long as the connection is open."""

    warehouse_dir: str

    @property
    def path(self) -> Path:
        return Path(self.warehouse_dir) / "warehouse.duckdb"

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["WarehouseResource"]:
        """Every step uses the warehouse, so a run beats (server mode) while it holds it."""
        with heartbeat(context.instance, context.run.run_id if context.run else None):
            yield self

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.path) as con:
            yield con


class DropFolderResource(dg.ConfigurableResource):
    """Where agencies drop files, where they are archived, and the limits for reading them."""

    raw_dir: str
    archive_dir: str
    registry_path: str
    max_file_bytes: int = 50 * 1024 * 1024
    max_rows_per_sheet: int = 200_000
    reader_memory_mb: int = 1024
    reader_timeout_s: float = 120.0


def resource_settings(warehouse: WarehouseResource, drop_folder: DropFolderResource):
    """The settings with the folders these resources name (a definition built for other folders
    than the environment's reads and writes its own)."""
    import dataclasses

    from pipeline.config import settings

    return dataclasses.replace(settings(), warehouse_dir=Path(warehouse.warehouse_dir),
                               raw_dir=Path(drop_folder.raw_dir), archive_dir=Path(drop_folder.archive_dir),
                               registry_path=Path(drop_folder.registry_path))
