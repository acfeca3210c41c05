"""Feedback for agency staff, in their own folder: umpan-balik/."""

import os
import warnings
from pathlib import Path

import dagster as dg

from pipeline.assets.ingest import POOL
from pipeline.assets.marts import MART_KEYS
from pipeline.privacy import scrubbed
from pipeline.resources import DropFolderResource, WarehouseResource

FEEDBACK = dg.AssetKey(["feedback", "umpan_balik"])


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
        from pipeline.feedback import build_feedback

        written = {}
        with warehouse.connect() as con:  # one connection for every agency of the run
            for code in context.partition_keys:
                try:
                    paths = build_feedback(con, code, Path(drop_folder.raw_dir), Path(drop_folder.archive_dir))
                except Exception as exc:  # the message may quote a cell of the agency's file
                    if os.environ.get("PPA_DEBUG") == "1":
                        raise
                    raise scrubbed(exc, f"feedback for agency {code}") from None
                written[code] = len(paths)
        return dg.MaterializeResult(metadata={"files_written": sum(written.values()),
                                              "per_agency": dg.MetadataValue.json(written)})

    return umpan_balik
