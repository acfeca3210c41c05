"""Folders and settings, each overridable by an environment variable."""

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
    max_file_bytes: int
    max_rows_per_sheet: int
    reader_memory_mb: int  # address space of the process that reads workbooks
    reader_timeout_s: float  # wall-clock time to read one workbook

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
        max_file_bytes=int(os.environ.get("PPA_MAX_FILE_MB", "50")) * 1024 * 1024,
        max_rows_per_sheet=int(os.environ.get("PPA_MAX_ROWS_PER_SHEET", "200000")),
        reader_memory_mb=int(os.environ.get("PPA_READER_MEMORY_MB", "1024")),
        reader_timeout_s=float(os.environ.get("PPA_READER_TIMEOUT_S", "120")),
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
