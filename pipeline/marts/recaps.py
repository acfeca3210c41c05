"""What the recaps give the marts (data contract, section 9), from the counted cells of
staging.recap_counts: per agency and year the victims, cases, sex, children and forms; per
agency and month whether a recap reported it and its victims. Plain functions over frames.

A recap's counts come in units: a period (a month, a quarter, a year) and a measure. A unit's
victims are its total, else its L + P, else its ANAK + DEWASA (forms are never added up to
give victims). A year takes the units that lie within it. What no unit gives stays null.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.contract import form_flag_columns
from pipeline.ingest.coverage import months_between

# The cells the marts count, with when their file was first received (current files only).
COUNTED_CELLS = """
    SELECT r.agency, r.period_start, r.period_end, r.measure, r.dimension, r.category, r.count, r._source_file,
           l.first_seen
    FROM staging.recap_counts r
    JOIN meta.ingest_log l ON l.agency = r.agency AND l.path = r._source_file
    WHERE r.counted AND l.status = 'loaded'
    """
YEAR_COLUMNS = ["agency", "year", "cases", "victims", "victims_female", "victims_male", "child_victims",
                "source_files"]
FORM_COLUMNS = ["agency", "year", "violence_form", "victims", "all_victims"]
MONTH_COLUMNS = ["agency", "month_start", "victims", "reported", "first_reported_at"]
_PARTS = (("L", "P"), ("ANAK", "DEWASA"))


def _units(cells: pd.DataFrame) -> list[dict]:
    """One dict per (agency, measure, period): its total (or parts' sum), sex, class and form counts."""
    out = []
    if cells.empty:
        return out
    keys = ["agency", "measure", "period_start", "period_end"]
    dimensions, categories = cells["dimension"].tolist(), cells["category"].tolist()
    counts, files = cells["count"].tolist(), cells["_source_file"].tolist()
    seen = pd.to_datetime(cells["first_seen"]).to_numpy()
    for (agency, measure, start, end), rows in sorted(cells.groupby(keys, sort=False).indices.items()):
        by: dict[str, int] = {}
        for i in rows:
            key = "total" if dimensions[i] in ("total", "kecamatan_code") else str(categories[i])
            by[key] = by.get(key, 0) + int(counts[i])
        value = by.get("total")
        for parts in _PARTS:
            if value is None and all(p in by for p in parts):
                value = sum(by[p] for p in parts)
        times = seen[rows][~np.isnat(seen[rows])]
        out.append({"agency": agency, "measure": measure, "start": pd.Timestamp(start).date(),
                    "end": pd.Timestamp(end).date(), "value": value, "by": by,
                    "any": any(counts[i] > 0 for i in rows), "files": {files[i] for i in rows},
                    "first_seen": pd.Timestamp(times.min()) if len(times) else pd.NaT})
    return out


def _sum(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def recap_years(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(years, forms): per agency and year what the recaps give (null where they give nothing),
    and per agency, year and form the victims of that form with the year's victims."""
    units = [u for u in _units(cells) if u["start"].year == u["end"].year]
    years: dict[tuple[str, int], list[dict]] = {}
    for u in units:
        years.setdefault((u["agency"], u["start"].year), []).append(u)
    rows, forms = [], []
    for (agency, year), group in sorted(years.items()):
        victims = [u for u in group if u["measure"] == "victims"]
        total = _sum([u["value"] for u in victims])
        rows.append({"agency": agency, "year": year,
                     "cases": _sum([u["value"] for u in group if u["measure"] == "cases"]), "victims": total,
                     "victims_female": _sum([u["by"].get("P") for u in victims]),
                     "victims_male": _sum([u["by"].get("L") for u in victims]),
                     "child_victims": _sum([u["by"].get("ANAK") for u in victims]),
                     "source_files": sorted(set().union(*(u["files"] for u in group)))})
        for form in form_flag_columns():
            n = _sum([u["by"].get(form) for u in victims])
            if n is not None:
                forms.append({"agency": agency, "year": year, "violence_form": form, "victims": n,
                              "all_victims": total})
    ints = {c: "Int64" for c in ("year", "cases", "victims", "victims_female", "victims_male", "child_victims")}
    return (pd.DataFrame(rows, columns=YEAR_COLUMNS).astype(ints),
            pd.DataFrame(forms, columns=FORM_COLUMNS).astype({"year": "Int64", "victims": "Int64",
                                                              "all_victims": "Int64"}))


def recap_months(cells: pd.DataFrame) -> pd.DataFrame:
    """Per agency and month a recap covers: its victims (null when the recap's period is longer
    than the month, or gives no victims), whether it reported any count above zero, and when
    its file was first received. A recap received before a month began does not cover it, nor,
    with a count of zero, before it ended: a blank line for a month to come is not a report."""
    found: dict[tuple[str, pd.Timestamp], dict] = {}
    for u in _units(cells):
        months = months_between(u["start"], u["end"])
        received = pd.Timestamp(u["first_seen"]).date()
        for month in months:
            start = pd.Timestamp(f"{month}-01")
            if start.date() > received or (not u["any"] and (start + pd.offsets.MonthEnd(0)).date() >= received):
                continue
            key = (u["agency"], start)
            row = found.setdefault(key, {"victims": None, "reported": False, "first_reported_at": u["first_seen"]})
            if u["measure"] == "victims" and len(months) == 1 and u["value"] is not None:
                row["victims"] = (row["victims"] or 0) + u["value"]
            row["reported"] = row["reported"] or u["any"]
            row["first_reported_at"] = min(row["first_reported_at"], u["first_seen"])
    rows = [{"agency": a, "month_start": m, **v} for (a, m), v in sorted(found.items())]
    return pd.DataFrame(rows, columns=MONTH_COLUMNS).astype({"victims": "Int64"})
