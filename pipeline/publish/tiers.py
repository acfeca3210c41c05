"""Who reads what: each agency's analyst copy, and the permissions every published file gets.

| role | reads | where |
|---|---|---|
| operators (the pipeline's user) | everything | warehouse.duckdb, the archive |
| an agency's analysts | their agency's rows at the detail the agency already has | analytics/<agency>.duckdb |
| researchers (the folder's group) | k-anonymous rows of every agency, the marts | analytics.duckdb, parquet/ |
| anyone | the marts with small counts suppressed | public/ |

An agency's copy holds its staging rows with case ids and lineage to its own files (the keyed
hash of the NIK apart), its marts and its registry entries; it is readable by the operators
only, who hand each agency its own file. Each copy is replaced atomically like analytics.duckdb,
and only when what it holds changed (about 0.15 s an agency: 514 agencies would add over a
minute to every nightly run).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import duckdb

from pipeline.publish.analytics import RESEARCHER_MODE, STORAGE_VERSION
from pipeline.safefs import SafeDir, safe_dir, same_bytes
from pipeline.warehouse.db import agency_row_hashes

AGENCY_DIR = "analytics"
FINGERPRINTS = "fingerprints.json"  # agency -> what its copy was made from (an unchanged one is kept)
OPERATORS_FILE, OPERATORS_DIR = 0o600, 0o700
RESEARCHERS_DIR = 0o750
PUBLIC_FILE, PUBLIC_DIR = 0o644, 0o755
# the warehouse folder: its group (researchers) lists it, anyone reaches public/ through it
WAREHOUSE_DIR = 0o751
_AGENCY_TABLES = ("meta.agencies", "meta.population", "meta.kecamatan")
# DuckDB's smallest block: an agency's copy of some twenty small tables takes 0.3 MB instead of 5 MB
# (256 kB blocks), which counts at 514 agencies
BLOCK_SIZE = 16384


def agency_copies(con: duckdb.DuckDBPyConnection, warehouse_dir: Path) -> dict[str, bool]:
    """Write <warehouse>/analytics/<agency>.duckdb for every registered agency whose content
    changed since its copy was made (agency -> whether it was written); remove the copy of an
    agency no longer registered."""
    agencies = [r[0] for r in con.execute("SELECT agency FROM meta.agencies ORDER BY 1").fetchall()]
    marts = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' "
        "AND table_catalog = current_database() ORDER BY 1").fetchall()]
    tables = [f"marts.{name}" for name in marts] + list(_AGENCY_TABLES)
    now = _fingerprints(con, [*tables, "staging.case_victims"], agencies)
    written = {}
    with safe_dir(Path(warehouse_dir) / AGENCY_DIR, Path(warehouse_dir)) as folder:
        os.chmod(folder.fd, OPERATORS_DIR)
        folder.remove_leftovers()
        before = _read_json(folder)
        for name in folder.names():
            if name.endswith(".duckdb") and name[: -len(".duckdb")] not in agencies:
                folder.remove(name)
        for agency in agencies:
            written[agency] = before.get(agency) != now[agency] or folder.kind(f"{agency}.duckdb") != "file"
            if written[agency]:
                _write_copy(con, folder, agency, tables)
        folder.write(FINGERPRINTS, lambda handle: handle.write(json.dumps(now, indent=1).encode()),
                     mode=OPERATORS_FILE, keep_if_same=same_bytes)
    return written


def _write_copy(con: duckdb.DuckDBPyConnection, folder: SafeDir, agency: str, tables: list[str]) -> None:
    with folder.temp_path(f"{agency}.duckdb") as tmp:
        con.execute(f"ATTACH ? AS agency_copy (STORAGE_VERSION '{STORAGE_VERSION}', BLOCK_SIZE {BLOCK_SIZE})",
                    [str(tmp)])
        try:
            for schema in ("marts", "meta", "staging"):
                con.execute(f"CREATE SCHEMA agency_copy.{schema}")
            for table in tables:
                con.execute(f"CREATE TABLE agency_copy.{table} AS SELECT * FROM {table} WHERE agency = ?", [agency])
            con.execute("CREATE TABLE agency_copy.staging.case_victims AS SELECT * EXCLUDE (victim_key) "
                        "FROM staging.case_victims WHERE agency = ? ORDER BY year, case_id, victim_seq", [agency])
        finally:
            con.execute("DETACH agency_copy")
        tmp.chmod(OPERATORS_FILE)


def _fingerprints(con: duckdb.DuckDBPyConnection, tables: list[str], agencies: list[str]) -> dict[str, str]:
    """Per agency, a hash of what its copy holds: each table's columns, and its rows (count and
    the sum of the rows' hashes), so an unchanged agency keeps its file."""
    digests = {agency: hashlib.sha256(f"{STORAGE_VERSION}:{BLOCK_SIZE}".encode()) for agency in agencies}
    for table in tables:
        columns = ",".join(f"{name} {kind}" for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall())
        found = agency_row_hashes(con, table)
        for agency, digest in digests.items():
            digest.update(f"{table}({columns}):{found.get(agency)};".encode())
    return {agency: digest.hexdigest() for agency, digest in digests.items()}


def _read_json(folder: SafeDir) -> dict:
    handle = folder.open_file(FINGERPRINTS)
    if handle is None:
        return {}
    with handle:
        try:
            data = json.loads(handle.read())
        except ValueError:
            return {}
    return data if isinstance(data, dict) else {}


def set_permissions(warehouse_dir: Path, archive_dir: Path | None = None) -> dict[str, int]:
    """Give every file and folder the pipeline publishes the mode of its readers (the table
    above); return path (relative to the warehouse folder, or 'archive') -> mode set.
    Links are never followed: a link is left as it is."""
    warehouse_dir = Path(warehouse_dir)
    plan: dict[Path, int] = {warehouse_dir: WAREHOUSE_DIR}
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal", "warehouse.duckdb.lock"):
        plan[warehouse_dir / name] = OPERATORS_FILE
    plan[warehouse_dir / "analytics.duckdb"] = RESEARCHER_MODE
    plan[warehouse_dir / "analytics.key"] = OPERATORS_FILE  # what analytics.duckdb was made from (analytics.py)
    plan[warehouse_dir / AGENCY_DIR] = OPERATORS_DIR
    plan.update({p: OPERATORS_FILE for p in _files(warehouse_dir / AGENCY_DIR)})
    plan[warehouse_dir / "parquet"] = RESEARCHERS_DIR
    plan.update({p: RESEARCHER_MODE for p in _files(warehouse_dir / "parquet")})
    plan[warehouse_dir / "public"] = PUBLIC_DIR
    plan.update({p: PUBLIC_FILE for p in _files(warehouse_dir / "public")})
    if archive_dir is not None:
        archive_dir = Path(archive_dir)
        plan[archive_dir] = OPERATORS_DIR
    done = {}
    for path, mode in plan.items():
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                continue
            os.chmod(path, mode)
        except FileNotFoundError:
            continue
        done["archive" if path == archive_dir else str(path.relative_to(warehouse_dir))] = mode
    return done


def _files(folder: Path) -> list[Path]:
    """The regular files directly in `folder` (none when it is missing or a link)."""
    try:
        if stat.S_ISLNK(os.lstat(folder).st_mode):
            return []
        return [p for p in folder.iterdir() if stat.S_ISREG(os.lstat(p).st_mode)]
    except FileNotFoundError:
        return []
