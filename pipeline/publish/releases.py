"""Versioned releases (ppa release): releases/<version>/, written once, never changed.

A release holds the public tables (CSV and Parquet, protected together with the release
before, suppression/across.py, and labelled with the release and each period's approval), the
researchers' copy (analytics.duckdb), the data dictionary, release notes (what changed since
the last release, from the change reports; the approvals' state), a validation summary (the
checks run and their results, rows rejected per agency, completeness, open data-quality
flags, and what was not validated), release.json and SHA256SUMS over every file.

The folder is written under a temporary name and renamed into place in one step; its files
and folders are then read-only; a version that exists is refused. Versions are dated
(2026.12.05; 2026.12.05-2 for a second release that day, in Asia/Makassar). meta.releases
records each release, and meta.release_cells the counts behind its public tables (never
published) for the next release's suppression. The notes and the validation summary are
written by pipeline/publish/release_text.py.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from pipeline.config import Settings
from pipeline.marts.changes import last_build
from pipeline.marts.sql import PUBLISHED
from pipeline.publish.suppression.across import cell_text, text_cell
from pipeline.warehouse.db import connect, insert_frame, transaction

VERSION = re.compile(r"^\d{4}\.\d{2}\.\d{2}(-\d+)?$")
RELEASE_TZ = "Asia/Makassar"
TMP = ".tmp-release-"
FILE_MODE, RESEARCHER_FILE_MODE, DIR_MODE = 0o444, 0o440, 0o555
SUMS = "SHA256SUMS"


class ReleaseError(ValueError):
    """A release that cannot be written (an existing version, no warehouse, a leak, a missing
    earlier release)."""


@dataclass
class Previous:
    version: str
    released_at: dt.datetime
    tables: dict[str, pd.DataFrame]
    counts: dict


@dataclass(frozen=True)
class Release:
    version: str
    path: Path
    previous: str | None
    files: int
    notes: str


def recorded(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("SELECT * FROM meta.releases ORDER BY released_at").df()


def latest_release(con: duckdb.DuckDBPyConnection, releases_dir: Path | None = None) -> Previous | None:
    """The latest release: its public tables as published (read back from its Parquet files)
    and the counts behind them. A release recorded whose folder is gone is an error: the next
    one could not be protected against it."""
    from pipeline.config import settings

    found = con.execute("SELECT version, released_at FROM meta.releases ORDER BY released_at DESC LIMIT 1").fetchall()
    if not found:
        return None
    version, released_at = found[0]
    folder = (releases_dir or settings().releases_dir) / version / "public"
    missing = [n for n in PUBLISHED if not (folder / f"{n}.parquet").is_file()]
    if missing:
        raise ReleaseError(f"release {version} is recorded but {folder} lacks {', '.join(missing)}.parquet: put "
                           "the release folder back (PPA_RELEASES_DIR) so that the next release can be protected "
                           "against it")
    tables = {n: con.execute("SELECT * FROM read_parquet(?)", [str(folder / f"{n}.parquet")]).df() for n in PUBLISHED}
    counts = {text_cell(c): v for c, v in con.execute(
        "SELECT cell, value FROM meta.release_cells WHERE version = ?", [version]).fetchall()}
    return Previous(version, released_at, tables, counts)


def next_version(taken: set[str], day: dt.date) -> str:
    base = day.strftime("%Y.%m.%d")
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def write_release(cfg: Settings, version: str | None = None, by: str | None = None,
                  now: dt.datetime | None = None) -> Release:
    """Write releases/<version>/ from the warehouse as it is (see the module's docstring)."""
    from pipeline.publish import release_text
    from pipeline.publish.public import audit_tables, protect_public
    from pipeline.publish.suppression.across import audit_pair, unchanged

    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    k, root = cfg.suppression_k, cfg.releases_dir
    if not cfg.warehouse_path.exists():
        raise ReleaseError(f"no warehouse yet at {cfg.warehouse_path}: run `ppa run` first")
    if not cfg.analytics_path.exists():
        raise ReleaseError(f"no researchers' copy yet at {cfg.analytics_path}: run `ppa run` first")
    root.mkdir(parents=True, exist_ok=True)
    with connect(cfg.warehouse_path) as con:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts'").fetchall()[0][0]:
            raise ReleaseError("no marts yet: run `ppa run` first")
        taken = set(recorded(con)["version"]) | {p.name for p in root.iterdir()}
        day = now.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(RELEASE_TZ)).date()
        version = version or next_version(taken, day)
        if not VERSION.match(version):
            raise ReleaseError(f"version {version!r} is not dated like 2026.12.05 or 2026.12.05-2")
        if version in taken:
            raise ReleaseError(f"release {version} exists: a release is never changed; make a new one")
        previous = latest_release(con, root)
        try:
            publication = protect_public(con, k, release=version)
        except RuntimeError as exc:  # suppression could not protect the pair of releases
            raise ReleaseError(str(exc)) from None
        single = audit_tables(publication.tables, k)
        pair = (audit_pair(previous.tables, publication.tables, unchanged(previous.counts, publication.counts), k)
                if previous else [])
        if single or pair:
            raise ReleaseError(f"the suppression audit recovers {len(single)} count(s) in the release and "
                               f"{len(pair)} with the release before: nothing written")
        context = release_text.Context(version=version, released_at=now, previous=previous, k=k,
                                       publication=publication, single_audit=len(single), pair_audit=len(pair))
        notes = release_text.notes(con, context)
        validation = release_text.validation(con, cfg, context)
        tmp = root / f"{TMP}{version}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        try:
            files = _write_folder(con, cfg, tmp, version, previous, publication, notes, validation, now)
            sums = hashlib.sha256((tmp / SUMS).read_bytes()).hexdigest()
            with transaction(con):
                con.execute("INSERT INTO meta.releases VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [version, now, by or _user(), previous.version if previous else None,
                             last_build(con), sums, k])
                insert_frame(con, "meta.release_cells", pd.DataFrame(
                    {"version": version, "cell": [cell_text(c) for c in publication.counts],
                     "value": list(publication.counts.values())}))
                seal(tmp)
                os.rename(tmp, root / version)  # one step: the release appears whole or not at all
        except BaseException:
            if tmp.exists():
                _unseal(tmp)
                shutil.rmtree(tmp)
            raise
    return Release(version, root / version, previous.version if previous else None, files, notes)


