"""What the report, the charts and the comparison read from the analytics copy
(analytics.duckdb, opened read-only), the views derived from it, and numbers and dates
formatted the Indonesian way.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.contract import load_contract

FORMS = load_contract().codes_in_order("violence_forms")
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
    "terakhir (ditandai s.d. bulan).",
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
            "agencies": con.execute("SELECT agency, name, region_name FROM meta.agencies ORDER BY agency").df(),
            "region_year": con.execute("SELECT * FROM marts.victims_by_region_year ORDER BY agency, year").df(),
            "yoy": con.execute("SELECT * FROM marts.yoy_by_region ORDER BY agency, year").df(),
            "forms": con.execute("SELECT * FROM marts.victims_by_form ORDER BY agency, year, violence_form").df(),
            "completeness": con.execute(
                "SELECT agency, year, month, has_data, victims FROM marts.reporting_completeness "
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
    offset = when.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else ""
    return f"{when.day} {MONTHS_ID[when.month - 1]} {when.year}, pukul {when:%H.%M} {zone}".strip()


# ---------------------------------------------------------------- derived views

def year_notes(frames: dict[str, pd.DataFrame]) -> dict[tuple[str, int], str]:
    """Per (agency, year): the months without data, or 's.d. <month>' for a year still running."""
    comp = frames["completeness"]
    notes: dict[tuple[str, int], str] = {}
    for (agency, year), group in comp.groupby(["agency", "year"]):
        missing = [MONTHS_ID[m - 1] for m in group.loc[~group["has_data"], "month"]]
        parts = []
        if missing:
            parts.append("TIDAK LENGKAP: tanpa data bulan " + ", ".join(missing))
        if group["month"].max() < 12:
            parts.append(f"s.d. {MONTHS_ID[int(group['month'].max()) - 1]}")
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
    """Per agency and year: incomplete (months without data) and partial (a year still running)."""
    comp = frames["completeness"]
    if comp.empty:
        return pd.DataFrame(columns=["agency", "year", "incomplete", "partial"])
    g = comp.groupby(["agency", "year"])
    return pd.DataFrame({"incomplete": ~g["has_data"].all(), "partial": g["month"].max() < 12}).reset_index()


