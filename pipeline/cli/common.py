"""What every `ppa` command shares: the one-line message for a mistake, the checks of what
the user typed, plain output and tables.

A mistake is a `Mistake`: one line, "ppa: <Bahasa Indonesia> / <English>", on stderr, with
exit code 2 when the command line itself is wrong (it could never work as typed) or 1 when it
could not be done now. The wording is in pipeline/schemas/cli_messages.yaml. Everything shown
that came from a file, a folder or the user is cleaned first (pipeline/names.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import os
import shutil
import stat
import sys
import textwrap
import time
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import yaml

from pipeline.config import SCHEMAS_DIR, settings
from pipeline.names import clean, escape, shown

if TYPE_CHECKING:
    import duckdb
    from rich.console import Console


RUN_TZ = "Asia/Makassar"  # times of runs, as the nightly schedule's


@lru_cache(maxsize=1)
def _messages() -> dict:
    return yaml.load((SCHEMAS_DIR / "cli_messages.yaml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


class Mistake(Exception):
    """A mistake of the user's, or something they can act on: one line, never a traceback."""

    def __init__(self, key: str, **values: object):
        spec = _messages()[key]
        safe = {k: clean(v) for k, v in values.items()}
        self.code: int = spec["code"]
        self.id_text: str = spec["id"].format(**safe)
        self.en_text: str = spec["en"].format(**safe)
        super().__init__(f"{self.id_text} / {self.en_text}")


def path_text(path: Path | str) -> str:
    """A path the user or a folder gave, as people read it (names.shown)."""
    return shown(escape(str(path)))


# ---------------------------------------------------------------- output

@lru_cache(maxsize=1)
def progress_console() -> Console:
    """The stderr console that draws progress (rich): no markup, so text from files prints as it is."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False)


def local_time(value: dt.datetime | None, timezone: str = RUN_TZ) -> str:
    """A time (naive means UTC, as the ledger and Dagster keep them) as '2026-12-05 14:50 WITA'."""
    if value is None:
        return "–"
    when = (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(ZoneInfo(timezone))
    return f"{when:%Y-%m-%d %H:%M} {when.tzname()}"


def interactive() -> bool:
    """Progress is drawn only on a terminal, and never in CI."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def width() -> int:
    return max(60, shutil.get_terminal_size((100, 24)).columns)


def say(text: object = "", stderr: bool = False) -> None:
    print(clean(text) if text != "" else "", file=sys.stderr if stderr else sys.stdout, flush=stderr)


def table(headers: list[str], rows: list[list[object]], numeric: set[int] = frozenset(), wrap_last: bool = False,
          indent: int = 0) -> list[str]:
    """Rows as aligned text under a header line; columns in `numeric` to the right. With
    `wrap_last`, the last column wraps to the terminal's width under its own start (or on the
    next lines, indented, when too little room is left). Every cell is cleaned."""
    cells = [[("–" if v is None else clean(v)) for v in row] for row in [headers, *rows]]
    fixed = len(headers) - (1 if wrap_last else 0)
    widths = [max(len(r[i]) for r in cells) for i in range(fixed)]
    lead = " " * indent

    def lines(row: list[str]) -> list[str]:
        line = lead + "  ".join(row[i].rjust(widths[i]) if i in numeric else row[i].ljust(widths[i])
                                for i in range(fixed))
        if not wrap_last:
            return [line.rstrip()]
        start = len(line) + 2
        room = width() - start
        if room >= 30:
            wrapped = textwrap.wrap(row[-1], room) or [""]
            return [(line + "  " + wrapped[0]).rstrip(), *(" " * start + more for more in wrapped[1:])]
        return [line.rstrip(), *textwrap.wrap(row[-1], width() - indent - 4, initial_indent=lead + "    ",
                                              subsequent_indent=lead + "    ")]

    head = lines(cells[0])
    body = [line for row in cells[1:] for line in lines(row)]
    rule = lead + "-" * (min(width(), max(len(line) for line in head + body)) - indent)
    return [*head, rule, *body]


# ---------------------------------------------------------------- what the user typed

def agency(code: str | None) -> str | None:
    """A registered agency code (None stays None)."""
    if code is None:
        return None
    from pipeline.registry import agency_codes

    codes = agency_codes()
    if code in codes:
        return code
    close = difflib.get_close_matches(code.lower(), codes, n=1)
    raise Mistake("unknown_agency", agency=code, registered=", ".join(codes),
                  suggestion_id=f" (maksudnya '{close[0]}'?)" if close else "",
                  suggestion_en=f" (did you mean '{close[0]}'?)" if close else "")


def existing_file(path: Path, example: str = "data/raw/kutim/register_2024.xlsx") -> Path:
    """A path that names a regular file (links followed, as the user named it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise Mistake("no_such_path", path=path_text(path)) from None
    except NotADirectoryError:
        raise Mistake("no_such_path", path=path_text(path)) from None
    except OSError as exc:
        raise Mistake("unreadable", path=path_text(path), reason=exc.strerror or type(exc).__name__) from None
    if not stat.S_ISREG(mode):
        from pipeline.safefs import kind_of

        raise Mistake("not_a_file", path=path_text(path), kind=kind_of(mode), example=example)
    return path


def existing_folder(path: Path) -> Path:
    if not path.exists():
        raise Mistake("no_such_path", path=path_text(path))
    if not path.is_dir():
        raise Mistake("not_a_folder", path=path_text(path))
    return path


def file_to_write(path: Path) -> Path:
    """A file to be written: its folder exists, and it is not itself a folder."""
    if path.is_dir():
        raise Mistake("not_a_file", path=path_text(path), kind="folder", example=path / "template.xlsx")
    existing_folder(path.parent if str(path.parent) else Path("."))
    return path


def warehouse() -> Path:
    path = settings().warehouse_path
    if not path.exists():
        raise Mistake("no_warehouse", path=path_text(path))
    return path


def analytics() -> Path:
    path = settings().analytics_path
    if not path.exists():
        raise Mistake("no_analytics", path=path_text(path))
    return path


@contextlib.contextmanager
def read_only(path: Path, wait_s: float = 3.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to a DuckDB file. A run holds the warehouse for the seconds of a
    write: wait that long, then say so."""
    import duckdb

    from pipeline.warehouse.locks import ReaderLockTimeout, reader_lock

    deadline = time.monotonic() + wait_s
    try:
        with reader_lock(path, wait_s):  # a writer waits for this reader instead of failing
            while True:
                try:
                    con = duckdb.connect(str(path), read_only=True)
                    break
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower():
                        raise
                    if time.monotonic() > deadline:
                        raise Mistake("warehouse_busy") from None
                    time.sleep(0.1)
            try:
                yield con
            finally:
                con.close()
    except ReaderLockTimeout:
        raise Mistake("warehouse_busy") from None


def debug() -> bool:
    return os.environ.get("PPA_DEBUG") == "1"


def fail(mistake: Mistake) -> int:
    """Print a mistake's one line; its exit code."""
    say(f"ppa: {mistake}", stderr=True)
    return mistake.code
