"""The content-addressed archive of every file read (PPA_ARCHIVE_DIR).

Each file is stored once as <archive>/<sha[:2]>/<sha><suffix> before its rows
are loaded, so the exact bytes behind every row can be given back even after
the agency overwrites or deletes its file. The archive holds personal data:
it stays outside the warehouse and is for the pipeline's operators only.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from pipeline import safefs
from pipeline.safefs import open_regular, safe_dir

CHUNK = 1 << 20
# partial copies: ours, and those of earlier versions (.<sha><suffix>.<pid>.tmp)
LEFTOVER = re.compile(rf"{safefs.LEFTOVER.pattern}|^\.[0-9a-f]{{64}}[.\w]*\.(\d+)\.tmp$")


class ChangedWhileCopied(OSError):
    """The bytes copied are not the bytes hashed: the file changed in between."""


def archive_path(archive_dir: Path, sha256: str, suffix: str) -> Path:
    return archive_dir / sha256[:2] / f"{sha256}{suffix.lower()}"


def store(source: Path, sha256: str, archive_dir: Path, source_root: Path | None = None,
          max_bytes: int | None = None) -> Path:
    """Copy a file into the archive (once). The copy is readable by its owner only from its
    first byte, is checked against `sha256` as it is made, and appears under its name only
    when complete; a copy that fails (a full disk, the file changed) leaves nothing behind.
    `source` is opened without following a link (below `source_root` when given); a file
    grown past `max_bytes` since it was hashed is not copied further."""
    target = archive_path(archive_dir, sha256, source.suffix)
    with safe_dir(target.parent, archive_dir) as folder:
        if folder.kind(target.name) == "file":
            return target

        def copy(out) -> None:
            digest = hashlib.sha256()
            with os.fdopen(open_regular(source, source_root), "rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
                    if max_bytes is not None and out.tell() > max_bytes:
                        break
            if digest.hexdigest() != sha256:
                raise ChangedWhileCopied(0, "changed while copied", str(source))

        folder.write(target.name, copy, mode=0o600)
    return target


def remove_leftovers(archive_dir: Path) -> list[str]:
    """Partial copies left by processes killed while copying, removed (names relative to the archive)."""
    removed: list[str] = []
    if not archive_dir.is_dir():
        return removed
    for sub in sorted(os.listdir(archive_dir)):
        if len(sub) == 2 and (archive_dir / sub).is_dir() and not (archive_dir / sub).is_symlink():
            with safe_dir(archive_dir / sub, archive_dir, create=False) as folder:
                removed += [f"{sub}/{name}" for name in folder.remove_leftovers(LEFTOVER)]
    return removed


def find(archive_dir: Path, sha_prefix: str) -> list[Path]:
    """Archived files whose hash starts with the prefix (at least 6 characters)."""
    prefix = sha_prefix.lower()
    if len(prefix) < 6 or not all(c in "0123456789abcdef" for c in prefix):
        raise ValueError("give at least 6 hexadecimal characters of the sha256")
    folder = archive_dir / prefix[:2]
    return sorted(p for p in folder.glob(f"{prefix}*") if not p.name.startswith(".")) if folder.is_dir() else []


def restore(archive_dir: Path, sha_prefix: str, to_dir: Path, name: str | None = None) -> Path:
    """Copy an archived file back out, under its original name when known."""
    from pipeline.safefs import atomic_write

    matches = find(archive_dir, sha_prefix)
    if not matches:
        raise FileNotFoundError(f"no archived file with sha256 {sha_prefix}")
    if len(matches) > 1:
        raise ValueError(f"{len(matches)} archived files start with {sha_prefix}; give more characters")
    source = matches[0]

    def copy(out) -> None:
        with os.fdopen(open_regular(source, archive_dir), "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                out.write(chunk)

    return atomic_write(Path(to_dir) / (name or source.name), copy, root=Path(to_dir), mode=0o600)
