"""What the report, the charts and the comparison read from the analytics copy
(analytics.duckdb, opened read-only), the views derived from it, and numbers and dates
formatted the Indonesian way.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from pipeline.contract import load_contract
from pipeline.marts.completeness import REPORTED
from pipeline.marts.data_end import last_month_with_data
from pipeline.publish.numbers import YOY_SQL, fmt_id, fmt_num, interval, is_missing, is_true  # noqa: F401

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
    "Tahun yang ditandai TIDAK LENGKAP memiliki bulan yang belum ada laporannya padahal sudah lewat batas "
    "waktu: angkanya terlalu rendah dan perubahannya tidak diuji. Bulan nihil (laporan nihil, atau register "
    "yang mencakup bulan itu tanpa kasus) bukan bulan yang hilang: korbannya memang nol. Tahun berjalan "
    "dibandingkan dengan bulan yang sama tahun sebelumnya.",
    "Setiap jumlah punya rentang 95%: rentang yang dapat dicapai jumlah sebesar itu karena kebetulan saja. "
    "Perubahan disebut bermakna secara statistik hanya bila uji pasti menolak 'tidak ada perubahan' "
    "(p < 0,05). Jumlah di bawah 20 korban tidak stabil: angka per 100.000 dari jumlah sekecil itu "
    "belum dapat diandalkan.",
    "Satu korban bisa mengalami lebih dari satu bentuk kekerasan, sehingga jumlah per bentuk tidak boleh "
    "dijumlahkan menjadi jumlah korban.",
]

COMPLETENESS_SQL = """
    SELECT agency, year, month, has_data, coverage_status, victims, due_date, on_time
    FROM marts.reporting_completeness ORDER BY agency, year, month
    """
FLAGS_SQL = """
    SELECT flag_id, agency, year, month, "check", severity, message, message_en, status, note
    FROM marts.dq_flags ORDER BY agency, year, month NULLS FIRST, "check"
    """


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
            "yoy": con.execute(f"{YOY_SQL} ORDER BY agency, year").df(),
            "forms": con.execute("SELECT * FROM marts.victims_by_form ORDER BY agency, year, violence_form").df(),
            "completeness": con.execute(COMPLETENESS_SQL).df(),
            "flags": con.execute(FLAGS_SQL).df(),
        }
    finally:
        con.close()


def built_at(analytics_path: Path | str) -> dt.datetime:
    """When the analytics copy was built: its file time (it is written once, then moved into place)."""
    return dt.datetime.fromtimestamp(Path(analytics_path).stat().st_mtime).astimezone()


# ---------------------------------------------------------------- formatting (Indonesian)

def esc(value: object) -> str:
    """Text for HTML: '–' for missing values, everything else escaped."""
    if is_missing(value):
        return "–"
    return html.escape(str(value), quote=True)


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


def same_months(frames: dict[str, pd.DataFrame]) -> dict[tuple[str, int], list[int]]:
    """Per (agency, year): the months reported (or reported as zero) in that year and the year before:
    the months the mart's same-months comparison and its test are made over."""
    comp = frames["completeness"]
    reported = comp[comp["coverage_status"].isin(REPORTED)]
    months = {(a, int(y)): set(g["month"].astype(int)) for (a, y), g in reported.groupby(["agency", "year"])}
    return {(a, y): sorted(m & months[(a, y - 1)]) for (a, y), m in months.items() if (a, y - 1) in months}


def month_span(months: list[int]) -> str:
    """Months in short: 'Jan–Des', 'Jan–Okt', 'Jan, Mar–Des'."""
    runs: list[list[int]] = []
    for m in sorted(months):
        if runs and m == runs[-1][-1] + 1:
            runs[-1].append(m)
        else:
            runs.append([m])
    return ", ".join(MONTHS_SHORT[r[0] - 1] if len(r) == 1 else f"{MONTHS_SHORT[r[0] - 1]}–{MONTHS_SHORT[r[-1] - 1]}"
                     for r in runs)


def months_with(group: pd.DataFrame, status: str) -> list[int]:
    return [int(m) for m in group.loc[group["coverage_status"] == status, "month"]]


def year_notes(frames: dict[str, pd.DataFrame]) -> dict[tuple[str, int], str]:
    """Per (agency, year): the months past due without a report (TIDAK LENGKAP), the months
    reported as zero, and 'data s.d. <month>' for the year an agency's data end in before
    December, or 's.d. <month>' for a year whose later months are not due yet."""
    notes: dict[tuple[str, int], str] = {}
    ends = data_end(frames)
    for (agency, year), group in frames["completeness"].groupby(["agency", "year"]):
        missing, zero = months_with(group, "missing"), months_with(group, "reported_zero")
        due = group.loc[group["coverage_status"] != "not_due", "month"]
        parts = []
        if missing:
            parts.append("TIDAK LENGKAP: belum ada laporan bulan " + ", ".join(MONTHS_ID[m - 1] for m in missing))
        if zero:
            parts.append("nihil / nol kasus: " + ", ".join(MONTHS_ID[m - 1] for m in zero))
        end = ends.get(agency)
        if end is not None and end[0] == int(year) and end[1] < 12:  # in progress as far as the data go
            parts.append(f"data s.d. {MONTHS_ID[end[1] - 1]}")
        elif len(due) and int(due.max()) < 12:
            parts.append(f"s.d. {MONTHS_ID[int(due.max()) - 1]}")
        notes[(agency, int(year))] = "; ".join(parts)
    return notes


def region_names(frames: dict[str, pd.DataFrame]) -> dict[str, str]:
    return dict(zip(frames["agencies"]["agency"], frames["agencies"]["region_name"]))


def year_flags(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per agency and year, from the year-on-year mart: incomplete (a month past due without a
    report), in_progress (a year still running), and tested (the change was tested)."""
    yoy = frames["yoy"]
    return pd.DataFrame({"agency": yoy["agency"], "year": yoy["year"],
                         "incomplete": yoy["incomplete"].fillna(False).astype(bool),
                         "in_progress": yoy["in_progress"].fillna(False).astype(bool),
                         "tested": yoy["change_p_value"].notna(),
                         "significant": yoy["change_significant"].fillna(False).astype(bool)})
