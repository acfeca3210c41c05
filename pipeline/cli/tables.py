"""`ppa yoy`, `ppa compare`, `ppa report`, `ppa docs` and `ppa sample`: what the analytics copy
and the declarations give, and the synthetic sample."""

from __future__ import annotations

from pathlib import Path

from pipeline.cli import common
from pipeline.config import settings


def yoy(agency: str | None = None) -> int:
    from pipeline.publish.compare import format_yoy, yoy_table

    agency = common.agency(agency)
    table = yoy_table(common.analytics(), agency)
    common.say("Korban per wilayah dan tahun / victims per agency and year" + (f": {agency}" if agency else ""))
    print(format_yoy(table))
    return 0


def compare(a: str, b: str) -> int:
    from pipeline.publish.compare import compare_rows, format_compare

    a, b = common.agency(a), common.agency(b)
    if a == b:
        raise common.Mistake("same_agency")
    print(format_compare(compare_rows(common.analytics(), a, b)))
    return 0


def report(out_dir: Path | None) -> int:
    from pipeline.publish.report import write_report

    target = out_dir or settings().reports_dir
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise common.Mistake("not_a_folder", path=common.path_text(out_dir))
    path = write_report(common.analytics(), target, settings().warehouse_path)
    common.say(f"laporan ditulis / report written: {common.path_text(path)}")
    return 0


def docs() -> int:
    """Regenerate docs/data-dictionary.md from the table declarations (pipeline/warehouse/tables.py)."""
    from pipeline.publish import docs as docs_module
    from pipeline.warehouse.db import connect

    with connect(common.warehouse()) as con:
        missing = docs_module.missing_descriptions(con)
        target = docs_module.write(con)
    common.say(f"ditulis / wrote {common.path_text(target)}")
    if missing:
        common.say("kolom gudang data yang tidak dinyatakan di pipeline/warehouse/tables.py / columns in the "
                   f"warehouse that pipeline/warehouse/tables.py does not declare: {', '.join(missing)}", stderr=True)
        return 1
    return 0


def sample() -> int:
    from pipeline.sample.generate import write_sample

    raw_dir = settings().raw_dir
    manifest = write_sample(raw_dir)
    total = sum(manifest.expected_victims.values())
    common.say(f"{len(manifest.files)} file ditulis ke / files written to {common.path_text(raw_dir)}: "
               f"{total} korban diharapkan / victims expected")
    return 0
