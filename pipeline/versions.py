"""Hashes of the code and data files that shape a stored result.

A run keeps what an earlier run stored when nothing it was made from changed: an
agency's slice (SLICE), the rows read from a file with the same bytes (PARSER), a
feedback workbook (FEEDBACK). Each names, as an allow-list, the folders and files of
the package it is made by; folders are hashed with everything in them, at any depth.
tests/test_versions.py fails when a module that such code imports is not listed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from pipeline.config import PACKAGE_DIR

# Reading a workbook into raw rows and sheet records.
# (ingest/read.py makes the sheet records from what the workbook gave, masking sheet names and headers,
# with each sheet's coverage from ingest/coverage.py)
PARSER = ("ingest/__init__.py", "ingest/archive.py", "ingest/container.py", "ingest/coverage.py", "ingest/limits.py",
          "ingest/scanners.py", "ingest/zipparts.py",
          "ingest/dropfolder.py", "ingest/read.py", "ingest/reader.py", "ingest/rows.py", "ingest/workbook.py",
          "ingest/recap.py", "ingest/agency_match.py", "registry.py", "schemas/agencies.yaml", "staging/__init__.py",
          "staging/values.py", "warehouse/__init__.py", "warehouse/tables.py", "config.py", "contract.py", "messages.py",
          "names.py", "privacy.py", "safefs.py", "versions.py", "schemas/contract.yaml", "schemas/messages.yaml")
# An agency's whole slice: reading, staging, the ledger, the tables they are written to.
SLICE = ("ingest", "staging", "warehouse", "config.py", "contract.py", "messages.py", "names.py", "parallel.py",
         "privacy.py", "registry.py", "safefs.py", "versions.py", "schemas/contract.yaml", "schemas/messages.yaml")
# A feedback workbook, receipt or page for agency staff.
# (feedback reads files again and stages a dry run for a file not yet dropped; the summary page words
# month statuses, changes and flags as the marts do)
FEEDBACK = ("feedback", "ingest", "staging", "warehouse", "marts/__init__.py", "marts/completeness.py",
            "marts/quality.py", "marts/stats.py", "config.py", "contract.py", "messages.py", "names.py",
            "privacy.py", "registry.py", "safefs.py", "versions.py", "schemas/contract.yaml", "schemas/messages.yaml",
            "schemas/feedback_messages.yaml", "marts/__init__.py", "marts/data_end.py")


def files_of(sources: Iterable[str]) -> list[Path]:
    """Every file the sources name, in a stable order (compiled files left out)."""
    out: set[Path] = set()
    for source in sources:
        path = PACKAGE_DIR / source
        if path.is_dir():
            out.update(p for p in path.rglob("*") if p.is_file() and p.suffix != ".pyc")
        elif path.is_file():
            out.add(path)
        else:
            raise FileNotFoundError(f"versions: {source} names no file or folder of the package")
    return sorted(out)


@lru_cache(maxsize=8)
def source_hash(sources: tuple[str, ...]) -> str:
    """One hash of the named files: their paths within the package and their bytes."""
    digest = hashlib.sha256()
    for path in files_of(sources):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
