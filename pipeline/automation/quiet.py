"""Whether a refresh would change anything: the stamp of the last full run.

A full run writes `<warehouse>/refresh.json` after its last write (asset meta/refresh_stamp):
- a digest per area of every file the pipeline reads or writes, from a listing (name, type,
  size, modification and change times in ns, inode): each agency's drop folder with its
  feedback, anything else in the drop root, the archive, the warehouse folder (the warehouse
  file, public tables, Parquet, analytics copies) and the reports;
- a digest of the settings, the registry, the keys, the package's code and the libraries;
- `valid_until`: the first moment at which the calendar alone changes an output (a month
  starts, a month falls due in an agency's time zone, a retention period ends, a report date
  of a kept slice stops being in the future).
It is written only when every agency's folder still gives the slice the run loaded (hashed,
as a run checks it), so a file changed during the run is read by the next one.

The nightly schedule and `ppa run` start no run when the state now has the same digests and
`valid_until` has not come: such a run would keep every slice and rewrite nothing (see
tests/test_quiet_night.py). Any write by anyone (a sensor run, `ppa approve`, `ppa dq
review`, `ppa erase`, a restored backup, a deleted or touched output, a new file) changes a
time, a size or an inode, and the next night runs. A run that failed leaves no stamp.

The standard library only (and the pipeline's registry): `ppa run` decides before importing
Dagster.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.config import Settings

STAMP_FILE = "refresh.json"
FORMAT = 1
LIBRARIES = ("dagster", "duckdb", "pandas", "numpy", "pandera", "great_expectations", "scipy", "openpyxl",
             "python-calamine", "odfpy", "cryptography")
UTC = dt.UTC


def stamp_path(cfg: Settings) -> Path:
    return cfg.warehouse_dir / STAMP_FILE


def _bytes(text: str) -> bytes:
    """A name as the file system gave it (bytes that are not UTF-8 included)."""
    return text.encode("utf-8", "surrogateescape")


def _listing(root: Path, skip: Iterable[Path] = (), locks: bool = True) -> str:
    """A digest of every entry under `root` (links not followed): name, type, size, times, inode;
    `locks=False` leaves out lock files (a reader's shared lock touches the warehouse's)."""
    digest = hashlib.sha256()
    skipped = {str(p) for p in skip}
    if not root.exists():
        return "absent"
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files) + dirs:
            path = os.path.join(folder, name)
            if path in skipped or (not locks and name.endswith(".lock")):
                continue
            try:
                st = os.lstat(path)
            except OSError:  # gone while listed: a change, seen as one
                digest.update(_bytes(f"{path}\0gone\n"))
                continue
            digest.update(_bytes(f"{os.path.relpath(path, root)}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0"
                                 f"{st.st_ctime_ns}\0{st.st_ino}\n"))
    return digest.hexdigest()[:24]


def areas(cfg: Settings, agencies: list[str]) -> dict[str, str]:
    """The listing digest of each area the pipeline reads or writes."""
    stamp = stamp_path(cfg)
    out = {f"raw/{code}": _listing(cfg.raw_dir / code) for code in agencies}
    registered = {cfg.raw_dir / code for code in agencies}
    digest = hashlib.sha256()
    if cfg.raw_dir.is_dir():  # files and folders beside the agencies' (strays, folders of agencies not registered)
        for entry in sorted(os.scandir(cfg.raw_dir), key=lambda e: e.name):
            if Path(entry.path) in registered:
                continue
            try:
                inside = _listing(Path(entry.path)) if entry.is_dir(follow_symlinks=False) else ""
                digest.update(_bytes(f"{entry.name}\0{inside}\0{entry.stat(follow_symlinks=False).st_mtime_ns}\n"))
            except OSError:  # gone while listed: a change, seen as one
                digest.update(_bytes(f"{entry.name}\0gone\n"))
    out["raw (other)"] = digest.hexdigest()[:24]
    out["archive"] = _listing(cfg.archive_dir)
    out["warehouse"] = _listing(cfg.warehouse_dir, skip=[stamp], locks=False)
    out["reports"] = _listing(cfg.reports_dir)
    return out


def _file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "absent"


def setup_digest(cfg: Settings) -> str:
    """The settings, every PPA_* variable, the registry, the keys, the package's code and the
    libraries' versions, as one digest (a key's bytes only through it)."""
    import importlib.metadata

    from pipeline.privacy import KEYS, key_file
    from pipeline.versions import source_hash

    digest = hashlib.sha256()
    digest.update(repr(cfg).encode())
    digest.update(json.dumps(sorted((k, v) for k, v in os.environ.items() if k.startswith("PPA_"))).encode())
    digest.update(_file_digest(cfg.registry_path).encode())
    for what in KEYS:  # a key in a file: its bytes (one given in a variable is among the PPA_* above)
        path = key_file(what)
        digest.update(_file_digest(path).encode() if path else b"-")
    digest.update(source_hash(("",)).encode())
    for lib in LIBRARIES:
        try:
            digest.update(f"{lib}={importlib.metadata.version(lib)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{lib}=-".encode())
    return digest.hexdigest()[:24]


# ---------------------------------------------------------------- the calendar
def local_midnight(day: dt.date, tz: str) -> dt.datetime:
    """Midnight starting `day` in time zone `tz`, as naive UTC."""
    return dt.datetime.combine(day, dt.time(), ZoneInfo(tz)).astimezone(UTC).replace(tzinfo=None)


def _month_days(year: int, month: int, due_day: int | None) -> list[dt.date]:
    """The days of a month on which a month-based output can change: its first day (the month
    grid grows, the staleness warning moves, a year starts), the due day and the day after."""
    if due_day is None:
        return [dt.date(year, month, 1)]
    last = calendar.monthrange(year, month)[1]
    return [dt.date(year, month, 1), dt.date(year, month, min(due_day, last)),
            dt.date(year, month, min(due_day + 1, last))]


def next_calendar_change(zones: Iterable[tuple[str, int | None]], now: dt.datetime) -> tuple[dt.datetime, str]:
    """The first moment after `now` (naive UTC) at which a month starts or falls due in any of
    the (time zone, report_due_day) pairs, with what it is. UTC's month start is among them (the
    feedback page judges staleness by the run's month)."""
    best: tuple[dt.datetime, str] | None = None
    for tz, due_day in set(zones) | {("UTC", None)}:
        local = now.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).date()
        for year, month in ((local.year, local.month), _next_month(local.year, local.month)):
            for day in _month_days(year, month, due_day):
                moment = local_midnight(day, tz)
                if moment > now and (best is None or moment < best[0]):
                    what = "awal bulan / a month starts" if day.day == 1 else \
                        f"laporan jatuh tempo tanggal {due_day} / reports fall due on day {due_day}"
                    best = (moment, f"{what} ({tz})")
    assert best is not None
    return best


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


