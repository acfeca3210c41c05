"""Folders and settings, each overridable by an environment variable.

Every PPA_* setting is read here, at use (never at import), so a test or a process that
changes the environment sees the change. The README's settings table lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMAS_DIR = PACKAGE_DIR / "schemas"


def project_root() -> Path:
    """The repository root when running from a checkout, else the current folder."""
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


def _dir(var: str, default: str) -> Path:
    value = os.environ.get(var)
    if value:
        return Path(value).expanduser().resolve()
    return (project_root() / default).resolve()


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse_dir: Path
    reports_dir: Path
    archive_dir: Path
    registry_path: Path
    releases_dir: Path  # PPA_RELEASES_DIR: ppa release writes releases/<version>/ here
    max_file_bytes: int
    max_rows_per_sheet: int
    lock_timeout_s: float = 600.0  # how long a writer waits for the warehouse lock
    duckdb_memory_limit: str = "256MB"  # DuckDB's memory in the writing process; beyond it, it spills
    suppression_k: int = 5  # published counts from 1 to k-1 are suppressed
    workers: int | None = None  # processes for per-agency work (None: one per core, see parallel.py)
    debug: bool = False  # PPA_DEBUG=1: errors keep their messages and tracebacks
    reload: bool = False  # PPA_RELOAD=1: read every agency again, even unchanged ones
    settle_seconds: float = 10.0  # a file modified more recently than this is still being copied
    sensor_interval_s: int = 30  # how often the drop-folder sensor looks
    nightly_cron: str = "0 2 * * *"  # when the nightly refresh runs (Asia/Makassar); an operator may move it
    reader_memory_mb: int = 1024  # address space of the process that reads workbooks
    reader_timeout_s: float = 120.0  # wall-clock time to read one workbook
    # Retention (UU 27/2022 PDP), in days; applied by every run and `ppa retention` (retention.py)
    retain_archive_days: int = 1825  # an archived original, after its file left every drop folder
    retain_feedback_days: int = 365  # a feedback workbook (a copy of the agency's rows), after the file arrived
    retain_ledger_days: int = 1825  # the ledger line (name, counts) of a file that left the drop folder

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse_dir / "warehouse.duckdb"

    @property
    def analytics_path(self) -> Path:
        return self.warehouse_dir / "analytics.duckdb"


def settings() -> Settings:
    """Read the settings from the environment (called at use, never cached)."""
    registry = os.environ.get("PPA_REGISTRY")
    return Settings(
        raw_dir=_dir("PPA_RAW_DIR", "data/raw"),
        warehouse_dir=_dir("PPA_WAREHOUSE_DIR", "data/warehouse"),
        reports_dir=_dir("PPA_REPORTS_DIR", "data/reports"),
        archive_dir=_dir("PPA_ARCHIVE_DIR", "data/archive"),
        registry_path=Path(registry).resolve() if registry else SCHEMAS_DIR / "agencies.yaml",
        releases_dir=_dir("PPA_RELEASES_DIR", "data/releases"),
        max_file_bytes=int(os.environ.get("PPA_MAX_FILE_MB", "50")) * 1024 * 1024,
        max_rows_per_sheet=int(os.environ.get("PPA_MAX_ROWS_PER_SHEET", "200000")),
        lock_timeout_s=float(os.environ.get("PPA_LOCK_TIMEOUT_S", "600")),
        duckdb_memory_limit=os.environ.get("PPA_DUCKDB_MEMORY_LIMIT", "256MB"),
        suppression_k=int(os.environ.get("PPA_SUPPRESSION_K", "5")),
        workers=int(workers) if (workers := os.environ.get("PPA_WORKERS", "").strip()) else None,
        debug=os.environ.get("PPA_DEBUG") == "1",
        reload=os.environ.get("PPA_RELOAD") == "1",
        settle_seconds=float(os.environ.get("PPA_SETTLE_SECONDS", "10")),
        sensor_interval_s=int(os.environ.get("PPA_SENSOR_INTERVAL_S", "30")),
        nightly_cron=os.environ.get("PPA_NIGHTLY_CRON", "0 2 * * *"),
        reader_memory_mb=int(os.environ.get("PPA_READER_MEMORY_MB", "1024")),
        reader_timeout_s=float(os.environ.get("PPA_READER_TIMEOUT_S", "120")),
        retain_archive_days=int(os.environ.get("PPA_RETAIN_ARCHIVE_DAYS", "1825")),
        retain_feedback_days=int(os.environ.get("PPA_RETAIN_FEEDBACK_DAYS", "365")),
        retain_ledger_days=int(os.environ.get("PPA_RETAIN_LEDGER_DAYS", "1825")),
    )


def default_dagster_home() -> Path:
    return project_root() / "dagster_home"


def ensure_dagster_home() -> Path:
    """Use DAGSTER_HOME when set, else the project's own instance folder."""
    home = os.environ.get("DAGSTER_HOME")
    path = Path(home).resolve() if home else default_dagster_home()
    path.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(path)
    return path