def _write_folder(con: duckdb.DuckDBPyConnection, cfg: Settings, tmp: Path, version: str, previous: Previous | None,
                  publication, notes: str, validation: str, now: dt.datetime) -> int:
    from pipeline.publish import docs
    from pipeline.publish.public import export
    from pipeline.safefs import safe_dir, write_text

    root = cfg.releases_dir
    export(con, publication.tables, tmp / "public", root=root)
    with safe_dir(tmp / "researchers", root) as folder, open(cfg.analytics_path, "rb") as source:
        folder.write("analytics.duckdb", lambda handle: shutil.copyfileobj(source, handle), mode=0o640)
    write_text(tmp / "data-dictionary.md", docs.render(con), root)
    write_text(tmp / "RELEASE_NOTES.md", notes, root)
    write_text(tmp / "VALIDATION.md", validation, root)
    write_text(tmp / "release.json", json.dumps({
        "version": version, "released_at": now.isoformat() + "Z", "previous": previous.version if previous else None,
        "suppression_k": cfg.suppression_k, "mart_build_run_id": last_build(con),
        "cells_suppressed_for_the_previous_release": len(publication.forced)}, indent=2) + "\n", root)
    files = sorted(p for p in tmp.rglob("*") if p.is_file())
    lines = [f"{_sha256(p)}  {p.relative_to(tmp).as_posix()}" for p in files]
    write_text(tmp / SUMS, "\n".join(lines) + "\n", root)
    return len(files) + 1


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path) -> list[str]:
    """The files of a release whose content differs from SHA256SUMS, or that it lacks or adds."""
    listed = {}
    for line in (folder / SUMS).read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {SUMS}
    bad = sorted(n for n in listed if n not in present or _sha256(folder / n) != listed[n])
    return bad + sorted(present - set(listed))


def seal(folder: Path) -> None:
    """Every file of a release read-only (the researchers' copy for the group only), every folder too."""
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file():
            path.chmod(RESEARCHER_FILE_MODE if path.parent.name == "researchers" else FILE_MODE)
        else:
            path.chmod(DIR_MODE)
    folder.chmod(DIR_MODE)


def _unseal(folder: Path) -> None:
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return None