# ---------------------------------------------------------------- the stamp
@dataclass
class Decision:
    skip: bool
    reason: str  # for the person reading: why the run is skipped or started (Indonesian / English)
    stamp: dict = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)  # areas that changed since the stamp


def read_stamp(cfg: Settings) -> dict | None:
    try:
        data = json.loads(stamp_path(cfg).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def decide(cfg: Settings, agencies: list[str], now: dt.datetime | None = None) -> Decision:
    """Whether a full refresh now would change nothing (skip) or must run, and why."""
    now = now or dt.datetime.now(UTC).replace(tzinfo=None)
    stamp = read_stamp(cfg)
    if stamp is None:
        return Decision(False, "belum ada run penuh yang tercatat / no full run recorded yet")
    until = dt.datetime.fromisoformat(stamp["valid_until"])
    if now >= until:
        return Decision(False, f"{stamp['valid_why']} sejak / since {until:%Y-%m-%d %H:%M} UTC", stamp)
    if stamp["setup"] != setup_digest(cfg):
        return Decision(False, "pengaturan, registri, kunci atau kode berubah / settings, registry, keys or code "
                               "changed", stamp)
    now_areas = areas(cfg, agencies)
    changed = sorted(k for k in set(now_areas) | set(stamp["areas"]) if now_areas.get(k) != stamp["areas"].get(k))
    if changed:
        shown = ", ".join(changed[:5]) + (f" (+{len(changed) - 5})" if len(changed) > 5 else "")
        return Decision(False, f"berubah sejak run terakhir / changed since the last run: {shown}", stamp, changed)
    return Decision(True, (
        f"Tidak ada yang berubah sejak run {stamp['run_id'][:8]} ({stamp['written_at'][:16]} UTC): tidak ada file "
        f"baru, berubah atau dihapus, dan kalender belum mengubah apa pun; run tidak dijalankan. / Nothing changed "
        f"since run {stamp['run_id'][:8]}: no file new, changed or removed, nothing due by the calendar; no run "
        f"started. Berlaku sampai / valid until {until:%Y-%m-%d %H:%M} UTC ({stamp['valid_why']})."), stamp)


def make_stamp(cfg: Settings, agencies: list[str], run_id: str, now: dt.datetime) -> dict:
    """The stamp without its validity (valid_until, valid_why: the caller's to add)."""
    return {"format": FORMAT, "run_id": run_id, "written_at": now.isoformat(timespec="seconds"),
            "setup": setup_digest(cfg), "areas": areas(cfg, agencies)}


def write_stamp(cfg: Settings, stamp: dict) -> Path:
    """Written under a temporary name and renamed (a reader sees the old stamp or the new)."""
    from pipeline.safefs import atomic_write

    text = json.dumps(stamp, indent=1, sort_keys=True).encode()
    return atomic_write(stamp_path(cfg), lambda handle: handle.write(text), cfg.warehouse_dir, mode=0o600)


def forget(cfg: Settings) -> bool:
    """The stamp removed (a run that was partial or failed): the next night runs."""
    try:
        stamp_path(cfg).unlink()
        return True
    except FileNotFoundError:
        return False
