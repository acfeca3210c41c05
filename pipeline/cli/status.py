"""`ppa status`: the ledger in short, without starting Dagster.

A summary per agency, then every file with its status, row counts and the reason in full
(for a file with rejected rows, its most frequent rejection reasons), what the raw folder holds
outside the agencies' folders, and the latest runs. It reads the warehouse read-only and the
embedded instance's run table with sqlite3, so it answers in a fraction of a second;
`--runs` asks Dagster itself for the latest runs and why they failed (any instance).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from pipeline.cli import common
from pipeline.config import settings
from pipeline.names import shown

COUNTS = ("data_rows", "rows_staged", "rows_rejected", "rows_superseded")
TOP_REASONS = 3
LEDGER_SQL = f"""
    SELECT agency, path, status, reason_code, message, message_en, error, {', '.join(COUNTS)}, rows_erased, last_seen
    FROM meta.ingest_log WHERE $agency IS NULL OR agency = $agency ORDER BY agency, path
    """
# the most frequent rules per file, with the header they were found under
REASONS_SQL = """
    WITH broken AS (
        SELECT _source_file AS path,
               unnest(from_json(details, '[{"rule": "VARCHAR", "header": "VARCHAR"}]')) AS d
        FROM staging.rejected_rows WHERE $agency IS NULL OR agency = $agency),
    counted AS (SELECT path, d.rule AS rule, d.header AS header, count(*) AS rows
                FROM broken GROUP BY path, d.rule, d.header)
    SELECT * FROM counted
    QUALIFY row_number() OVER (PARTITION BY path ORDER BY rows DESC, rule) <= $top
    ORDER BY path, rows DESC, rule
    """


def read_status(agency: str | None) -> dict:
    """Everything `ppa status` shows, as plain data (what `--json` prints)."""
    from pipeline.messages import render

    with common.read_only(common.warehouse()) as con:
        columns = ["agency", "path", "status", "reason_code", "message", "message_en", "error", *COUNTS, "rows_erased",
                   "last_seen"]
        files = [dict(zip(columns, row)) for row in con.execute(LEDGER_SQL, {"agency": agency}).fetchall()]
        reasons: dict[str, list[dict]] = {}
        for path, rule, header, rows in con.execute(REASONS_SQL, {"agency": agency, "top": TOP_REASONS}).fetchall():
            reasons.setdefault(path, []).append({
                "rule": rule, "rows": rows, "header": header,
                "message": render(rule, header=header, value="…", other="…"),
                "message_en": render(rule, "en", header=header, value="…", other="…")})
    agencies: dict[str, dict] = {}
    for f in files:
        f["top_reasons"] = reasons.get(f["path"], [])
        a = agencies.setdefault(f["agency"], {"agency": f["agency"], "files": 0, "files_loaded": 0,
                                              "files_rejected": 0, **dict.fromkeys(COUNTS, 0), "rows_erased": 0,
                                              "last_seen": None})
        a["files"] += 1
        a["files_loaded"] += f["status"] == "loaded"
        a["files_rejected"] += f["status"] == "rejected"
        for c in (*COUNTS, "rows_erased"):
            a[c] += f[c] or 0
        if f["last_seen"] is not None and (a["last_seen"] is None or f["last_seen"] > a["last_seen"]):
            a["last_seen"] = f["last_seen"]
    return {"agencies": list(agencies.values()), "files": files, "not_read": not_read() if agency is None else [],
            "runs": recent_runs_quick()}


def not_read() -> list[str]:
    """What the raw folder holds outside the registered agencies' folders (never read)."""
    from pipeline.ingest.dropfolder import stray_items
    from pipeline.messages import render
    from pipeline.registry import agency_codes

    return [f"{render(code, detail=shown(name))} / {render(code, 'en', detail=shown(name))}"
            for name, code in stray_items(settings().raw_dir, agency_codes())]


# ---------------------------------------------------------------- runs

def _run_storage() -> Path | None:
    """The embedded instance's run database, when the instance keeps its runs there."""
    import os

    import yaml

    from pipeline.config import default_dagster_home

    home = Path(os.environ.get("DAGSTER_HOME") or default_dagster_home())
    config = home / "dagster.yaml"
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {} if config.exists() else {}
    except (OSError, yaml.YAMLError):
        return None
    if "storage" in data or "run_storage" in data:  # PostgreSQL (server mode) or another storage
        return None
    return home / "history" / "runs.db"


