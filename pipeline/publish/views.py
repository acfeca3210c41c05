"""What the report, the charts and the comparison read from the analytics copy
(analytics.duckdb, opened read-only), the views derived from it, and numbers and dates
formatted the Indonesian way.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from pipeline.marts.data_end import last_month_with_data

FORMS = ["FISIK", "PSIKIS", "SEKSUAL", "EKSPLOITASI", "TRAFFICKING", "PENELANTARAN", "LAINNYA"]
FORM_LABELS = {
    "FISIK": "Fisik", "PSIKIS": "Psikis", "SEKSUAL": "Seksual", "EKSPLOITASI": "Eksploitasi",
    "TRAFFICKING": "Perdagangan orang", "PENELANTARAN": "Penelantaran", "LAINNYA": "Lainnya",
}
MONTHS_ID = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
             "Oktober", "November", "Desember"]
MONTHS_SHORT = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]

WARNING_ID = [
    "Angka dalam laporan ini adalah korban yang datang ke unit layanan dan tercatat. Ini bukan angka "
    "prevalensi: banyak kekerasan tidak pernah dilaporkan.",
    "Perubahan cakupan layanan antar tahun (unit layanan baru, sosialisasi, ekspor data yang terlambat "
    "atau hilang) ikut menggeser angka. Kenaikan jumlah korban bisa berarti lebih banyak korban berani "
    "melapor, bukan lebih banyak kekerasan.",
    "Tahun yang ditandai TIDAK LENGKAP memiliki bulan tanpa data: angkanya terlalu rendah dan perubahan "
    "dari tahun sebelumnya tidak dapat dibandingkan. Tahun terakhir hanya berisi bulan sampai data "
    "terakhir (ditandai 'data s.d. <bulan>').",
    "Satu korban bisa mengalami lebih dari satu bentuk kekerasan, sehingga jumlah per bentuk tidak boleh "
    "dijumlahkan menjadi jumlah korban.",
]


# ---------------------------------------------------------------- loading

def read_analytics(analytics_path: Path | str) -> dict[str, pd.DataFrame]:
    """The tables the reports need, read in one short read-only connection."""
    path = Path(analytics_path)
    if not path.exists():
        raise FileNotFoundError(f"no analytics copy at {path}: run `ppa run` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            "agencies": con.execute("SELECT agency, name, region_name, timezone FROM meta.agencies ORDER BY agency").df(),
            "region_year": con.execute("SELECT * FROM marts.victims_by_region_year ORDER BY agency, year").df(),
            "yoy": con.execute("SELECT * FROM marts.yoy_by_region ORDER BY agency, year").df(),
            "forms": con.execute("SELECT * FROM marts.victims_by_form ORDER BY agency, year, violence_form").df(),
            "completeness": con.execute(
                "SELECT agency, year, month, has_data, victims, coverage_status FROM marts.reporting_completeness "
                "ORDER BY agency, year, month").df(),
        }
    finally:
        con.close()


def built_at(analytics_path: Path | str) -> dt.datetime:
    """When the analytics copy was built: its file time (it is written once, then moved into place)."""
    return dt.datetime.fromtimestamp(Path(analytics_path).stat().st_mtime).astimezone()


def is_true(value: object) -> bool:
    return not is_missing(value) and bool(value)


def is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def fmt_num(value: object, digits: int = 0, sign: bool = False) -> str:
    """Plain number for the terminal: '-' for missing."""
    if is_missing(value):
        return "-"
    text = f"{float(value):+.{digits}f}" if sign else f"{float(value):.{digits}f}"
    return text


# ---------------------------------------------------------------- formatting (Indonesian)

def esc(value: object) -> str:
    """Text for HTML: '–' for missing values, everything else escaped."""
    if is_missing(value):
        return "–"
    return html.escape(str(value), quote=True)


def fmt_id(value: object, digits: int = 0, sign: bool = False) -> str:
    """A number the Indonesian way: 1.256.610 and 12,5; '–' when missing."""
    if is_missing(value):
        return "–"
    text = f"{float(value):{'+' if sign else ''},.{digits}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def date_id(when: dt.datetime) -> str:
    """'5 Desember 2026, pukul 15.20 WITA': the zone by its name (WIB, WITA, WIT) or else its offset."""
    return f"{when.day} {MONTHS_ID[when.month - 1]} {when.year}, pukul {when:%H.%M} {_zone(when)}".strip()


def _zone(when: dt.datetime) -> str:
    name, offset = when.tzname() or "", when.strftime("%z")
    if name.isalpha():
        return name
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else ""


def zones_by_use(zones: list[str]) -> list[str]:
    """The agencies' time zones, the most common first (UTC when there is none)."""
    return [z for z, _ in Counter(zones).most_common()] or ["UTC"]


