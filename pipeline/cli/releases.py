"""`ppa changes`, `ppa approve`, `ppa approvals` and `ppa release`: what changed, sign-off of a
period by the head of an agency, and versioned releases."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from pipeline.cli import common


def _since(value: str | None, con) -> tuple[dt.datetime | None, str | None]:
    """--since: a date (YYYY-MM-DD, from its start in Asia/Makassar), a release version, or a run id."""
    from pipeline.warehouse.db import has_table

    if value is None:
        return None, None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None:
        start = dt.datetime.combine(day, dt.time(), ZoneInfo(common.RUN_TZ)).astimezone(dt.UTC)
        return start.replace(tzinfo=None), None
    if has_table(con, "meta.releases"):
        found = con.execute("SELECT released_at FROM meta.releases WHERE version = ?", [value]).fetchall()
        if found:
            return found[0][0], None
    if con.execute("SELECT count(*) FROM meta.change_reports WHERE run_id = ?", [value]).fetchall()[0][0]:
        return None, value
    raise common.Mistake("since_unknown", since=value)


def changes(agency: str | None, since: str | None) -> int:
    from pipeline.marts.changes import reports_since
    from pipeline.warehouse.db import has_table

    agency = common.agency(agency)
    with common.read_only(common.warehouse()) as con:
        if not has_table(con, "meta.change_reports"):
            common.say("belum ada laporan perubahan / no change report yet: run `ppa run`")
            return 0
        after, run_id = _since(since, con)
        if since is None:  # the last build that changed something
            last = con.execute("SELECT run_id FROM meta.change_reports ORDER BY built_at DESC LIMIT 1").fetchall()
            run_id = last[0][0] if last else None
        found = reports_since(con, since=after, run_id=run_id, agency=agency) if run_id or after else None
    if found is None or found.empty:
        common.say("tidak ada angka yang berubah / no figure changed")
        return 0
    rows = [[common.local_time(r.built_at), r.agency, r.year, f"{r.message} / {r.message_en}"]
            for r in found.itertuples()]
    for line in common.table(["build", "agency", "year", "perubahan / change"], rows, wrap_last=True):
        common.say(line)
    return 0


def approve(agency: str, year: int, month: int | None, by: str) -> int:
    from pipeline.publish.approvals import ApprovalError, period_text
    from pipeline.publish.approvals import approve as record

    agency = common.agency(agency)
    try:
        done = record(common.warehouse(), agency, year, month, by)
    except ApprovalError as exc:
        raise common.Mistake("approval_refused", detail=exc) from None
    common.say(f"disetujui / approved: {agency} {period_text(year, month)} oleh / by {done.approved_by}, "
               f"{common.local_time(done.approved_at)}; {done.rows} baris / rows, sha256 {done.content_sha256[:12]}…")
    common.say("angka ini yang diterbitkan sampai periode ini disetujui lagi / these figures are published until the "
               "period is approved again")
    return 0


def approvals(agency: str | None) -> int:
    from pipeline.publish.approvals import WORDS, period_text, states
    from pipeline.warehouse.db import has_table

    agency = common.agency(agency)
    with common.read_only(common.warehouse()) as con:
        found = states(con, agency) if has_table(con, "meta.approvals") else None
    if found is None or found.empty:
        common.say("belum ada periode yang disetujui / no period approved yet (semua angka sementara / every figure "
                   "is provisional)")
        return 0
    rows = [[r.agency, period_text(r.year, r.month),
             " / ".join(WORDS[r.state]), r.approved_by, common.local_time(r.approved_at), r.victims_approved,
             r.victims_now, r.changes_since] for r in found.itertuples()]
    for line in common.table(["agency", "period", "state", "by", "at", "victims approved", "victims now",
                              "changes since"], rows, numeric={5, 6, 7}):
        common.say(line)
    return 0


def release(version: str | None) -> int:
    from pipeline.config import settings
    from pipeline.publish.releases import ReleaseError, write_release

    common.warehouse()
    try:
        done = write_release(settings(), version)
    except ReleaseError as exc:
        raise common.Mistake("release_refused", detail=exc) from None
    common.say(f"rilis ditulis / release written: {common.path_text(done.path)} ({done.files} files; previous: "
               f"{done.previous or '–'})")
    for line in done.notes.splitlines():
        common.say(line)
    return 0
