"""Running the pipeline in tests: Definitions built from the temporary settings."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd


def run_pipeline(agency: str | None = None, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    """Materialise everything (all agencies in one run, or one agency) like `ppa run`."""
    from pipeline.definitions import FULL_REFRESH, build_definitions
    from pipeline.registry import agency_codes

    defs = build_definitions()
    job = defs.resolve_job_def(FULL_REFRESH)
    codes = agency_codes()
    kwargs = {"partition_key": agency} if agency else {"tags": {
        "dagster/asset_partition_range_start": codes[0], "dagster/asset_partition_range_end": codes[-1]}}
    return job.execute_in_process(instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False, **kwargs)


def query(warehouse_dir: Path, sql: str, db: str = "warehouse.duckdb") -> pd.DataFrame:
    con = duckdb.connect(str(warehouse_dir / db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()
