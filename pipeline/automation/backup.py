"""Backups that restore: `ppa backup DEST` and `ppa restore-backup SRC`.

A backup is a folder DEST/<UTC time>/ holding:
- `warehouse/warehouse.duckdb`, copied after a CHECKPOINT inside a connection that holds the
  writer lock (no run writes meanwhile), and `analytics.duckdb`, the researchers' copy;
- `dagster/`: the Dagster instance, taken under the same lock. Embedded: every SQLite database
  under DAGSTER_HOME (runs.db, index.db, one per run, schedules.db) through SQLite's online
  backup API, and the other files (dagster.yaml, compute logs). Server mode: a `pg_dump`
  of the PostgreSQL database (`dagster.pgdump`), and the files under DAGSTER_HOME;
- `archive/`: every archived file, encrypted as in the archive (each checked by decrypting it
  when copied). A file already in the previous backup at DEST (same name, which is its sha256)
  is hard-linked to it, not copied: a backup copies only what is new;
- `releases/`: every release folder (`ppa release`), restored read-only as written; the
  public tables of later runs are protected against the latest one, so it must come back too;
- `registry/` and `keys/`: the agency registry and the key file of the keyed hashes. The archive
  key is never in a backup (the manifest names its id): keep it apart, since a backup holding
  both would be as readable as an unencrypted one, and without it the archive is lost;
- `manifest.json`: what the backup holds, with the sha256 and size of every file.

A backup is written to DEST/.<time>.partial and renamed when complete, so a backup that was
cut short is never taken for one. It holds the original files (encrypted) and the hashing key:
it is readable by its owner only; keep it as protected as the archive.

`restore-backup` checks every sha256 first, then restores into empty folders only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.config import ensure_dagster_home, settings
from pipeline.ingest import archive as archived
from pipeline.ingest.load import sha256_file
from pipeline.privacy import key_file
from pipeline.warehouse import db as warehouse

FORMAT = 1
MANIFEST = "manifest.json"
PG_DUMP = "dagster.pgdump"
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")  # inside the database file after an online backup


class BackupError(RuntimeError):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Places:
    """What is backed up and where it is restored to, from the settings."""

    warehouse_dir: Path
    archive_dir: Path
    dagster_home: Path
    registry: Path
    key_file: Path | None  # None: the key is in PPA_HASH_SECRET, not in a file
    releases_dir: Path

    @classmethod
    def current(cls) -> Places:
        cfg = settings()
        return cls(cfg.warehouse_dir, cfg.archive_dir, ensure_dagster_home(), cfg.registry_path,
                   key_file("hashing key"), cfg.releases_dir)


@dataclass
class Summary:
    path: Path
    seconds: float = 0.0
    copied_bytes: int = 0
    linked_files: int = 0
    copied_files: int = 0
    notes: list[str] = field(default_factory=list)


def _private_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(source, target)
    os.chmod(target, 0o600)


# --- the Dagster instance ---------------------------------------------------------------------

def postgres_url(instance) -> str | None:
    """The PostgreSQL URL of a server-mode instance (None for the embedded SQLite one)."""
    return getattr(instance.run_storage, "postgres_url", None)


def configured_for_postgres(dagster_yaml: Path) -> bool:
    """Whether a dagster.yaml keeps the instance in PostgreSQL (read without opening the instance,
    which would create its storage)."""
    if not dagster_yaml.exists():
        return False
    config = yaml.safe_load(dagster_yaml.read_text()) or {}
    storage = config.get("storage") or {}
    run_storage = config.get("run_storage") or {}
    return "postgres" in storage or str(run_storage.get("module", "")).startswith("dagster_postgres")


def libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """`-d <conninfo>` for pg_dump/pg_restore, and an environment carrying the password, so that
    it never appears on a command line."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    params = {"host": parsed.host, "port": parsed.port, "dbname": parsed.database, "user": parsed.username,
              **{k: v for k, v in parsed.query.items() if isinstance(v, str)}}
    quote = lambda value: "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"  # noqa: E731
    conninfo = " ".join(f"{k}={quote(v)}" for k, v in params.items() if v not in (None, ""))
    env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
    return ["-d", conninfo], env


