"""What the warehouse (or a dry run) says about each file of an agency, gathered for
feedback: the ledger row, the sheets, and each row's fate, per file; and the wording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from pipeline.ingest.ledger import file_status
from pipeline.messages import render
from pipeline.registry import Agency, get_agency

# ---------------------------------------------------------------- what one file gave

@dataclass
class FileFeedback:
    """Everything the feedback says about one file: its ledger row and its rows' fates.

    Frames use the warehouse's column names: `sheets` as meta.sheets, `rejected`
    as staging.rejected_rows, `warnings` as staging.cell_warnings, `staged` and
    `superseded` with at least _source_sheet and _source_row (+ superseded_by),
    `recap_rejected` as staging.rejected_recap_cells.
    """

    path: str  # as in the ledger, e.g. "kukar/register_2024.xlsx"
    status: str  # loaded / superseded / rejected / ignored / removed / erased
    reason_code: str | None = None
    message: str | None = None
    data_rows: int = 0
    rows_staged: int = 0
    rows_rejected: int = 0
    rows_superseded: int = 0
    rows_warned: int = 0
    superseded_by: list[str] = field(default_factory=list)
    supersedes: list[str] = field(default_factory=list)
    unknown_headers: list[str] = field(default_factory=list)
    personal_columns_dropped: list[str] = field(default_factory=list)
    first_seen: object = None  # naive UTC, as the ledger keeps it
    modified_at: object = None  # naive UTC
    size_bytes: int | None = None
    sha256: str | None = None
    archived_as: str | None = None
    sheets: pd.DataFrame = field(default_factory=pd.DataFrame)
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: pd.DataFrame = field(default_factory=pd.DataFrame)
    staged: pd.DataFrame = field(default_factory=pd.DataFrame)
    superseded: pd.DataFrame = field(default_factory=pd.DataFrame)
    erased_cases: tuple[str, ...] = ()  # keys of the agency's erased cases (meta.erasures): not copied
    recap_rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    recap_cells: int = 0  # count cells of its recap sheets: staged + rejected
    recap_cells_staged: int = 0
    recap_cells_rejected: int = 0
    dry_run: bool = False

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def duplicate_headers(self) -> list[str]:
        if self.sheets.empty or "duplicate_headers" not in self.sheets:
            return []
        return sorted({h for hs in self.sheets["duplicate_headers"] for h in _as_list(hs)})

    @property
    def has_problems(self) -> bool:
        """Worth a feedback workbook: something to fix (needs_action), or a file or rows replaced
        by a later file."""
        if self.status in ("ignored", "removed", "erased"):
            return False
        return self.needs_action or bool(self.status == "superseded" or self.rows_superseded or len(self.superseded))

    @property
    def needs_action(self) -> bool:
        """Something for the staff to fix, which makes a file "dengan catatan": a refused file,
        rejected rows or recap cells, unrecognised labels, headers not read. Replaced files or
        rows need nothing."""
        if self.status in ("ignored", "removed", "superseded", "erased"):
            return False
        return bool(self.status == "rejected" or self.rows_rejected or self.rows_warned or len(self.rejected)
                    or len(self.warnings) or self.recap_cells_rejected or len(self.recap_rejected)
                    or self.unknown_headers or self.duplicate_headers)


def _as_list(value: object) -> list:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value]


def _int(value: object) -> int:
    return 0 if value is None or pd.isna(value) else int(value)


def _str(value: object) -> str | None:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)




# Per frame: the query (agencies as {}), and whether the frame keeps its agency column.
_FRAME_QUERIES = {
    "ledger": ("SELECT * FROM meta.ingest_log WHERE agency IN ({}) ORDER BY agency, path", True),
    "sheets": ("SELECT * FROM meta.sheets WHERE agency IN ({}) ORDER BY agency, path, sheet_index", True),
    "rejected": ("SELECT agency, _source_file, _source_sheet, _source_row, case_id, rules, reasons, details "
                 "FROM staging.rejected_rows WHERE agency IN ({}) "
                 "ORDER BY agency, _source_file, _source_sheet, _source_row", False),
    "warnings": ('SELECT agency, _source_file, _source_sheet, _source_row, "column", header, value, code, message, '
                 "_source_cell "
                 "FROM staging.cell_warnings WHERE agency IN ({}) "
                 "ORDER BY ALL", False),
    "staged": ("SELECT agency, _source_file, _source_sheet, _source_row FROM staging.case_victims "
               "WHERE agency IN ({}) ORDER BY ALL", False),
    "superseded": ("SELECT agency, _source_file, _source_sheet, _source_row, superseded_by "
                   "FROM staging.superseded_rows WHERE agency IN ({}) ORDER BY ALL", False),
    "erased": ("SELECT agency, case_key FROM meta.erasures WHERE kind = 'case' AND agency IN ({}) "
               "ORDER BY case_key", False),
    "recap_rejected": ("SELECT agency, _source_file, _source_sheet, _source_row, _source_cell, rules, reasons "
                       "FROM staging.rejected_recap_cells WHERE agency IN ({}) "
                       "ORDER BY agency, _source_file, _source_sheet, _source_row, _source_cell", False),
}


def _split(frame: pd.DataFrame, column: str, keys: list[str], keep: bool = True) -> dict[str, pd.DataFrame]:
    """The frame's rows for each key of `column`, in the frame's order, each part indexed from 0
    (one pass over the frame instead of a filter per key). `keep=False` drops `column`."""
    positions = frame.groupby(column, sort=False).indices if len(frame) and column in frame else {}
    if not keep:
        frame = frame.drop(columns=column)
    return {k: (frame.take(positions[k]) if k in positions else frame.iloc[0:0]).reset_index(drop=True)
            for k in keys}


def _per_agency(frame: pd.DataFrame, agencies: list[str], keep_agency: bool = True) -> dict[str, pd.DataFrame]:
    """A frame of several agencies' rows, split by agency."""
    # DuckDB gives text as str or object depending on the values the query met: make a part's
    # columns the same whatever other agencies were read with it (object, None when missing)
    frame = frame.assign(**{c: frame[c].astype(object).where(frame[c].notna(), None)
                            for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)})
    return _split(frame, "agency", agencies, keep_agency)


