"""Feedback for agency staff, in their own folder: umpan-balik/."""

import warnings
from pathlib import Path

import dagster as dg

from pipeline.assets.ingest import POOL
from pipeline.assets.marts import MART_KEYS
from pipeline.assets.resources import DropFolderResource, WarehouseResource
from pipeline.config import settings
from pipeline.parallel import chunks, ordered_map, worker_count
from pipeline.progress import done_line

FEEDBACK = dg.AssetKey(["feedback", "umpan_balik"])
GATHER_BATCH = 16  # agencies read from the warehouse with one query per table


def build_feedback_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    with warnings.catch_warnings():  # backfill_policy on @asset is marked beta; it is stable on multi_asset
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`")
        return _feedback_asset(partitions)


def _feedback_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(key=FEEDBACK, group_name="feedback", partitions_def=partitions, pool=POOL,
              deps=[MART_KEYS["yoy_by_region"], MART_KEYS["reporting_completeness"]],
              backfill_policy=dg.BackfillPolicy.single_run(), kinds={"excel", "html"})
    def umpan_balik(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                    drop_folder: DropFolderResource) -> dg.MaterializeResult:
        """Per agency, in data/raw/<agency>/umpan-balik/: a feedback workbook for each file with
        problems (bad cells highlighted, comments in Bahasa Indonesia), a receipt for every file,
        and index.html with every file sent, the months reported and the latest year-on-year figures."""
        from pipeline.feedback.gather import gather_feedbacks
        from pipeline.feedback.write import FeedbackTask, feedback_task

        keys = list(context.partition_keys)
        workers = worker_count(len(keys))
        debug = settings().debug
        raw_dir, archive_dir = Path(drop_folder.raw_dir), Path(drop_folder.archive_dir)
        written, refusals, finished = {}, {}, []
        report_every = max(1, len(keys) // 32)  # `ppa run`'s progress: about 32 events, whatever the count
        with warehouse.connect() as con:  # one connection for every agency of the run; workers write the files
            tasks = (FeedbackTask(given, raw_dir, archive_dir, debug)
                     for chunk in chunks(keys, GATHER_BATCH) for given in gather_feedbacks(con, chunk))
            for code, count, refused in ordered_map(feedback_task, tasks, workers):
                written[code] = count
                if refused:
                    refusals[code] = refused
                    context.log.warning(f"{code}: {refused}")
                finished.append(code)
                if len(finished) >= report_every:
                    context.log.info(done_line(context.op_def.name, finished))
                    finished = []
        if finished:
            context.log.info(done_line(context.op_def.name, finished))
        metadata = {"files": sum(written.values()), "agencies": len(written)}  # files written, or kept unchanged
        if refusals:  # a feedback folder that is a link: nothing written through it
            metadata["refused"] = dg.MetadataValue.json(refusals)
        if len(written) <= 20:  # Dagster copies this into every partition's event: no long lists
            metadata["per_agency"] = dg.MetadataValue.json(written)
        return dg.MaterializeResult(metadata=metadata)

    return umpan_balik
