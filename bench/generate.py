"""Synthetic national data for the benchmarks: a registry of N kab/kota and their workbooks.

    python -m bench.generate --agencies 514 --years 7 --rows 70 [--work /tmp/ppa-bench]

- The registry: N synthetic kab/kota in the format of pipeline/schemas/agencies.yaml
  (codes kab_0001 ..., unique Kemendagri codes "PP.RR" spread over the 38 provinces,
  population, children, 3 to 8 kecamatan). Entry i is the same whatever N is.
- The workbooks: `pipeline.sample.generate_agency` for each agency, cycling the sample's
  five layouts (agency i uses LAYOUTS[i % 5]), with the agency's own kecamatan names and
  NIK prefix. Bad rows, warnings, corrected exports, lock files, an encrypted and a
  truncated file are kept: the same mess as the shipped sample.
- `--rows R` is victims per agency per full year (the generator's `victims_per_year`);
  the last year is partial (data end 2025-11-14) and is scaled down. Data rows are a little
  more than victims: child perpetrators, rejected rows, re-exported months, corrections.
  514 agencies x 7 years x 70 gives about 247,000 victims and 275,000 data rows in about
  3,900 files.
- `--years Y`: the last Y years up to 2025.

Everything is deterministic (seeded per agency code) and cached under the work folder:
    data/registry-n<N>.yaml
    data/pool-<version>-y<Y>-r<R>-s<seed>/agencies/<code>/...   the workbooks, one folder per agency
    data/pool-.../manifests/<code>.json                         what each agency's files hold
    data/pool-.../dataset-n<N>.json                             the totals for the first N agencies
An agency whose manifest exists is not generated again, so a larger N only adds agencies,
and a run for the same parameters skips generation. <version> is a hash of this file and
pipeline/sample.py: a change to either starts a new pool. A run's raw folder is a tree of
hard links into the pool (`link_raw`), so the pipeline's feedback folders and the
incremental benchmark's edit never touch the pool.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_WORK = Path(os.environ.get("PPA_BENCH_WORK", "/tmp/ppa-bench"))
DEFAULT_SEED = 20251124
DATA_END_YEAR = 2025
READABLE = {".xlsx", ".xlsm", ".xls", ".ods"}

# The 38 provinces: Kemendagri code, name, time zone.
PROVINCES = [
    ("11", "Aceh", "Asia/Jakarta"), ("12", "Sumatera Utara", "Asia/Jakarta"),
    ("13", "Sumatera Barat", "Asia/Jakarta"), ("14", "Riau", "Asia/Jakarta"), ("15", "Jambi", "Asia/Jakarta"),
    ("16", "Sumatera Selatan", "Asia/Jakarta"), ("17", "Bengkulu", "Asia/Jakarta"),
    ("18", "Lampung", "Asia/Jakarta"), ("19", "Kepulauan Bangka Belitung", "Asia/Jakarta"),
    ("21", "Kepulauan Riau", "Asia/Jakarta"), ("31", "DKI Jakarta", "Asia/Jakarta"),
    ("32", "Jawa Barat", "Asia/Jakarta"), ("33", "Jawa Tengah", "Asia/Jakarta"),
    ("34", "DI Yogyakarta", "Asia/Jakarta"), ("35", "Jawa Timur", "Asia/Jakarta"), ("36", "Banten", "Asia/Jakarta"),
    ("51", "Bali", "Asia/Makassar"), ("52", "Nusa Tenggara Barat", "Asia/Makassar"),
    ("53", "Nusa Tenggara Timur", "Asia/Makassar"), ("61", "Kalimantan Barat", "Asia/Jakarta"),
    ("62", "Kalimantan Tengah", "Asia/Jakarta"), ("63", "Kalimantan Selatan", "Asia/Makassar"),
    ("64", "Kalimantan Timur", "Asia/Makassar"), ("65", "Kalimantan Utara", "Asia/Makassar"),
    ("71", "Sulawesi Utara", "Asia/Makassar"), ("72", "Sulawesi Tengah", "Asia/Makassar"),
    ("73", "Sulawesi Selatan", "Asia/Makassar"), ("74", "Sulawesi Tenggara", "Asia/Makassar"),
    ("75", "Gorontalo", "Asia/Makassar"), ("76", "Sulawesi Barat", "Asia/Makassar"),
    ("81", "Maluku", "Asia/Jayapura"), ("82", "Maluku Utara", "Asia/Jayapura"), ("91", "Papua", "Asia/Jayapura"),
    ("92", "Papua Barat", "Asia/Jayapura"), ("93", "Papua Selatan", "Asia/Jayapura"),
    ("94", "Papua Tengah", "Asia/Jayapura"), ("95", "Papua Pegunungan", "Asia/Jayapura"),
    ("96", "Papua Barat Daya", "Asia/Jayapura"),
]
SYLLABLES = ("ba", "ka", "ma", "sa", "ta", "ra", "la", "wa", "ja", "su", "ku", "tu", "ri", "di", "ni",
             "pa", "ga", "na", "lo", "bo", "ke", "se", "mu", "ro", "ha", "ya", "li", "to", "do", "ng")
TAILS = ("", "", "", " Utara", " Selatan", " Barat", " Timur", " Tengah", " Raya", " Baru")
MAX_AGENCIES = len(PROVINCES) * 82  # kabupaten numbers stay below 71, where kota numbers start


@lru_cache(maxsize=1)
def version() -> str:
    """Changes whenever the generator (ours or the sample's) changes; read once per process."""
    import importlib.util

    sample = Path(importlib.util.find_spec("pipeline.sample").origin).parent
    digest = hashlib.sha256()
    for path in (Path(__file__), *sorted(sample.glob("*.py"))):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


# --------------------------------------------------------------------------- registry

def _place_name(rng: random.Random, syllables: int) -> tuple[str, str]:
    """A made-up place name, and the same written in two words."""
    parts = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 2))) for _ in range(syllables)]
    return "".join(parts).capitalize(), " ".join(p.capitalize() for p in parts)