def _pg(tool: str, url: str, *args: str) -> None:
    target, env = libpq(url)
    done = subprocess.run([tool, *target, *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"{tool} failed: {done.stderr.strip()[-2000:]}")


def _backup_instance(home: Path, out: Path) -> dict:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        url = postgres_url(instance)
        runs = instance.get_runs_count()
    out.mkdir(parents=True, mode=0o700)
    if url:
        _pg("pg_dump", url, "--format=custom", "--no-owner", "--no-privileges", "-f", str(out / PG_DUMP))
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        target = out / path.relative_to(home)
        if path.name.endswith(SQLITE_SIDE_FILES):
            continue
        if path.suffix == ".db":
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            source = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
            copy = sqlite3.connect(target)
            try:
                with copy:
                    source.backup(copy)
            finally:
                copy.close()
                source.close()
            os.chmod(target, 0o600)
        else:
            _private_copy(path, target)
    return {"mode": "server" if url else "embedded", "runs": runs}


def _restore_instance(snapshot: Path, info: dict, home: Path) -> None:
    import dagster as dg

    source = snapshot / "dagster"
    for path in sorted(p for p in source.rglob("*") if p.is_file() and p.name != PG_DUMP):
        target = home / path.relative_to(source)
        if not target.exists():  # the dagster.yaml already there (server mode) stays
            _private_copy(path, target)
    with dg.DagsterInstance.get() as instance:
        url = postgres_url(instance)
        if info["mode"] == "server":
            _pg("pg_restore", url, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                str(source / PG_DUMP))
        if instance.get_runs_count() != info["runs"]:
            raise BackupError(f"the restored instance holds {instance.get_runs_count()} runs, the backup "
                              f"{info['runs']}")


def _check_instance_target(info: dict, home: Path) -> None:
    others = [p.name for p in home.iterdir() if p.name != "dagster.yaml"] if home.exists() else []
    if others:
        raise BackupError(f"DAGSTER_HOME {home} is not empty ({', '.join(sorted(others)[:5])}): restore into an "
                          "empty folder (a dagster.yaml alone may stay) / folder tujuan tidak kosong")
    server = configured_for_postgres(home / "dagster.yaml")
    if info["mode"] == "server" and not server:
        raise BackupError(f"this backup is of a server-mode instance (PostgreSQL): put deploy/dagster.yaml into "
                          f"{home} and set DAGSTER_PG_URL to an empty database first")
    if info["mode"] == "embedded" and server:
        raise BackupError(f"this backup is of an embedded (SQLite) instance, and {home}/dagster.yaml is a "
                          "server-mode one: restore it with the embedded dagster.yaml")
    if server:
        import dagster as dg

        with dg.DagsterInstance.get() as instance:  # creates the empty tables pg_restore replaces
            if instance.get_runs_count():
                raise BackupError(f"the PostgreSQL database of {home}/dagster.yaml already holds runs: restore "
                                  "into an empty database / basis data tujuan tidak kosong")


# --- backup -----------------------------------------------------------------------------------

def snapshots(dest: Path) -> list[Path]:
    """The complete backups in a folder, oldest first."""
    if not dest.is_dir():
        return []
    return sorted(p for p in dest.iterdir() if p.is_dir() and (p / MANIFEST).is_file())


def _backup_locked(places: Places, work: Path) -> dict:
    """The warehouse and the instance, both taken while no run can write the warehouse."""
    path = places.warehouse_dir / "warehouse.duckdb"
    out = work / "warehouse"
    out.mkdir(parents=True, mode=0o700)
    with contextlib.ExitStack() as stack:
        if path.exists():
            con = stack.enter_context(warehouse.connect(path))  # the writer lock, and DuckDB's own
            con.execute("CHECKPOINT")  # the write-ahead log into the file: the file alone is the database
            _private_copy(path, out / "warehouse.duckdb")
        else:
            stack.enter_context(warehouse.writer_lock(path))
        instance = _backup_instance(places.dagster_home, work / "dagster")
    analytics = places.warehouse_dir / "analytics.duckdb"
    if analytics.exists():  # replaced atomically by runs: an open handle reads one whole version
        with open(analytics, "rb") as source, open(out / "analytics.duckdb", "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        os.chmod(out / "analytics.duckdb", 0o600)
    return {"instance": instance, "warehouse": path.exists()}


def _backup_archive(archive_dir: Path, out: Path, previous: Path | None, known: dict, summary: Summary) -> None:
    out.mkdir(parents=True, mode=0o700)
    if not archive_dir.is_dir():
        return
    key = archived.archive_key()
    for path in sorted(archive_dir.rglob("*")):
        if not path.is_file() or path.name.startswith("."):  # a copy in progress is a hidden file
            continue
        rel = path.relative_to(archive_dir)
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        before = previous / "archive" / rel if previous else None
        entry = known.get(f"archive/{rel.as_posix()}")
        if before and entry and before.is_file() and before.stat().st_size == path.stat().st_size == entry["bytes"]:
            try:
                os.link(before, target)
                summary.linked_files += 1
                continue
            except OSError:  # no hard links on this file system: copy
                pass
        _private_copy(path, target)
        summary.copied_files += 1
        summary.copied_bytes += path.stat().st_size
        try:
            archived.check(target, key=key)
        except archived.ArchiveError as exc:
            raise BackupError(f"{exc}; this file is in no new backup") from None


def backup(dest: Path) -> Summary:
    """Write a complete backup into a new folder under `dest`."""
    started = time.perf_counter()
    places = Places.current()
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    previous = (snapshots(dest) or [None])[-1]
    known = json.loads((previous / MANIFEST).read_text())["files"] if previous else {}
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    work = dest / f".{stamp}.partial"
    work.mkdir(mode=0o700)
    summary = Summary(dest / stamp)
    components = _backup_locked(places, work)
    _backup_archive(places.archive_dir, work / "archive", previous, known, summary)
    if places.releases_dir.is_dir():  # releases never change: every file of every one, as written
        for path in sorted(p for p in places.releases_dir.rglob("*") if p.is_file()):
            if not path.relative_to(places.releases_dir).parts[0].startswith("."):  # not a release being written
                _private_copy(path, work / "releases" / path.relative_to(places.releases_dir))
    _private_copy(places.registry, work / "registry" / places.registry.name)
    if places.key_file and places.key_file.exists():
        _private_copy(places.key_file, work / "keys" / places.key_file.name)
    elif places.key_file is None:
        summary.notes.append("the key of the keyed hashes is in PPA_HASH_SECRET, not in a file: it is not in "
                             "the backup; keep it with your other secrets")
    archive_key_id = archived.archive_key().key_id.hex() if summary.copied_files + summary.linked_files else None
    if archive_key_id:
        summary.notes.append(f"the archive key (id {archive_key_id}) is not in the backup: keep a copy of it apart "
                             "from the backups; without it the archive cannot be read")
    files = {}
    for path in sorted(p for p in work.rglob("*") if p.is_file()):
        rel = path.relative_to(work).as_posix()
        linked = known.get(rel) if rel.startswith("archive/") and path.stat().st_nlink > 1 else None
        files[rel] = linked or {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    manifest = {
        "format": FORMAT, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "instance": components["instance"], "warehouse": components["warehouse"],
        "registry": places.registry.name, "key_file": places.key_file.name if places.key_file else None,
        "previous": previous.name if previous else None, "archive_key_id": archive_key_id, "files": files,
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
    os.chmod(work / MANIFEST, 0o600)
    os.rename(work, summary.path)
    summary.seconds = time.perf_counter() - started
    return summary


# --- restore ----------------------------------------------------------------------------------

def find_snapshot(src: Path) -> Path:
    """A backup folder itself, or the newest backup in a folder of backups."""
    if (src / MANIFEST).is_file():
        return src
    found = snapshots(src)
    if not found:
        raise BackupError(f"no backup in {src} (no {MANIFEST}) / tidak ada cadangan di {src}")
    return found[-1]


def verify(snapshot: Path) -> dict:
    """The manifest, once every file it lists is there with its sha256."""
    manifest = json.loads((snapshot / MANIFEST).read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')} is not {FORMAT}: restore it with the version "
                          "of ppa-pipeline that wrote it")
    bad = [rel for rel, entry in manifest["files"].items()
           if not (snapshot / rel).is_file() or sha256_file(snapshot / rel) != entry["sha256"]]
    if bad:
        raise BackupError(f"{len(bad)} files of the backup are missing or damaged ({', '.join(bad[:5])}): use "
                          "another backup / cadangan rusak")
    return manifest


def _empty(folder: Path, name: str) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{name} {folder} is not empty: restore into an empty folder, or move its contents "
                          f"away first / folder tujuan tidak kosong")


def _absent_or_same(target: Path, source: Path, name: str) -> bool:
    """Whether the file must be written; refuses a different file already there."""
    if not target.exists():
        return True
    if sha256_file(target) != sha256_file(source):
        raise BackupError(f"{name} {target} exists and differs from the backup's: move it away, or point "
                          "the setting at a new path, then restore again")
    return False


def _check_archive_key(key_id: str | None) -> None:
    """The archive key this installation would use is the one the backup's archive was made with
    (a missing key file is not created: a new key could read nothing)."""
    if not key_id:
        return
    where = key_file("archive key")
    if where is not None and not where.exists():
        raise BackupError(f"the archive in this backup is encrypted (archive key id {key_id}): put that key into "
                          f"{where} or PPA_ARCHIVE_KEY first (kunci arsip belum dipasang)")
    if archived.archive_key().key_id.hex() != key_id:
        raise BackupError(f"the archive key set here (id {archived.archive_key().key_id.hex()}) is not the one the "
                          f"backup's archive was made with (id {key_id}): set PPA_ARCHIVE_KEY or PPA_ARCHIVE_KEY_FILE "
                          "to that key (kunci arsip salah)")


def restore(src: Path) -> Summary:
    """Restore a backup into the configured folders, which must be empty."""
    started = time.perf_counter()
    snapshot = find_snapshot(src)
    manifest = verify(snapshot)
    places = Places.current()
    _empty(places.warehouse_dir, "PPA_WAREHOUSE_DIR")
    _empty(places.archive_dir, "PPA_ARCHIVE_DIR")
    _empty(places.releases_dir, "PPA_RELEASES_DIR")
    _check_instance_target(manifest["instance"], places.dagster_home)
    registry = snapshot / "registry" / manifest["registry"]
    write_registry = _absent_or_same(places.registry, registry, "the registry (PPA_REGISTRY)")
    key = snapshot / "keys" / manifest["key_file"] if manifest["key_file"] else None
    if key and not key.exists():
        raise BackupError("the backup holds no key file, and this installation keeps its key in a file: set "
                          "PPA_HASH_SECRET to the key the backup was made with")
    write_key = bool(key) and places.key_file is not None and _absent_or_same(places.key_file, key, "the key file")
    _check_archive_key(manifest.get("archive_key_id"))

    summary = Summary(snapshot)
    _restore_instance(snapshot, manifest["instance"], places.dagster_home)
    for rel in manifest["files"]:
        top, _, rest = rel.partition("/")
        if top == "warehouse":
            _private_copy(snapshot / rel, places.warehouse_dir / rest)
        elif top == "archive":
            _private_copy(snapshot / rel, places.archive_dir / rest)
            summary.copied_files += 1
        elif top == "releases":
            _private_copy(snapshot / rel, places.releases_dir / rest)
    if places.releases_dir.is_dir():
        from pipeline.publish.releases import seal

        for folder in places.releases_dir.iterdir():
            seal(folder)  # read-only again, as ppa release left it
    if write_registry:
        _private_copy(registry, places.registry)
    if write_key:
        _private_copy(key, places.key_file)
    summary.seconds = time.perf_counter() - started
    return summary
