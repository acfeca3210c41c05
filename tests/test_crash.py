"""Crash safety and exact re-runs.

`ppa run` is killed with SIGKILL at points spread over its writing phase while
its input flips between an "old" and a "new" version of every agency's folder.
After each kill the warehouse opens, every agency's raw rows, staged rows,
rejects, sheets and ledger belong to one version, and the analytics copy opens.
The run after the last kill gives the marts an uninterrupted run gives.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from helpers import query, run_pipeline
from workbooks import register, row

from pipeline.warehouse.db import connect

PPA = str(Path(sys.executable).parent / "ppa")
AGENCIES = {"kukar": "Tenggarong", "ppu": "Penajam", "bontang": "Bontang Utara"}
VERSIONS = {"old": 400, "new": 600}  # victims per agency in each version


# ---------------------------------------------------------------- marts, compared

# When a warehouse first saw a file: another warehouse sees the same bytes at another time.
RECEIVED = ("first_reported_at",)


def contents(db: Path, schema: str = "marts", exclude: tuple[str, ...] = RECEIVED) -> dict[str, list[tuple]]:
    """Every table of a schema as sorted rows (the columns in `exclude` left out)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1", [schema]).fetchall()]
        out = {}
        for table in tables:
            columns = [r[0] for r in con.execute(f"DESCRIBE {schema}.{table}").fetchall() if r[0] not in exclude]
            select = ", ".join(f'"{c}"' for c in columns)
            out[table] = [tuple(map(repr, r)) for r in con.execute(f"SELECT {select} FROM {schema}.{table}").fetchall()]
            out[table].sort()
        return out
    finally:
        con.close()


def assert_same(a: dict[str, list[tuple]], b: dict[str, list[tuple]]) -> None:
    assert sorted(a) == sorted(b) and a["yoy_by_region"], "nothing to compare"
    for table in a:
        assert a[table] == b[table], table


# ---------------------------------------------------------------- two versions of every folder

