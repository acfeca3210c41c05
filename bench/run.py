"""The benchmarks side by side: `make bench`, or

    python -m bench.run [--work /tmp/ppa-bench] [--quick] [--only W1,W2,W3,W7,BASE,W4,MEM] [--before REV]

W1    the shipped sample (data/raw, copied): `ppa run` end to end.
W2    national: 514 synthetic kab/kota x 7 years, about 250,000 victims in about 3,900 files:
      a full refresh (`ppa run` in a fresh process, empty warehouse), wall time and peak RSS;
      W6 is its time to fresh marts. Then W5: `ppa run` again with nothing changed, and the
      files it wrote.
W3    incremental: one value changed in one W2 file, then `ppa run --agency X`: time until the
      marts are rebuilt (and the whole run), how many files were parsed again and written.
W7    `ppa status`, `ppa yoy`, `ppa compare` on the loaded sample, fresh processes, median of 5.
BASE  on W2's files: (a) the floor, python-calamine alone; (b) the plain script a user would
      write (pandas + openpyxl, pandera, DuckDB). See bench/baselines.py.
W4    10 million rows made in DuckDB: the year-on-year and by-form queries (median of 5).
MEM   peak RSS of the full refresh at 1x, 2x and 4x the W2 volume (more agencies of the same
      size, so the largest file stays the same).

With --before REV, W2 (with W5), W3 and W7 run first on commit REV's code, then on the working
tree's, in the same bench run on the same files: the table shows both.

Prints the measurements and the targets, writes bench/results/latest.json, prints MISSED for
every missed target and exits 1 when one is missed (or a step failed). With --quick (50
agencies, 1M rows for W4) the targets are printed but do not change the exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import common
from bench.common import (
    PYTHON,
    REPO,
    RunDir,
    cpu_busy_seconds,
    machine_info,
    ppa_command,
    python_env,
    run_events,
    run_id_from_log,
    run_measured,
    snapshot_source,
    tail,
    use_bytecode_cache,
    wait_until_idle,
    warm_bytecode,
)
from bench.generate import DEFAULT_WORK, Params, ensure_dataset, link_raw

STEPS = ("W1", "W2", "W3", "W7", "BASE", "W4", "MEM")
BEFORE_STEPS = ("W2", "W3", "W7")  # run on --before REV's code too
RESULTS = REPO / "bench" / "results"

# Targets (issue 28; the full refresh's ratios to the floor and to the plain script were withdrawn).
NO_RUN = "Tidak ada yang berubah sejak run"  # what `ppa run` prints when it starts no run
W5_MAX_S = 5.0             # nightly run with nothing changed, whole process; and no file written
W3_MAX_S = 5.0             # one changed file: the whole run
W3_MARTS_MAX_S = 3.0       # one changed file: until the marts hold it
W6_SPEEDUP_MIN = 5.0       # plain script / W2's time to fresh marts
W7_MAX_S = 0.5             # ppa status, yoy, compare on the sample, median of fresh processes
W7_COMMANDS = (["status"], ["yoy"], ["compare", "kutim", "batam"])
MEM_GROWTH_MAX = 1.25      # peak RSS at the largest scale / at 1x (files of the same size)
W4_MAX_MS = 100.0          # per query, median


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.work: Path = args.work.resolve()
        self.logs = self.work / "logs"
        self.quick = args.quick
        self.agencies = args.agencies or (50 if args.quick else 514)
        self.params = Params(years=args.years, rows=args.rows)
        self.w4_rows = args.w4_rows or (1_000_000 if args.quick else 10_000_000)
        self.scales = [int(s) for s in (args.scales or ("1,2" if args.quick else "1,2,4")).split(",")]
        self.measurements: list[dict] = []
        self._w2_state: dict[str, tuple | None] = {}
        self.errors: list[str] = []
        self.data: dict = {}
        self.noise: dict[str, float] = {}
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.tag = ""  # "-before" while --before REV's code is measured
        self.label = ""

    # ------------------------------------------------------------------ helpers
    def log(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def add(self, workload: str, measure: str, value, unit: str = "", note: str = "") -> None:
        self.measurements.append({"workload": workload, "measure": measure, "value": value, "unit": unit,
                                  "note": note})

    def fail(self, what: str, measured=None) -> None:
        text = what if measured is None else f"{what} (exit {measured.rc}); log {measured.log}:\n{tail(measured.log)}"
        self.errors.append(text)
        self.log(f"FAILED: {text}")

    def measure(self, cmd: list[str], env: dict[str, str], name: str):
        """Wait for a quiet machine (up to --wait-idle), run, and note the noise."""
        wait_until_idle(self.args.wait_idle, log=self.log)
        m = run_measured(cmd, env, self.logs / f"{name}.log")
        self.noise[name] = round(m.others_cores, 2)
        if m.others_cores > 0.2:
            self.log(f"{name}: NOISY, other processes used {m.others_cores:.1f} cores on average meanwhile")
        return m

    def noisy(self, name: str) -> str:
        cores = self.noise.get(name, 0)
        return f"; NOISY: others used {cores:.1f} cores" if cores > 0.2 else ""

    def dataset(self, agencies: int) -> dict:
        return ensure_dataset(self.work, agencies, self.params, workers=2, log=self.log)

    def cold_run(self, name: str, ds: dict) -> tuple[RunDir, object, dict]:
        """A full refresh from an empty warehouse: fresh raw links, fresh state, `ppa run`."""
        rd = RunDir(self.work / "runs" / name, Path(ds["registry"]))
        link_raw(ds, rd.raw)
        rd.reset_state()
        self.log(f"{name}: ppa run over {ds['agencies']} agencies, {ds['files']} files ...")
        m = self.measure([*ppa_command(), "run"], rd.env(), name)
        events = run_events(rd.dagster_home, run_id_from_log(m.log)) if m.rc == 0 else {}
        self.log(f"{name}: {m.wall_s:.1f} s, peak RSS {m.tree_rss_mb:.0f} MB (largest process {m.max_rss_mb:.0f} MB), "
                 f"exit {m.rc}")
        if m.rc != 0:
            self.fail(f"{name}: ppa run", m)
        return rd, m, events

    # ------------------------------------------------------------------ workloads
    def w1(self) -> None:
        rd = RunDir(self.work / "runs" / "w1", common.SOURCE / "pipeline" / "schemas" / "agencies.yaml")
        if rd.raw.exists():
            shutil.rmtree(rd.raw)
        shutil.copytree(REPO / "data" / "raw", rd.raw, copy_function=shutil.copy2,
                        ignore=shutil.ignore_patterns("umpan-balik"))
        rd.reset_state()
        self.log("W1: ppa run on the shipped sample ...")
        m = self.measure([*ppa_command(), "run"], rd.env(), "w1")
        if m.rc != 0:
            self.fail("W1: ppa run", m)
        files = sum(1 for p in rd.raw.rglob("*") if p.is_file() and "umpan-balik" not in p.parts)
        self.add("W1 sample", "ppa run, wall", round(m.wall_s, 2), "s", f"{files} files, 5 agencies" + self.noisy("w1"))
        self.add("W1 sample", "ppa run, peak RSS", round(m.max_rss_mb), "MB")
        self.data["W1"] = {"wall_s": m.wall_s, "max_rss_mb": m.max_rss_mb, "rc": m.rc, "files": files}

    def w2(self) -> None:
        ds = self.dataset(self.agencies)
        t, w = self.tag, f"W2 national{self.label}"
        if not t:
            self.data["dataset"] = {k: v for k, v in ds.items() if k != "codes"}
            gen = "cached" if ds["cached"] else f"generated in {ds['generation_seconds']:.0f} s"
            self.add("W2 data", "agencies x years", f"{ds['agencies']} x {ds['years']}", "",
                     f"{ds['rows_per_agency_year']} victims per agency-year; {gen}")
            self.add("W2 data", "files (workbooks)", f"{ds['files']} ({ds['workbooks']})", "",
                     f"{ds['bytes'] / 1e6:.0f} MB; largest {ds['largest_file_bytes'] / 1e3:.0f} kB")
            self.add("W2 data", "data rows / victims", f"{ds['data_rows']:,} / {ds['victims']:,}", "",
                     f"{ds['bad_rows']:,} rows to reject")
        rd, m, events = self.cold_run(f"w2{t}", ds)
        victims = self._marts_victims(rd)
        check = "" if victims is None else (
            f"victims in marts {victims:,} = expected" if victims == ds["victims"]
            else f"victims in marts {victims:,} != expected {ds['victims']:,}")
        if victims is not None and victims != ds["victims"]:
            self.errors.append(f"W2{t}: {check}")
        self.add(w, "full refresh, wall", round(m.wall_s, 1), "s", check + self.noisy(f"w2{t}"))
        marts_at = events.get("materialized", {}).get("marts/yoy_by_region")
        to_marts = (marts_at - m.started) if marts_at else None
        if to_marts is not None:
            self.add(w, "W6 full refresh: process start -> marts hold every row", round(to_marts, 1), "s",
                     "the analytics copy, public tables and feedback come after")
        self.add(w, "full refresh, peak RSS", round(m.tree_rss_mb), "MB",
                 f"all processes; the largest one {m.max_rss_mb:.0f} MB")
        cores = len(os.sched_getaffinity(0))
        self.add(w, "full refresh, CPU time", round(m.cpu_s), "CPU-s",
                 f"all processes, {m.cpu_s / m.wall_s:.2f} of {cores} cores busy on average: "
                 f"this work needs {m.cpu_s / cores:.0f} s on {cores} cores even if spread perfectly")
        steps = events.get("steps", {})
        for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
            if seconds >= 0.5:
                self.add(w, f"  step {step}", round(seconds, 1), "s")
        if events:
            outside = m.wall_s - (events["last"] - events["first"])
            self.add(w, "  outside the run", round(outside, 1), "s", "process start, imports, printing the tables")
        self.data[f"W2{t}"] = {"wall_s": m.wall_s, "max_rss_mb": m.max_rss_mb, "tree_rss_mb": m.tree_rss_mb,
                               "cpu_s": m.cpu_s, "cores": cores, "rc": m.rc, "steps": steps, "to_marts_s": to_marts,
                               "victims_in_marts": victims, "victims_expected": ds["victims"], "run_dir": str(rd.root)}
        if m.rc == 0:
            self.w5(rd)
        if not t:
            self.data.setdefault("MEM", {})[1] = {"agencies": ds["agencies"], "data_rows": ds["data_rows"],
                                                  "wall_s": m.wall_s, "max_rss_mb": m.max_rss_mb,
                                                  "tree_rss_mb": m.tree_rss_mb,
                                                  "largest_file_bytes": ds["largest_file_bytes"]}
        self._w2_state[t] = (rd, ds) if m.rc == 0 else None

    def w5(self, rd: RunDir) -> None:
        """The nightly refresh with nothing new (`ppa run`: no run starts while the full run's stamp
        holds); then the same forced (`ppa run --force`: a run over every partition that keeps every
        slice, what a night costs when the calendar makes it run); and what each wrote."""
        t = self.tag
        for key, args, w in ((f"W5{t}", [], f"W5 nothing changed{self.label}"),
                             (f"W5-forced{t}", ["--force"], f"W5 nothing changed, run forced{self.label}")):
            if args and not self._has_force():
                continue  # code from before the stamp: its W5 is already a forced run
            before = output_files(rd)
            again = self.measure([*ppa_command(), "run", *args], rd.env(), key.lower())
            written = changed_files(before, output_files(rd))
            skipped = NO_RUN in again.log.read_text(errors="replace")
            events = run_events(rd.dagster_home, run_id_from_log(again.log)) if again.rc == 0 and not skipped else {}
            parsed = self._parsed_total(rd)
            self.log(f"{key}: {again.wall_s:.1f} s, {again.cpu_s:.1f} CPU-s, exit {again.rc}, "
                     f"{'no run started' if skipped else f'files parsed {parsed}'}, files written {len(written)}")
            if again.rc != 0:
                self.fail(f"{key}: ppa run", again)
            what = "no run started: nothing changed since the full run's stamp" if skipped else \
                f"a run over every agency; files parsed again: {parsed}"
            self.add(w, f"ppa run{' --force' if args else ''}, wall", round(again.wall_s, 1), "s",
                     f"{again.cpu_s:.1f} CPU-s; {what}" + self.noisy(key.lower()))
            self.add(w, "files written", len(written), "", _written_note(written))
            for step, seconds in sorted(events.get("steps", {}).items(), key=lambda kv: -kv[1])[:5]:
                self.add(w, f"  step {step}", round(seconds, 1), "s")
            if events:
                self.add(w, "  outside the run", round(again.wall_s - (events["last"] - events["first"]), 1), "s",
                         "process start, imports, loading the definitions, printing the tables")
            self.data[key] = {"wall_s": again.wall_s, "cpu_s": again.cpu_s, "rc": again.rc, "parsed": parsed,
                              "skipped": skipped, "files_written": len(written), "written": sorted(written)[:50],
                              "steps": events.get("steps", {})}

    def _has_force(self) -> bool:
        """Whether the measured code's `ppa run` has --force (the stamp, automation/quiet.py)."""
        return (common.SOURCE / "pipeline" / "automation" / "quiet.py").exists()

    def _marts_victims(self, rd: RunDir) -> int | None:
        import duckdb

        path = rd.warehouse / "analytics.duckdb"
        if not path.exists():
            return None
        con = duckdb.connect(str(path), read_only=True)
        try:
            return int(con.execute("SELECT coalesce(sum(victims), 0) FROM marts.victims_by_region_year").fetchall()[0][0])
        finally:
            con.close()

    def w3(self) -> None:
        t, w = self.tag, f"W3 incremental{self.label}"
        state = self._w2_state.get(t)
        if state is None:
            self.errors.append(f"W3{t} needs a successful W2 in the same run (use --only W2,W3)")
            return
        rd, ds = state
        target = self._pick_row(rd, ds)
        if target is None:
            self.errors.append("W3: no staged female victim in an .xlsx file to change")
            return
        before = self._sex_counts(rd, target["agency"], target["year"])
        self._change_cell(rd, target)
        self.log(f"W3: changed {target['file']} ({target['sheet']}!{target['col_letter']}{target['row']}: P -> L); "
                 f"ppa run --agency {target['agency']} ...")
        outputs = output_files(rd)
        m = self.measure([*ppa_command(), "run", "--agency", target["agency"]], rd.env(), f"w3{t}")
        if m.rc != 0:
            self.fail(f"W3{t}: ppa run --agency", m)
            return
        written = changed_files(outputs, output_files(rd))
        elsewhere = [p for p in written if not p.startswith(f"raw/{target['agency']}/")]
        events = run_events(rd.dagster_home, run_id_from_log(m.log))
        marts_at = events.get("materialized", {}).get("marts/yoy_by_region")
        to_marts = (marts_at - m.started) if marts_at else None
        after = self._sex_counts(rd, target["agency"], target["year"])
        ok = after == (before[0] - 1, before[1] + 1)
        parsed, files, versions, retried = self._parsed(rd, target["agency"])
        self.log(f"W3{t}: marts after {to_marts:.1f} s, whole run {m.wall_s:.1f} s, parsed {parsed}/{files} files, "
                 f"change {'seen' if ok else 'NOT seen'} in the marts")
        if not ok:
            self.errors.append(f"W3{t}: the change did not reach the marts (female, male before {before}, after {after})")
        self.add(w, "changed file -> marts", round(to_marts, 2) if to_marts else None, "s",
                 f"`ppa run --agency {target['agency']}` (the sensor's run, without its 30 s tick and 10 s settle)"
                 + self.noisy(f"w3{t}"))
        self.add(w, "whole run, wall", round(m.wall_s, 2), "s",
                 f"incl. analytics copy, public tables, feedback; {m.cpu_s:.1f} CPU-s")
        self.add(w, "files written", len(written), "",
                 f"{len(elsewhere)} outside the agency's own folder: " + _written_note(elsewhere))
        note = "change seen in marts" if ok else "CHANGE NOT SEEN in marts"
        if retried:
            note += f"; {retried} of them unreadable files, which are tried again on every run"
        if versions > 1:
            note += "; the parser version changed since W2 (pipeline code edited?), so every file was read again"
            self.errors.append(f"W3{t}: parser version changed between W2 and W3")
        self.add(w, "files parsed again", f"{parsed} of {files}", "", note)
        if events.get("first_step"):  # what any run pays before and after its steps: the bound under W3's targets
            self.add(w, "  process start -> first step", round(events["first_step"] - m.started, 2), "s",
                     "Python, Dagster, pandas and the definitions imported, the instance opened, the run created")
            self.add(w, "  last event -> process end", round(m.started + m.wall_s - events["last"], 2), "s",
                     "printing the summary and the year-on-year table, exit")
        for step, seconds in sorted(events.get("steps", {}).items(), key=lambda kv: -kv[1])[:6]:
            self.add(w, f"  step {step}", round(seconds, 2), "s")
        self.data[f"W3{t}"] = {"to_marts_s": to_marts, "wall_s": m.wall_s, "cpu_s": m.cpu_s, "max_rss_mb": m.max_rss_mb,
                               "parsed": parsed, "unreadable_retried": retried, "files": files, "seen": ok,
                               "file": target["file"], "steps": events.get("steps", {}),
                               "files_written": len(written), "written_elsewhere": sorted(elsewhere)[:50]}

    def _pick_row(self, rd: RunDir, ds: dict) -> dict | None:
        import duckdb

        code = ds["codes"][min(len(ds["codes"]) - 1, len(ds["codes"]) // 2)]
        con = duckdb.connect(str(rd.warehouse / "warehouse.duckdb"), read_only=True)
        try:
            rows = con.execute("""
                SELECT v.agency, v._source_file, v._source_sheet, v._source_row, v.year, s.header_row,
                       json_extract_string(s.columns, '$.victim_sex') AS header
                FROM staging.case_victims v
                JOIN meta.sheets s ON s.agency = v.agency AND s.path = v._source_file AND s.sheet = v._source_sheet
                WHERE v.agency >= ? AND v.victim_sex = 'P' AND v.child_role IS DISTINCT FROM 'PELAKU'
                  AND v._source_file LIKE '%.xlsx' AND v.year < (SELECT max(year) FROM staging.case_victims)
                ORDER BY v.agency, v._source_file DESC, v._source_row LIMIT 1""", [code]).fetchall()
        finally:
            con.close()
        if not rows:
            return None
        agency, rel, sheet, row, year, header_row, header = rows[0]
        return {"agency": agency, "file": rel, "sheet": sheet, "row": int(row), "year": int(year),
                "header_row": int(header_row), "header": header}

    def _change_cell(self, rd: RunDir, t: dict) -> None:
        import openpyxl
        from openpyxl.utils import get_column_letter

        path = rd.raw / t["file"]
        wb = openpyxl.load_workbook(path)
        ws = wb[t["sheet"]]
        col = next(c.column for c in ws[t["header_row"]] if isinstance(c.value, str) and c.value.strip() == t["header"])
        t["col_letter"] = get_column_letter(col)
        ws.cell(row=t["row"], column=col).value = "L"
        tmp = path.with_name(f".bench-{path.name}")
        wb.save(tmp)
        os.replace(tmp, path)  # a new inode: the pool's hard-linked original is untouched

    def _sex_counts(self, rd: RunDir, agency: str, year: int) -> tuple[int, int]:
        import duckdb

        con = duckdb.connect(str(rd.warehouse / "analytics.duckdb"), read_only=True)
        try:
            row = con.execute("SELECT victims_female, victims_male FROM marts.victims_by_region_year "
                              "WHERE agency = ? AND year = ?", [agency, year]).fetchall()
        finally:
            con.close()
        return (int(row[0][0]), int(row[0][1])) if row else (0, 0)

    def _parsed_total(self, rd: RunDir) -> int:
        import duckdb

        con = duckdb.connect(str(rd.warehouse / "warehouse.duckdb"), read_only=True)
        try:
            return int(con.execute("SELECT count(*) FILTER (WHERE parsed) FROM meta.ingest_log").fetchall()[0][0])
        finally:
            con.close()

    def _parsed(self, rd: RunDir, agency: str) -> tuple[int, int, int, int]:
        import duckdb

        con = duckdb.connect(str(rd.warehouse / "warehouse.duckdb"), read_only=True)
        try:
            parsed, files, retried = con.execute(
                "SELECT count(*) FILTER (WHERE parsed), count(*), count(*) FILTER (WHERE parsed AND status = 'rejected' "
                "AND reason_code LIKE 'file_%') FROM meta.ingest_log WHERE agency = ? AND status NOT IN "
                "('removed', 'ignored')", [agency]).fetchall()[0]
            versions = con.execute("SELECT count(DISTINCT parser_version) FROM meta.sheets").fetchall()[0][0]
        finally:
            con.close()
        return int(parsed), int(files), int(versions), int(retried)

    def w7(self) -> None:
        """The command-line answers on the loaded sample: fresh processes, median of 5."""
        import statistics

        from bench.status import prepare, time_command

        t, w = self.tag, f"W7 command line{self.label}"
        rd = prepare(self.work)  # the sample, loaded once by the working tree's code
        wait_until_idle(self.args.wait_idle, log=self.log)
        busy0, own0, t0 = cpu_busy_seconds(), sum(os.times()[:4]), time.perf_counter()
        found = {}
        for args in W7_COMMANDS:
            cpu0 = sum(os.times()[2:4])  # the children's user + system time
            times = time_command(args, rd, 5)
            cpu = (sum(os.times()[2:4]) - cpu0) / len(times)
            found[" ".join(args)] = {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
                                     "max_s": round(max(times), 3), "cpu_s": round(cpu, 3)}
        wall = time.perf_counter() - t0
        self.noise[f"w7{t}"] = round(max(0.0, (cpu_busy_seconds() - busy0 - (sum(os.times()[:4]) - own0)) / wall), 2)
        for command, r in found.items():
            self.add(w, f"ppa {command}, median", r["median_s"], "s",
                     f"fastest {r['min_s']}, slowest {r['max_s']} s; {r['cpu_s']} CPU-s each; 5 fresh processes"
                     + self.noisy(f"w7{t}"))
        self.data[f"W7{t}"] = found

    def baselines(self) -> None:
        ds = self.dataset(self.agencies)
        rd = RunDir(self.work / "runs" / "baselines", Path(ds["registry"]))
        link_raw(ds, rd.raw)
        self.log("BASE (a): the parse floor, python-calamine alone ...")
        m = self.measure([PYTHON, "-m", "bench.baselines", "floor", str(rd.raw)], python_env(self.work), "floor")
        if m.rc != 0:
            self.fail("BASE floor", m)
        else:
            info = json.loads(m.log.read_text().strip().splitlines()[-1])
            self.add("BASE (a) floor", "calamine parse, wall", round(m.wall_s, 2), "s",
                     f"{info['files']} files, {info['sheets']} sheets, {info['rows']:,} rows "
                     f"({info['seconds']:.2f} s inside){self.noisy('floor')}")
            self.add("BASE (a) floor", "peak RSS", round(m.max_rss_mb), "MB")
            self.data["floor"] = {"wall_s": m.wall_s, "max_rss_mb": m.max_rss_mb, **info}
        self.log("BASE (b): the plain script, pandas + openpyxl + pandera + DuckDB ...")
        db = rd.root / "plain.duckdb"
        m = self.measure([PYTHON, "-m", "bench.baselines", "plain", str(rd.raw), str(rd.registry), str(db)],
                         python_env(self.work), "plain")
        if m.rc != 0:
            self.fail("BASE plain", m)
        else:
            info = json.loads(m.log.read_text().strip().splitlines()[-1])
            self.add("BASE (b) plain script", "wall", round(m.wall_s, 1), "s",
                     f"{info['rows']:,} rows read, {info['rows_in_duckdb']:,} inserted; "
                     f"{info['xls_via_calamine']} .xls via calamine (no xlrd){self.noisy('plain')}")
            self.add("BASE (b) plain script", "peak RSS", round(m.max_rss_mb), "MB")
            self.data["plain"] = {"wall_s": m.wall_s, "max_rss_mb": m.max_rss_mb, **info}
        db.unlink(missing_ok=True)

    def w4(self) -> None:
        ds = self.dataset(self.agencies)

        def w4(action: str) -> dict:  # in a process of its own: see bench/w4.py main()
            cmd = [PYTHON, "-m", "bench.w4", action, "--work", str(self.work), "--rows", str(self.w4_rows),
                   "--registry", str(ds["registry"])]
            done = subprocess.run(cmd, env=python_env(self.work), cwd=common.SOURCE, check=True,
                                  stdout=subprocess.PIPE, text=True)
            return json.loads(done.stdout.strip().splitlines()[-1])

        built = w4("build")["built"]
        self.log(f"W4: queries over {self.w4_rows:,} rows ...")
        wait_until_idle(self.args.wait_idle, log=self.log)
        busy0, own0, t0 = cpu_busy_seconds(), sum(os.times()[:4]), time.perf_counter()
        res = w4("measure")
        wall = time.perf_counter() - t0
        self.noise["w4"] = round(max(0.0, (cpu_busy_seconds() - busy0 - (sum(os.times()[:4]) - own0)) / wall), 2)
        note = f"{res['rows']:,} rows, {ds['agencies']} agencies, {res['threads']} threads" + (
            f"; rows made in {built:.0f} s" if built else "; cached") + self.noisy("w4")
        for name, label in (("yoy", "year-on-year query, median"), ("by_form", "by-form query, median")):
            r = res[name]
            self.add("W4 researcher", label, r["median_ms"], "ms",
                     f"min {r['min_ms']}, max {r['max_ms']}, first {r['first_ms']} ms; " + note)
        self.add("W4 researcher", "every mart (build_marts), once", res["build_marts_s"], "s", "information")
        self.data["W4"] = res

    def memory(self) -> None:
        mem = self.data.setdefault("MEM", {})
        cap = self.args.max_point_min * 60
        for k in self.scales:
            if k in mem:
                continue
            if k != 1 and 1 in mem and mem[1]["wall_s"] * k > cap:
                mem[k] = {"skipped": f"projected {mem[1]['wall_s'] * k / 60:.0f} min > --max-point-min "
                                     f"{self.args.max_point_min:g}"}
                self.log(f"MEM {k}x: skipped, {mem[k]['skipped']}")
                continue
            ds = self.dataset(self.agencies * k)
            rd, m, _ = self.cold_run(f"mem-{k}x", ds)
            mem[k] = {"agencies": ds["agencies"], "data_rows": ds["data_rows"], "wall_s": m.wall_s,
                      "max_rss_mb": m.max_rss_mb, "tree_rss_mb": m.tree_rss_mb,
                      "largest_file_bytes": ds["largest_file_bytes"]}
            if k != 1:
                shutil.rmtree(rd.root, ignore_errors=True)  # keep the disk small; the log stays
        for k in sorted(mem):
            p = mem[k]
            if "skipped" in p:
                self.add("MEM", f"{k}x W2 volume", None, "", f"SKIPPED: {p['skipped']}")
                continue
            self.add("MEM", f"{k}x W2 volume, peak RSS", round(_tree(p)), "MB",
                     f"all processes (largest one {p['max_rss_mb']:.0f} MB); "
                     f"{p['agencies']} agencies, {p['data_rows']:,} data rows, largest file "
                     f"{p['largest_file_bytes'] / 1e3:.0f} kB; full refresh {p['wall_s']:.0f} s"
                     + self.noisy("w2" if k == 1 else f"mem-{k}x"))

    # ------------------------------------------------------------------ targets
    def targets(self) -> list[dict]:
        out = []

        def target(name, measured, limit, ok, note=""):
            out.append({"target": name, "measured": measured, "limit": limit, "met": ok, "note": note})

        def was(key: str, text) -> str:
            """The value measured on --before REV's code, for the note."""
            before = self.data.get(f"{key}-before")
            return f"before ({self.args.before}): {text(before)}" if before else ""

        w2, plain = self.data.get("W2"), self.data.get("plain")
        w5 = self.data.get("W5")
        if w5:
            target("W5 nightly, nothing changed", f"{w5['wall_s']:.1f} s, {w5['files_written']} files written",
                   f"<= {W5_MAX_S:.0f} s, 0 files", w5["wall_s"] <= W5_MAX_S and w5["files_written"] == 0 and w5["rc"] == 0,
                   was("W5", lambda b: f"{b['wall_s']:.1f} s, {b['files_written']} files written"))
        w3 = self.data.get("W3")
        if w3 and w3.get("to_marts_s") is not None:
            target("W3 one changed file", f"whole run {w3['wall_s']:.1f} s, marts after {w3['to_marts_s']:.2f} s",
                   f"<= {W3_MAX_S:.0f} s, marts <= {W3_MARTS_MAX_S:.0f} s",
                   w3["wall_s"] <= W3_MAX_S and w3["to_marts_s"] <= W3_MARTS_MAX_S and w3["seen"],
                   was("W3", lambda b: f"whole run {b['wall_s']:.1f} s, marts after {b['to_marts_s']:.2f} s"))
        if w2 and plain and w2.get("to_marts_s"):
            ratio = plain["wall_s"] / w2["to_marts_s"]
            target("W6 time to fresh marts, speed-up over the plain script",
                   f"{ratio:.2f}x ({plain['wall_s']:.1f} s / {w2['to_marts_s']:.1f} s)", f">= {W6_SPEEDUP_MIN:.0f}x",
                   ratio >= W6_SPEEDUP_MIN,
                   was("W2", lambda b: f"{plain['wall_s'] / b['to_marts_s']:.2f}x" if b.get("to_marts_s") else "–"))
        w7 = self.data.get("W7")
        for command, r in (w7 or {}).items():
            target(f"W7 ppa {command}", f"{r['median_s']:.2f} s ({r['cpu_s']:.2f} CPU-s)", f"<= {W7_MAX_S} s",
                   r["median_s"] <= W7_MAX_S,
                   was("W7", lambda b, c=command: f"{b[c]['median_s']:.2f} s" if c in b else "–"))
        mem = {k: v for k, v in self.data.get("MEM", {}).items() if "skipped" not in v}
        if 1 in mem and len(mem) > 1:
            k = max(mem)
            growth = _tree(mem[k]) / _tree(mem[1])
            target(f"peak RSS at {k}x / at 1x", f"{growth:.2f}x ({_tree(mem[k]):.0f} / {_tree(mem[1]):.0f} MB)",
                   f"<= {MEM_GROWTH_MAX}x", growth <= MEM_GROWTH_MAX,
                   "same largest file at every scale: flat if bounded by the largest file")
        w4 = self.data.get("W4")
        if w4:
            for name, label in (("yoy", "W4 year-on-year query"), ("by_form", "W4 by-form query")):
                ms = w4[name]["median_ms"]
                target(label, f"{ms:.0f} ms over {w4['rows']:,} rows", f"<= {W4_MAX_MS:.0f} ms", ms <= W4_MAX_MS)
        return out

    def before_source(self) -> Path:
        """Commit --before's pipeline/ (and what a run needs beside it) in <work>/src-before."""
        rev = self.args.before
        src = self.work / "src-before"
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "pipeline", "pyproject.toml",
                                  "dagster_home/dagster.yaml"], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", rev], check=True,
                                capture_output=True, text=True).stdout.strip()
        self.data["before"] = {"rev": rev, "commit": commit}
        with self.code(src):
            self.log(f"before ({rev} = {commit}): bytecode warmed in {warm_bytecode(self.work):.1f} s")
        return src

    @contextlib.contextmanager
    def code(self, source: Path | None):
        """Measure `source`'s code (--before's) instead of the working tree's copy, inside the block."""
        if source is None:
            yield
            return
        current = common.SOURCE
        common.SOURCE, self.tag, self.label = source, "-before", f" [before: {self.args.before}]"
        try:
            yield
        finally:
            common.SOURCE, self.tag, self.label = current, "", ""

    # ------------------------------------------------------------------ main
    def run(self, only: list[str]) -> int:
        started = time.time()
        self.work.mkdir(parents=True, exist_ok=True)
        self.log(f"measuring a copy of the working tree: {snapshot_source(self.work)}")
        self.machine = machine_info()  # the commit measured is the one of this moment
        use_bytecode_cache(self.work)
        self.log(f"bytecode cache warmed in {warm_bytecode(self.work):.1f} s ({self.work / 'pycache'})")
        order = {"W1": self.w1, "W2": self.w2, "W3": self.w3, "W7": self.w7, "BASE": self.baselines, "W4": self.w4,
                 "MEM": self.memory}
        before = self.before_source() if self.args.before else None
        if "MEM" in only and "W2" not in only and 1 in self.scales:
            self.log("MEM without W2: the 1x point is a fresh full refresh")
        for step in STEPS:
            if step not in only:
                continue
            runs = [before, None] if before is not None and step in BEFORE_STEPS else [None]
            if step == "W7":
                runs.reverse()  # the sample is loaded once, by the working tree's code
            for source in runs:
                with self.code(source):
                    try:
                        order[step]()
                    except Exception as exc:  # a broken step must not hide the others
                        import traceback

                        self.errors.append(f"{step}{self.tag}: {type(exc).__name__}: {exc}")
                        traceback.print_exc()
                self.save(self.targets(), only, time.time() - started, partial=True)  # survives a killed run
        targets = self.targets()
        return self.report(targets, only, time.time() - started)

    def report(self, targets: list[dict], only: list[str], seconds: float) -> int:
        from tabulate import tabulate

        print()
        print(tabulate([[m["workload"], m["measure"], "–" if m["value"] is None else m["value"], m["unit"], m["note"]]
                        for m in self.measurements],
                       headers=["workload", "measure", "value", "unit", "note"], tablefmt="simple",
                       disable_numparse=True))
        print()
        if targets:
            print(tabulate([[t["target"], t["measured"], t["limit"], "met" if t["met"] else "MISSED", t["note"]]
                            for t in targets],
                           headers=["target", "measured", "limit", "", "note"], tablefmt="simple",
                           disable_numparse=True))
        missed = [t for t in targets if not t["met"]]
        self.save(targets, only, seconds)
        print(f"\nwritten: {RESULTS / 'latest.json'} ({seconds / 60:.1f} min)")
        noisy = sorted(k for k, v in self.noise.items() if v > 0.2)
        if noisy:
            print(f"NOTE: other processes used the CPU during {', '.join(noisy)} (see noise_cores in the JSON): "
                  "those numbers are pessimistic; run again on a quiet machine")
        for t in missed:
            print(f"MISSED: {t['target']}: {t['measured']} (target {t['limit']})")
        for e in self.errors:
            print(f"ERROR: {e.splitlines()[0]}")
        if self.errors:
            return 2
        if missed and not self.quick:
            return 1
        return 0

    def save(self, targets: list[dict], only: list[str], seconds: float, partial: bool = False) -> None:
        """bench/results/latest.json (and a dated copy in the work folder)."""
        out = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "seconds": round(seconds),
            "partial": partial,
            "quick": self.quick, "only": only, "work": str(self.work),
            "params": {"agencies": self.agencies, "years": self.params.years, "rows": self.params.rows,
                       "seed": self.params.seed, "w4_rows": self.w4_rows, "scales": self.scales},
            "machine": getattr(self, "machine", None) or machine_info(), "measurements": self.measurements,
            "targets": targets,
            "errors": self.errors, "noise_cores": self.noise, "data": self.data,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        # the committed result names no folder of this machine
        text = json.dumps(out, indent=1, default=str).replace(str(self.work), "<work>").replace(str(REPO), "<repo>")
        (RESULTS / "latest.json").write_text(text)
        (self.work / "results").mkdir(parents=True, exist_ok=True)
        (self.work / "results" / f"{self.stamp}.json").write_text(text)


