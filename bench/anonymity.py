"""What protecting the researchers' rows costs, on a warehouse a run made: k and l before and
after, the share of rows published with their age group, kecamatan and month kept, and the
time of the step (pipeline/publish/anonymity.py). Not part of make bench.

    .venv/bin/python -m bench.anonymity <warehouse folder> [--k 5]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import duckdb

from pipeline.publish import anonymity


def measure_release(warehouse: Path, k: int) -> dict:
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        frame = con.execute(
            "SELECT agency, year, month(report_date) AS report_month, victim_age_group, is_child, victim_sex, "
            "kecamatan_code, perp_relation, place, array_to_string(list_sort(violence_forms), ',') AS forms "
            "FROM staging.case_victims").df()
    finally:
        con.close()
    start = time.perf_counter()
    result = anonymity.release(frame, k)
    seconds = time.perf_counter() - start
    before = frame.assign(report_quarter=(frame["report_month"] - 1) // 3 + 1)
    return {"rows": len(frame), "agencies": int(frame["agency"].nunique()), "k_required": k,
            "before": anonymity.measure(before), "after": anonymity.measure(result.rows),
            "kept": anonymity.kept_shares(frame, result.rows), "release_s": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure_release(args.warehouse, args.k), indent=2))


if __name__ == "__main__":
    main()
