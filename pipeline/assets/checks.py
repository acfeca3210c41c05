"""Great Expectations 1.x checks on the marts (blocking: the analytics copy is
published only when they pass)."""

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.assets.common import markdown
from pipeline.assets.marts import MART_KEYS
from pipeline.registry import agency_codes
from pipeline.resources import DropFolderResource, WarehouseResource
from pipeline.schemas import expectations
from pipeline.warehouse import query_df

FORM_TOTALS_SQL = """
SELECT f.agency, f.year, sum(f.victims) AS form_victims, any_value(v.victims) AS victims
FROM marts.victims_by_form f JOIN marts.victims_by_region_year v USING (agency, year)
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
