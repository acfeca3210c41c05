"""What the benchmarks share: run folders, the environment of a run, timed subprocesses."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SOURCE = REPO  # where measured processes import the pipeline from (see snapshot_source)
BENCH_SECRET = "ppa-bench-secret-for-the-keyed-hashes"


def snapshot_source(work: Path) -> Path:
    """Copy pipeline/, bench/ and pyproject.toml to <work>/src and measure that copy from now on.

    Other engineers edit the working tree while the bench runs; without a copy, a run in the
    middle could import other code than the run before (and a change to excel.py changes the
    parser version, so W3 would parse every file again).
    """
    global SOURCE
    src = work / "src"
    shutil.rmtree(src, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "results")
    shutil.copytree(REPO / "pipeline", src / "pipeline", ignore=ignore)
    shutil.copytree(REPO / "bench", src / "bench", ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", src / "pyproject.toml")
    (src / "dagster_home").mkdir()
    shutil.copy2(REPO / "dagster_home" / "dagster.yaml", src / "dagster_home" / "dagster.yaml")
    SOURCE = src
    sys.path.insert(0, str(src))  # this process too (W4 and the generator import the pipeline)
    return src


def source_hash() -> str:
    """A hash of the measured pipeline/ code."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((SOURCE / "pipeline").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(SOURCE).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def python_env(work: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every measured process: bytecode cached (outside the repository).

    Some shells set PYTHONDONTWRITEBYTECODE, which makes every process compile dagster,
    pandas and great_expectations from source (about 5 s each); a user's venv keeps .pyc files.
    """
    env = dict(os.environ if base is None else base)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["PYTHONPATH"] = os.pathsep.join([str(SOURCE), *filter(None, [env.get("PYTHONPATH")])])
    return env


def use_bytecode_cache(work: Path) -> None:
    """The same for this process (imports after this call read and write the cache)."""
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(work / "pycache")


def warm_bytecode(work: Path) -> float:
    """Import what a run imports once, so no measurement pays for compiling it."""
    code = ("import pipeline.cli, pipeline.definitions, pipeline.sample.generate, pipeline.feedback.workbook, pipeline.publish.public, "
            "great_expectations, pandera.pandas, openpyxl, duckdb, python_calamine, odf.opendocument, tabulate")
    t0 = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], env=python_env(work), cwd=SOURCE, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def ppa_command() -> list[str]:
    """`ppa` as the measured code starts it: `python -m pipeline.cli` runs the entry of the code on
    PYTHONPATH (the working tree's copy, or --before's), where the installed console script names
    the entry of the code installed, which another commit may not have."""
    return [PYTHON, "-m", "pipeline.cli"]


@dataclass
class RunDir:
    """One run's folders (<work>/runs/<name>/): raw, warehouse, archive, reports, the Dagster instance."""

    root: Path
    registry: Path

    @property
    def work(self) -> Path:
        return self.root.parent.parent

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PPA_") and k != "DAGSTER_HOME"}
        env = python_env(self.work, env)
        env.update(
            PPA_RAW_DIR=str(self.raw), PPA_WAREHOUSE_DIR=str(self.warehouse),
            PPA_ARCHIVE_DIR=str(self.root / "archive"), PPA_REPORTS_DIR=str(self.root / "reports"),
            PPA_REGISTRY=str(self.registry), DAGSTER_HOME=str(self.dagster_home),
            PPA_SECRET_FILE=str(self.secret_file()), PYTHONWARNINGS="ignore",
            # the archive's key beside the data, not in the measured code's copy: that copy is made
            # again by every bench run, and a new key there could not open the archive of the last
            PPA_ARCHIVE_KEY_FILE=str(self.work / "ppa_archive_key"),
        )
        return env

    def secret_file(self) -> Path:
        """The key in a file, as a default install keeps it (.ppa_secret), not in PPA_HASH_SECRET:
        the two cost differently. A fixed key, so runs never create .ppa_secret in the repository."""
        path = self.work / "ppa_secret"
        if not path.exists() or path.read_text() != BENCH_SECRET:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(BENCH_SECRET)
            path.chmod(0o600)
        return path

    def reset_state(self) -> None:
        """Empty warehouse, archive, reports and instance: the next run reads every file."""
        for name in ("warehouse", "archive", "reports", "dagster_home"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        self.dagster_home.mkdir(parents=True)
        shutil.copy(SOURCE / "dagster_home" / "dagster.yaml", self.dagster_home / "dagster.yaml")


def cpu_busy_seconds() -> float:
    """CPU time used by the whole machine since boot (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(max_wait_s: float, log=print, threshold: float = 0.25) -> float:
    """Wait (up to max_wait_s) until other processes use less than `threshold` of a core; return it."""
    deadline = time.monotonic() + max_wait_s
    warned = False
    while True:
        before = cpu_busy_seconds()
        time.sleep(2)
        busy = (cpu_busy_seconds() - before) / 2
        if busy < threshold or time.monotonic() > deadline:
            return busy
        if not warned:
            log(f"the machine is busy ({busy:.1f} cores used by other processes); waiting up to {max_wait_s:.0f} s")
            warned = True


@dataclass
class Measured:
    rc: int
    wall_s: float
    max_rss_mb: float
    started: float  # time.time() when the process started
    log: Path
    cpu_s: float = 0.0  # CPU time of the process and its children
    others_cores: float = 0.0  # average cores used by other processes meanwhile (noise)
    tree_rss_mb: float = 0.0  # peak of the summed RSS of the process and its live children (sampled)


def _tree_rss_kb(pid: int) -> int:
    """RSS of a process and all its descendants now, from /proc (0 for a process that is gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


class TreeRss:
    """Samples the summed RSS of a process tree every `every` seconds in a thread: peak RSS
    from wait4 is that of the largest single process, which hides worker processes."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        import threading

        self.pid, self.every, self.peak_kb = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.pid))
            self._stop.wait(self.every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kb / 1024


def run_measured(cmd: list[str], env: dict[str, str] | None, log: Path, cwd: Path | None = None) -> Measured:
    """Run a command; wall time, peak RSS of its largest process (wait4) and peak RSS of the
    whole process tree, workers included (sampled every 0.2 s)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        busy0 = cpu_busy_seconds()
        started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd or SOURCE, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeRss(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        tree_mb = sampler.stop()
        busy = cpu_busy_seconds() - busy0
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(proc.returncode, wall, usage.ru_maxrss / 1024, started, log, cpu,
                    max(0.0, (busy - cpu) / wall) if wall > 0 else 0.0, max(tree_mb, usage.ru_maxrss / 1024))


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def run_events(dagster_home: Path, run_id: str | None = None) -> dict:
    """Step durations and materialization times of a run from the Dagster instance."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)  # dagster.yaml places the event log from it
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        if run_id is None:
            records = instance.get_run_records(limit=1)
            if not records:
                return {}
            run_id = records[0].dagster_run.run_id
        starts: dict[str, float] = {}
        steps: dict[str, float] = {}
        materialized: dict[str, float] = {}
        first = last = None
        for entry in instance.all_logs(run_id):
            first = entry.timestamp if first is None else min(first, entry.timestamp)
            last = entry.timestamp if last is None else max(last, entry.timestamp)
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type_value
            if kind == "STEP_START":
                starts[entry.step_key] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and entry.step_key in starts:
                steps[entry.step_key] = entry.timestamp - starts[entry.step_key]
            elif kind == "ASSET_MATERIALIZATION":
                key = "/".join(event.asset_key.path)
                materialized[key] = entry.timestamp
    return {"run_id": run_id, "steps": steps, "materialized": materialized, "first": first, "last": last,
            "first_step": min(starts.values()) if starts else None}


def run_id_from_log(log: Path) -> str | None:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("run ") and ":" in line:
            return line.split()[1].rstrip(":")
    return None


def machine_info() -> dict:
    def version(pkg: str) -> str | None:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "pipeline"],
                                    capture_output=True, text=True).stdout.strip())
    except OSError:
        commit, dirty = None, None
    return {
        "nproc": os.cpu_count(), "ram_gib": ram_gib, "cpu": cpu, "python": platform.python_version(),
        "platform": platform.platform(), "git_commit": commit, "pipeline_dirty": dirty,
        "measured_source": str(SOURCE), "pipeline_hash": source_hash(),
        "versions": {p: version(p) for p in ("duckdb", "pandas", "dagster", "pandera", "python-calamine",
                                               "openpyxl", "great-expectations", "numpy")},
    }
