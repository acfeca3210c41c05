"""W4, researcher queries: year-on-year and a breakdown by form over N generated rows.

The rows are made directly in DuckDB with SQL, in the shape of `staging.case_victims`
(pipeline/warehouse.py DDL), spread over the national registry's agencies and 7 years;
meta.agencies / meta.population / meta.kecamatan come from the registry through
`pipeline.marts.registry_frames`. The counting-rule columns (is_victim, counts_case,
form_*) are computed from the generated rows with `pipeline.warehouse.COUNTING_SQL`, the SQL
form of staging's rules, and the rows are written ordered by agency and year, as staging
writes them (one agency slice at a time, a register file after the other). The database is
cached in the work folder under a name that includes a hash of the DDL and of this SQL, so a
change to either makes a new one.

Queries (each: one untimed warm-up, then the median of 5 runs, result fetched to Python):
- yoy: the pipeline's `victims_by_region_year` mart SQL with the year-on-year change
  (lag over the years, as in `yoy_by_region`) on top;
- by_form: the pipeline's `victims_by_form` mart SQL, as it is.
Also timed once, for information: every mart of `pipeline.marts.build_marts` over the same rows.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from pathlib import Path

import duckdb

YEARS = list(range(2019, 2026))
FORMS = "['FISIK','PSIKIS','SEKSUAL','EKSPLOITASI','TRAFFICKING','PENELANTARAN','LAINNYA']"
PLACES = "['RUMAH_TANGGA','TEMPAT_KERJA','SEKOLAH','FASILITAS_UMUM','LAINNYA']"
RELATIONS = "['ORANG_TUA','KELUARGA_SAUDARA','SUAMI_ISTRI','PACAR_TEMAN','TETANGGA','GURU','LAINNYA']"
SERVICES = "['PENGADUAN','KESEHATAN','BANTUAN_HUKUM','PENEGAKAN_HUKUM','REHABILITASI_SOSIAL']"
STATUSES = "['PROSES','SELESAI','DIRUJUK']"

# i: row number; c: case number (cases of 2 victims for the first 40% of rows, then 1).
ROWS_SQL = """
INSERT INTO staging.case_victims BY NAME
SELECT *, {counting} FROM (
WITH r AS (
    SELECT i,
           CASE WHEN i < {pairs} THEN i // 2 ELSE i - {pairs} // 2 END AS c,
           CASE WHEN i < {pairs} THEN 1 + i % 2 ELSE 1 END AS seq
    FROM range({rows}) t(i)
), k AS (
    SELECT r.*, a.agency, a.kabkota_code, (2019 + hash(c, 1) % 7)::INTEGER AS year,
           (hash(i, 2) % 100)::BIGINT AS age, (hash(i, 3) % 1000000007)::BIGINT AS h,
           (1 + hash(c, 4) % 12)::BIGINT AS month, (1 + hash(c, 5) % 28)::BIGINT AS day
    FROM r JOIN _agencies a ON a.n = c % {agencies}
)
SELECT agency, 'C' || c AS case_id, seq AS victim_seq, make_date(year, month, day) AS report_date,
       NULL AS incident_date, year,
       CASE WHEN h % 100 < 78 THEN 'P' ELSE 'L' END AS victim_sex,
       (age * 70 // 100)::INTEGER AS victim_age,
       CASE WHEN age * 70 // 100 <= 5 THEN '0-5' WHEN age * 70 // 100 <= 12 THEN '6-12'
            WHEN age * 70 // 100 <= 17 THEN '13-17' WHEN age * 70 // 100 <= 24 THEN '18-24'
            WHEN age * 70 // 100 <= 44 THEN '25-44' WHEN age * 70 // 100 <= 59 THEN '45-59'
            ELSE '60+' END AS victim_age_group,
       age * 70 // 100 < 18 AS is_child,
       CASE WHEN h % 5 = 0 THEN list_sort([{forms}[1 + h % 7], {forms}[1 + (h % 7 + 1 + (h // 7) % 6) % 7]])
            ELSE [{forms}[1 + h % 7]] END AS violence_forms,  -- two different forms, sorted, as staging has them
       h % 3 = 0 AS is_kdrt,
       CASE WHEN age * 70 // 100 < 18 THEN CASE WHEN h % 25 = 0 THEN 'PELAKU' ELSE 'KORBAN' END END AS child_role,
       {places}[1 + (h // 11) % 5] AS place, {relations}[1 + (h // 13) % 7] AS perp_relation,
       kabkota_code || '.0' || (1 + (h // 17) % 3) AS kecamatan_code,
       [{services}[1 + (h // 19) % 5]] AS services, {statuses}[1 + (h // 23) % 3] AS case_status,
       agency || '/register_' || year || '.xlsx' AS _source_file, 'sha-' || agency || '-' || year AS _source_sha256,
       'DATA ' || year AS _source_sheet, (2 + i % 900)::INTEGER AS _source_row, 'bench' AS _load_id,
       TIMESTAMP '2025-12-01 00:00:00' AS _ingested_at
FROM k
) ORDER BY agency, year
"""


def _yoy_sql() -> str:
    from pipeline.marts.sql import MARTS

    base = MARTS["victims_by_region_year"][1]
    return f"""
    WITH vry AS ({base})
    SELECT agency, year, victims, lag(victims) OVER w AS victims_prev_year,
           victims - lag(victims) OVER w AS change_abs,
           CASE WHEN lag(victims) OVER w > 0
                THEN round((victims - lag(victims) OVER w) * 100.0 / lag(victims) OVER w, 1) END AS change_pct,
           cases, victims_per_100k
    FROM vry WINDOW w AS (PARTITION BY agency ORDER BY year) ORDER BY agency, year
    """


def ensure_db(work: Path, rows: int, registry: Path, log=print) -> tuple[Path, float | None]:
    """The cached database with `rows` staging rows; (path, seconds to build or None if cached)."""
    from pipeline.marts.build import registry_frames
    from pipeline.registry import load_registry
    from pipeline.warehouse.db import COUNTING_SQL, DDL

    agencies = load_registry(registry)
    counting = ", ".join(f"{sql} AS {column}" for column, sql in COUNTING_SQL.items())
    version = hashlib.sha256((DDL + ROWS_SQL + counting).encode()).hexdigest()[:8]
    path = work / "w4" / f"w4-r{rows}-a{len(agencies)}-{version}.duckdb"
    if path.exists() and (path.with_suffix(".ok")).exists():
        return path, None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.with_suffix(".duckdb.wal").unlink(missing_ok=True)
    log(f"generating {rows:,} staging rows in {path} ...")
    t0 = time.perf_counter()
    con = duckdb.connect(str(path))
    try:
        con.execute(DDL)
        agency_df, pop_df, kec_df = registry_frames(agencies, YEARS)
        con.register("_a", agency_df)
        con.execute("CREATE TEMP TABLE _agencies AS SELECT row_number() OVER () - 1 AS n, agency, kabkota_code FROM _a")
        con.unregister("_a")
        pairs = (rows * 4 // 10) // 2 * 2
        con.execute(ROWS_SQL.format(rows=rows, pairs=pairs, agencies=len(agencies), forms=FORMS, places=PLACES,
                                    relations=RELATIONS, services=SERVICES, statuses=STATUSES, counting=counting))
        for table, frame in (("meta.agencies", agency_df), ("meta.population", pop_df), ("meta.kecamatan", kec_df)):
            con.register("_f", frame)
            con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _f")
            con.unregister("_f")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    path.with_suffix(".ok").write_text("ok")
    return path, time.perf_counter() - t0


def _time(con: duckdb.DuckDBPyConnection, sql: str, runs: int = 5) -> dict:
    t0 = time.perf_counter()
    result = con.execute(sql).fetchall()
    cold = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    return {"median_ms": round(statistics.median(times) * 1000, 1), "min_ms": round(min(times) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1), "first_ms": round(cold * 1000, 1), "result_rows": len(result)}


def measure(path: Path, registry: Path) -> dict:
    """Median times of the two researcher queries, and one build of every mart (information)."""
    from pipeline.marts.build import build_marts
    from pipeline.marts.sql import MARTS
    from pipeline.registry import load_registry

    con = duckdb.connect(str(path))
    try:
        rows = con.execute("SELECT count(*) FROM staging.case_victims").fetchall()[0][0]
        out = {"rows": rows, "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0],
               "yoy": _time(con, _yoy_sql()), "by_form": _time(con, MARTS["victims_by_form"][1])}
        t0 = time.perf_counter()
        counts = build_marts(con, load_registry(registry))
        out["build_marts_s"] = round(time.perf_counter() - t0, 2)
        out["marts"] = len(counts)
    finally:
        con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.w4 build|measure --work W --rows N --registry R`: one JSON line on stdout.

    The harness runs W4 in its own process: DuckDB's memory for 10 million rows would otherwise
    stay in the harness, and every process it starts after (through vfork) would report the
    harness's peak as its own peak RSS (ru_maxrss).
    """
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(prog="bench.w4")
    ap.add_argument("action", choices=("build", "measure"))
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--registry", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.action == "build":
        path, built = ensure_db(args.work, args.rows, args.registry,
                                log=lambda text: print(text, file=sys.stderr, flush=True))
        print(json.dumps({"path": str(path), "built": built}))
    else:
        path, _ = ensure_db(args.work, args.rows, args.registry)
        print(json.dumps(measure(path, args.registry)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