def write_version(raw: Path, version: str, scratch: Path) -> dict[str, set[str]]:
    """Replace every agency's folder with one version; agency -> sha256 of its files."""
    from pipeline.ingest.dropfolder import sha256_file

    shas = {}
    for agency, kecamatan in AGENCIES.items():
        folder = raw / agency
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        source = scratch / version / agency
        if not source.exists():
            rows = [row(case_id=f"{version}-{agency}-{i}", kecamatan=kecamatan, age=f"{i % 60} th",
                        report=dt.date(2023 + i % 2, 1 + i % 12, 1 + i % 28), incident=dt.date(2023, 1, 1))
                    for i in range(VERSIONS[version])]
            rows.append(row(case_id=f"{version}-{agency}-REJ", sex=None))  # one rejected row per version
            register(source / f"register_{version}.xlsx", rows)
            good = (source / f"register_{version}.xlsx").read_bytes()
            (source / f"rusak_{version}.xlsx").write_bytes(good[: len(good) // 3])  # one damaged file
        for path in source.iterdir():
            shutil.copy2(path, folder / path.name)
        shas[agency] = {sha256_file(p) for p in folder.iterdir()}
    return shas


def version_of(con: duckdb.DuckDBPyConnection, agency: str, shas: dict[str, dict[str, set[str]]]) -> str:
    """The one version an agency's whole slice holds; fails if its tables disagree."""
    def one(sql: str) -> set:
        return {r[0] for r in con.execute(sql, [agency]).fetchall()}

    seen = {
        "raw": {c.split("-")[0] for c in one("SELECT case_id FROM raw.case_rows WHERE agency = ?")},
        "staged": {c.split("-")[0] for c in one("SELECT case_id FROM staging.case_victims WHERE agency = ?")},
        "rejected": {c.split("-")[0] for c in one("SELECT case_id FROM staging.rejected_rows WHERE agency = ?")},
        "sheets": {v for v, s in shas.items() if one("SELECT sha256 FROM meta.sheets WHERE agency = ?") <= s[agency]},
        "ledger": {v for v, s in shas.items()
                   if one("SELECT sha256 FROM meta.ingest_log WHERE agency = ? AND status <> 'removed'") == s[agency]},
    }
    versions = set.union(*seen.values())
    assert len(versions) == 1 and all(len(v) == 1 for v in seen.values()), (agency, seen)
    version = versions.pop()
    counts = con.execute("SELECT (SELECT count(*) FROM raw.case_rows WHERE agency = $1), "
                         "(SELECT count(*) FROM staging.case_victims WHERE agency = $1), "
                         "(SELECT count(*) FROM staging.rejected_rows WHERE agency = $1)", [agency]).fetchone()
    assert counts == (VERSIONS[version] + 1, VERSIONS[version], 1), (agency, version, counts)
    return version


# ---------------------------------------------------------------- killing ppa run

# `ppa run -vv` with every agency transaction announced and held open a little longer (0.1 s after
# each insert), so that kills can be aimed inside one
SLOW_WRITER = """
import sys, time
import pipeline.ingest.run as run
import pipeline.warehouse.db as warehouse

real_insert, real_replace = warehouse.insert_frame, warehouse.replace_agency_slices

def slow_insert(con, table, frame):
    n = real_insert(con, table, frame)
    time.sleep(0.1)
    return n

def announced(con, agency, frames):
    print(f"TXN BEGIN {agency};", flush=True)
    real_replace(con, agency, frames)
    print(f"TXN COMMIT {agency};", flush=True)

warehouse.insert_frame = slow_insert
run.replace_agency_slices = announced
from pipeline.cli import main
sys.exit(main(["run", "-vv"]))
"""


class Run:
    """`ppa run -vv` (Dagster's log of every event) in a subprocess; notes when each step (and agency
    transaction) starts and ends."""

    def __init__(self, slow_writer: bool = False):
        command = [sys.executable, "-c", SLOW_WRITER] if slow_writer else [PPA, "run", "-vv"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=os.environ.copy(), start_new_session=True)
        self.events: dict[str, float] = {}  # "<step> STEP_START" / "<step> STEP_SUCCESS" -> monotonic time
        self.output = ""
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.output = (self.output + line)[-20000:]
            # stdout and stderr share the pipe: a log line may be glued to a TXN line
            for what, agency in re.findall(r"TXN (BEGIN|COMMIT) (\w+);", line):
                with self.changed:
                    self.events[f"txn {agency} {what}"] = time.monotonic()
                    self.changed.notify_all()
            parts = [p.strip() for p in line.split(" - ")]
            for marker in ("STEP_START", "STEP_SUCCESS"):
                if marker in parts[1:]:
                    with self.changed:
                        self.events[f"{parts[parts.index(marker) - 1]} {marker}"] = time.monotonic()
                        self.changed.notify_all()
        with self.changed:
            self.events["exit"] = time.monotonic()
            self.changed.notify_all()

    def kill(self, step: str, delay: float) -> str:
        """SIGKILL `delay` seconds after `step` (or "txn <agency>") started; where it landed."""
        begin = f"{step} BEGIN" if step.startswith("txn ") else f"{step} STEP_START"
        with self.changed:
            self.changed.wait_for(lambda: begin in self.events or "exit" in self.events, timeout=180)
        start = self.events.get(begin)
        if start is not None:
            time.sleep(max(0.0, start + delay - time.monotonic()))
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(60)
        self.reader.join(10)
        if self.proc.returncode != -signal.SIGKILL:
            return f"finished (exit {self.proc.returncode})"
        if step.startswith("txn "):
            return f"{step} (uncommitted)" if f"{step} COMMIT" not in self.events else f"after {step} COMMIT"
        running = [e[: -len(" STEP_START")] for e in self.events if e.endswith(" STEP_START")
                   and e.replace("START", "SUCCESS") not in self.events]
        return running[-1] if running else "between steps"

    def finish(self) -> tuple[int, dict[str, float]]:
        """Wait for the run; its exit code and how long each step took."""
        code = self.proc.wait(300)
        self.reader.join(10)
        took = {e[: -len(" STEP_START")]: self.events[e.replace("START", "SUCCESS")] - t
                for e, t in self.events.items() if e.endswith("STEP_START") and e.replace("START", "SUCCESS") in self.events}
        return code, took


# where the kills go: inside agency transactions (held open), the steps that write the warehouse or
# the analytics copy, and how many in each
KILL_PLAN = (("txn", 5), ("agency_load", 1), ("marts", 2), ("analytics__warehouse_copy", 1), ("public_tables", 1))
TXN_SECONDS = 0.7  # 7 tables, 0.1 s held after each insert


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_every_slice_old_or_new_and_the_next_run_completes(isolated_env, tmp_path):
    raw, wh = isolated_env["raw"], isolated_env["warehouse"]
    scratch = tmp_path / "versions"
    shas = {"old": write_version(raw, "old", scratch), "new": write_version(raw, "new", scratch)}

    # the reference: "new" loaded by one uninterrupted run into folders of its own (while the first run goes on)
    ref = tmp_path / "reference"
    write_version(ref / "raw", "new", scratch)
    (ref / "home").mkdir()
    shutil.copy(isolated_env["dagster_home"] / "dagster.yaml", ref / "home")
    env = {**os.environ, "PPA_RAW_DIR": str(ref / "raw"), "PPA_WAREHOUSE_DIR": str(ref / "warehouse"),
           "PPA_ARCHIVE_DIR": str(ref / "archive"), "DAGSTER_HOME": str(ref / "home")}
    reference = subprocess.Popen([PPA, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    write_version(raw, "old", scratch)
    first = Run()
    code, took = first.finish()  # an uninterrupted first run, which times the steps
    assert code == 0, first.output[-3000:]
    assert reference.wait(300) == 0
    expected = contents(ref / "warehouse" / "warehouse.duckdb")
    print("steps (s): " + ", ".join(f"{step} {took[step]:.2f}" for step, _ in KILL_PLAN if step in took))

    rng = random.Random(20240601)
    version, before, outcomes = "old", {agency: "old" for agency in AGENCIES}, []
    plan = [(step, (k + rng.random()) / n) for step, n in KILL_PLAN for k in range(n)]  # spread over each step
    for i, (step, fraction) in enumerate(plan):
        version = "new" if version == "old" else "old"
        write_version(raw, version, scratch)
        if step == "txn":  # inside the transaction of one agency
            step = f"txn {list(AGENCIES)[i % len(AGENCIES)]}"
            delay = TXN_SECONDS * fraction
            run = Run(slow_writer=True)
        else:
            delay = took[step] * fraction
            run = Run()
        landed = run.kill(step, delay)
        with connect(wh / "warehouse.duckdb") as con:  # opens (a killed writer's WAL is replayed)
            states = {agency: version_of(con, agency, shas) for agency in AGENCIES}
        if (wh / "analytics.duckdb").exists():
            copy = duckdb.connect(str(wh / "analytics.duckdb"), read_only=True)
            copy.execute("SELECT count(*) FROM marts.yoy_by_region").fetchone()
            copy.close()
        committed = {a for a in AGENCIES if f"txn {a} COMMIT" in run.events}
        if landed.endswith("(uncommitted)"):  # exactly the agencies committed before the kill changed
            assert states == {a: version if a in committed else before[a] for a in AGENCIES}, (landed, states)
        outcomes.append((step, landed, states))
        print(f"kill {i + 1:2d}: {step} +{delay:.2f} s, landed in {landed}: {states}")
        before = states
    assert len(plan) >= 10
    assert sum(landed.endswith("(uncommitted)") for _, landed, _ in outcomes) >= 3, outcomes
    mixed = [states for _, _, states in outcomes if len(set(states.values())) > 1]
    print(f"{len(mixed)} kills left agencies on different versions (each slice whole)")

    write_version(raw, "new", scratch)
    result = subprocess.run([PPA, "run"], env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with duckdb.connect(str(wh / "warehouse.duckdb"), read_only=True) as con:
        assert {a: version_of(con, a, shas) for a in AGENCIES} == {a: "new" for a in AGENCIES}
    assert_same(contents(wh / "warehouse.duckdb"), expected)
    assert_same(contents(wh / "analytics.duckdb"), contents(ref / "warehouse" / "analytics.duckdb"))
    print("left in the warehouse folder:", sorted(p.name for p in wh.iterdir()))


# ---------------------------------------------------------------- exact re-runs

def files(folder: Path, names: list[str], order: tuple[int, ...] = (0, 1, 2, 3), mtime: int = 1_717_200_000) -> None:
    """Three registers and a copy of the first, under the given names, written in the given order,
    all with the same mtime."""
    def day(y, m, d):
        return {"report": dt.date(y, m, d), "incident": dt.date(y, m, d)}

    bodies = [[row(case_id=f"A{i}", **day(2024, 1 + i, 5)) for i in range(4)],
              [row(case_id=f"B{i}", sex="L", **day(2023, 2 + i, 9)) for i in range(3)] + [row(case_id="X", sex=None)],
              [row(case_id=f"C{i}", forms="Psikis", **day(2024, 6, 1 + i)) for i in range(5)]]
    folder.mkdir(parents=True, exist_ok=True)
    bodies.append(bodies[0])
    for i in order:
        register(folder / names[i], bodies[i])
    for name in names:
        os.utime(folder / name, (mtime, mtime))


def analytics(isolated_env) -> dict[str, list[tuple]]:
    return contents(isolated_env["warehouse"] / "analytics.duckdb")


@pytest.mark.slow
def test_the_same_input_twice_gives_the_same_marts(isolated_env, monkeypatch):
    files(isolated_env["raw"] / "kutim", ["a.xlsx", "b.xlsx", "c.xlsx", "a_salinan.xlsx"])
    assert run_pipeline("kutim").success
    first = contents(isolated_env["warehouse"] / "warehouse.duckdb")
    assert run_pipeline("kutim").success  # the slice is kept as it was
    assert_same(contents(isolated_env["warehouse"] / "warehouse.duckdb"), first)
    monkeypatch.setenv("PPA_RELOAD", "1")  # read and staged again
    assert run_pipeline("kutim").success
    assert_same(contents(isolated_env["warehouse"] / "warehouse.duckdb"), first)


@pytest.mark.slow
def test_other_names_and_creation_order_give_the_same_marts(isolated_env, monkeypatch, tmp_path):
    files(isolated_env["raw"] / "kutim", ["a.xlsx", "b.xlsx", "c.xlsx", "d.xlsx"])
    assert run_pipeline("kutim").success
    first = analytics(isolated_env)
    for env, sub in (("PPA_RAW_DIR", "raw"), ("PPA_WAREHOUSE_DIR", "warehouse"), ("PPA_ARCHIVE_DIR", "archive")):
        (tmp_path / "other" / sub).mkdir(parents=True)
        monkeypatch.setenv(env, str(tmp_path / "other" / sub))
    # the same bytes, created in the reverse order under other names (the copy's name now sorts first)
    files(tmp_path / "other" / "raw" / "kutim", ["zz_register.xlsx", "m 2023.xlsx", "b_2024.xlsx", "00_copy.xlsx"],
          order=(3, 2, 1, 0))
    assert run_pipeline("kutim").success
    second = contents(tmp_path / "other" / "warehouse" / "analytics.duckdb")
    assert_same(second, first)


@pytest.mark.slow
def test_dropping_the_same_file_again_changes_nothing(isolated_env):
    folder = isolated_env["raw"] / "ppu"
    files(folder, ["a.xlsx", "b.xlsx", "c.xlsx", "a_salinan.xlsx"])
    assert run_pipeline("ppu").success
    first = analytics(isolated_env)
    data = (folder / "b.xlsx").read_bytes()
    (folder / "b.xlsx").write_bytes(data)  # dropped again: same bytes, a new mtime
    assert run_pipeline("ppu").success
    assert_same(analytics(isolated_env), first)
    (folder / "b (1).xlsx").write_bytes(data)  # and once more under the name a browser gives a second download
    assert run_pipeline("ppu").success
    assert_same(analytics(isolated_env), first)
    ledger = query(isolated_env["warehouse"], "SELECT path, status FROM meta.ingest_log ORDER BY path")
    assert dict(ledger.values.tolist())["ppu/b.xlsx"] == "superseded"
