"""What leaves the warehouse: the researchers' read-only copy and the public tables; the Dagster
face of pipeline/publish/."""

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from pipeline.assets.common import markdown
from pipeline.assets.ingest import POOL
from pipeline.assets.marts import MART_KEYS
from pipeline.assets.resources import WarehouseResource
from pipeline.config import settings
from pipeline.marts import sql as mart_sql
from pipeline.publish.analytics import publish
from pipeline.publish.anonymity import L_DIVERSITY, PUBLISHED_QI, SENSITIVE, measure
from pipeline.publish.tiers import agency_copies, set_permissions

ANALYTICS = dg.AssetKey(["analytics", "warehouse_copy"])


@dg.asset(key=ANALYTICS, group_name="analytics", deps=list(MART_KEYS.values()), pool=POOL,
          kinds={"duckdb", "parquet"},
          check_specs=[dg.AssetCheckSpec("release_k_anonymity", asset=ANALYTICS, blocking=True,
                                         description="Recomputes k and l on the researchers' rows as published in "
                                                     "analytics.duckdb: every combination of quasi-identifiers has "
                                                     "at least k rows and l distinct forms of violence.")])
def analytics_copy(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """analytics.duckdb and marts Parquet files for researchers: the marts and de-identified
    staging rows (no file names, case ids replaced by a keyed hash, k-anonymous and l-diverse),
    and each agency's own copy (analytics/<agency>.duckdb), replaced atomically so an open
    notebook never blocks a run and never sees a half-built mart; then every published file
    gets the mode of its readers."""
    k, folder = settings().suppression_k, Path(warehouse.warehouse_dir)
    with warehouse.connect() as con:
        counts = publish(con, folder, k)
        copies = agency_copies(con, folder)
        disclosure = con.execute("SELECT quasi_identifier, level, sum(rows) AS rows, sum(cells_changed) AS changed "
                                 "FROM meta.release_disclosure GROUP BY ALL ORDER BY ALL").df()
    set_permissions(folder, settings().archive_dir)
    with duckdb.connect(str(folder / "analytics.duckdb"), read_only=True) as copy:
        published = copy.execute(f"SELECT {', '.join(PUBLISHED_QI)}, array_to_string(list_sort(violence_forms), ',') "
                                 f"AS {SENSITIVE} FROM staging.case_victims").df()
    found = measure(published)
    passed = published.empty or (found["k"] >= k and found["l"] >= L_DIVERSITY)
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(folder / "analytics.duckdb")),
                  "tables": markdown(pd.DataFrame(sorted(counts.items()), columns=["table", "rows"])),
                  "agency_copies_written": sum(copies.values()),
                  "agency_copies_kept": len(copies) - sum(copies.values()),
                  "release_disclosure": markdown(disclosure, limit=40)},
        check_results=[dg.AssetCheckResult(
            check_name="release_k_anonymity", passed=passed, severity=dg.AssetCheckSeverity.ERROR,
            metadata={"k_found": found["k"], "l_found": found["l"], "groups": found["groups"],
                      "rows": len(published), "k_required": k, "l_required": L_DIVERSITY})])


PUBLIC_KEYS = {name: dg.AssetKey(["public", name]) for name in mart_sql.PUBLISHED}


@dg.multi_asset(
    specs=[dg.AssetSpec(key, group_name="public", deps=list(MART_KEYS.values()), kinds={"duckdb", "parquet", "csv"},
                        description=f"marts.{name} for sharing outside the agencies: counts from 1 to k-1 "
                                    "suppressed, with secondary suppression so no suppressed count can be recovered.")
           for name, key in PUBLIC_KEYS.items()],
    check_specs=[dg.AssetCheckSpec("suppression_audit", asset=PUBLIC_KEYS["victims_by_region_year"], blocking=True,
                                   description="An attacker tries to recover every suppressed cell of every public "
                                               "table by subtraction (exact linear algebra); fails if one is found. "
                                               "The tables are protected together with the latest release too "
                                               "(suppression/across.py: the step fails when that cannot be done).")],
    pool=POOL, can_subset=False, name="public_tables",
)
def public_tables(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Protect all marts together (primary and secondary suppression), write the `public`
    schema, export Parquet and CSV to <warehouse>/public/, and audit what was published."""
    from pipeline.publish import public

    k = settings().suppression_k
    with warehouse.connect() as con:
        publication = public.build_public(con, k)
        published = publication.tables
        public.export(con, published, Path(warehouse.warehouse_dir) / "public", root=Path(warehouse.warehouse_dir))
        exposures = public.audit_public(con, k, skip=publication.reused)
        audited = len(public.table_agencies(con, "public")) - len(publication.reused)
        if not exposures:
            public.mark_audited(con)
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
                  "examples": dg.MetadataValue.md("\n".join(f"- {e.reason}" for e in exposures[:20]) or "none"),
                  "agencies_protected_and_audited": audited,
                  "agencies_taken_as_decided": len(publication.reused),
                  "protected_with_release": publication.previous or "none",
                  "suppressed_for_that_release": len(publication.forced)})
