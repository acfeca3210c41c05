"""The read-only copy for researchers: analytics.duckdb and Parquet files.

Built beside the live warehouse and moved into place with os.replace, so a
reader that has the old copy open keeps a consistent snapshot and the next
open sees the new one. It holds the marts and de-identified staging rows:
no file names, no row numbers, and case ids replaced by a keyed hash.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipeline.privacy import keyed_hash

DEIDENTIFIED_COLUMNS = [
    "agency", "case_key", "victim_seq", "year", "report_month", "victim_sex", "victim_age",
    "victim_age_group", "is_child", "violence_forms", "is_kdrt", "child_role", "place",
    "perp_relation", "kecamatan_code", "services", "case_status",
]


def publish(con: duckdb.DuckDBPyConnection, warehouse_dir: Path) -> dict[str, int]:
    """Write analytics.duckdb and marts Parquet files atomically; return row counts."""
    target = warehouse_dir / "analytics.duckdb"
    tmp = warehouse_dir / f".analytics.{os.getpid()}.duckdb"
    tmp.unlink(missing_ok=True)
    marts = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1").fetchall()]
    victims = con.execute(
        "SELECT agency, case_id, victim_seq, year, month(report_date) AS report_month, victim_sex, victim_age, "
        "victim_age_group, is_child, violence_forms, is_kdrt, child_role, place, perp_relation, kecamatan_code, "
        "services, case_status FROM staging.case_victims ORDER BY agency, year, case_id, victim_seq").df()
    victims.insert(1, "case_key", [keyed_hash("case", a, c)[:20] for a, c in zip(victims["agency"], victims["case_id"])])
    victims = victims[DEIDENTIFIED_COLUMNS]
    counts = {}
    out = duckdb.connect(str(tmp))
    try:
        out.execute("CREATE SCHEMA marts; CREATE SCHEMA staging; CREATE SCHEMA meta")
        tables = {f"marts.{name}": con.execute(f"SELECT * FROM marts.{name}").df() for name in marts}
        for name in ("agencies", "population"):
            tables[f"meta.{name}"] = con.execute(f"SELECT * FROM meta.{name}").df()
        tables["staging.case_victims"] = victims
        for table, frame in tables.items():
            out.register("_f", frame)
            out.execute(f"CREATE TABLE {table} AS SELECT * FROM _f")
            out.unregister("_f")
            counts[table] = len(frame)
        out.execute("CHECKPOINT")
    finally:
        out.close()
    os.replace(tmp, target)
    parquet_dir = warehouse_dir / "parquet"
    parquet_dir.mkdir(parents=True, exist_ok=True)
    for name in marts:
        part = parquet_dir / f".{name}.parquet.tmp"
        con.execute(f"COPY marts.{name} TO '{part}' (FORMAT parquet)")
        os.replace(part, parquet_dir / f"{name}.parquet")
    return counts
