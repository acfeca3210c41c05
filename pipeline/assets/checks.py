"""Great Expectations 1.x checks on the marts (blocking: the analytics copy is
published only when they pass)."""

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.assets.common import markdown
from pipeline.assets.marts import MART_KEYS
from pipeline.assets.resources import DropFolderResource, WarehouseResource
from pipeline.marts import expectations
from pipeline.registry import agency_codes
from pipeline.warehouse.db import query_df

FORM_TOTALS_SQL = """
SELECT f.agency, f.year, sum(f.victims) AS form_victims, any_value(v.victims) AS victims
FROM marts.victims_by_form f JOIN marts.victims_by_region_year v USING (agency, year)
WHERE f.source = 'cases'
GROUP BY f.agency, f.year
"""


def result_for(outcomes: dict[str, expectations.Outcome]) -> dg.AssetCheckResult:
    failed = [dict(suite=name, **f) for name, o in outcomes.items() for f in o.failed]
    return dg.AssetCheckResult(
        passed=all(o.success for o in outcomes.values()),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "expectations_evaluated": sum(o.evaluated for o in outcomes.values()),
            "expectations_failed": len(failed),
            "failed": markdown(pd.DataFrame(failed)),
        },
    )


def _gx_check(table: str, extra: dict[str, str] | None = None):
    @dg.asset_check(asset=MART_KEYS[table], name=f"gx_{table}", blocking=True,
                    description=f"Great Expectations suite '{table}' (pipeline/schemas/expectations.py).")
    def check(warehouse: WarehouseResource, drop_folder: DropFolderResource) -> dg.AssetCheckResult:
        agencies = agency_codes(Path(drop_folder.registry_path))
        frames = {table: f"SELECT * FROM marts.{table}", **(extra or {})}
        with warehouse.connect() as con:
            data = {name: query_df(con, sql) for name, sql in frames.items()}
        return result_for({name: expectations.validate(name, frame, agencies) for name, frame in data.items()})

    check.__doc__ = f"Dataset-level expectations on marts.{table}, run with Great Expectations 1.x."
    return check


gx_checks = [
    _gx_check("victims_by_region_year"),
    _gx_check("yoy_by_region"),
    _gx_check("victims_by_form", {"form_totals": FORM_TOTALS_SQL}),
    _gx_check("reporting_completeness"),
]


@dg.asset_check(asset=["meta", "ingest_log"], name="agencies_silent",
                description="Warns when an agency has sent no new file for longer than its usual interval "
                            "(expected_interval_days in the registry), before its year-on-year numbers are read.")
def agencies_silent(warehouse: WarehouseResource, drop_folder: DropFolderResource) -> dg.AssetCheckResult:
    """An agency silent for longer than its expected interval: a fall in its numbers may be a missing export."""
    from pipeline.registry import load_registry

    agencies = load_registry(Path(drop_folder.registry_path))
    with warehouse.connect() as con:
        last = query_df(con, "SELECT agency, max(first_seen) AS last_file FROM meta.ingest_log "
                             "WHERE status NOT IN ('ignored', 'removed') GROUP BY agency")
    silent = silent_agencies(agencies, last, pd.Timestamp.now(tz="UTC").tz_localize(None))
    return dg.AssetCheckResult(
        passed=silent.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={"silent_agencies": len(silent), "agencies": markdown(silent)})


@dg.asset_check(asset=MART_KEYS["recap_reconciliation"], name="recap_differs",
                description="Warns when a recap and the staged case rows of the same agency-year give different "
                            "counts (marts.recap_reconciliation, with the rows that explain the difference).")
def recap_differs(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """A recap that disagrees with the register of its year: a warning to read, never a failure."""
    with warehouse.connect() as con:
        differ = query_df(con, "SELECT agency, year, measure, recap_count, staged_count, difference, rows_rejected, "
                               "rows_superseded, rows_other_year FROM marts.recap_reconciliation "
                               "WHERE difference <> 0 ORDER BY agency, year, measure")
    return dg.AssetCheckResult(passed=differ.empty, severity=dg.AssetCheckSeverity.WARN,
                               metadata={"differences": len(differ), "rows": markdown(differ)})


def silent_agencies(agencies, last: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Agencies whose newest file arrived longer ago than their expected interval (or never)."""
    seen = dict(zip(last["agency"], last["last_file"])) if len(last) else {}
    rows = []
    for agency in agencies:
        newest = seen.get(agency.code)
        days = None if newest is None or pd.isna(newest) else (now - pd.Timestamp(newest)).days
        if days is None or days > agency.expected_interval_days:
            rows.append({"agency": agency.code, "last_file": None if days is None else str(newest),
                         "days_silent": days, "expected_interval_days": agency.expected_interval_days})
    return pd.DataFrame(rows, columns=["agency", "last_file", "days_silent", "expected_interval_days"])