def load_agencies_frames(con, agencies: list[str]) -> dict[str, dict[str, pd.DataFrame]]:
    """Agencies' ledgers, sheets, rejects, warnings and row fates from the warehouse: one query
    per table for all of them (a query per agency and table cost the national run 9 s)."""
    marks = ", ".join("?" * len(agencies))
    out: dict[str, dict[str, pd.DataFrame]] = {a: {} for a in agencies}
    for name, (sql, keep_agency) in _FRAME_QUERIES.items():
        parts = _per_agency(con.execute(sql.format(marks), agencies).df(), agencies, keep_agency)
        for agency, part in parts.items():
            out[agency][name] = part
    return out


def files_from_frames(frames: dict[str, pd.DataFrame]) -> list[FileFeedback]:
    """A FileFeedback per ledger row."""
    out = []
    paths = frames["ledger"]["path"].tolist()
    erased = tuple(frames["erased"]["case_key"]) if "erased" in frames else ()
    parts = {name: _split(frames.get(name, pd.DataFrame()), "path" if name == "sheets" else "_source_file", paths)
             for name in ("sheets", "rejected", "warnings", "staged", "superseded", "recap_rejected")}
    for row in frames["ledger"].to_dict("records"):
        path = row["path"]
        out.append(FileFeedback(
            path=path, status=row["status"], reason_code=_str(row.get("reason_code")),
            message=_str(row.get("message")), data_rows=_int(row.get("data_rows")),
            rows_staged=_int(row.get("rows_staged")), rows_rejected=_int(row.get("rows_rejected")),
            rows_superseded=_int(row.get("rows_superseded")), rows_warned=_int(row.get("rows_warned")),
            superseded_by=_as_list(row.get("superseded_by")), supersedes=_as_list(row.get("supersedes")),
            unknown_headers=_as_list(row.get("unknown_headers")),
            personal_columns_dropped=_as_list(row.get("personal_columns_dropped")),
            first_seen=row.get("first_seen"), modified_at=row.get("modified_at"),
            size_bytes=None if pd.isna(row.get("size_bytes")) else int(row["size_bytes"]),
            sha256=_str(row.get("sha256")), archived_as=_str(row.get("archived_as")),
            sheets=parts["sheets"][path], rejected=parts["rejected"][path], warnings=parts["warnings"][path],
            staged=parts["staged"][path], superseded=parts["superseded"][path], erased_cases=erased,
            recap_rejected=parts["recap_rejected"][path], recap_cells=_int(row.get("recap_cells")),
            recap_cells_staged=_int(row.get("recap_cells_staged")),
            recap_cells_rejected=_int(row.get("recap_cells_rejected")),
        ))
    return out


