"""Profile W2's full refresh (`ppa run` over the national data) with pyinstrument.

    python -m bench.profile [--work /tmp/ppa-bench] [--agencies 514] [--top 15]
    python -m bench.profile --reuse w2 [--agency CODE] [--source DIR] [--name w5]

The second form profiles `ppa run` (or `ppa run --agency CODE`) on the folders of an earlier
bench run (<work>/runs/w2 after `bench.run --only W2`), as they are: the nightly run with
nothing changed (W5), or one agency's run (W3) after a file was changed. `--source DIR` runs
the code in DIR (say, an earlier commit's, as `bench.run --before` unpacks it) instead of a
copy of the working tree.

Runs the pipeline in this process, from an empty warehouse, exactly like W2 (same data, same
environment variables), under pyinstrument's sampling profiler, then prints:
- the top entries by own time (time in the function itself; a DuckDB call shows as own time
  of the Python function that called it, since DuckDB runs outside the interpreter),
- the top entries by cumulative time (recursion counted once),
- the top functions of the pipeline's own code (pipeline/) by cumulative time,
- own time per library.
Also writes <work>/results/profile-w2.{txt,html,json}.

pyinstrument is not a project dependency yet: `pip --python .venv/bin/python install pyinstrument`
(or add it to the dev group).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench import common
from bench.common import RunDir, snapshot_source, use_bytecode_cache, warm_bytecode
from bench.generate import DEFAULT_WORK, Params, ensure_dataset, link_raw

BUILTIN_LIBS = {"Calamine": "python_calamine", "DuckDBPy": "duckdb"}


def _short(path: str | None) -> str:
    if not path:
        return "?"
    if path.startswith(str(common.SOURCE)):
        return path[len(str(common.SOURCE)) + 1:]
    m = re.search(r"site-packages/(.+)$", path)
    if m:
        return m[1]
    m = re.search(r"python3\.\d+/(.+)$", path)
    return m[1] if m else path


def _library(frame, parent_lib: str) -> str:
    path = frame.file_path or ""
    if path == "<built-in>":
        for prefix, lib in BUILTIN_LIBS.items():
            if frame.function.startswith(prefix):
                return lib
        return parent_lib
    if path.startswith(str(common.SOURCE / "pipeline")):
        return "pipeline (own code)"
    m = re.search(r"site-packages/([^/]+)", path)
    if m:
        return m[1].split(".")[0]
    if "/python3." in path or path.startswith("<frozen"):
        return "python stdlib"
    if path.startswith(str(common.SOURCE / "bench")):
        return "bench"
    return parent_lib


def _key(frame) -> str:
    return f"{frame.function}  ({_short(frame.file_path)}:{frame.line_no})"


def summarise(root) -> dict:
    """Own and cumulative time per function, own time per library."""
    own: dict[str, float] = defaultdict(float)
    cumulative: dict[str, float] = defaultdict(float)
    pipeline_cum: dict[str, float] = defaultdict(float)
    libraries: dict[str, float] = defaultdict(float)
    stack = [(root, frozenset(), "python stdlib")]
    while stack:
        frame, active, parent_lib = stack.pop()
        if frame.is_synthetic:
            continue
        key = _key(frame)
        lib = _library(frame, parent_lib)
        own[key] += frame.total_self_time
        libraries[lib] += frame.total_self_time
        if key not in active:  # a recursive call is already counted by its outermost frame
            cumulative[key] += frame.time
            if (frame.file_path or "").startswith(str(common.SOURCE / "pipeline")):
                pipeline_cum[key] += frame.time
        inner = active | {key}
        stack.extend((child, inner, lib) for child in frame.children)
    return {"own": own, "cumulative": cumulative, "pipeline": pipeline_cum, "libraries": libraries}


def _top(table: dict[str, float], n: int, total: float) -> list[tuple[str, float, float]]:
    return [(k, round(v, 2), round(100 * v / total, 1)) for k, v in sorted(table.items(), key=lambda kv: -kv[1])[:n]]


def callers(root, pattern: str, depth: int = 4, n: int = 8) -> list[tuple[str, float]]:
    """Where functions matching `pattern` are called from: the `depth` frames above, by time."""
    found: dict[str, float] = defaultdict(float)
    stack = [(root, ())]
    while stack:
        frame, path = stack.pop()
        if frame.is_synthetic:
            continue
        here = path + (f"{frame.function} ({_short(frame.file_path)}:{frame.line_no})",)
        if re.search(pattern, frame.function):
            found[" < ".join(reversed(here[-depth - 1:]))] += frame.time
            continue
        stack.extend((child, here) for child in frame.children)
    return sorted(found.items(), key=lambda kv: -kv[1])[:n]


def children(root, pattern: str, n: int = 12) -> list[tuple[str, float]]:
    """Time of the direct callees of functions matching `pattern` (outermost matches only)."""
    found: dict[str, float] = defaultdict(float)
    stack = [root]
    while stack:
        frame = stack.pop()
        if frame.is_synthetic:
            continue
        if re.search(pattern, frame.function):
            found["(own time)"] += frame.total_self_time
            for child in frame.children:
                if not child.is_synthetic:
                    found[_key(child)] += child.time
            continue
        stack.extend(frame.children)
    return sorted(found.items(), key=lambda kv: -kv[1])[:n]


def _print(s: dict, total: float, top: int, tabulate) -> None:
    for name, title in (("own", "own time"), ("cumulative", "cumulative time"),
                        ("pipeline", "cumulative time, pipeline/ functions only"),
                        ("libraries", "own time per library")):
        rows = _top(s[name], top if name != "libraries" else 12, total)
        print(f"Top by {title}:")
        print(tabulate(rows, headers=["function" if name != "libraries" else "library", "s", "%"],
                       tablefmt="simple", disable_numparse=True))
        print()


def _print_callers(root, pattern: str, tabulate) -> None:
    print(f"Called from ({pattern}):")
    print(tabulate([(path, round(t, 2)) for path, t in callers(root, pattern)], headers=["call path", "s"],
                   tablefmt="simple", disable_numparse=True))
    print()


def _print_children(root, pattern: str, tabulate) -> None:
    print(f"Inside ({pattern}):")
    print(tabulate([(k, round(t, 2)) for k, t in children(root, pattern)], headers=["callee", "s"],
                   tablefmt="simple", disable_numparse=True))
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Profile W2's full refresh with pyinstrument.")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--agencies", type=int, default=514)
    ap.add_argument("--years", type=int, default=7)
    ap.add_argument("--rows", type=int, default=70)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--interval", type=float, default=0.005, help="sampling interval in seconds")
    ap.add_argument("--callers", action="append", default=[], metavar="REGEX",
                    help="also print where functions matching REGEX are called from (repeatable)")
    ap.add_argument("--children", action="append", default=[], metavar="REGEX",
                    help="also print what functions matching REGEX spend their time in (repeatable)")
    ap.add_argument("--load", type=Path, help="analyse a saved session (.pyisession) instead of running")
    ap.add_argument("--reuse", metavar="RUN", help="profile on <work>/runs/RUN as it is (no reset, no new links)")
    ap.add_argument("--agency", help="with --reuse: `ppa run --agency AGENCY`")
    ap.add_argument("--source", type=Path, help="with --reuse: import the pipeline from this folder")
    ap.add_argument("--name", default="w2", help="name of the output files (profile-NAME.*)")
    args = ap.parse_args(argv)
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: .venv/bin/python -m pip install pyinstrument "
              "(or pip --python .venv/bin/python install pyinstrument)", file=sys.stderr)
        return 2
    from tabulate import tabulate

    work = args.work.resolve()
    out_dir = work / "results"
    if args.load:
        from pyinstrument.session import Session

        common.SOURCE = work / "src"  # where the profiled run imported the pipeline from
        root = Session.load(str(args.load)).root_frame()
        _print(summarise(root), root.time, args.top, tabulate)
        for pattern in args.callers:
            _print_callers(root, pattern, tabulate)
        for pattern in args.children:
            _print_children(root, pattern, tabulate)
        return 0
    if args.source:
        common.SOURCE = args.source.resolve()
        sys.path.insert(0, str(common.SOURCE))
    else:
        snapshot_source(work)
    ds = ensure_dataset(work, args.agencies, Params(args.years, args.rows))
    if args.reuse:
        rd = RunDir(work / "runs" / args.reuse, Path(ds["registry"]))
    else:
        rd = RunDir(work / "runs" / "profile", Path(ds["registry"]))
        link_raw(ds, rd.raw)
        rd.reset_state()
    os.environ.update(rd.env())  # before the pipeline is imported: definitions read the settings at import
    use_bytecode_cache(work)
    warm_bytecode(work)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"profiling `ppa run` over {ds['agencies']} agencies, {ds['files']} files ...", flush=True)

    profiler = Profiler(interval=args.interval)
    t0 = time.perf_counter()
    profiler.start()
    name = args.name
    with open(out_dir / f"profile-{name}-ppa.log", "w") as log, contextlib.redirect_stdout(log):
        from pipeline import cli

        rc = cli.main(["run", *(["--agency", args.agency] if args.agency else [])])
    profiler.stop()
    wall = time.perf_counter() - t0
    session = profiler.last_session
    root = session.root_frame()
    total = root.time if root else wall
    s = summarise(root)

    (out_dir / f"profile-{name}.txt").write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    (out_dir / f"profile-{name}.html").write_text(profiler.output_html())
    session.save(str(out_dir / f"profile-{name}.pyisession"))
    tables = {name: _top(s[name], args.top, total) for name in ("own", "cumulative", "pipeline")}
    tables["libraries"] = _top(s["libraries"], 12, total)
    (out_dir / f"profile-{name}.json").write_text(json.dumps(
        {"wall_s": wall, "sampled_s": total, "exit": rc, "agencies": ds["agencies"], "files": ds["files"],
         **tables}, indent=1))

    print(f"\n`ppa run` exit {rc}; {wall:.1f} s wall, {total:.1f} s sampled "
          f"({ds['agencies']} agencies, {ds['files']} files, {ds['data_rows']:,} data rows)\n")
    _print(s, total, args.top, tabulate)
    for pattern in args.callers:
        _print_callers(root, pattern, tabulate)
    for pattern in args.children:
        _print_children(root, pattern, tabulate)
    print(f"full tree: {out_dir / f'profile-{name}.txt'} and .html; session: profile-{name}.pyisession (--load)")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
