"""raw, staging and ledger for one agency partition, written in one transaction."""


import datetime as dt
import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from pipeline.assets.common import PREVIEW_COLUMNS, markdown, preview
from pipeline.ingest import AgencyLoad, Limits, Previous, load_agency
from pipeline.privacy import scrubbed
from pipeline.registry import agency_codes, get_agency
from pipeline.resources import DropFolderResource, WarehouseResource
from pipeline.schemas.cases import staged_schema
from pipeline.warehouse import query_df, replace_agency_slices
from pathlib import Path

RAW = dg.AssetKey(["raw", "case_rows"])
CASE_VICTIMS = dg.AssetKey(["staging", "case_victims"])
REJECTED = dg.AssetKey(["staging", "rejected_rows"])
WARNINGS = dg.AssetKey(["staging", "cell_warnings"])
SUPERSEDED = dg.AssetKey(["staging", "superseded_rows"])
INGEST_LOG = dg.AssetKey(["meta", "ingest_log"])
SHEETS = dg.AssetKey(["meta", "sheets"])
POOL = "warehouse"


def accounting_errors(ledger: pd.DataFrame) -> pd.DataFrame:
    """Files where data rows != staged + rejected + superseded."""
    live = ledger[ledger["status"] != "removed"]
    total = live["rows_staged"] + live["rows_rejected"] + live["rows_superseded"]
    return live.loc[live["data_rows"] != total, ["path", "data_rows", "rows_staged", "rows_rejected", "rows_superseded"]]


