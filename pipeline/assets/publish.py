"""What leaves the warehouse: the researchers' read-only copy and the public tables; the Dagster
face of pipeline/publish/."""

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.assets.common import markdown
from pipeline.assets.ingest import POOL
from pipeline.assets.marts import MART_KEYS
from pipeline.assets.resources import WarehouseResource
from pipeline.config import settings
from pipeline.marts import sql as mart_sql
from pipeline.publish.analytics import publish

ANALYTICS = dg.AssetKey(["analytics", "warehouse_copy"])


@dg.asset(key=ANALYTICS, group_name="analytics", deps=list(MART_KEYS.values()), pool=POOL,
          kinds={"duckdb", "parquet"})
def analytics_copy(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """analytics.duckdb and marts Parquet files for researchers: the marts and de-identified
    staging rows (no file names, case ids replaced by a keyed hash), replaced atomically so an
    open notebook never blocks a run and never sees a half-built mart."""
    with warehouse.connect() as con:
        counts = publish(con, Path(warehouse.warehouse_dir))
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(Path(warehouse.warehouse_dir) / "analytics.duckdb")),
        "tables": markdown(pd.DataFrame(sorted(counts.items()), columns=["table", "rows"])),
    })


PUBLIC_KEYS = {name: dg.AssetKey(["public", name]) for name in mart_sql.PUBLISHED}


@dg.multi_asset(
    specs=[dg.AssetSpec(key, group_name="public", deps=list(MART_KEYS.values()), kinds={"duckdb", "parquet", "csv"},
                        description=f"marts.{name} for sharing outside the agencies: counts from 1 to k-1 "
                                    "suppressed, with secondary suppression so no suppressed count can be recovered.")
           for name, key in PUBLIC_KEYS.items()],
    check_specs=[dg.AssetCheckSpec("suppression_audit", asset=PUBLIC_KEYS["victims_by_region_year"], blocking=True,
                                   description="An attacker tries to recover every suppressed cell of every public "
                                               "table by subtraction (exact linear algebra); fails if one is found.")],
    pool=POOL, can_subset=False, name="public_tables",
)
def public_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Protect all marts together (primary and secondary suppression), write the `public`
    schema, export Parquet and CSV to <warehouse>/public/, and audit what was published."""
    from pipeline.publish import public

    k = settings().suppression_k
    with warehouse.connect() as con:
        published = public.build_public(con, k)
        public.export(con, published, Path(warehouse.warehouse_dir) / "public", root=Path(warehouse.warehouse_dir))
        exposures = public.audit_public(con, k)
    for name, key in PUBLIC_KEYS.items():
        frame = published[name]
        flags = [c for c in frame.columns if c.endswith("_suppressed")]
        hidden = int(frame[flags].fillna(False).astype(bool).to_numpy().sum()) if flags else 0
        yield dg.MaterializeResult(asset_key=key, metadata={
            "dagster/row_count": len(frame), "dagster/table_name": f"public.{name}", "suppressed_cells": hidden,
            "threshold_k": k})
    yield dg.AssetCheckResult(
        asset_key=PUBLIC_KEYS["victims_by_region_year"], check_name="suppression_audit", passed=not exposures,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"recoverable_cells": len(exposures),
                  "examples": dg.MetadataValue.md("\n".join(f"- {e.reason}" for e in exposures[:20]) or "none")})
