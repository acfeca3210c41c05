"""The read-only copy for researchers: analytics.duckdb and Parquet files.

Built beside the live warehouse and moved into place with os.replace, so a
reader that has the old copy open keeps a consistent snapshot and the next
open sees the new one. It holds the marts and de-identified staging rows:
no file names, no row numbers, case ids replaced by a keyed hash, and the rows
k-anonymous and l-diverse over their quasi-identifiers (publish/anonymity.py),
with what that took in meta.release_disclosure.
It is written in DuckDB's v1.4 storage format, so older DuckDB clients (and
the duckdb CLI installed with the project) can open it too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.publish import anonymity
from pipeline.safefs import safe_dir
from pipeline.warehouse import tables as declared
from pipeline.warehouse.db import COUNTING_COLUMNS, agency_row_hashes, insert_frame, sql_literal, transaction

STORAGE_VERSION = "v1.4.0"
RESEARCHER_MODE = 0o640  # researchers: the group of the warehouse folder (pipeline/publish/tiers.py)
# The researchers' rows: the quasi-identifiers as anonymity.release publishes them (the exact age
# never; the period as year, quarter and month), then the rest. The counting-rule flags come along,
# so researchers sum them instead of re-deriving the rules.
RESEARCHER_COLUMNS = ("agency", "case_key", "victim_seq", "year", "report_quarter", "report_month", "victim_sex",
                      "victim_age_group", "is_child", "violence_forms", "is_kdrt", "child_role", "place",
                      "perp_relation", "kecamatan_code", "services", "case_status", *COUNTING_COLUMNS)
_SOURCE_SQL = f"""
SELECT row_number() OVER (ORDER BY agency, year, case_key, victim_seq) AS _row, agency, case_key, victim_seq, year,
       month(report_date) AS report_month, victim_sex, victim_age_group, is_child, violence_forms, is_kdrt,
       child_role, place, perp_relation, kecamatan_code, services, case_status, {", ".join(COUNTING_COLUMNS)},
       array_to_string(list_sort(violence_forms), ',') AS {anonymity.SENSITIVE}
FROM staging.case_victims
"""


def publish(con: duckdb.DuckDBPyConnection, warehouse_dir: Path, k: int) -> dict[str, int]:
    """Write analytics.duckdb and marts Parquet files atomically, and meta.release_disclosure in
    the warehouse; return row counts. Paths reach DuckDB as parameters, never inside the SQL text.
    When what the copy is made of (content_key) is what the present copy was made of, it is kept
    as it is: a night with nothing new writes no file."""
    marts = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
        "AND table_catalog = current_database() ORDER BY 1").fetchall()]
    tables = [f"marts.{name}" for name in marts] + ["meta.agencies", "meta.population", "meta.kecamatan",
                                                    declared.RELEASE_DISCLOSURE.name]
    key = content_key(con, [t for t in tables if t != declared.RELEASE_DISCLOSURE.name], k)
    with safe_dir(warehouse_dir, warehouse_dir) as folder:
        for stale in folder.names():  # left by a run killed mid-copy by earlier versions (we hold the lock)
            if stale.startswith(".analytics.") and ".duckdb" in stale:
                folder.remove(stale)
        folder.remove_leftovers()
        counts = _kept_counts(folder, key, [*tables, "staging.case_victims"])
        if counts is None:
            previous = folder.path / "analytics.duckdb" if folder.kind("analytics.duckdb") == "file" else None
            released = release_rows(con, k, previous)
            selects = {table: _public_select(con, table) for table in tables}
            with folder.temp_path("analytics.duckdb") as tmp:
                con.execute(f"ATTACH ? AS analytics (STORAGE_VERSION '{STORAGE_VERSION}')", [str(tmp)])
                try:
                    counts = _copy_tables(con, tables, selects, released)
                finally:
                    con.execute("DETACH analytics")
                tmp.chmod(RESEARCHER_MODE)
            folder.write(KEY_FILE, lambda handle: handle.write(key.encode()), mode=0o600)
    with safe_dir(warehouse_dir / "parquet", warehouse_dir) as folder:
        folder.remove_leftovers()
        for name in marts:
            with folder.temp_path(f"{name}.parquet", keep_if_same=True) as part:
                con.execute(f"COPY ({_public_select(con, f'marts.{name}')}) TO ? (FORMAT parquet)", [str(part)])
    return counts


KEY_FILE = "analytics.key"  # the content_key of the present analytics.duckdb


def content_key(con: duckdb.DuckDBPyConnection, tables: list[str], k: int) -> str:
    """What analytics.duckdb is made of, as one hash: each table's columns, comment and rows
    (count and the sum of the rows' hashes), the staged rows the researchers' rows come from,
    k, the hashing secret (through a keyed hash) and the whole pipeline's code."""
    from pipeline.privacy import keyed_hash
    from pipeline.versions import source_hash

    digest = hashlib.sha256(f"{STORAGE_VERSION}:{k}:{keyed_hash('analytics_copy')}:{source_hash(('',))}".encode())
    for table in [*tables, "staging.case_victims"]:
        columns = con.execute(f"DESCRIBE {table}").fetchall()
        rows = con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM {table} t").fetchall()[0]
        comment = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
                              "AND schema_name || '.' || table_name = ?", [table]).fetchall()
        digest.update(repr((table, columns, rows, comment)).encode())
    return digest.hexdigest()