def registry_entry(i: int) -> dict:
    """Entry i (0-based) of the national registry; the same for any registry size."""
    if i >= MAX_AGENCIES:
        raise ValueError(f"at most {MAX_AGENCIES} synthetic agencies")
    rng = random.Random(f"registry:{i}")
    prov, _, tz = PROVINCES[i % len(PROVINCES)]
    j = i // len(PROVINCES)  # the j-th region of this province
    is_kota = j % 6 == 5
    number = 71 + j // 6 if is_kota else 1 + j - j // 6
    name, _ = _place_name(rng, 2)
    region = name + rng.choice(TAILS)
    population = rng.randint(120_000, 2_500_000) if is_kota else rng.randint(60_000, 1_800_000)
    kecamatan: dict[str, list[str]] = {}
    used: set[str] = set()
    wanted = rng.randint(3, 8)
    while len(kecamatan) < wanted:
        one, two = _place_name(rng, 2)
        if one.lower() in used:
            continue
        used.add(one.lower())
        # the first kecamatan also has another spelling ("Sukamaju", "Suka Maju")
        kecamatan[f"{len(kecamatan) + 1:02d}"] = [one, two] if not kecamatan else [one]
    return {
        "code": f"kab_{i + 1:04d}",
        "name": f"{'UPTD PPA Kota' if is_kota else 'DP3A Kabupaten'} {region}",
        "region_name": region,
        "kemendagri_code": f"{prov}.{number:02d}",
        "bps_code": f"{prov}{number:02d}",
        "timezone": tz,
        "population": {2020: population, 2023: round(population * rng.uniform(1.02, 1.06))},
        "children": {2020: round(population * rng.uniform(0.27, 0.36))},
        "kecamatan": kecamatan,
    }


def national_registry(n: int) -> list[dict]:
    return [registry_entry(i) for i in range(n)]


def write_registry(path: Path, n: int) -> Path:
    """The registry YAML for n agencies (written once; the content only depends on n)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Synthetic national registry for the benchmarks: {n} kab/kota (bench/generate.py).\n"
              "# Not real regions: names, codes, population and kecamatan are made up.\n")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + yaml.safe_dump({"agencies": national_registry(n)}, sort_keys=False, allow_unicode=True),
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- workbooks

@dataclass(frozen=True)
class Params:
    years: int = 7
    rows: int = 70  # victims per agency per full year
    seed: int = DEFAULT_SEED

    def year_list(self) -> list[int]:
        return list(range(DATA_END_YEAR - self.years + 1, DATA_END_YEAR + 1))


def pool_dir(work: Path, params: Params) -> Path:
    return work / "data" / f"pool-{version()}-y{params.years}-r{params.rows}-s{params.seed}"


def _generate_one(task: tuple[str, int, dict, Params]) -> dict:
    """Write one agency's workbooks into the pool; return its manifest."""
    from pipeline.sample.generate import LAYOUTS, AgencyProfile, generate_agency

    pool, i, entry, params = task
    pool = Path(pool)
    code = entry["code"]
    layout = LAYOUTS[i % len(LAYOUTS)]
    profile = AgencyProfile(code=code, name=entry["name"], region_code=entry["bps_code"],
                            kecamatan=[(k, list(v)) for k, v in entry["kecamatan"].items()],
                            timezone=entry["timezone"])
    tmp = pool / "tmp" / code
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.perf_counter()
    manifest = generate_agency(tmp, code, params.year_list(), params.rows, layout,
                               random.Random(f"{params.seed}:{code}"), profile=profile)
    seconds = time.perf_counter() - start
    target = pool / "agencies" / code
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp / code, target)
    shutil.rmtree(tmp, ignore_errors=True)
    files = []
    for f in manifest.files:
        size = (target / Path(f.path).relative_to(code)).stat().st_size
        files.append({"path": f.path, "kind": f.kind, "bytes": size, "data_rows": f.data_rows,
                      "bad_rows": f.bad_rows, "superseded_rows": f.superseded_rows})
    record = {
        "code": code, "index": i, "layout": layout, "seconds": round(seconds, 3), "files": files,
        "victims": sum(manifest.expected_victims.values()), "cases": sum(manifest.expected_cases.values()),
        "victims_by_year": {str(y): n for (_, y), n in sorted(manifest.expected_victims.items())},
    }
    out = pool / "manifests" / f"{code}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".tmp").write_text(json.dumps(record), encoding="utf-8")
    os.replace(out.with_suffix(".tmp"), out)
    return record