OUTPUTS = ("raw/*/umpan-balik", "warehouse/public", "warehouse/parquet", "warehouse/analytics",
           "warehouse/analytics.duckdb", "reports")


def output_files(rd: RunDir) -> dict[str, tuple[int, int, int]]:
    """Every file a run writes for people (feedback, public tables, Parquet, the analytics copies,
    reports): its inode, time and size. A file replaced atomically gets a new inode."""
    found = {}
    for pattern in OUTPUTS:
        for top in rd.root.glob(pattern):
            for path in [top] if top.is_file() else top.rglob("*"):
                if path.is_file():
                    st = path.stat()
                    found[path.relative_to(rd.root).as_posix()] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def changed_files(before: dict, after: dict) -> list[str]:
    """Files written, made or removed between two listings."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def _written_note(paths: list[str], shown: int = 4) -> str:
    if not paths:
        return "none"
    kinds: dict[str, int] = {}
    for p in paths:
        kind = "feedback" if "/umpan-balik/" in p else p.split("/")[1] if p.startswith("warehouse/") else p.split("/")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + f" (e.g. {', '.join(paths[:shown])})"


def _tree(point: dict) -> float:
    """Peak RSS of all processes of a run (older results have only the largest process)."""
    return point.get("tree_rss_mb") or point["max_rss_mb"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ppa-pipeline benchmarks (see bench/README.md)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="cache and run folder (default /tmp/ppa-bench)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 50 agencies, 1M rows for W4, scales 1,2")
    ap.add_argument("--only", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    ap.add_argument("--agencies", type=int, help="agencies for W2 (default 514; 50 with --quick)")
    ap.add_argument("--years", type=int, default=7)
    ap.add_argument("--rows", type=int, default=70, help="victims per agency per full year (default 70)")
    ap.add_argument("--w4-rows", type=int, help="rows for W4 (default 10,000,000; 1,000,000 with --quick)")
    ap.add_argument("--scales", help="memory points as multiples of W2 (default 1,2,4; 1,2 with --quick)")
    ap.add_argument("--wait-idle", type=float, default=120.0,
                    help="before each measurement, wait up to this many seconds for other processes to go quiet")
    ap.add_argument("--before", metavar="REV",
                    help="also run W2 (with W5), W3 and W7 on commit REV's code, beside the working tree's")
    ap.add_argument("--max-point-min", type=float, default=20.0,
                    help="skip a memory point whose projected full refresh is longer (default 20 min)")
    args = ap.parse_args(argv)
    only = [s.strip().upper() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in STEPS]
    if unknown:
        ap.error(f"unknown step(s) {unknown}; choose from {','.join(STEPS)}")
    return Bench(args).run(only)


if __name__ == "__main__":
    sys.exit(main())
