"""raw, staging and the ledger, one agency partition each, its slice written in one transaction:
the Dagster face of pipeline/ingest/ (the run itself is pipeline/ingest/run.py)."""


import datetime as dt
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pandas as pd

from pipeline.assets.common import markdown, preview
from pipeline.assets.resources import DropFolderResource, WarehouseResource
from pipeline.config import settings
from pipeline.ingest.archive import archive_key
from pipeline.ingest.book import LoadBook
from pipeline.ingest.ledger import accounting_errors
from pipeline.ingest.read import Limits
from pipeline.ingest.run import LoadRun, load_run, not_read
from pipeline.parallel import worker_count
from pipeline.privacy import check_secret
from pipeline.progress import done_line
from pipeline.registry import agency_codes
from pipeline.retention import sweep

RAW = dg.AssetKey(["raw", "case_rows"])
CASE_VICTIMS = dg.AssetKey(["staging", "case_victims"])
REJECTED = dg.AssetKey(["staging", "rejected_rows"])
WARNINGS = dg.AssetKey(["staging", "cell_warnings"])
SUPERSEDED = dg.AssetKey(["staging", "superseded_rows"])
INGEST_LOG = dg.AssetKey(["meta", "ingest_log"])
SHEETS = dg.AssetKey(["meta", "sheets"])
RECAP_CELLS = dg.AssetKey(["raw", "recap_cells"])
RECAP_COUNTS = dg.AssetKey(["staging", "recap_counts"])
REJECTED_RECAP = dg.AssetKey(["staging", "rejected_recap_cells"])
POOL = "warehouse"
RELOAD_TAG = "ppa/reload"  # a run tagged "true" reads every agency again, as PPA_RELOAD=1 does
TABLES = ((RAW, "raw.case_rows"), (CASE_VICTIMS, "staging.case_victims"), (REJECTED, "staging.rejected_rows"),
          (WARNINGS, "staging.cell_warnings"), (SUPERSEDED, "staging.superseded_rows"),
          (INGEST_LOG, "meta.ingest_log"), (SHEETS, "meta.sheets"), (RECAP_CELLS, "raw.recap_cells"),
          (RECAP_COUNTS, "staging.recap_counts"), (REJECTED_RECAP, "staging.rejected_recap_cells"))


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
                     description="Rows replaced by the same case and victim in a file received later (first seen, then modified)."),
        dg.AssetSpec(INGEST_LOG, group_name="meta", deps=[CASE_VICTIMS, REJECTED, SUPERSEDED], kinds={"duckdb"},
                     description="The ledger: every file seen in an agency folder and what became of it."),
        dg.AssetSpec(SHEETS, group_name="meta", deps=[RAW], kinds={"duckdb"},
                     description="Every sheet of every file: register, recap or skipped, header row and column mapping."),
        dg.AssetSpec(RECAP_CELLS, group_name="raw", kinds={"duckdb", "excel"},
                     description="The count cells of recap sheets (tables of counts) as the agency wrote them."),
        dg.AssetSpec(RECAP_COUNTS, group_name="staging", deps=[RECAP_CELLS], kinds={"duckdb", "pandera"},
                     description="Recap counts, typed, with their period, measure and category (data contract, "
                                 "section 9)."),
        dg.AssetSpec(REJECTED_RECAP, group_name="staging", deps=[RECAP_CELLS], kinds={"duckdb", "pandera"},
                     description="Recap cells that are not a whole number of 0 or more, or whose period is not known."),
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
        in one DuckDB transaction. An agency whose files, registry entry and code are all
        as at its last load (same load_key) keeps its slice: its files are hashed, not read."""
        registry_path = Path(drop_folder.registry_path)
        keys = list(context.partition_keys)
        cfg = settings()
        run = LoadRun(
            agencies=keys, registered=agency_codes(registry_path), registry_path=registry_path,
            raw_dir=Path(drop_folder.raw_dir), archive_dir=Path(drop_folder.archive_dir),
            limits=Limits(drop_folder.max_file_bytes, drop_folder.max_rows_per_sheet, drop_folder.reader_memory_mb,
                          drop_folder.reader_timeout_s), run_id=context.run.run_id,
            now=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0), workers=worker_count(len(keys)),
            reload=cfg.reload or context.run.tags.get(RELOAD_TAG) == "true", debug=cfg.debug)
        check_secret()  # a missing or weak key stops the run here, with its reason
        archive_key()  # the archive's too
        strays = not_read(run.raw_dir, run.registered)
        for line in strays:
            context.log.warning(line)
        if run.workers > 1:
            context.log.info(f"reading {len(keys)} agencies in {run.workers} worker processes")
        # one connection (and the writer lock) for the whole step: opening and closing DuckDB per
        # agency costs a checkpoint each time
        with warehouse.connect() as con:
            periods = replace(cfg, raw_dir=run.raw_dir, archive_dir=run.archive_dir)
            for line in sweep(con, periods, feedback=False).lines():
                context.log.info(line)  # the retention periods (pipeline/retention.py)
            outcome = load_run(con, run, context.log.info,
                               lambda codes: context.log.info(done_line(context.op_def.name, codes)))
        if outcome.kept:
            kept = outcome.kept
            context.log.info(f"{len(kept)} of {len(keys)} agencies unchanged since their last load: slices kept "
                             f"({', '.join(kept[:10])}{' …' if len(kept) > 10 else ''}); "
                             f"the run tag {RELOAD_TAG}=true or PPA_RELOAD=1 reads them again")
        for (key, agency), rows in partition_row_counts(outcome.book).items():
            context.add_asset_metadata({"dagster/row_count": rows}, asset_key=key, partition_key=agency)
        yield from _results(outcome.book, outcome.failures, strays)

    return agency_load


def partition_row_counts(book: LoadBook) -> dict[tuple[dg.AssetKey, str], int]:
    """Each agency's own row count per table: a range run's materialization event of each
    partition gets its agency's count, not the run's total."""
    agencies = book.frames()[0]
    return {(key, agency): int(counts[table]) for key, table in TABLES
            for agency, counts in zip(agencies["agency"], agencies["counts"])}


def _results(book: LoadBook, failures: pd.DataFrame, strays: list[str] = ()):
    agencies, ledger, rejected, previewed = book.frames()
    summary = agencies[["agency", "files", "data_rows", "staged", "rejected", "superseded", "warnings"]]
    # Dagster copies a range run's metadata into the event of every partition (514 at national
    # scale, into two SQLite files): tables stay short when the run covers many agencies
    many = len(agencies) > 20
    if many:  # the agencies with the most rejected rows first, rather than the first 20
        summary = summary.sort_values(["rejected", "agency"], ascending=[False, True])
    for key, table in TABLES:
        rows = sum(counts[table] for counts in agencies["counts"])  # each partition's own: partition_row_counts
        metadata = {"rows_in_run": rows, "dagster/table_name": table, "agencies": markdown(summary),
                    "agencies_kept": int(agencies["reused"].sum())}
        if key == CASE_VICTIMS:
            metadata["preview"] = preview(previewed)
        if key == INGEST_LOG:
            metadata["not_read"] = dg.MetadataValue.md("\n".join(f"- {line}" for line in strays) or "none")
        if key == INGEST_LOG and len(ledger):
            files = ledger[["path", "status", "data_rows", "rows_staged", "rows_rejected", "rows_superseded"]]
            if many:  # files that did not load as they were first
                files = files.sort_values("status", key=lambda s: s == "loaded", kind="stable")
            metadata["files"] = markdown(files, limit=20 if many else 200)
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)

    errors = accounting_errors(ledger) if len(ledger) else pd.DataFrame()
    yield dg.AssetCheckResult(
        asset_key=CASE_VICTIMS, check_name="row_accounting", passed=errors.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"files_checked": int((ledger["status"] != "removed").sum()) if len(ledger) else 0,
                  "files_failing": len(errors), "failing": markdown(errors)})
    yield dg.AssetCheckResult(
        asset_key=CASE_VICTIMS, check_name="staging_contract", passed=failures.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows_checked": int(agencies["staged"].sum()), "failures": len(failures),
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
