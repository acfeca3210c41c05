"""Sign-off of a period by the head of an agency (ppa approve, ppa approvals).

An approval records who approved an agency's year (or month), when, and the exact rows of
every published mart for that period, with their SHA-256 (meta.approvals; a new approval of
the same period is a new row, the latest counts). Whenever the marts' rows of an approved
period differ from the approved ones, the period has a pending revision: what changed since
is in the change reports, and the public tables keep publishing the approved rows until the
period is approved again.

What is published for a period (`approval_status` in every public table):
- approved: the figures are the ones approved;
- revision_pending: a year approved, whose figures changed since: the approved rows are
  published. The year-on-year comparison between that year and the years beside it is
  withheld (null: the previous year's count, the changes, the same-months sums and the test),
  since it would mix approved and newer figures;
- provisional: never approved. A month approved whose figures changed since is published as
  provisional too, with the current figures: its year's totals must add up to its months.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from pipeline.marts.changes import last_build
from pipeline.warehouse.db import connect, query_df, transaction

APPROVED, PENDING, PROVISIONAL = "approved", "revision_pending", "provisional"
# yoy_by_region columns that compare a year with the one before it
COMPARISON = ("victims_prev_year", "change_abs", "change_pct", "cases_prev_year", "cases_change_abs",
              "cases_change_pct", "victims_same_months", "victims_same_months_prev_year", "change_pct_same_months",
              "change_p_value", "change_significant")
WORDS = {APPROVED: ("disetujui", "approved"), PENDING: ("revisi tertunda", "revision pending"),
         PROVISIONAL: ("sementara", "provisional")}


class ApprovalError(ValueError):
    """An approval that cannot be recorded (no marts yet, no figures for the period, a bad month)."""


@dataclass(frozen=True)
class Approval:
    approval_id: str
    agency: str
    year: int
    month: int | None
    approved_by: str
    approved_at: dt.datetime
    content_sha256: str
    rows: int


def _plain(value: object) -> object:
    """A value as JSON keeps it: numbers, text, booleans, None (NaN and NA too), dates as ISO text."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()
    return value


def period_rows(marts: dict[str, pd.DataFrame], agency: str, year: int,
                month: int | None = None) -> dict[str, list[dict]]:
    """The period's rows of every published mart, as JSON values, in the mart's order. A month's
    rows are those of the marts with a month column."""
    out = {}
    for name in sorted(marts):
        frame = marts[name]
        if month is not None and "month" not in frame.columns:
            continue
        mask = (frame["agency"] == agency) & (frame["year"] == year)
        if month is not None:
            mask &= frame["month"] == month
        part = frame[mask]
        out[name] = [{c: _plain(v) for c, v in zip(part.columns, r)} for r in part.itertuples(index=False)]
    return out


def content_hash(rows: dict[str, list[dict]]) -> str:
    """SHA-256 of the rows, whatever their order."""
    text = {name: sorted(json.dumps(r, sort_keys=True) for r in found) for name, found in rows.items()}
    return hashlib.sha256(json.dumps(text, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def read_marts(con: duckdb.DuckDBPyConnection, agencies: list[str]) -> dict[str, pd.DataFrame]:
    """The published marts' rows of `agencies`, as published (no file names)."""
    from pipeline.publish.public import read_tables

    return {name: frame.reset_index(drop=True) for name, frame in read_tables(con, "marts", agencies).items()}


def approve(db_path: Path, agency: str, year: int, month: int | None, by: str,
            now: dt.datetime | None = None, run_id: str | None = None) -> Approval:
    """Record an approval of the period's current figures."""
    if month is not None and not 1 <= month <= 12:
        raise ApprovalError(f"month must be 1-12, not {month}")
    if not by.strip():
        raise ApprovalError("--by needs the name of who approves")
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with connect(db_path) as con:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts' "
                           "AND table_name = 'victims_by_region_year'").fetchall()[0][0]:
            raise ApprovalError("no marts yet: run `ppa run` first")
        rows = period_rows(read_marts(con, [agency]), agency, year, month)
        if not rows.get("victims_by_region_year") and not rows.get("victims_by_month"):
            raise ApprovalError(f"{agency} has no figures for {period_text(year, month)}: nothing to approve")
        run_id = run_id or last_build(con)
        approval = Approval(f"{agency}:{period_text(year, month)}@{now:%Y%m%dT%H%M%S}", agency, year, month,
                            by.strip(), now, content_hash(rows), sum(len(r) for r in rows.values()))
        with transaction(con):
            con.execute("INSERT INTO meta.approvals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [approval.approval_id, agency, year, month, approval.approved_by, now,
                         approval.content_sha256, json.dumps(rows, sort_keys=True), run_id])
    return approval


def period_text(year: int, month: object = None) -> str:
    """'2024' for a year, '2024-03' for a month (a missing month, None or NaN, is the year)."""
    return f"{year}" if month is None or pd.isna(month) else f"{year}-{int(month):02d}"


