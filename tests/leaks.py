"""Searching outputs for personal values: a trie-shaped regex finds any of
thousands of values in one pass."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import duckdb


def trie_pattern(values: set[str]) -> re.Pattern:
    """One regex matching any of the values (case-insensitive), built from a character trie."""
    trie: dict = {}
    for value in values:
        node = trie
        for ch in value.lower():
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        end = "" in node
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if end else body

    return re.compile(build(trie), re.IGNORECASE)


def duckdb_texts(db: Path) -> list[str]:
    """Every distinct non-null value of every column of every table, as text."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute("SELECT schema_name, table_name, column_name FROM duckdb_columns() "
                              "WHERE database_name = current_database() AND NOT internal").fetchall()
        texts = []
        for schema, table, column in columns:
            texts.extend(v[0] for v in con.execute(
                f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{schema}"."{table}" '
                f'WHERE "{column}" IS NOT NULL').fetchall())
        return texts
    finally:
        con.close()


def parquet_texts(path: Path) -> list[str]:
    con = duckdb.connect()
    try:
        frame = con.execute("SELECT * FROM read_parquet(?)", [str(path)]).df()
    finally:
        con.close()
    return [str(v) for v in frame.to_numpy().ravel() if v is not None]


def workbook_texts(path: Path) -> list[str]:
    import python_calamine as pc

    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
    except Exception:
        return []
    return [str(v) for name in wb.sheet_names for row in wb.get_sheet_by_name(name).to_python() for v in row if v != ""]


def find_leaks(pattern: re.Pattern, sources: dict[str, list[str]]) -> Counter:
    leaks: Counter = Counter()
    for source, texts in sources.items():
        for text in texts:
            for match in pattern.findall(text):
                leaks[(source, match)] += 1
    return leaks
