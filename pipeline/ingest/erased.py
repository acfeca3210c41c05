"""What erasures (meta.erasures, see pipeline/erasure.py) leave out of every run: files by their
sha256 (ledger status erased: not read, not archived) and cases by their keyed hash (their rows
left out of every file as it is read; rows_erased in the ledger)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from pipeline.privacy import case_key


@dataclass(frozen=True)
class Erased:
    """What earlier erasures left out of every run."""

    files: frozenset[str] = frozenset()  # sha256 of erased files
    cases: frozenset[str] = frozenset()  # case keys of erased cases

    def case_rows(self, raw: pd.DataFrame, agency: str) -> pd.Series:
        """Which raw rows (as read, case ids as written) belong to an erased case."""
        if not self.cases or not len(raw):
            return pd.Series(False, index=raw.index)
        ids = raw["case_id"].map(lambda s: s.strip() if isinstance(s, str) else None)
        keys = {i: case_key(agency, i) for i in ids.dropna().unique()}
        return ids.map(lambda i: keys.get(i) in self.cases if i else False).astype(bool)


def erased(con: duckdb.DuckDBPyConnection) -> Erased:
    rows = con.execute("SELECT kind, sha256, case_key FROM meta.erasures").fetchall()
    return Erased(frozenset(s for k, s, _ in rows if k == "file"), frozenset(c for k, _, c in rows if k == "case"))