def latest(con: duckdb.DuckDBPyConnection, agencies: list[str] | None = None) -> pd.DataFrame:
    """The latest approval of every approved period (of `agencies`)."""
    where, params = "", []
    if agencies is not None:
        where, params = "WHERE agency IN (SELECT unnest(?::VARCHAR[]))", [agencies]
    return query_df(con, f"""
        SELECT * FROM meta.approvals {where}
        QUALIFY row_number() OVER (PARTITION BY agency, year, month ORDER BY approved_at DESC) = 1
        ORDER BY agency, year, month NULLS FIRST""", params)


def states(con: duckdb.DuckDBPyConnection, agency: str | None = None) -> pd.DataFrame:
    """Every approved period with its state now: approved (the marts' rows are those approved) or
    revision_pending, the approved and current victims, and the changes reported since."""
    approvals = latest(con, [agency] if agency else None)
    marts = read_marts(con, sorted(set(approvals["agency"]))) if len(approvals) else {}
    rows = []
    for a in approvals.to_dict("records"):
        month = None if pd.isna(a["month"]) else int(a["month"])
        now = period_rows(marts, a["agency"], int(a["year"]), month)
        approved = json.loads(a["figures"])
        changes = con.execute("SELECT count(*) FROM meta.change_reports WHERE agency = ? AND year = ? "
                              "AND built_at > ?", [a["agency"], int(a["year"]), a["approved_at"]]).fetchall()[0][0]
        rows.append({"agency": a["agency"], "year": int(a["year"]), "month": month,
                     "state": APPROVED if content_hash(now) == a["content_sha256"] else PENDING,
                     "approved_by": a["approved_by"], "approved_at": a["approved_at"],
                     "victims_approved": _victims(approved, month), "victims_now": _victims(now, month),
                     "changes_since": changes, "approval_id": a["approval_id"]})
    return pd.DataFrame(rows, columns=["agency", "year", "month", "state", "approved_by", "approved_at",
                                       "victims_approved", "victims_now", "changes_since", "approval_id"])


def _victims(rows: dict[str, list[dict]], month: int | None) -> int | None:
    found = rows.get("victims_by_month" if month is not None else "victims_by_region_year") or []
    return found[0].get("victims") if found else None


def with_approvals(marts: dict[str, pd.DataFrame], approvals: pd.DataFrame,
                   pending: set[str] | None = None) -> dict[str, pd.DataFrame]:
    """The marts as published: every row labelled (approval_status, approval_id), the approved rows
    of a year with a pending revision in place of the current ones (at their place: the index
    keeps the rows' order), and the year-on-year comparison across that year's edges withheld
    (see the module's docstring). `pending`: the approval ids with a pending revision, when
    known (`states`; for frames that are not every published mart), else found by hashing."""
    out = {name: frame.copy() for name, frame in marts.items()}
    for frame in out.values():
        frame["approval_status"] = pd.Series(PROVISIONAL, index=frame.index, dtype="string")
        frame["approval_id"] = pd.Series(None, index=frame.index, dtype="string")
    withheld = []  # (agency, year) published with approved rows: their year-on-year edges
    for a in approvals[approvals["month"].notna()].to_dict("records"):  # a year's approval, below, wins
        _label_month(out, a, pending)
    for a in approvals[approvals["month"].isna()].to_dict("records"):
        agency, year = a["agency"], int(a["year"])
        approved = json.loads(a["figures"])
        same = _unchanged(out, a, pending, names=approved)
        for name, frame in out.items():
            mask = (frame["agency"] == agency) & (frame["year"] == year)
            if not same and name in approved:
                frame = _replaced(frame, mask, approved[name])
                mask = (frame["agency"] == agency) & (frame["year"] == year)
            frame.loc[mask, "approval_status"] = APPROVED if same else PENDING
            frame.loc[mask, "approval_id"] = a["approval_id"]
            out[name] = frame
        if not same:
            withheld.append((agency, year))
    if withheld and "yoy_by_region" in out:
        yoy = out["yoy_by_region"]
        edges = {*withheld, *((a, y + 1) for a, y in withheld)}
        hit = pd.Series([(a, y) in edges for a, y in zip(yoy["agency"], yoy["year"])], index=yoy.index)
        for column in COMPARISON:
            if column in yoy:
                yoy[column] = yoy[column].astype(object).where(~hit, None)
    return out


LABELS = ("approval_status", "approval_id")


def _replaced(frame: pd.DataFrame, mask: pd.Series, rows: list[dict]) -> pd.DataFrame:
    """`frame` with the rows of `mask` replaced by `rows` (approved, from JSON), at the place of
    the first one (or at the end), in the frame's column types."""
    columns = [c for c in frame.columns if c not in LABELS]
    new = _typed(pd.DataFrame(rows, columns=columns), frame)
    gone = frame.index[mask]
    start = float(gone.min()) if len(gone) else float(frame.index.max()) + 1 if len(frame) else 0.0
    new.index = start + np.arange(len(new)) / (len(new) + 1)
    kept = frame[~mask]
    kept.index = kept.index.astype(float)
    return pd.concat([kept, new]).sort_index()