def feedback_from_dry_run(read, result) -> FileFeedback:
    """A FileFeedback from `ingest.read_file(...)` and `staging.stage_agency(...)` (with its
    recap cells staged, `result.recap`) of one file."""
    entry = read.entry
    rel = entry.rel
    staged, rejected, superseded, warnings = (_split(frame, "_source_file", [rel])[rel] for frame in (
        result.staged, result.rejected, result.superseded, result.warnings))
    recap_staged = len(result.recap.staged) if result.recap is not None else 0
    recap_rejected = result.recap.rejected if result.recap is not None else pd.DataFrame()
    status, code = file_status(entry, read, len(staged), len(superseded), (recap_staged, len(recap_rejected), 0))
    winners = sorted(set(superseded["superseded_by"])) if len(superseded) else []
    sheets = read.sheets
    registers = sheets[sheets["is_register"].astype(bool)] if len(sheets) else sheets
    return FileFeedback(
        path=rel, status=status, reason_code=code,
        message=render(code, detail=read.error_detail, other=", ".join(winners)) if code else None,
        data_rows=len(read.raw), rows_staged=len(staged), rows_rejected=len(rejected),
        rows_superseded=len(superseded),
        rows_warned=warnings[["_source_sheet", "_source_row"]].drop_duplicates().shape[0] if len(warnings) else 0,
        superseded_by=winners,
        unknown_headers=sorted({h for hs in registers.get("unknown_headers", []) for h in _as_list(hs)}),
        personal_columns_dropped=sorted({h for hs in registers.get("personal_headers", []) for h in _as_list(hs)}),
        modified_at=pd.Timestamp(int(entry.mtime), unit="s"), size_bytes=entry.size, sha256=entry.sha256,
        sheets=sheets, rejected=rejected, warnings=warnings, staged=staged, superseded=superseded,
        recap_rejected=recap_rejected, recap_cells=len(read.recap), recap_cells_staged=recap_staged,
        recap_cells_rejected=len(recap_rejected), dry_run=True,
    )


@dataclass
class FeedbackInput:
    """What the warehouse holds about one agency's files: all the feedback is made of."""

    agency: Agency
    frames: dict[str, pd.DataFrame]
    months: pd.DataFrame
    yoy: pd.DataFrame
    flags: pd.DataFrame = field(default_factory=pd.DataFrame)
    reconciliation: pd.DataFrame = field(default_factory=pd.DataFrame)  # marts.recap_reconciliation, differing
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)  # meta.change_reports, the latest build's


def gather_feedback(con, agency: Agency | str) -> FeedbackInput:
    """Read one agency's ledger, row fates and marts (`con`: an open DuckDB connection, only read)."""
    return gather_feedbacks(con, [agency])[0]


def gather_feedbacks(con, agencies: list[Agency | str]) -> list[FeedbackInput]:
    """gather_feedback for several agencies, with one query per table for all of them."""
    ags = [a if isinstance(a, Agency) else get_agency(a) for a in agencies]
    codes = [a.code for a in ags]
    frames, (months, yoy, flags, recon, changes) = load_agencies_frames(con, codes), _marts(con, codes)
    return [FeedbackInput(a, frames[a.code], months[a.code], yoy[a.code], flags[a.code], recon[a.code],
                          changes[a.code]) for a in ags]


# The marts an agency's summary page shows, each with its agencies as {}.
_MART_QUERIES = {
    "months": "SELECT agency, year, month, has_data, coverage_status, victims FROM marts.reporting_completeness "
              "WHERE agency IN ({}) ORDER BY agency, year, month",
    "yoy": "SELECT * FROM marts.yoy_by_region WHERE agency IN ({}) ORDER BY agency, year",
    "flags": 'SELECT agency, year, month, "check", severity, message, status, note FROM marts.dq_flags '
             'WHERE agency IN ({}) ORDER BY agency, year, month NULLS FIRST, "check"',
    "reconciliation": "SELECT agency, year, measure, recap_count, staged_count, difference, rows_rejected, "
                      "rows_superseded, rows_other_year FROM marts.recap_reconciliation "
                      "WHERE agency IN ({}) AND difference <> 0 ORDER BY agency, year, measure",
    # the changes of each agency's latest build that changed its figures
    "changes": "SELECT agency, built_at, year, message FROM meta.change_reports WHERE agency IN ({}) "
               "QUALIFY built_at = max(built_at) OVER (PARTITION BY agency) "
               "ORDER BY agency, year, measure, category",
}


def _marts(con, agencies: list[str]) -> tuple[dict[str, pd.DataFrame], ...]:
    """Each agency's months (coverage_status), year-on-year rows, data-quality flags and the years
    where a recap and the register differ (empty before the marts are built)."""
    import duckdb

    marks = ", ".join("?" * len(agencies))
    try:
        found = [con.execute(sql.format(marks), agencies).df() for sql in _MART_QUERIES.values()]
    except duckdb.CatalogException:  # marts not built yet
        empty = pd.DataFrame(columns=["year", "month", "has_data", "coverage_status", "victims"])
        return ({a: empty for a in agencies}, *({a: pd.DataFrame() for a in agencies} for _ in range(4)))
    months, yoy, flags, recon, changes = found
    return (_per_agency(months, agencies, keep_agency=False), _per_agency(yoy, agencies),
            _per_agency(flags, agencies, keep_agency=False), _per_agency(recon, agencies, keep_agency=False),
            _per_agency(changes, agencies, keep_agency=False))


