"""raw, staging and ledger for one agency partition, written in one transaction."""


import datetime as dt
import os
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from pipeline.assets.common import markdown, preview
from pipeline.ingest import (Limits, LoadBook, LoadSummary, LoadTask, Previous, add_kept_loads, contract_failures, load_tasks,
                             unchanged_since)
from pipeline.parallel import chunks, ordered_map, worker_count
from pipeline.privacy import scrubbed
from pipeline.registry import agency_codes, get_agency
from pipeline.resources import DropFolderResource, WarehouseResource
from pipeline.warehouse import mark_slices_seen, query_df, replace_agency_slices

RAW = dg.AssetKey(["raw", "case_rows"])
CASE_VICTIMS = dg.AssetKey(["staging", "case_victims"])
REJECTED = dg.AssetKey(["staging", "rejected_rows"])
WARNINGS = dg.AssetKey(["staging", "cell_warnings"])
SUPERSEDED = dg.AssetKey(["staging", "superseded_rows"])
INGEST_LOG = dg.AssetKey(["meta", "ingest_log"])
SHEETS = dg.AssetKey(["meta", "sheets"])
POOL = "warehouse"
RELOAD_TAG = "ppa/reload"  # a run tagged "true" reads every agency again, as PPA_RELOAD=1 does
WRITE_BATCH, WRITE_BATCH_ROWS = 16, 50_000  # agencies, raw rows per transaction in a run with workers
STAGE_BATCH = 8  # agencies read and validated together by one task (one pandera call)