def contract_failures(staged: pd.DataFrame, agencies: list[str]) -> pd.DataFrame:
    try:
        staged_schema(agencies).validate(staged, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return exc.failure_cases[["column", "check", "index"]].astype(str)
    return pd.DataFrame(columns=["column", "check", "index"])


def build_agency_load(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    specs = [
        dg.AssetSpec(RAW, group_name="raw", kinds={"duckdb", "excel"},
                     description="Register rows as the agency wrote them, as text: only the schema's columns, "
                                 "plus lineage. Personal-data columns never enter."),
        dg.AssetSpec(CASE_VICTIMS, group_name="staging", deps=[RAW], kinds={"duckdb", "pandera"},
                     description="Typed, canonical, validated rows: one row per victim per case."),
        dg.AssetSpec(REJECTED, group_name="staging", deps=[RAW], kinds={"duckdb", "pandera"},
                     description="Rows that broke a row rule, with every reason in Bahasa Indonesia and English."),
        dg.AssetSpec(WARNINGS, group_name="staging", deps=[RAW], kinds={"duckdb"},
                     description="Cells set to empty because their label was not recognised; the row still loads."),
        dg.AssetSpec(SUPERSEDED, group_name="staging", deps=[RAW], kinds={"duckdb"},
                     description="Rows replaced by the same case and victim in a more recently modified file."),
        dg.AssetSpec(INGEST_LOG, group_name="meta", deps=[CASE_VICTIMS, REJECTED, SUPERSEDED], kinds={"duckdb"},
                     description="The ledger: every file seen in an agency folder and what became of it."),
        dg.AssetSpec(SHEETS, group_name="meta", deps=[RAW], kinds={"duckdb"},
                     description="Every sheet of every file: register or skipped, header row and column mapping."),
    ]
    checks = [
        dg.AssetCheckSpec("row_accounting", asset=CASE_VICTIMS, blocking=True,
                          description="For every file: data rows = staged + rejected + superseded."),
        dg.AssetCheckSpec("staging_contract", asset=CASE_VICTIMS, blocking=True,
                          description="The staged rows keep to the pandera contract (schemas/cases.py)."),
        dg.AssetCheckSpec("rows_rejected", asset=REJECTED,
                          description="Warns when rows were rejected; counts per rule and a sample without values."),
        dg.AssetCheckSpec("files_rejected", asset=INGEST_LOG,
                          description="Warns when a whole file was rejected (unreadable, not a register, no row loaded)."),
    ]

    @dg.multi_asset(specs=specs, check_specs=checks, partitions_def=partitions, pool=POOL,
                    backfill_policy=dg.BackfillPolicy.single_run(), name="agency_load", can_subset=False)
    def agency_load(context: dg.AssetExecutionContext, warehouse: WarehouseResource, drop_folder: DropFolderResource):
        """Read every file in each agency's folder, validate the rows against the shared
        pandera contract, and replace that agency's raw, staging, rejects and ledger rows
        in one DuckDB transaction."""
        registry_path = Path(drop_folder.registry_path)
        codes = agency_codes(registry_path)
        loads: list[LoadSummary] = []
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        # one connection (and the writer lock) for the whole step: opening and closing DuckDB per
        # agency costs a checkpoint each time; each agency's slice is still its own transaction
        with warehouse.connect() as con:
            for code in context.partition_keys:
                agency = get_agency(code, registry_path)
                load_date = dt.datetime.now(ZoneInfo(agency.timezone)).date()
                try:
                    previous = Previous(*(query_df(con, f"SELECT * FROM {t} WHERE agency = ?", [code])
                                          for t in ("meta.ingest_log", "raw.case_rows", "meta.sheets")))
                    load = load_agency(agency, Path(drop_folder.raw_dir), previous, context.run.run_id, now,
                                       load_date, Limits(drop_folder.max_file_bytes, drop_folder.max_rows_per_sheet),
                                       archive_dir=Path(drop_folder.archive_dir))
                    replace_agency_slices(con, code, load.frames)
                except Exception as exc:  # the message may quote a cell: never let it reach the run log
                    if os.environ.get("PPA_DEBUG") == "1":
                        raise
                    raise scrubbed(exc, f"loading agency {code}") from None
                context.log.info(
                    f"{code}: {len(load.ledger)} files, {len(load.staging.staged)} staged, "
                    f"{len(load.staging.rejected)} rejected, {len(load.staging.superseded)} superseded")
                loads.append(LoadSummary.of(load, codes))

        yield from _results(loads)

    return agency_load


@dataclass
class LoadSummary:
    """What the checks and metadata need of one agency's load; the row frames are not kept,
    so memory is bounded by the largest agency rather than by all of them."""

    agency: str
    counts: dict[str, int]  # table -> rows written
    ledger: pd.DataFrame
    rejected: pd.DataFrame  # lineage and rules only, no values
    contract_failures: pd.DataFrame
    preview: pd.DataFrame
    staged: int

    @classmethod
    def of(cls, load: AgencyLoad, codes: list[str]) -> "LoadSummary":
        staged = load.staging.staged
        rejected = load.staging.rejected
        return cls(
            agency=load.agency,
            counts={table: len(frame) for table, frame in load.frames.items()},
            ledger=load.ledger,
            rejected=rejected[["agency", "_source_file", "_source_sheet", "_source_row", "rules"]],
            contract_failures=contract_failures(staged, codes) if len(staged) else pd.DataFrame(),
            preview=staged.head(20)[[c for c in PREVIEW_COLUMNS if c in staged.columns]],
            staged=len(staged),
        )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _results(loads: list[LoadSummary]):
    ledger = _concat([load.ledger for load in loads])
    rejected = _concat([load.rejected for load in loads])
    summary = pd.DataFrame([{
        "agency": load.agency, "files": len(load.ledger), "data_rows": int(load.ledger["data_rows"].sum()),
        "staged": load.staged, "rejected": load.counts["staging.rejected_rows"],
        "superseded": load.counts["staging.superseded_rows"], "warnings": load.counts["staging.cell_warnings"],
    } for load in loads])
    for key, table in ((RAW, "raw.case_rows"), (CASE_VICTIMS, "staging.case_victims"), (REJECTED, "staging.rejected_rows"),
                       (WARNINGS, "staging.cell_warnings"), (SUPERSEDED, "staging.superseded_rows"),
                       (INGEST_LOG, "meta.ingest_log"), (SHEETS, "meta.sheets")):
        rows = sum(load.counts[table] for load in loads)
        metadata = {"dagster/row_count": rows, "dagster/table_name": table, "agencies": markdown(summary)}
        if key == CASE_VICTIMS:
            metadata["preview"] = preview(_concat([load.preview for load in loads]))
        if key == INGEST_LOG and len(ledger):
            metadata["files"] = markdown(ledger[["path", "status", "data_rows", "rows_staged", "rows_rejected",
                                                 "rows_superseded"]], limit=200)
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)

    errors = accounting_errors(ledger) if len(ledger) else pd.DataFrame()
    yield dg.AssetCheckResult(
        asset_key=CASE_VICTIMS, check_name="row_accounting", passed=errors.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"files_checked": int((ledger["status"] != "removed").sum()) if len(ledger) else 0,
                  "files_failing": len(errors), "failing": markdown(errors)})
    failures = _concat([load.contract_failures for load in loads])
    yield dg.AssetCheckResult(
        asset_key=CASE_VICTIMS, check_name="staging_contract", passed=failures.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows_checked": sum(load.staged for load in loads), "failures": len(failures),
                  "sample": markdown(failures)})
    by_rule = (rejected.explode("rules").groupby("rules").size().rename("rows").reset_index()
               if len(rejected) else pd.DataFrame())
    yield dg.AssetCheckResult(
        asset_key=REJECTED, check_name="rows_rejected", passed=rejected.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_rejected": len(rejected), "by_rule": markdown(by_rule), "sample": markdown(rejected)})
    bad_files = ledger[ledger["status"] == "rejected"] if len(ledger) else ledger
    yield dg.AssetCheckResult(
        asset_key=INGEST_LOG, check_name="files_rejected", passed=bad_files.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"files_rejected": len(bad_files),
                  "files": markdown(bad_files[["path", "reason_code", "message"]] if len(bad_files) else bad_files)})
