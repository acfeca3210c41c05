"""The stamp of a full run (automation/quiet.py): written after every other write of the run,
so that the nightly schedule and `ppa run` can tell a night with nothing to do."""

import datetime as dt

import dagster as dg

from pipeline.assets.feedback import FEEDBACK
from pipeline.assets.ingest import POOL
from pipeline.assets.publish import ANALYTICS, PUBLIC_KEYS
from pipeline.assets.resources import DropFolderResource, WarehouseResource, resource_settings
from pipeline.automation import quiet
from pipeline.config import Settings
from pipeline.ingest.read import Limits
from pipeline.ingest.slices import unchanged_since
from pipeline.registry import load_registry
from pipeline.retention import next_expiry
from pipeline.safefs import describe
from pipeline.warehouse.db import connect

REFRESH_STAMP = dg.AssetKey(["meta", "refresh_stamp"])
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def valid_until(con, cfg: Settings, now: dt.datetime) -> tuple[dt.datetime, str]:
    """The first moment after `now` at which the calendar alone changes an output: a month starts
    or falls due (any agency's time zone and due day), a retention period ends, or a kept slice's
    last valid day passes (a report date it rejected as in the future is not any more)."""
    agencies = load_registry(cfg.registry_path)
    moment, why = quiet.next_calendar_change([(a.timezone, a.report_due_day) for a in agencies], now)
    expiry = next_expiry(con, cfg, now)
    if expiry is not None and expiry < moment:
        moment, why = expiry, "masa simpan berakhir / a retention period ends"
    zones = {a.code: a.timezone for a in agencies}
    for code, last_day in con.execute("SELECT agency, valid_until FROM meta.agency_loads "
                                      "WHERE valid_until IS NOT NULL").fetchall():
        if code in zones:
            end = quiet.local_midnight(last_day + dt.timedelta(days=1), zones[code])
            if now < end < moment:
                moment, why = end, f"tanggal laporan {code} tidak lagi di masa depan / a report date of {code} is no " \
                                   "longer in the future"
    return moment, why


def _changed_since_load(con, cfg: Settings, limits: Limits) -> list[str]:
    """Agencies whose folder would not give the slice the run loaded (a file changed while the
    run ran, or one caught mid-copy): the next run must read them."""
    loads = {code: (key, reusable) for code, key, reusable in
             con.execute("SELECT agency, load_key, reusable FROM meta.agency_loads").fetchall()}
    stale = []
    for agency in load_registry(cfg.registry_path):
        key, reusable = loads.get(agency.code, (None, False))
        if not reusable or not unchanged_since(agency, cfg.raw_dir, limits, key, None):
            stale.append(agency.code)
    return stale


@dg.asset(key=REFRESH_STAMP, group_name="meta", deps=[ANALYTICS, *PUBLIC_KEYS.values(), FEEDBACK], pool=POOL,
          kinds={"json"})
def refresh_stamp(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  drop_folder: DropFolderResource) -> dg.MaterializeResult:
    """<warehouse>/refresh.json after a full run: what every file looked like once the run had
    written its last, and until when the calendar changes nothing. The nightly schedule and
    `ppa run` start no run while nothing differs from it (automation/quiet.py). A run over some
    agencies only (the drop-folder sensor's, `ppa run --agency`) removes it: the next night runs."""
    cfg = resource_settings(warehouse, drop_folder)
    codes = [a.code for a in load_registry(cfg.registry_path)]
    tags = context.run.tags
    if (tags.get(RANGE[0]), tags.get(RANGE[1])) != (codes[0], codes[-1]):
        removed = quiet.forget(cfg)
        return dg.MaterializeResult(metadata={"stamp": "none: a run over some agencies only" +
                                              ("; the last stamp was removed" if removed else "")})
    limits = Limits(drop_folder.max_file_bytes, drop_folder.max_rows_per_sheet, drop_folder.reader_memory_mb,
                    drop_folder.reader_timeout_s)
    try:
        written = _stamp(context, cfg, codes, limits, warehouse)
    except Exception as exc:  # the run's outputs stand; without a stamp the next night just runs
        quiet.forget(cfg)
        reason = describe(exc) if isinstance(exc, OSError) else type(exc).__name__
        context.log.warning(f"no stamp ({reason}): the next nightly run starts as usual")
        return dg.MaterializeResult(metadata={"stamp": f"none: {reason}"})
    return dg.MaterializeResult(metadata=written)


def _stamp(context: dg.AssetExecutionContext, cfg: Settings, codes: list[str], limits: Limits,
           warehouse: WarehouseResource) -> dict:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # the listing first, then the hashes: a file changed after the listing differs from it later
    stamp = quiet.make_stamp(cfg, codes, context.run.run_id, now)
    with connect(warehouse.path, write=False) as con:
        stale = _changed_since_load(con, cfg, limits)
        until, why = valid_until(con, cfg, now)
    if stale:
        quiet.forget(cfg)
        context.log.info(f"no stamp: files of {', '.join(stale[:10])} changed during the run (or were being "
                         "copied); the next run reads them")
        return {"stamp": f"none: changed during the run: {', '.join(stale[:10])}"}
    stamp.update(valid_until=until.isoformat(timespec="seconds"), valid_why=why)
    path = quiet.write_stamp(cfg, stamp)
    return {"path": dg.MetadataValue.path(str(path)), "valid_until": f"{until:%Y-%m-%d %H:%M} UTC", "why": why}
