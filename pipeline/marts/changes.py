"""The change report of a mart build: which headline figures changed since the build before
(victims, cases and victims by form, per agency and year) and which files caused it.

At every build the figures and the ledger's files are kept (meta.mart_figures,
meta.file_states); the next build compares with them. A file caused a change when it is new,
corrected (same name, other bytes), removed, superseded, erased, now rejected or counts again,
and its period covers the year (a file whose period is unknown may touch any year of its
agency). Rows go to meta.change_reports, kept across runs (ppa changes, the feedback index).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from pipeline.messages import render
from pipeline.warehouse.db import insert_frame, query_df, transaction

MEASURES = ("victims", "cases", "victims_form")
COUNTED = ("loaded", "nil_report")  # ledger statuses whose rows count in the marts
KEY = ["agency", "year", "measure", "category"]


def current_figures(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The headline figures of the marts as built now: agency, year, measure, category, value."""
    return query_df(con, """
        SELECT agency, year, 'victims' AS measure, '' AS category, victims::BIGINT AS value
          FROM marts.victims_by_region_year WHERE victims IS NOT NULL
        UNION ALL
        SELECT agency, year, 'cases', '', cases::BIGINT FROM marts.victims_by_region_year WHERE cases IS NOT NULL
        UNION ALL
        SELECT agency, year, 'victims_form', violence_form, victims::BIGINT FROM marts.victims_by_form
          WHERE victims IS NOT NULL
        ORDER BY ALL""")


def current_files(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return query_df(con, "SELECT agency, path, sha256, status, coverage_start, coverage_end FROM meta.ingest_log "
                         "ORDER BY agency, path")


def changed_figures(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Rows of KEY with value_before and value_after where they differ (a figure that appeared or
    went away has the other side null)."""
    merged = before[KEY + ["value"]].merge(after[KEY + ["value"]], on=KEY, how="outer",
                                           suffixes=("_before", "_after"))
    b, a = merged["value_before"], merged["value_after"]
    differs = (b.isna() != a.isna()) | (b.notna() & a.notna() & (b != a))
    out = merged[differs].sort_values(KEY).reset_index(drop=True)
    for column in ("value_before", "value_after"):
        out[column] = out[column].astype("Int64")
    return out


def _years(row) -> set[int] | None:
    start, end = row.get("coverage_start"), row.get("coverage_end")
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return None
    return set(range(pd.Timestamp(start).year, pd.Timestamp(end).year + 1))


def _event(before: dict | None, after: dict | None) -> str | None:
    """What happened to one path between two builds, if it can change a figure."""
    was = before is not None and before["status"] in COUNTED
    now = after is not None and after["status"] in COUNTED
    if was and now and before["sha256"] != after["sha256"]:
        return "corrected"
    if now and not was:
        return "new" if before is None or before["status"] in ("removed", "ignored") else "used_again"
    if was and not now:
        if after is None or after["status"] == "removed":
            return "removed"
        return {"superseded": "superseded", "erased": "erased"}.get(after["status"], "rejected")
    return None


def file_events(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """agency, path, event, years (the years its old or new period covers; None when unknown)."""
    old = {(r["agency"], r["path"]): r for r in before.to_dict("records")}
    new = {(r["agency"], r["path"]): r for r in after.to_dict("records")}
    rows = []
    for key in sorted(set(old) | set(new)):
        event = _event(old.get(key), new.get(key))
        if event is None:
            continue
        spans = [_years(r) for r in (old.get(key), new.get(key)) if r is not None]
        years = None if any(s is None for s in spans) else set().union(*spans)
        rows.append({"agency": key[0], "path": key[1], "event": event, "years": years})
    return pd.DataFrame(rows, columns=["agency", "path", "event", "years"])


def _phrase(events: list[dict], lang: str) -> str:
    if not events:
        return render("change_no_file", lang)
    return "; ".join(render(f"file_{e['event']}", lang, path=e["path"]) for e in events)


def change_report(before: pd.DataFrame, after: pd.DataFrame, files_before: pd.DataFrame,
                  files_after: pd.DataFrame) -> pd.DataFrame:
    """The changed figures with the files that caused each (see the module's docstring) and the
    message in Bahasa Indonesia and English."""
    changed = changed_figures(before, after)
    events = file_events(files_before, files_after)
    by_agency = {a: g.to_dict("records") for a, g in events.groupby("agency")} if len(events) else {}
    files, messages, messages_en = [], [], []
    for row in changed.to_dict("records"):
        mine = by_agency.get(row["agency"], [])
        touching = [e for e in mine if e["years"] is None or row["year"] in e["years"]] or mine
        files.append([render(f"file_{e['event']}", "en", path=e["path"]).removeprefix("file ") for e in touching])
        for lang, out in (("id", messages), ("en", messages_en)):
            none = render("change_none", lang)
            out.append(render(f"change_{row['measure']}", lang, year=row["year"], category=row["category"],
                              before=none if pd.isna(row["value_before"]) else int(row["value_before"]),
                              after=none if pd.isna(row["value_after"]) else int(row["value_after"]),
                              files=_phrase(touching, lang)))
    return changed.assign(files=files, message=messages, message_en=messages_en)


def record_changes(con: duckdb.DuckDBPyConnection, run_id: str, now: dt.datetime | None = None) -> pd.DataFrame:
    """Compare the marts just built with the last build's figures, add the change report to
    meta.change_reports and keep this build's figures and files for the next. The first build
    (nothing kept yet) reports nothing. Returns the report's rows."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    before = query_df(con, "SELECT * FROM meta.mart_figures")
    files_before = query_df(con, "SELECT * FROM meta.file_states")
    after, files_after = current_figures(con), current_files(con)
    first = before.empty and files_before.empty
    report = pd.DataFrame() if first else change_report(before, after, files_before, files_after)
    with transaction(con):
        if len(report):
            insert_frame(con, "meta.change_reports", report.assign(run_id=run_id, built_at=now))
        con.execute("DELETE FROM meta.mart_figures")
        con.execute("DELETE FROM meta.file_states")
        insert_frame(con, "meta.mart_figures", after.assign(run_id=run_id))
        insert_frame(con, "meta.file_states", files_after.assign(run_id=run_id))
    return report


def last_build(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run id of the last mart build (its figures are kept in meta.mart_figures)."""
    found = con.execute("SELECT any_value(run_id) FROM meta.mart_figures").fetchall()
    return found[0][0] if found else None


def reports_since(con: duckdb.DuckDBPyConnection, since: dt.datetime | None = None, run_id: str | None = None,
                  agency: str | None = None) -> pd.DataFrame:
    """Rows of meta.change_reports built after `since` (or from the build of `run_id` on)."""
    where, params = ["TRUE"], []
    if run_id is not None:
        where.append("built_at >= (SELECT min(built_at) FROM meta.change_reports WHERE run_id = ?)")
        params.append(run_id)
    if since is not None:
        where.append("built_at > ?")
        params.append(since)
    if agency is not None:
        where.append("agency = ?")
        params.append(agency)
    return query_df(con, f"SELECT * FROM meta.change_reports WHERE {' AND '.join(where)} "
                         "ORDER BY built_at, agency, year, measure, category", params)
