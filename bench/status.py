"""How fast `ppa status` answers on the shipped sample (target: under 0.5 s).

    python -m bench.status [--work /tmp/ppa-bench] [--repeat 7]

Copies data/raw to <work>/runs/status/, loads it once with `ppa run` (skipped when that
folder already holds a warehouse made from the same files), then times `ppa status`,
`ppa status --json`, `ppa status --agency kutim` and `ppa status --runs`, each a fresh
process, `--repeat` times, and prints the median, the fastest and the slowest. Not part of
`make test`: speed is measured here, never in a timed test.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import common
from bench.common import REPO, RunDir, ppa_command, warm_bytecode

TARGET_S = 0.5
COMMANDS = (["status"], ["status", "--json"], ["status", "--agency", "kutim"], ["status", "--runs"])


def _fingerprint(raw: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in raw.rglob("*") if p.is_file() and "umpan-balik" not in p.parts):
        digest.update(str(path.relative_to(raw)).encode() + path.read_bytes())
    return digest.hexdigest()


def prepare(work: Path) -> RunDir:
    """The sample loaded once into its own folders (again only when the sample changed)."""
    rd = RunDir(work / "runs" / "status", REPO / "pipeline" / "schemas" / "agencies.yaml")
    source = REPO / "data" / "raw"
    stamp = rd.root / "sample.sha256"
    wanted = _fingerprint(source)
    if stamp.exists() and stamp.read_text() == wanted and (rd.warehouse / "warehouse.duckdb").exists():
        return rd
    shutil.rmtree(rd.raw, ignore_errors=True)
    shutil.copytree(source, rd.raw, copy_function=shutil.copy2, ignore=shutil.ignore_patterns("umpan-balik"))
    rd.reset_state()
    print("loading the sample with `ppa run` (once) ...", flush=True)
    subprocess.run([*ppa_command(), "run"], env=rd.env(), cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stamp.write_text(wanted)
    return rd


def time_command(args: list[str], rd: RunDir, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run([*ppa_command(), *args], env=rd.env(), cwd=common.SOURCE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"ppa {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ppa-bench"))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    rd = prepare(args.work)
    warm_bytecode(args.work)
    print(f"{'command':<32} {'median':>8} {'fastest':>8} {'slowest':>8}   (seconds, {args.repeat} runs each)")
    missed = False
    for command in COMMANDS:
        times = time_command(command, rd, args.repeat)
        median = statistics.median(times)
        mark = "" if median < TARGET_S or command[-1] == "--runs" else f"   MISSED (target < {TARGET_S} s)"
        missed |= bool(mark)
        print(f"{'ppa ' + ' '.join(command):<32} {median:>8.3f} {min(times):>8.3f} {max(times):>8.3f}{mark}")
    print(f"target: `ppa status` under {TARGET_S} s on the sample (`--runs` reads Dagster's run storage too)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