def _unchanged(out: dict[str, pd.DataFrame], a: dict, pending: set[str] | None, month: int | None = None,
               names: Collection[str] | None = None) -> bool:
    """Whether the approved period's rows are still those approved: from `pending` when known,
    else by hashing the period's rows of `out` (of the marts `names` only, when given)."""
    if pending is not None:
        return a["approval_id"] not in pending
    bare = {n: f.drop(columns=list(LABELS)) for n, f in out.items() if names is None or n in names}
    return content_hash(period_rows(bare, a["agency"], int(a["year"]), month)) == a["content_sha256"]


def _label_month(out: dict[str, pd.DataFrame], a: dict, pending: set[str] | None) -> None:
    agency, year, month = a["agency"], int(a["year"]), int(a["month"])
    if not _unchanged(out, a, pending, month=month):
        return  # published as provisional, with the current figures (see the module's docstring)
    for frame in out.values():
        if "month" in frame.columns:
            mask = (frame["agency"] == agency) & (frame["year"] == year) & (frame["month"] == month)
            frame.loc[mask, "approval_status"] = APPROVED
            frame.loc[mask, "approval_id"] = a["approval_id"]


def _typed(rows: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """Approved rows (from JSON) in the current frame's column types."""
    for column in rows.columns:
        kind, sample = like[column].dtype, like[column].dropna()
        if pd.api.types.is_datetime64_any_dtype(kind):
            rows[column] = pd.to_datetime(rows[column])
        elif len(sample) and isinstance(sample.iloc[0], dt.date):
            rows[column] = pd.to_datetime(rows[column]).dt.date
        elif pd.api.types.is_bool_dtype(kind):
            rows[column] = rows[column].astype("boolean")
        elif pd.api.types.is_integer_dtype(kind):
            rows[column] = rows[column].astype("Int64")
        elif pd.api.types.is_float_dtype(kind):
            rows[column] = rows[column].astype(float)
    return rows


# The report's frames (publish/views.py read_analytics) that are marts, by mart
REPORT_FRAMES = {"region_year": "victims_by_region_year", "forms": "victims_by_form",
                 "completeness": "reporting_completeness", "yoy": "yoy_by_region"}


@dataclass
class SignOff:
    """What the report says about approvals and releases, read from the warehouse."""
    latest: pd.DataFrame  # the latest approval of every approved period
    states: pd.DataFrame  # states()
    release: tuple[str, dt.datetime] | None  # the latest release: version, when

    def apply(self, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """The report's frames with the approved rows of years with a pending revision (with_approvals)."""
        pending = set(self.states.loc[self.states["state"] == PENDING, "approval_id"])
        marts = {REPORT_FRAMES[k]: f for k, f in frames.items() if k in REPORT_FRAMES}
        done = {m: f.reset_index(drop=True) for m, f in with_approvals(marts, self.latest, pending).items()}
        if "yoy" in frames and "region_year" in frames:  # the report's yoy rows carry their rate and flags
            rates = ["victims_per_100k", "victims_per_100k_ci_low", "victims_per_100k_ci_high"]
            yoy = done["yoy_by_region"].drop(columns=[*rates, "open_flags"])
            yoy = yoy.merge(done["victims_by_region_year"][["agency", "year", *rates]], on=["agency", "year"],
                            how="left").merge(frames["yoy"][["agency", "year", "open_flags"]], on=["agency", "year"],
                                              how="left")
            done["yoy_by_region"] = yoy.assign(open_flags=yoy["open_flags"].fillna(0).astype(int))
        return {**frames, **{k: done[m] for k, m in REPORT_FRAMES.items() if m in done}}

    def lines(self) -> list[str]:
        """Sentences in Bahasa Indonesia for the report's header."""
        out = [f"Rilis terakhir: {self.release[0]} ({self.release[1]:%Y-%m-%d}). Laporan ini memakai data terkini, "
               "bukan isi rilis itu." if self.release else "Belum ada rilis (ppa release)."]
        words = {APPROVED: "Disetujui", PENDING: "Revisi tertunda (angka yang disetujui ditampilkan)"}
        for state, label in words.items():
            found = self.states[self.states["state"] == state]
            if len(found):
                out.append(f"{label}: " + "; ".join(
                    f"{r.agency} {period_text(r.year, r.month)}"
                    f" oleh {r.approved_by}, {r.approved_at:%Y-%m-%d}" for r in found.itertuples()) + ".")
        out.append("Angka periode lain bersifat sementara (belum disetujui).")
        return out


def sign_off(db_path: Path) -> SignOff | None:
    """Approvals and the latest release, or None without a warehouse (or one made before them)."""
    if not db_path.exists():
        return None
    with connect(db_path, write=False) as con:
        have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'meta'")
                .fetchall()}
        if not {"approvals", "releases", "change_reports"} <= have:
            return None
        release = con.execute("SELECT version, released_at FROM meta.releases ORDER BY released_at DESC "
                              "LIMIT 1").fetchall()
        return SignOff(latest(con), states(con), release[0] if release else None)
