"""Checks on the marts: Great Expectations 1.x suites (blocking: the analytics copy is
published only when they pass), and two warnings: agencies with months past due without a
report, and the data-quality flags still open."""

from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.assets.common import markdown
from pipeline.assets.marts import MART_KEYS
from pipeline.assets.resources import DropFolderResource, WarehouseResource
from pipeline.marts import completeness, expectations, quality
from pipeline.publish.views import FLAGS_SQL
from pipeline.registry import agency_codes
from pipeline.warehouse.db import query_df


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


def _gx_check(table: str, extra: tuple[str, ...] = ()):
    @dg.asset_check(asset=MART_KEYS[table], name=f"gx_{table}", blocking=True,
                    description=f"Great Expectations suite '{table}' (pipeline/marts/expectations.py).")
    def check(warehouse: WarehouseResource, drop_folder: DropFolderResource) -> dg.AssetCheckResult:
        agencies = agency_codes(Path(drop_folder.registry_path))
        with warehouse.connect() as con:
            data = {name: query_df(con, expectations.SUITE_SQL[name]) for name in (table, *extra)}
        return result_for({name: expectations.validate(name, frame, agencies) for name, frame in data.items()})

    check.__doc__ = f"Dataset-level expectations on marts.{table}, run with Great Expectations 1.x."
    return check


gx_checks = [
    _gx_check("victims_by_region_year"),
    _gx_check("yoy_by_region"),
    _gx_check("victims_by_form", ("form_totals",)),
    _gx_check("reporting_completeness"),
]


@dg.asset_check(asset=MART_KEYS["reporting_completeness"], name="agencies_silent",
                description="Warns when an agency has months past their due date without a report "
                            "(coverage_status missing in marts.reporting_completeness): a fall in its numbers may "
                            "be a missing export. A month reported as zero (nihil) is not missing.")
def agencies_silent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Agencies with missing months: how many, which, and since when they are silent."""
    with warehouse.connect() as con:
        months = query_df(con, "SELECT agency, year, month, coverage_status FROM marts.reporting_completeness")
        last = query_df(con, "SELECT agency, max(first_seen) AS last_file FROM meta.ingest_log "
                             "WHERE status NOT IN ('ignored', 'removed') GROUP BY agency")
    silent = completeness.silent_agencies(months, last)
    shown = silent.assign(missing=[_months_short(m) for m in silent["missing"]])
    return dg.AssetCheckResult(
        passed=silent.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={"silent_agencies": len(silent), "months_missing": int(silent["months_missing"].sum()),
                  "agencies": markdown(shown, limit=100)})


def _months_short(months: list[str], limit: int = 12) -> str:
    return ", ".join(months) if len(months) <= limit else f"{', '.join(months[:limit])}, … (+{len(months) - limit})"


@dg.asset_check(asset=MART_KEYS["dq_flags"], name="dq_flags_open",
                description="The data-quality review (marts.dq_flags): warns while flags are open (not reviewed) or "
                            "confirmed as a problem in the data; explained flags and information (timeliness) do not "
                            "warn. Review with `ppa dq review`.")
def dq_flags_open(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Open and confirmed data-quality flags, with their messages in Bahasa Indonesia and English."""
    with warehouse.connect() as con:
        flags = query_df(con, FLAGS_SQL)
    warn = quality.open_flags(flags)
    reviewed = flags[flags["status"] != "open"]
    by_check = warn.groupby(["check", "status"]).size().rename("flags").reset_index()
    return dg.AssetCheckResult(
        passed=warn.empty, severity=dg.AssetCheckSeverity.WARN,
        metadata={"open": int((flags["status"] == "open").sum()),
                  "confirmed": int((flags["status"] == "confirmed").sum()),
                  "explained": int((flags["status"] == "explained").sum()),
                  "by_check": markdown(by_check, limit=50),
                  "flags": markdown(warn[["flag_id", "severity", "status", "message", "message_en"]], limit=100),
                  "reviewed": markdown(reviewed[["flag_id", "status", "note"]], limit=100)})


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
