"""An analyst's review of data-quality flags (`ppa dq list`, `ppa dq review`).

Reviews live in meta.dq_reviews, which no run rebuilds: a flag keeps its review across
every later run (its id is stable: agency, period and check), and marts.dq_flags shows it.
Writes go through the warehouse writer lock, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import getpass
from pathlib import Path

import pandas as pd

from pipeline.marts.quality import REVIEW_STATUSES
from pipeline.warehouse.db import connect, query_df, transaction


class ReviewError(ValueError):
    """A review that cannot be recorded: an unknown flag or status, or an explanation without a note."""


def list_flags(db_path: Path, agency: str | None = None, include_reviewed: bool = False) -> pd.DataFrame:
    """The flags of the last mart build, open ones only unless include_reviewed."""
    where = ["TRUE"]
    params: list = []
    if agency:
        where.append("agency = ?")
        params.append(agency)
    if not include_reviewed:
        where.append("status = 'open'")
    with connect(db_path, write=False) as con:
        return query_df(con, f'SELECT flag_id, severity, "check", message, status, note FROM marts.dq_flags '
                             f"WHERE {' AND '.join(where)} ORDER BY agency, year, month NULLS FIRST, \"check\"",
                        params)


def review(db_path: Path, flag_id: str, status: str, note: str | None, by: str | None = None,
           now: dt.datetime | None = None) -> None:
    """Record a review of one flag; it replaces an earlier review of the same flag."""
    if status not in REVIEW_STATUSES:
        raise ReviewError(f"status must be one of {', '.join(REVIEW_STATUSES)}, not {status!r}")
    if status == "explained" and not (note or "").strip():
        raise ReviewError("an explained flag needs a --note saying why the value is right")
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with connect(db_path) as con:
        known = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' "
                            "AND table_name = 'dq_flags'").fetchall()[0][0]
        if not known or not con.execute("SELECT count(*) FROM marts.dq_flags WHERE flag_id = ?",
                                        [flag_id]).fetchall()[0][0]:
            raise ReviewError(f"no data-quality flag {flag_id!r}: see `ppa dq list`")
        with transaction(con):
            con.execute("DELETE FROM meta.dq_reviews WHERE flag_id = ?", [flag_id])
            con.execute("INSERT INTO meta.dq_reviews VALUES (?, ?, ?, ?, ?)",
                        [flag_id, status, note, by or _user(), now])
            con.execute("UPDATE marts.dq_flags SET status = ?, note = ? WHERE flag_id = ?", [status, note, flag_id])


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        return None