def ensure_dataset(work: Path, agencies: int, params: Params = Params(), workers: int = 2,
                   log=print) -> dict:
    """Generate what is missing for the first `agencies` agencies; return the dataset manifest."""
    pool = pool_dir(work, params)
    summary_path = pool / f"dataset-n{agencies}.json"
    registry = write_registry(work / "data" / f"registry-n{agencies}.yaml", agencies)
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        summary["cached"] = True
        return summary
    entries = national_registry(agencies)
    todo = [(str(pool), i, e, params) for i, e in enumerate(entries)
            if not (pool / "manifests" / f"{e['code']}.json").exists()]
    start = time.perf_counter()
    if todo:
        log(f"generating {len(todo)} of {agencies} agencies into {pool} ({workers} workers) ...")
        done = 0
        if workers > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers) as procs:
                for _ in procs.imap_unordered(_generate_one, todo, chunksize=4):
                    done += 1
                    if done % 100 == 0:
                        log(f"  {done}/{len(todo)} agencies, {time.perf_counter() - start:.0f} s")
        else:
            for task in todo:
                _generate_one(task)
                done += 1
                if done % 100 == 0:
                    log(f"  {done}/{len(todo)} agencies, {time.perf_counter() - start:.0f} s")
    records = [json.loads((pool / "manifests" / f"{e['code']}.json").read_text(encoding="utf-8")) for e in entries]
    files = [f for r in records for f in r["files"]]
    workbooks = [f for f in files if Path(f["path"]).suffix.lower() in READABLE and not Path(f["path"]).name.startswith("~$")]
    largest = max(files, key=lambda f: f["bytes"])
    summary = {
        "agencies": agencies, "years": params.years, "rows_per_agency_year": params.rows, "seed": params.seed,
        "version": version(), "pool": str(pool), "registry": str(registry),
        "files": len(files), "workbooks": len(workbooks),
        "data_rows": sum(f["data_rows"] for f in files), "bad_rows": sum(f["bad_rows"] for f in files),
        "victims": sum(r["victims"] for r in records), "cases": sum(r["cases"] for r in records),
        "bytes": sum(f["bytes"] for f in files), "largest_file_bytes": largest["bytes"],
        "largest_file": largest["path"], "largest_file_rows": largest["data_rows"],
        "generation_seconds": round(time.perf_counter() - start, 1) if todo else 0.0,
        "codes": [e["code"] for e in entries],
    }
    summary_path.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    summary["cached"] = not todo
    return summary


def link_raw(dataset: dict, raw_dir: Path) -> Path:
    """A fresh raw folder for a run: hard links to the pool's files (copies if links fail)."""
    pool = Path(dataset["pool"]) / "agencies"
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    for code in dataset["codes"]:
        src_root = pool / code
        for src in src_root.rglob("*"):
            dst = raw_dir / code / src.relative_to(src_root)
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
        (raw_dir / code).mkdir(parents=True, exist_ok=True)
    return raw_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agencies", type=int, default=514, help="number of kab/kota (default 514)")
    ap.add_argument("--years", type=int, default=7, help="the last Y years up to 2025 (default 7)")
    ap.add_argument("--rows", type=int, default=70, help="victims per agency per full year (default 70)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="cache folder (default /tmp/ppa-bench)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--raw", type=Path, help="also link a raw folder here, ready for `ppa run`")
    args = ap.parse_args(argv)
    params = Params(args.years, args.rows, args.seed)
    ds = ensure_dataset(args.work.resolve(), args.agencies, params, args.workers)
    print(f"{ds['agencies']} agencies, {ds['files']} files ({ds['workbooks']} workbooks), {ds['data_rows']} data rows, "
          f"{ds['victims']} victims, {ds['bytes'] / 1e6:.1f} MB; largest file {ds['largest_file']} "
          f"({ds['largest_file_bytes'] / 1e3:.0f} kB){' (cached)' if ds['cached'] else ''}")
    print(f"registry: {ds['registry']}")
    if args.raw:
        link_raw(ds, args.raw.resolve())
        print(f"raw folder: {args.raw.resolve()}\n"
              f"run it:  PPA_REGISTRY={ds['registry']} PPA_RAW_DIR={args.raw.resolve()} ppa run   "
              "(and point PPA_WAREHOUSE_DIR, PPA_ARCHIVE_DIR, PPA_REPORTS_DIR, DAGSTER_HOME outside the repository)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
