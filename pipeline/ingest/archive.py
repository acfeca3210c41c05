"""The content-addressed archive of every file read (PPA_ARCHIVE_DIR).

Each file is stored once as <archive>/<sha[:2]>/<sha><suffix> before its rows
are loaded, so the exact bytes behind every row can be given back even after
the agency overwrites or deletes its file. The archive holds personal data:
it stays outside the warehouse and is for the pipeline's operators only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def archive_path(archive_dir: Path, sha256: str, suffix: str) -> Path:
    return archive_dir / sha256[:2] / f"{sha256}{suffix.lower()}"


def store(source: Path, sha256: str, archive_dir: Path) -> Path:
    """Copy a file into the archive (once); the copy is atomic."""
    target = archive_path(archive_dir, sha256, source.suffix)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return target


def find(archive_dir: Path, sha_prefix: str) -> list[Path]:
    """Archived files whose hash starts with the prefix (at least 6 characters)."""
    prefix = sha_prefix.lower()
    if len(prefix) < 6 or not all(c in "0123456789abcdef" for c in prefix):
        raise ValueError("give at least 6 hexadecimal characters of the sha256")
    folder = archive_dir / prefix[:2]
    return sorted(p for p in folder.glob(f"{prefix}*") if not p.name.startswith(".")) if folder.is_dir() else []


def restore(archive_dir: Path, sha_prefix: str, to_dir: Path, name: str | None = None) -> Path:
    """Copy an archived file back out, under its original name when known."""
    matches = find(archive_dir, sha_prefix)
    if not matches:
        raise FileNotFoundError(f"no archived file with sha256 {sha_prefix}")
    if len(matches) > 1:
        raise ValueError(f"{len(matches)} archived files start with {sha_prefix}; give more characters")
    source = matches[0]
    to_dir.mkdir(parents=True, exist_ok=True)
    target = to_dir / (name or source.name)
    shutil.copyfile(source, target)
    return target
