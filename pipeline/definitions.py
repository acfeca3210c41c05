"""The only place that builds the Dagster Definitions."""

from __future__ import annotations

import dagster as dg

from pipeline.assets.checks import agencies_silent, dq_flags_open, gx_checks, recap_differs
from pipeline.assets.feedback import build_feedback_asset
from pipeline.assets.ingest import build_agency_load
from pipeline.assets.marts import build_marts
from pipeline.assets.publish import analytics_copy, public_tables
from pipeline.assets.refresh import refresh_stamp
from pipeline.assets.resources import DropFolderResource, WarehouseResource
from pipeline.automation.triggers import build_drop_sensor, build_nightly_schedule
from pipeline.config import Settings, settings
from pipeline.registry import agency_codes

FULL_REFRESH = "full_refresh"


def build_definitions(cfg: Settings | None = None) -> dg.Definitions:
    cfg = cfg or settings()
    partitions = dg.StaticPartitionsDefinition(agency_codes(cfg.registry_path))
    agency_load = build_agency_load(partitions)
    full_refresh = dg.define_asset_job(
        FULL_REFRESH, selection=dg.AssetSelection.all(),
        description="Every agency's files to staging, then the marts and the analytics copy, in one run.",
    )
    return dg.Definitions(
        assets=[agency_load, build_marts, analytics_copy, public_tables, build_feedback_asset(partitions), refresh_stamp],
        asset_checks=[*gx_checks, agencies_silent, dq_flags_open, recap_differs],
        jobs=[full_refresh],
        sensors=[build_drop_sensor(full_refresh)],
        schedules=[build_nightly_schedule(full_refresh)],
        resources={
            "warehouse": WarehouseResource(warehouse_dir=str(cfg.warehouse_dir)),
            "drop_folder": DropFolderResource(
                raw_dir=str(cfg.raw_dir), archive_dir=str(cfg.archive_dir),
                registry_path=str(cfg.registry_path), max_file_bytes=cfg.max_file_bytes,
                max_rows_per_sheet=cfg.max_rows_per_sheet, reader_memory_mb=cfg.reader_memory_mb,
                reader_timeout_s=cfg.reader_timeout_s,
            ),
        },
        executor=dg.in_process_executor,
    )


defs = build_definitions()