def recent_runs_quick(limit: int = 5) -> list[dict] | None:
    """The latest runs from the embedded instance's run table (read-only, without Dagster), or
    None when the instance keeps its runs elsewhere."""
    path = _run_storage()
    if path is None:
        return None
    if not path.exists():
        return []
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=2)
        try:
            rows = con.execute(
                "SELECT r.run_id, r.status, r.create_timestamp, "
                "(SELECT value FROM run_tags t WHERE t.run_id = r.run_id AND t.key = 'ppa/trigger'), "
                "(SELECT value FROM run_tags t WHERE t.run_id = r.run_id AND t.key = 'dagster/schedule_name') "
                "FROM runs r ORDER BY r.id DESC LIMIT ?", [limit]).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return [{"run_id": run_id, "status": status, "created": created, "trigger": trigger or schedule or "manual"}
            for run_id, status, created, trigger, schedule in rows]


def _runs_lines(runs: list[dict] | None) -> list[str]:
    if runs is None:
        return ["Run terakhir / recent runs: `ppa status --runs`"]
    if not runs:
        return ["Belum ada run tercatat / no runs recorded yet."]
    lines = ["Run terakhir / recent runs:"]
    for run in runs:
        created = dt.datetime.fromisoformat(str(run["created"])) if run["created"] else None
        lines.append(f"  {common.local_time(created)}  {run['status']:<9} {run['trigger']:<12} {run['run_id'][:8]}")
    if any(run["status"] == "FAILURE" for run in runs):
        lines.append("  mengapa gagal / why a run failed: `ppa status --runs`")
    return lines


# ---------------------------------------------------------------- printing

def _reason(f: dict) -> str:
    text = f["message"] or ""
    if f["top_reasons"]:
        top = "; ".join(f"{r['rows']}× {r['message']}" for r in f["top_reasons"])
        more = " …" if sum(r["rows"] for r in f["top_reasons"]) < (f["rows_rejected"] or 0) else ""
        text = f"{text} {'' if not text else '— '}ditolak / rejected: {top}{more}".strip()
    return text


def print_summary(data: dict) -> None:
    common.say("Ringkasan per lembaga / summary per agency")
    rows = [[a["agency"], a["files"], a["files_loaded"], a["files_rejected"], *(a[c] for c in COUNTS)]
            for a in data["agencies"]]
    for line in common.table(["agency", "files", "loaded", "refused", "data rows", "staged", "rejected", "superseded"],
                             rows, numeric=set(range(1, 8)), indent=2):
        common.say(line)


def print_status(data: dict) -> None:
    from pipeline.registry import get_agency

    print_summary(data)
    for a in data["agencies"]:
        ag = get_agency(a["agency"])
        common.say()
        common.say(f"{a['agency']}: {ag.name}; dilihat / last seen {common.local_time(a['last_seen'], ag.timezone)}")
        rows = [[shown(f["path"]).split("/", 1)[-1], f["status"], *(f[c] for c in COUNTS), _reason(f)]
                for f in data["files"] if f["agency"] == a["agency"]]
        for line in common.table(["file", "status", "data", "staged", "rejected", "superseded", "why / alasan"],
                                 rows, numeric={2, 3, 4, 5}, wrap_last=True, indent=2):
            common.say(line)
        if a["rows_erased"]:
            common.say(f"  {a['rows_erased']} baris kasus yang dihapus tidak dimuat / rows of erased cases left out "
                       "(ppa erase)")
    common.say()
    if data["not_read"]:
        common.say("Tidak dibaca / not read:")
        for line in data["not_read"]:
            common.say(f"  {line}")
        common.say()
    for line in _runs_lines(data["runs"]):
        common.say(line)


def status(agency: str | None = None, as_json: bool = False, runs: bool = False) -> int:
    agency = common.agency(agency)
    if runs:
        from pipeline.cli.runs import recent_runs

        for line in recent_runs().splitlines():
            common.say(line)
        return 0
    data = read_status(agency)
    if agency is not None and not data["files"]:
        common.say(f"{agency}: belum ada file di buku besar / no file in the ledger yet", stderr=True)
    if as_json:
        print(json.dumps(data, default=str, ensure_ascii=False, indent=1))
        return 0
    print_status(data)
    return 0