def accounting_errors(ledger: pd.DataFrame) -> pd.DataFrame:
    """Files where data rows != staged + rejected + superseded."""
    live = ledger[ledger["status"] != "removed"]
    total = live["rows_staged"] + live["rows_rejected"] + live["rows_superseded"]
    return live.loc[live["data_rows"] != total, ["path", "data_rows", "rows_staged", "rows_rejected", "rows_superseded"]]


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
        in one DuckDB transaction. An agency whose files, registry entry and code are all
        as at its last load (same load_key) keeps its slice: its files are hashed, not read."""
        registry_path = Path(drop_folder.registry_path)
        codes = agency_codes(registry_path)
        keys = list(context.partition_keys)
        workers = worker_count(len(keys))
        book = LoadBook({code: i for i, code in enumerate(keys)})
        failures: list[pd.DataFrame] = []  # staged rows that break the staging contract
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        limits = Limits(drop_folder.max_file_bytes, drop_folder.max_rows_per_sheet, drop_folder.reader_memory_mb,
                        drop_folder.reader_timeout_s)
        debug = os.environ.get("PPA_DEBUG") == "1"
        raw_dir, archive_dir = Path(drop_folder.raw_dir), Path(drop_folder.archive_dir)
        kept: list[str] = []  # agencies whose slices stay as they are
        if workers > 1:
            context.log.info(f"reading {len(keys)} agencies in {workers} worker processes")
        # one connection (and the writer lock) for the whole step: opening and closing DuckDB per
        # agency costs a checkpoint each time. Workers read and validate; only this process
        # touches the warehouse.
        with warehouse.connect() as con:
            reload = os.environ.get("PPA_RELOAD") == "1" or context.run.tags.get(RELOAD_TAG) == "true"
            stored = {} if reload else {row[0]: row[1:] for row in con.execute(
                "SELECT agency, load_key, valid_from, valid_until FROM meta.agency_loads WHERE reusable").fetchall()}
            # agencies with a slice to read back (a first load has none: three queries each saved)
            present = {row[0] for row in con.execute("SELECT DISTINCT agency FROM meta.ingest_log").fetchall()}

            def tasks():
                for code in keys:
                    agency = get_agency(code, registry_path)
                    load_date = dt.datetime.now(ZoneInfo(agency.timezone)).date()
                    key, valid_from, valid_until = stored.get(code, (None, None, None))
                    if (key is not None and valid_from <= load_date <= (valid_until or load_date)
                            and unchanged_since(agency, raw_dir, limits, key, archive_dir)):
                        kept.append(code)
                        continue
                    previous = Previous(*(query_df(con, f"SELECT * FROM {t} WHERE agency = ?", [code])
                                          for t in ("meta.ingest_log", "raw.case_rows", "meta.sheets"))
                                        ) if code in present else Previous()
                    yield LoadTask(agency, raw_dir, previous, context.run.run_id, now, load_date, limits, archive_dir,
                                   debug)

            # one process: a transaction per agency; with workers, batches of agencies, so that
            # the writer keeps up with them (each agency's rows still change all at once)
            batch: list[tuple[dict[str, pd.DataFrame], LoadSummary]] = []
            batch_size = 1 if workers == 1 else WRITE_BATCH

            def write(batch):
                names = [summary.agency for _, summary in batch]
                frames = {table: _concat([f[table] for f, _ in batch], like=batch[0][0][table])
                          for table in batch[0][0]}
                staged = frames["staging.case_victims"]
                if len(staged):  # one pandera call per batch: its cost is mostly per call
                    failures.append(contract_failures(staged, codes))
                try:
                    replace_agency_slices(con, names if len(names) > 1 else names[0], frames)
                except Exception as exc:
                    if debug:
                        raise
                    raise scrubbed(exc, f"writing agencies {', '.join(names)}") from None
                # one log message per batch: each is an event Dagster stores on its own
                context.log.info("\n".join(
                    f"{summary.agency}: {summary.files} files, {summary.staged} staged, "
                    f"{summary.rejected_rows} rejected, {summary.superseded_rows} superseded" for _, summary in batch))
                for _, summary in batch:
                    book.add(summary)

            for loaded in ordered_map(load_tasks, chunks(tasks(), STAGE_BATCH), workers):
                for frames, summary in loaded:
                    batch.append((frames, summary))
                    if len(batch) >= batch_size or sum(len(f["raw.case_rows"]) for f, _ in batch) >= WRITE_BATCH_ROWS:
                        write(batch)
                        batch = []
            if batch:
                write(batch)
            if kept:
                mark_slices_seen(con, kept, context.run.run_id, now)
                add_kept_loads(book, con, kept)
                context.log.info(f"{len(kept)} of {len(keys)} agencies unchanged since their last load: slices kept "
                                 f"({', '.join(kept[:10])}{' …' if len(kept) > 10 else ''}); "
                                 f"the run tag {RELOAD_TAG}=true or PPA_RELOAD=1 reads them again")

        yield from _results(book, _concat(failures))

    return agency_load


def _concat(frames: list[pd.DataFrame], like: pd.DataFrame | None = None) -> pd.DataFrame:
    kept = [f for f in frames if len(f)]
    if len(kept) == 1:
        return kept[0]
    if kept:
        return pd.concat(kept, ignore_index=True)
    return like if like is not None else pd.DataFrame()


def _results(book: LoadBook, failures: pd.DataFrame):
    agencies, ledger, rejected, previewed = book.frames()
    summary = agencies[["agency", "files", "data_rows", "staged", "rejected", "superseded", "warnings"]]
    # Dagster copies a range run's metadata into the event of every partition (514 at national
    # scale, into two SQLite files): tables stay short when the run covers many agencies
    many = len(agencies) > 20
    if many:  # the agencies with the most rejected rows first, rather than the first 20
        summary = summary.sort_values(["rejected", "agency"], ascending=[False, True])
    for key, table in ((RAW, "raw.case_rows"), (CASE_VICTIMS, "staging.case_victims"), (REJECTED, "staging.rejected_rows"),
                       (WARNINGS, "staging.cell_warnings"), (SUPERSEDED, "staging.superseded_rows"),
                       (INGEST_LOG, "meta.ingest_log"), (SHEETS, "meta.sheets")):
        rows = sum(counts[table] for counts in agencies["counts"])
        metadata = {"dagster/row_count": rows, "dagster/table_name": table, "agencies": markdown(summary),
                    "agencies_kept": int(agencies["reused"].sum())}
        if key == CASE_VICTIMS:
            metadata["preview"] = preview(previewed)
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