def _kept_counts(folder, key: str, tables: list[str]) -> dict[str, int] | None:
    """The row counts of the present analytics.duckdb when it was made from `key`, else None."""
    handle = folder.open_file(KEY_FILE)
    if handle is None or folder.kind("analytics.duckdb") != "file":
        return None
    with handle:
        if handle.read().decode(errors="replace") != key:
            return None
    try:
        with duckdb.connect(str(folder.path / "analytics.duckdb"), read_only=True) as copy:
            return {t: copy.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}
    except duckdb.Error:  # damaged or unreadable: made again
        return None


BATCH_ROWS = 50_000  # researchers' rows protected at once: memory bounded by this or the largest agency


def agency_batches(rows: list[tuple[str, int]], limit: int = BATCH_ROWS) -> list[list[str]]:
    """Agencies (with their row counts, in order) in consecutive batches of at most `limit` rows,
    an agency larger than that alone in its batch."""
    batches: list[list[str]] = []
    size = limit
    for agency, count in rows:
        if size + count > limit or not batches:
            batches.append([])
            size = 0
        batches[-1].append(agency)
        size += count
    return batches


def release_rows(con: duckdb.DuckDBPyConnection, k: int, previous: Path | None = None) -> str:
    """Protect the researchers' rows (anonymity.release) into a temporary table of this
    connection, whose name is returned, and replace meta.release_disclosure with what it took.
    Agency is a quasi-identifier, so no group crosses agencies: the rows are protected a batch of
    agencies at a time (the same result as all at once), and memory stays bounded by the batch.
    An agency whose staged rows (with k, l, the code and the secret: `source_digest`) are those
    the copy at `previous` was made from takes its rows and disclosure from that copy."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _researcher_source AS {_SOURCE_SQL}")
    quasi = [c for c in anonymity.PUBLISHED_QI if c not in ("agency", "year")]
    published = ", ".join(f"p.{c}::{_TYPES.get(c, 'VARCHAR')} AS {c}" if c in quasi else f"s.{c}"
                          for c in RESEARCHER_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _researcher_rows AS SELECT {published} "
                f"FROM _researcher_source s, (SELECT NULL::BIGINT AS _row, {', '.join(f'NULL AS {c}' for c in quasi)}) p "
                "WHERE false")
    digests = _source_digests(con, k)
    reused = _reuse(con, previous, digests)
    disclosure = [reused] if reused is not None else []
    kept = set(reused["agency"]) if reused is not None else set()
    counts = con.execute("SELECT agency, count(*) FROM _researcher_source GROUP BY agency ORDER BY agency").fetchall()
    for batch in agency_batches([(a, n) for a, n in counts if a not in kept]):
        frame = con.execute(f"SELECT _row, {', '.join(anonymity.INPUT)} FROM _researcher_source "
                            "WHERE agency IN (SELECT unnest(?::VARCHAR[])) ORDER BY _row", [batch]).df()
        result = anonymity.release(frame.set_index("_row"), k)
        rows = result.rows.drop(columns=[anonymity.SENSITIVE]).rename_axis("_row").reset_index()
        con.register("_released", rows)
        try:
            con.execute(f"INSERT INTO _researcher_rows SELECT {published} "
                        "FROM _researcher_source s JOIN _released p USING (_row) ORDER BY s._row")
        finally:
            con.unregister("_released")
        disclosure.append(result.disclosure.assign(source_digest=result.disclosure["agency"].map(digests)))
        del frame, result, rows
    con.execute("DROP TABLE _researcher_source")
    if kept:  # in the order of all at once: by agency, then as each agency's rows were
        con.execute("CREATE OR REPLACE TEMP TABLE _researcher_rows AS SELECT * FROM _researcher_rows "
                    "ORDER BY agency, year, case_key, victim_seq")
    with transaction(con):
        con.execute(declared.RELEASE_DISCLOSURE.ddl(replace_table=True))
        if disclosure:
            lines = pd.concat(disclosure, ignore_index=True)
            insert_frame(con, declared.RELEASE_DISCLOSURE.name, lines.sort_values("agency", kind="stable"))
    return "_researcher_rows"


def _source_digests(con: duckdb.DuckDBPyConnection, k: int) -> dict[str, str]:
    """Per agency: a hash of its researcher source rows, with k, l, the protecting code and the
    keyed secret (so that no one without the secret can test a guess of an agency's rows)."""
    from pipeline.privacy import keyed_hash
    from pipeline.versions import source_hash

    base = hashlib.sha256(repr((k, anonymity.L_DIVERSITY, keyed_hash("release_rows"), RESEARCHER_COLUMNS,
                                source_hash(("publish/anonymity.py", "publish/analytics.py")))).encode()).hexdigest()
    return {agency: hashlib.sha256(f"{base}:{rows}:{total}".encode()).hexdigest()[:32] for agency, (rows, total)
            in agency_row_hashes(con, "(SELECT * EXCLUDE (_row) FROM _researcher_source)").items()}


def _reuse(con: duckdb.DuckDBPyConnection, previous: Path | None, digests: dict[str, str]) -> pd.DataFrame | None:
    """The rows of the agencies whose digest is the one the copy at `previous` records, put into
    _researcher_rows; their disclosure lines returned (None when nothing is reused)."""
    if previous is None:  # (the caller passes a regular file only, never a link)
        return None
    try:
        con.execute("ATTACH ? AS _previous (READ_ONLY)", [str(previous)])
    except duckdb.Error:  # damaged or unreadable: nothing reused
        return None
    try:
        try:
            recorded = con.execute("SELECT DISTINCT agency, source_digest FROM _previous.meta.release_disclosure"
                                   ).fetchall()
        except duckdb.Error:  # a copy from before source_digest
            return None
        same = sorted(a for a, digest in recorded if digest is not None and digests.get(a) == digest)
        if not same:
            return None
        columns = ", ".join(RESEARCHER_COLUMNS)
        con.execute(f"INSERT INTO _researcher_rows SELECT {columns} FROM _previous.staging.case_victims "
                    "WHERE agency IN (SELECT unnest(?::VARCHAR[]))", [same])
        return con.execute(f"SELECT {', '.join(declared.RELEASE_DISCLOSURE.names)} FROM _previous.meta.release_disclosure "
                           "WHERE agency IN (SELECT unnest(?::VARCHAR[])) ORDER BY rowid", [same]).df()
    finally:
        con.execute("DETACH _previous")


_TYPES = {"report_quarter": "INTEGER", "report_month": "INTEGER", "is_child": "BOOLEAN"}


def _copy_tables(con: duckdb.DuckDBPyConnection, tables: list[str], selects: dict[str, str],
                 researcher_rows: str) -> dict[str, int]:
    """The tables, their comments and the researchers' rows into the attached `analytics`."""
    for schema in ("marts", "meta", "staging"):
        con.execute(f"CREATE SCHEMA analytics.{schema}")
    for table in tables:
        con.execute(f"CREATE TABLE analytics.{table} AS {selects[table]}")
    con.execute(f"CREATE TABLE analytics.staging.case_victims AS SELECT * FROM {researcher_rows}")
    con.execute(f"DROP TABLE {researcher_rows}")
    for table in tables:
        comment = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = current_database() "
                              "AND schema_name || '.' || table_name = ?", [table]).fetchall()
        if comment and comment[0][0]:
            con.execute(f"COMMENT ON TABLE analytics.{table} IS {sql_literal(comment[0][0])}")
    return {t: con.execute(f"SELECT count(*) FROM analytics.{t}").fetchall()[0][0]
            for t in [*tables, "staging.case_victims"]}


def _public_select(con: duckdb.DuckDBPyConnection, table: str, extra: str = "") -> str:
    """SELECT for a published table: no lineage to file names (`extra`: more select items)."""
    columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    exclude = " EXCLUDE (source_files)" if "source_files" in columns else ""
    return f"SELECT *{exclude}{extra} FROM {table}"