def date_in_zones(when: dt.datetime, zones: list[str]) -> str:
    """The time in the agencies' time zones: the most common first, the others beside it
    ('5 Desember 2026, pukul 15.20 WITA (14.20 WIB)')."""
    ordered = zones_by_use(zones)
    first = when.astimezone(ZoneInfo(ordered[0]))
    others = [when.astimezone(ZoneInfo(z)) for z in ordered[1:]]
    others = [f"{o:%H.%M} {_zone(o)}" for o in others if _zone(o) != _zone(first)]
    return date_id(first) + (f" ({', '.join(dict.fromkeys(others))})" if others else "")




# ---------------------------------------------------------------- derived views

def data_end(frames: dict[str, pd.DataFrame]) -> dict[str, tuple[int, int]]:
    """Per agency with data: the last (year, month) with data (report date)."""
    ends = {a: last_month_with_data(g) for a, g in frames["completeness"].groupby("agency")}
    return {a: end for a, end in ends.items() if end is not None}


def year_notes(frames: dict[str, pd.DataFrame]) -> dict[tuple[str, int], str]:
    """Per (agency, year): the months without data, and 'data s.d. <month>' for the year the
    agency's data ends in before December (a year in progress as far as the data go)."""
    comp, ends = frames["completeness"], data_end(frames)
    notes: dict[tuple[str, int], str] = {}
    for (agency, year), group in comp.groupby(["agency", "year"]):
        end = ends.get(agency)
        missing = [MONTHS_ID[m - 1] for m in group.loc[group["coverage_status"] == "missing", "month"]]
        parts = []
        if missing:
            parts.append("TIDAK LENGKAP: tanpa data bulan " + ", ".join(missing))
        if end is not None and end[0] == int(year) and end[1] < 12:
            parts.append(f"data s.d. {MONTHS_ID[end[1] - 1]}")
        notes[(agency, int(year))] = "; ".join(parts)
    return notes


def region_names(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    return dict(zip(frames["agencies"]["agency"], frames["agencies"]["region_name"]))


def comparable_years(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per agency and year: whether the change from the previous year compares like with like
    (both years complete and neither a year still running)."""
    flags = year_flags(frames).sort_values(["agency", "year"])
    odd = flags["incomplete"] | flags["partial"]
    prev_odd = odd.groupby(flags["agency"]).shift(1, fill_value=True)
    return pd.DataFrame({"agency": flags["agency"], "year": flags["year"], "comparable": ~odd & ~prev_odd})


def year_flags(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per agency and year: incomplete (a month missing: due and not reported) and partial (a year
    still running, or the year the agency's data end in before December)."""
    comp = frames["completeness"]
    if comp.empty:
        return pd.DataFrame(columns=["agency", "year", "incomplete", "partial"])
    g = comp.groupby(["agency", "year"])
    flags = pd.DataFrame({"incomplete": g["coverage_status"].apply(lambda s: (s == "missing").any()),
                          "partial": g["month"].max() < 12}).reset_index()
    ends = data_end(frames)  # the year the data end in is partial too, whatever the calendar says
    at_end = [a in ends and ends[a][0] == y and ends[a][1] < 12 for a, y in zip(flags["agency"], flags["year"])]
    flags["partial"] = flags["partial"].astype(bool) | pd.Series(at_end, index=flags.index, dtype=bool)
    return flags


