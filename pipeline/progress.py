"""The progress lines a run logs and `ppa run` reads back from the run's events.

A step that works agency by agency logs, after each batch, one line naming the agencies it has
finished (one Dagster event per batch, not per agency). `ppa run` listens to the run's events
and moves its progress bar by what `finished` finds in them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LINE = re.compile(r"^\[(?P<step>[\w.]+)\] (?P<n>\d+) agencies done: (?P<codes>[\w, ]*)$", re.MULTILINE)


def done_line(step: str, agencies: Sequence[str]) -> str:
    """The line a step logs when it has finished these agencies."""
    return f"[{step}] {len(agencies)} agencies done: {', '.join(agencies)}"


def finished(message: str) -> tuple[str, list[str]] | None:
    """(step, agencies) from a log message holding a progress line, else None."""
    match = _LINE.search(message or "")
    if match is None:
        return None
    return match["step"], [c for c in match["codes"].split(", ") if c]
