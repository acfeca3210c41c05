"""The marts (CREATE OR REPLACE from staging, in one transaction): the Dagster face of pipeline/marts/."""


from pathlib import Path

import dagster as dg

from pipeline.assets.common import markdown
from pipeline.assets.ingest import CASE_VICTIMS, POOL, RECAP_COUNTS
from pipeline.assets.resources import DropFolderResource, WarehouseResource
from pipeline.marts import build as mart_build
from pipeline.marts import changes
from pipeline.marts import sql as mart_sql
from pipeline.registry import load_registry
from pipeline.warehouse import tables
from pipeline.warehouse.db import query_df

MART_KEYS = {name: dg.AssetKey(["marts", name]) for name in mart_build.ORDER}
BUILT_IN_PYTHON = {"reporting_completeness": "pipeline/marts/completeness.py (from the months staged and the months "
                                             "current files cover)",
                   "recap_reconciliation": "pipeline/marts/reconciliation.py (the recaps' counted cells against the "
                                           "staged case rows, with the rejected, superseded and other-year rows)",
                   "dq_flags": "pipeline/marts/quality.py (from the marts before it and meta.dq_reviews)"}


def _how(name: str) -> str:
    if name in BUILT_IN_PYTHON:
        return f"Built in Python: {BUILT_IN_PYTHON[name]}."
    extra = "\n\nIntervals and tests added in Python (pipeline/marts/completeness.py)." if name in mart_build.FINISH else ""
    return f"```sql\n{mart_sql.MARTS[name].strip()}\n```{extra}"


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key, group_name="marts", deps=[CASE_VICTIMS, RECAP_COUNTS], kinds={"duckdb", "sql"},
                     description=f"{tables.mart(name).description}\n\n{mart_sql.USAGE_WARNING}",
                     metadata={"sql": dg.MetadataValue.md(_how(name))})
        for name, key in MART_KEYS.items()
    ],
    pool=POOL,
    can_subset=False,
    name="marts",
)
def build_marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource, drop_folder: DropFolderResource):
    """Rebuild every mart from staging.case_victims (and, for agency-years without case rows,
    staging.recap_counts) in one transaction, with the registry's population figures as
    denominators."""
    agencies = load_registry(Path(drop_folder.registry_path))
    with warehouse.connect() as con:
        counts = mart_build.build_marts(con, agencies)
        report = changes.record_changes(con, context.run.run_id)
        yoy = query_df(con, "SELECT * FROM marts.yoy_by_region ORDER BY agency, year")
    for name, key in MART_KEYS.items():
        metadata = {"dagster/row_count": counts[name], "dagster/table_name": f"marts.{name}"}
        if name == "yoy_by_region":
            metadata["preview"] = markdown(yoy, limit=60)
        if name == "victims_by_region_year":  # the change report since the build before (meta.change_reports)
            metadata["figures_changed"] = len(report)
            metadata["change_report"] = markdown(report[["agency", "year", "message", "message_en"]]
                                                 if len(report) else report, limit=60)
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
