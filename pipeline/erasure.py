"""Erasure on request (UU 27/2022 PDP, the right to erasure): `ppa erase --file SHA` and
`ppa erase --case AGENCY CASE_ID`, as plain functions (the CLI only calls them).

An erasure removes, at once, in one warehouse transaction:
- a file (by its content's sha256): its rows from every slice table (raw, staged, rejected,
  superseded, warnings, sheets), its archived copy and its feedback workbook and receipt; its
  ledger line stays, with status `erased`;
- a case (agency and case id): its rows from the slice tables, and the feedback workbooks
  and receipts of the files that held it (the next run writes them again, the case's row
  shown as "[dihapus]"). The archived copies of those files are removed too: the archive
  keeps an agency's files whole, and the case is in them.
The agencies concerned are read again by the next run (their load state is dropped), which
rebuilds the marts, the public tables, the analytics copies and the feedback without what
was erased; `ppa erase` runs it.

Every erasure is recorded in meta.erasures, which holds no personal value (a file by its
hash, a case by its keyed hash), and every later run leaves it out: a file with the same
bytes gets the ledger status `erased` (not read, not archived), a case's rows are left out of
every file (`rows_erased` in the ledger). The operator sees both in `ppa status`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.ingest import archive
from pipeline.ingest.dropfolder import FEEDBACK_DIR
from pipeline.messages import render
from pipeline.privacy import case_key
from pipeline.warehouse.db import query_df, transaction

# The slice tables with a row per data row, each with its file's sha256 and the case id.
_ROW_TABLES = ("raw.case_rows", "staging.case_victims", "staging.rejected_rows", "staging.superseded_rows")


class EraseError(ValueError):
    """An erasure that cannot be done as asked (nothing matches, or more than one file)."""


@dataclass
class Erasure:
    """What one erasure removed (counts and hashes; never a value of the file)."""

    kind: str
    agencies: list[str]
    sha256: str | None = None
    case_key: str | None = None
    rows_removed: int = 0
    archive_files: list[str] = field(default_factory=list)
    feedback_files: list[str] = field(default_factory=list)
    in_drop_folder: list[str] = field(default_factory=list)  # ledger paths still holding what was erased


def _full_sha(con: duckdb.DuckDBPyConnection, archive_dir: Path, prefix: str) -> str:
    prefix = prefix.strip().lower()
    if len(prefix) < 6 or any(c not in "0123456789abcdef" for c in prefix):
        raise EraseError("give at least 6 hexadecimal characters of the file's sha256")
    known = {r[0] for r in con.execute("SELECT DISTINCT sha256 FROM meta.ingest_log WHERE starts_with(sha256, ?)",
                                       [prefix]).fetchall()}
    known |= {p.name.split(".")[0] for p in archive.find(archive_dir, prefix)}
    if not known:
        raise EraseError(f"no file with sha256 {prefix} in the ledger or the archive")
    if len(known) > 1:
        raise EraseError(f"{len(known)} files have a sha256 starting with {prefix}: give more characters")
    return known.pop()


def remove_feedback(con: duckdb.DuckDBPyConnection, raw_dir: Path, agency: str, paths: set[str],
                    receipts: bool = True) -> list[str]:
    """The feedback workbooks (and receipts) of the ledger paths, named as the feedback names them."""
    from pipeline.feedback.files import FEEDBACK_SUFFIX, RECEIPT_SUFFIX
    from pipeline.names import output_stems
    from pipeline.safefs import safe_dir

    folder_path = raw_dir / agency / FEEDBACK_DIR
    if not paths or not folder_path.is_dir():
        return []
    every = [r[0] for r in con.execute("SELECT path FROM meta.ingest_log WHERE agency = ? ORDER BY path",
                                       [agency]).fetchall()]
    stems = output_stems(every)
    removed = []
    with safe_dir(folder_path, raw_dir, create=False) as folder:
        for path in sorted(paths):
            for name in (stems[path] + FEEDBACK_SUFFIX, *([stems[path] + RECEIPT_SUFFIX] if receipts else [])):
                if folder.kind(name) == "file":
                    folder.remove(name)
                    removed.append(f"{agency}/{FEEDBACK_DIR}/{name}")
    return removed


def _record(con: duckdb.DuckDBPyConnection, done: Erasure) -> None:
    con.execute("INSERT INTO meta.erasures (erasure_id, kind, agency, sha256, case_key, rows_removed, "
                "archive_files_removed, feedback_files_removed, erased_by, erased_at) VALUES (?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?)",
                [secrets.token_hex(8), done.kind, ",".join(done.agencies), done.sha256, done.case_key,
                 done.rows_removed, len(done.archive_files), len(done.feedback_files), getpass.getuser(),
                 dt.datetime.now(dt.UTC).replace(tzinfo=None)])


def _delete(con: duckdb.DuckDBPyConnection, table: str, where: str, params: list) -> int:
    return con.execute(f"DELETE FROM {table} WHERE {where}", params).fetchone()[0]


def erase_file(con: duckdb.DuckDBPyConnection, sha_prefix: str, raw_dir: Path, archive_dir: Path) -> Erasure:
    """Erase one file's content everywhere (see the module's docstring); `con` holds the writer lock."""
    sha = _full_sha(con, archive_dir, sha_prefix)
    ledger = query_df(con, "SELECT agency, path FROM meta.ingest_log WHERE sha256 = ?", [sha])
    done = Erasure("file", sorted(set(ledger["agency"])), sha256=sha)
    with transaction(con):
        for agency, group in ledger.groupby("agency"):
            done.feedback_files += remove_feedback(con, raw_dir, agency, set(group["path"]))
            paths = list(group["path"])
            marks = ", ".join("?" * len(paths))
            done.rows_removed += _delete(con, "staging.cell_warnings", f"agency = ? AND _source_file IN ({marks})",
                                         [agency, *paths])
        for table in _ROW_TABLES:
            done.rows_removed += _delete(con, table, "_source_sha256 = ?", [sha])
        _delete(con, "meta.sheets", "sha256 = ?", [sha])
        con.execute("UPDATE meta.ingest_log SET status = 'erased', reason_code = 'file_erased', message = ?, "
                    "message_en = ?, data_rows = 0, rows_staged = 0, rows_rejected = 0, rows_superseded = 0, "
                    "rows_warned = 0, archived_as = NULL, sheets_read = [], sheets_skipped = [] WHERE sha256 = ?",
                    [render("file_erased"), render("file_erased", "en"), sha])
        _forget_loads(con, done.agencies)
        done.archive_files = archive.remove(archive_dir, sha)
        done.in_drop_folder = _still_dropped(raw_dir, ledger)
        _record(con, done)
    return done


def erase_case(con: duckdb.DuckDBPyConnection, agency: str, case_id: str, raw_dir: Path,
               archive_dir: Path) -> Erasure:
    """Erase one case of an agency everywhere (see the module's docstring); `con` holds the writer lock."""
    key = case_key(agency, case_id.strip())
    files = query_df(con, "SELECT DISTINCT _source_file AS path, _source_sha256 AS sha256 FROM raw.case_rows "
                          "WHERE agency = ? AND trim(case_id) = ?", [agency, case_id.strip()])
    if not len(files):
        raise EraseError(f"agency {agency} has no case {case_id!r} in the warehouse; nothing erased "
                         "(check the case id as the agency's register writes it)")
    done = Erasure("case", [agency], case_key=key)
    rows = query_df(con, "SELECT _source_file, _source_sheet, _source_row FROM raw.case_rows "
                         "WHERE agency = ? AND trim(case_id) = ?", [agency, case_id.strip()])
    with transaction(con):
        con.register("erased_rows", rows)
        try:
            done.rows_removed += con.execute(
                "DELETE FROM staging.cell_warnings w USING erased_rows e WHERE w.agency = ? AND w._source_file = "
                "e._source_file AND w._source_sheet = e._source_sheet AND w._source_row = e._source_row",
                [agency]).fetchone()[0]
        finally:
            con.unregister("erased_rows")
        for table in _ROW_TABLES:
            done.rows_removed += _delete(con, table, "agency = ? AND trim(case_id) = ?", [agency, case_id.strip()])
        done.feedback_files = remove_feedback(con, raw_dir, agency, set(files["path"]))
        for sha in set(files["sha256"].dropna()):  # the next run reads these files again, leaving the case out
            _delete(con, "meta.sheets", "sha256 = ?", [sha])
        _forget_loads(con, [agency])
        for sha in sorted(set(files["sha256"].dropna())):
            done.archive_files += archive.remove(archive_dir, sha)
        done.in_drop_folder = _still_dropped(raw_dir, files.assign(agency=agency))
        _record(con, done)
    return done


def _forget_loads(con: duckdb.DuckDBPyConnection, agencies: list[str]) -> None:
    """The next run reads these agencies again (their slices are no longer what their files give)."""
    if agencies:
        con.execute(f"DELETE FROM meta.agency_loads WHERE agency IN ({', '.join('?' * len(agencies))})", agencies)


def _still_dropped(raw_dir: Path, ledger: pd.DataFrame) -> list[str]:
    """Ledger paths whose file is still in the drop folder (the agency still sends it)."""
    from pipeline.names import unescape

    return sorted(p for p in ledger["path"] if (raw_dir / unescape(p)).exists())
