"""Deterministic synthetic sample of the agencies' case registers.

`generate_sample()` writes `data/raw/<agency>/...` in five layouts, one per
agency, and returns a `SampleManifest`: the victim and case counts a correct
pipeline must produce, every fake personal value written, and for every file
its data rows, the rows it must reject (with rule ids) and the rows a newer
file supersedes. Everything is computed from the generator's own records.

Conventions behind the expected counts:
- A row that breaks a row rule is rejected in its file, even when another file
  holds a valid row with the same key. De-duplication across files is among
  valid rows: the newest file wins, and the newest file always also has the
  name that sorts last, so the counts do not depend on file mtimes.
- Report dates end `EXPORT_LAG` (47 days) before `today`; the only future
  dates are deliberate typos (year + 30).
- Nobody in the files is real: names are built from first-name and syllable
  lists, NIKs, phone numbers, addresses and schools are invented.

`generate_agency()` writes one agency in any of the five layouts, so a
benchmark can add synthetic agencies (`kukar_07` in the kukar layout, ...).
"""

from __future__ import annotations

import argparse
import calendar
import fnmatch
import io
import os
import random
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REGISTRY = REPO_ROOT / "pipeline" / "schemas" / "agencies.yaml"
DEFAULT_RAW_DIR = REPO_ROOT / "data" / "raw"

DEFAULT_SEED = 20251124
DEFAULT_TODAY = date(2025, 12, 31)
EXPORT_LAG = timedelta(days=47)  # the newest report date is this long before `today`
YEARS = tuple(range(2019, 2026))
LAYOUTS = ("kukar", "kutim", "ppu", "bontang", "batam")

RULE_IDS = (
    "case_id_missing", "report_date_missing", "report_date_unparseable",
    "report_date_future", "report_date_too_old", "incident_after_report",
    "incident_date_unparseable", "victim_sex_missing", "victim_sex_invalid",
    "forms_missing", "form_unknown", "age_out_of_range", "age_unparseable",
    "age_group_mismatch", "child_role_invalid", "child_role_adult",
    "key_duplicate_in_file",
)
WARNING_IDS = ("place_unknown", "kecamatan_unknown", "perp_relation_unknown")
FORMS = ("FISIK", "PSIKIS", "SEKSUAL", "EKSPLOITASI", "TRAFFICKING", "PENELANTARAN", "LAINNYA")

# Full-year victim counts (partial last years are scaled down), after contract section 7
# and shared/research/domain.md section 2.
BASE_VOLUMES = {
    "kukar": {2019: 92, 2020: 111, 2021: 65, 2022: 82, 2023: 159, 2024: 182, 2025: 172},
    "kutim": {2019: 30, 2020: 34, 2021: 37, 2022: 41, 2023: 46, 2024: 58, 2025: 55},
    "ppu": {2019: 22, 2020: 33, 2021: 26, 2022: 47, 2023: 59, 2024: 55, 2025: 66},
    "bontang": {2019: 118, 2020: 124, 2021: 106, 2022: 110, 2023: 128, 2024: 148, 2025: 165},
    "batam": {2019: 150, 2020: 168, 2021: 181, 2022: 204, 2023: 229, 2024: 265, 2025: 345},
}
# Months with no rows at all, so completeness reports have a gap to show.
SAMPLE_MISSING_MONTHS = {"kutim": ((2023, 3),)}

MONTHS_ID = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
             "September", "Oktober", "November", "Desember")
MONTHS_ABBR = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agt", "Sep", "Okt", "Nov", "Des")
WEEKDAYS_ID = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII")
AGE_GROUPS = (("0-5", 0, 5), ("6-12", 6, 12), ("13-17", 13, 17), ("18-24", 18, 24),
              ("25-44", 25, 44), ("45-59", 45, 59), ("60+", 60, 200))

RELATION_LABELS = {
    "ORANG_TUA": ("Ayah Kandung", "Ayah Tiri", "Ibu Kandung", "Ibu Tiri", "Bapak Tiri", "Ayah"),
    "KELUARGA_SAUDARA": ("Paman", "Kakek", "Sepupu", "Kakak", "Om", "Keluarga/Saudara"),
    "SUAMI_ISTRI": ("Suami", "Suami", "Mantan Suami", "Suami/Istri"),
    "PACAR_TEMAN": ("Pacar", "Teman", "Mantan Pacar", "Kenalan", "Pacar/Teman"),
    "TETANGGA": ("Tetangga",),
    "GURU": ("Guru", "Ustadz", "Pengajar"),
    "MAJIKAN": ("Majikan",),
    "REKAN_KERJA": ("Rekan Kerja", "Teman Kerja"),
    "LAINNYA": ("Orang Lain", "Tidak Dikenal", "Lainnya"),
}
SERVICE_LABELS = {
    "PENGADUAN": ("Pengaduan",), "KESEHATAN": ("Kesehatan", "Visum"),
    "BANTUAN_HUKUM": ("Bantuan Hukum",), "PENEGAKAN_HUKUM": ("Penegakan Hukum",),
    "REHABILITASI_SOSIAL": ("Rehabilitasi Sosial", "Rehab Sosial"),
    "REINTEGRASI_SOSIAL": ("Reintegrasi Sosial",), "PEMULANGAN": ("Pemulangan",),
    "PENDAMPINGAN_TOKOH_AGAMA": ("Pendampingan Tokoh Agama",),
}
# Kelurahan or village names written where a kecamatan belongs (warnings, not rejects).
UNKNOWN_KECAMATAN = {"kukar": "Loa Duri", "kutim": "Swarga Bara", "ppu": "Petung",
                     "bontang": "Loktuan", "batam": "Tanjung Uncang"}

# Invented-name material: common first names joined to made-up syllable surnames.
FIRST_F = ("Siti", "Nur", "Dewi", "Sri", "Putri", "Ayu", "Rina", "Wulan", "Intan", "Fitri",
           "Nadia", "Rahma", "Indah", "Yuni", "Dian", "Nurul", "Citra", "Melati", "Lina", "Eka")
FIRST_M = ("Ahmad", "Muhammad", "Budi", "Andi", "Rizki", "Agus", "Dedi", "Hendra", "Joko",
           "Rudi", "Fajar", "Bayu", "Eko", "Irfan", "Yusuf", "Arif", "Dimas", "Galih")
SYLL = ("ka", "ra", "wi", "su", "ta", "ma", "di", "ni", "lo", "ba", "ha", "ri", "ya", "se",
        "no", "pu", "ga", "la", "ti", "me", "ju", "ko", "re", "sa")
SUFFIX_F = ("wati", "yanti", "sari", "ningsih", "ati", "nia")
SUFFIX_M = ("din", "man", "di", "to", "syah", "wan")
STREETS = ("Kenanga", "Mawar", "Melati", "Anggrek", "Cempaka", "Flamboyan", "Merpati",
           "Rajawali", "Pelita", "Harapan", "Damai", "Sejahtera", "Gotong Royong", "Poros")
SCHOOL_WORDS = ("Tunas", "Bina", "Cahaya", "Insan", "Pelita", "Harapan", "Mutiara")


# --------------------------------------------------------------------------- data model

@dataclass
class AgencyProfile:
    code: str
    name: str
    region_code: str                       # 4-digit BPS code, the NIK prefix
    kecamatan: list[tuple[str, list[str]]]  # (code suffix, spellings)
    timezone: str = "Asia/Makassar"


@dataclass
class Victim:
    """One ground-truth row: a victim (or a child perpetrator) in a case."""
    agency: str
    case_id: str
    victim_seq: int
    report_date: date
    incident_date: date | None
    sex: str
    age: int
    age_months: int | None
    forms: tuple[str, ...]
    is_kdrt: bool
    child_role: str | None          # KORBAN, PELAKU, or None for adults
    place: str | None
    relation: str | None
    relation_label: str | None
    kecamatan: str | None           # code suffix, LUAR_WILAYAH, or None
    kecamatan_label: str | None
    services: tuple[str, ...]
    status: str
    education: str
    occupation: str
    personal: dict[str, str | None]
    nik_as_number: bool
    style: int                      # seed for per-row label choices
    reasons: tuple[str, ...] = ()   # rule ids when the row must be rejected
    warnings: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(default_factory=dict)  # field -> raw cell (None = blank)

    @property
    def is_child(self) -> bool:
        return self.age < 18

    @property
    def age_group(self) -> str:
        return age_group(self.age)


@dataclass
class RowInfo:
    sheet: str
    row: int                        # the row number Excel shows
    case_id: str | None
    victim_seq: int | None
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    child_role: str | None
    record: Victim
    superseded: bool = False


@dataclass
class FileInfo:
    path: str                       # relative to out_dir, posix
    agency: str
    kind: str                       # register, corrected, not_register, lock, encrypted, renamed_csv, partial
    layout: str
    mtime: datetime                 # aware, UTC
    sheets: list[str] = field(default_factory=list)
    hidden_sheets: list[str] = field(default_factory=list)
    rows: list[RowInfo] = field(default_factory=list)

    @property
    def data_rows(self) -> int:
        return len(self.rows)

    @property
    def bad_rows(self) -> int:
        return sum(1 for r in self.rows if r.reasons)

    @property
    def superseded_rows(self) -> int:
        return sum(1 for r in self.rows if r.superseded)

    @property
    def staged_rows(self) -> int:
        return self.data_rows - self.bad_rows - self.superseded_rows

    @property
    def rejects(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """(sheet, row) -> rule ids, for every row that must be rejected."""
        return {(r.sheet, r.row): r.reasons for r in self.rows if r.reasons}

    @property
    def warnings(self) -> dict[tuple[str, int], tuple[str, ...]]:
        return {(r.sheet, r.row): r.warnings for r in self.rows if r.warnings and not r.reasons}


@dataclass
class SampleManifest:
    # (agency, year) -> victims a correct pipeline must count: valid rows with
    # child_role != PELAKU, each (agency, case_id, victim_seq) once, year of report_date.
    expected_victims: dict[tuple[str, int], int] = field(default_factory=dict)
    expected_cases: dict[tuple[str, int], int] = field(default_factory=dict)
    # every fake personal value written into any file
    personal_values: set[str] = field(default_factory=set)
    files: list[FileInfo] = field(default_factory=list)
    # (agency, year, form) -> victims with that form
    expected_forms: dict[tuple[str, int, str], int] = field(default_factory=dict)
    # (agency, year) -> victims_female, victims_male, child_victims, adult_female_victims, kdrt_victims
    expected_detail: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    # the counted victims (winning rows), for finer-grained tests
    victims: list[Victim] = field(default_factory=list)
    today: date = DEFAULT_TODAY

    def merge(self, other: "SampleManifest") -> None:
        self.expected_victims.update(other.expected_victims)
        self.expected_cases.update(other.expected_cases)
        self.personal_values |= other.personal_values
        self.files.extend(other.files)
        self.expected_forms.update(other.expected_forms)
        self.expected_detail.update(other.expected_detail)
        self.victims.extend(other.victims)

    def file(self, path: str) -> FileInfo:
        return next(f for f in self.files if f.path == path)


def age_group(age: int) -> str:
    return next(g for g, lo, hi in AGE_GROUPS if lo <= age <= hi)


# --------------------------------------------------------------------------- registry

def load_profiles(registry_path: Path | None = None) -> dict[str, AgencyProfile]:
    """Agency profiles (kecamatan names, NIK prefix) from pipeline/schemas/agencies.yaml."""
    data = yaml.safe_load(Path(registry_path or DEFAULT_REGISTRY).read_text(encoding="utf-8"))
    out = {}
    for a in data["agencies"]:
        kec = [(str(k), [str(n) for n in v]) for k, v in a.get("kecamatan", {}).items()]
        out[a["code"]] = AgencyProfile(code=a["code"], name=a.get("name", a["code"]),
                                       region_code=str(a.get("bps_code", "0000")),
                                       kecamatan=kec, timezone=a.get("timezone", "Asia/Makassar"))
    return out


# --------------------------------------------------------------------------- ground truth

def _subrng(style: int, name: str) -> random.Random:
    return random.Random(style * 7919 + zlib.crc32(name.encode()))


def _shift_year(d: date, years: int) -> date:
    day = 28 if (d.month == 2 and d.day == 29) else d.day
    return date(d.year + years, d.month, day)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


class _People:
    """Invented personal data; every value is unique within one agency."""

    def __init__(self, rng: random.Random, region_code: str):
        self.rng = rng
        self.region = region_code
        self.used: set[str] = set()

    def _unique(self, make) -> str:
        for _ in range(1000):
            v = make()
            if v not in self.used:
                self.used.add(v)
                return v
        raise RuntimeError("could not find a unique value")

    def _surname(self, sex: str) -> str:
        r = self.rng
        stem = "".join(r.choice(SYLL) for _ in range(r.randint(1, 2)))
        return (stem + r.choice(SUFFIX_F if sex == "P" else SUFFIX_M)).capitalize()

    def name(self, sex: str) -> str:
        first = FIRST_F if sex == "P" else FIRST_M

        def make():
            parts = [self.rng.choice(first), self._surname(sex)]
            if self.rng.random() < 0.3:
                parts.insert(1, self._surname(sex))
            return " ".join(parts)
        return self._unique(make)

    def nik(self, kec: str | None, birth: date, sex: str) -> str:
        # always the agency's region code, then the kecamatan code (01 when unknown)
        region = self.region + (kec if kec and kec.isdigit() else "01")
        day = birth.day + (40 if sex == "P" else 0)
        return self._unique(lambda: f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}"
                                    f"{self.rng.randint(1, 350):04d}")

    def address(self) -> str:
        r = self.rng

        def make():
            s = f"Jl. {r.choice(STREETS)}"
            if r.random() < 0.5:
                s += f" Gg. {r.randint(1, 12)}"
            return s + f" No. {r.randint(1, 120)} RT {r.randint(1, 45):03d}"
        return self._unique(make)

    def phone(self) -> str:
        r = self.rng

        def make():
            op = r.choice(("811", "812", "813", "821", "822", "852", "853", "857", "877", "878", "895"))
            rest = f"{r.randint(0, 99999999):08d}"
            style = r.random()
            if style < 0.6:
                return f"0{op}{rest}"
            if style < 0.85:
                return f"0{op}-{rest[:4]}-{rest[4:]}"
            return f"+62 {op}-{rest[:4]}-{rest[4:]}"
        return self._unique(make)

    def school(self, age: int) -> str:
        level = "SD" if age <= 12 else ("SMP" if age <= 15 else self.rng.choice(("SMA", "SMK")))
        def make():
            stem = "".join(self.rng.choice(SYLL) for _ in range(self.rng.randint(2, 3))).capitalize()
            return f"{level} {self.rng.choice(SCHOOL_WORDS)} {stem}"
        return self._unique(make)


@dataclass
class _Case:
    rows: list[Victim]
    report_date: date
    order: float
    dup_key: bool = False     # every row gets victim_seq 1 (key repeated inside the file)
    no_case_id: bool = False  # the case id cell is left blank
    late: bool = False        # written into the next year's sheet (kukar)


LAYOUT_PARAMS = {
    # share of child victims, share of boys among children, victims from outside the region,
    # child perpetrator rows per victim
    "kukar": dict(child=0.74, boys=0.38, luar=0.02, perp=0.0),
    "kutim": dict(child=0.68, boys=0.30, luar=0.02, perp=0.08),
    "ppu": dict(child=0.62, boys=0.30, luar=0.03, perp=0.12),
    "bontang": dict(child=0.66, boys=0.31, luar=0.07, perp=0.0),
    "batam": dict(child=0.81, boys=0.17, luar=0.02, perp=0.0),
}


class _Gen:
    """Ground-truth generator for one agency."""

    def __init__(self, profile: AgencyProfile, layout: str, rng: random.Random,
                 data_end: date, missing_months: Iterable[tuple[int, int]]):
        self.p = profile
        self.layout = layout
        self.rng = rng
        self.data_end = data_end
        self.missing = set(missing_months)
        self.params = LAYOUT_PARAMS[layout]
        self.people = _People(random.Random(rng.randrange(2 ** 32)), profile.region_code)
        remote = {"Muara Wahau", "Bengalon", "Sangkulirang"}  # under-entered in Kutim
        self.kec_weights = [0.15 if names[0] in remote else rng.uniform(0.4, 3.0)
                            for _, names in profile.kecamatan]

    # -- dates
    def report_date(self, year: int, latest: date | None = None) -> date:
        r = self.rng
        start = date(year, 1, 1)
        end = min(date(year, 12, 31), latest or self.data_end, self.data_end)
        for _ in range(10000):
            d = start + timedelta(days=r.randrange((end - start).days + 1))
            if d.weekday() >= 5 and r.random() < 0.75:
                d += timedelta(days=7 - d.weekday())
            if d <= end and d.year == year and (d.year, d.month) not in self.missing:
                return d
        raise RuntimeError(f"no report date available in {year}")

    def incident(self, report: date, slow: bool) -> date | None:
        r = self.rng
        if r.random() < 0.12:
            return None
        x = r.random()
        if x < (0.5 if slow else 0.7):
            days = r.randint(0, 7)
        elif x < 0.9:
            days = r.randint(8, 30)
        else:
            days = r.randint(31, 180)
        return report - timedelta(days=days)

    # -- places
    def kecamatan(self) -> tuple[str | None, str | None]:
        r = self.rng
        if not self.p.kecamatan:
            return None, None
        if r.random() < self.params["luar"]:
            return "LUAR_WILAYAH", "Luar Wilayah" if self.layout == "bontang" else r.choice(
                ("Luar Daerah", "Luar Wilayah"))
        i = r.choices(range(len(self.p.kecamatan)), self.kec_weights)[0]
        code, names = self.p.kecamatan[i]
        label = names[0] if len(names) == 1 or r.random() < 0.6 else r.choice(names[1:])
        return code, label

    # -- people
    def _child_profile(self, sex: str, age: int) -> tuple:
        r = self.rng
        if age < 6:
            w = dict(SEKSUAL=0.35, FISIK=0.25, PENELANTARAN=0.3, PSIKIS=0.1)
        elif sex == "P":
            w = dict(SEKSUAL=0.64, FISIK=0.12, PSIKIS=0.08, PENELANTARAN=0.05, EKSPLOITASI=0.03,
                     LAINNYA=0.06, TRAFFICKING=0.02 if age >= 13 else 0.0)
        else:
            w = dict(SEKSUAL=0.40, FISIK=0.27, PSIKIS=0.08, PENELANTARAN=0.07, EKSPLOITASI=0.04,
                     LAINNYA=0.14)
        form = _pick(r, w)
        forms = [form]
        if r.random() < 0.2:
            second = {"SEKSUAL": "PSIKIS", "FISIK": "PSIKIS", "PSIKIS": "FISIK",
                      "PENELANTARAN": "PSIKIS", "EKSPLOITASI": "TRAFFICKING" if age >= 13 else "PSIKIS",
                      "TRAFFICKING": "EKSPLOITASI", "LAINNYA": "PSIKIS"}[form]
            forms.append(second)
        if form == "SEKSUAL":
            if age >= 13:
                rel = _pick(r, dict(PACAR_TEMAN=0.38, TETANGGA=0.15, KELUARGA_SAUDARA=0.12,
                                    ORANG_TUA=0.12, GURU=0.06, LAINNYA=0.17))
            elif age >= 6:
                rel = _pick(r, dict(TETANGGA=0.3, KELUARGA_SAUDARA=0.2, ORANG_TUA=0.18, GURU=0.08,
                                    PACAR_TEMAN=0.04, LAINNYA=0.2))
            else:
                rel = _pick(r, dict(TETANGGA=0.35, KELUARGA_SAUDARA=0.3, ORANG_TUA=0.2, LAINNYA=0.15))
        elif form == "LAINNYA":
            rel = _pick(r, dict(PACAR_TEMAN=0.7, LAINNYA=0.3))
        elif form in ("EKSPLOITASI", "TRAFFICKING"):
            rel = _pick(r, dict(LAINNYA=0.5, PACAR_TEMAN=0.3, KELUARGA_SAUDARA=0.2))
        else:
            rel = _pick(r, dict(ORANG_TUA=0.5, KELUARGA_SAUDARA=0.2, TETANGGA=0.1, LAINNYA=0.05,
                                GURU=0.05 if age >= 6 else 0.0, PACAR_TEMAN=0.1 if age >= 13 else 0.0))
        place = self._place(rel, age, bullying=form == "LAINNYA")
        kdrt = rel in ("ORANG_TUA", "KELUARGA_SAUDARA") and place == "RUMAH_TANGGA" and r.random() < 0.7
        return tuple(forms), rel, place, kdrt

    def _place(self, rel: str, age: int, bullying: bool = False) -> str | None:
        r = self.rng
        school = age >= 6 and age < 18
        if bullying and school:
            return _pick(r, dict(SEKOLAH=0.7, FASILITAS_UMUM=0.2, LAINNYA=0.1))
        if rel in ("ORANG_TUA", "KELUARGA_SAUDARA", "SUAMI_ISTRI"):
            return "RUMAH_TANGGA" if r.random() < 0.9 else "LAINNYA"
        if rel == "GURU":
            return "SEKOLAH" if r.random() < 0.75 else "LEMBAGA_PENDIDIKAN_KILAT"
        if rel in ("MAJIKAN", "REKAN_KERJA"):
            return "TEMPAT_KERJA"
        if rel == "TETANGGA":
            return _pick(r, dict(RUMAH_TANGGA=0.6, LAINNYA=0.2, FASILITAS_UMUM=0.2))
        if rel == "PACAR_TEMAN":
            return _pick(r, dict(FASILITAS_UMUM=0.35, RUMAH_TANGGA=0.3, LAINNYA=0.2,
                                 SEKOLAH=0.15 if school else 0.0))
        return _pick(r, dict(FASILITAS_UMUM=0.5, LAINNYA=0.45, RUMAH_TANGGA=0.05))

    def _adult_profile(self, sex: str, age: int) -> tuple:
        r = self.rng
        if sex == "L":
            rel = _pick(r, dict(LAINNYA=0.4, REKAN_KERJA=0.2, KELUARGA_SAUDARA=0.2, SUAMI_ISTRI=0.2))
        else:
            rel = _pick(r, dict(SUAMI_ISTRI=0.6, PACAR_TEMAN=0.1 if age < 45 else 0.0,
                                KELUARGA_SAUDARA=0.07, MAJIKAN=0.04, REKAN_KERJA=0.04,
                                TETANGGA=0.05, LAINNYA=0.1))
        if rel == "SUAMI_ISTRI":
            if r.random() < 0.1:
                forms = ["LAINNYA"]  # written as a bare "KDRT" where the layout does that
            else:
                forms = [_pick(r, dict(PSIKIS=0.45, FISIK=0.45, PENELANTARAN=0.1))]
                if r.random() < 0.45:
                    forms.append("PSIKIS" if forms[0] != "PSIKIS" else "FISIK")
                if r.random() < 0.05:
                    forms.append("SEKSUAL")
        elif rel == "PACAR_TEMAN":
            forms = [_pick(r, dict(SEKSUAL=0.45, FISIK=0.35, PSIKIS=0.2))]
        elif rel == "MAJIKAN":
            forms = [_pick(r, dict(EKSPLOITASI=0.4, FISIK=0.3, TRAFFICKING=0.15, SEKSUAL=0.15))]
        elif rel == "REKAN_KERJA":
            forms = [_pick(r, dict(SEKSUAL=0.6, PSIKIS=0.4))]
        else:
            forms = [_pick(r, dict(FISIK=0.4, SEKSUAL=0.3, PSIKIS=0.25, LAINNYA=0.05))]
        place = self._place(rel, age)
        kdrt = rel == "SUAMI_ISTRI" and r.random() < 0.95 or (
            rel == "KELUARGA_SAUDARA" and place == "RUMAH_TANGGA" and r.random() < 0.6)
        return tuple(dict.fromkeys(forms)), rel, place, kdrt

    def _services(self, forms: tuple[str, ...]) -> tuple[str, ...]:
        r = self.rng
        s = ["PENGADUAN"]
        hurt = "FISIK" in forms or "SEKSUAL" in forms
        for code, p in (("KESEHATAN", 0.6 if hurt else 0.3), ("BANTUAN_HUKUM", 0.2),
                        ("PENEGAKAN_HUKUM", 0.45 if "SEKSUAL" in forms else 0.2),
                        ("REHABILITASI_SOSIAL", 0.3), ("REINTEGRASI_SOSIAL", 0.05),
                        ("PEMULANGAN", 0.8 if "TRAFFICKING" in forms else 0.02),
                        ("PENDAMPINGAN_TOKOH_AGAMA", 0.03)):
            if r.random() < p:
                s.append(code)
        return tuple(s)

    def _status(self, report: date) -> str:
        r = self.rng
        if (self.data_end - report).days < 60:
            return "PROSES" if r.random() < 0.8 else "SELESAI"
        return _pick(r, dict(SELESAI=0.75, PROSES=0.15, DIRUJUK=0.1))

    def _education(self, age: int) -> str:
        r = self.rng
        if age < 4:
            return "Belum Sekolah"
        if age < 7:
            return r.choice(("PAUD/TK", "Belum Sekolah"))
        if age <= 12:
            return "SD"
        if age <= 15:
            return r.choice(("SMP", "SLTP"))
        if age <= 18:
            return r.choice(("SMA", "SMK", "SLTA"))
        return r.choice(("SD", "SMP", "SMA", "SMA", "SMK", "D3", "S1", "-"))

    def _occupation(self, age: int, sex: str) -> str:
        r = self.rng
        if age < 6:
            return "-"
        if age < 18:
            return "Pelajar" if r.random() < 0.92 else "Tidak Bekerja"
        if sex == "P":
            return r.choice(("IRT", "IRT", "Karyawan Swasta", "Buruh", "Pedagang", "Tidak Bekerja", "PNS"))
        return r.choice(("Buruh", "Karyawan Swasta", "Nelayan", "Tidak Bekerja"))

    def _kronologi(self, name: str, v_age: int, forms, rel_label, place, perpetrator=False) -> str:
        r = self.rng
        what = {"FISIK": "dipukul", "PSIKIS": "diancam dan dihina", "SEKSUAL": "dicabuli",
                "PENELANTARAN": "ditelantarkan", "EKSPLOITASI": "dipekerjakan tanpa upah",
                "TRAFFICKING": "dijanjikan pekerjaan ke luar daerah", "LAINNYA": "dirundung"}
        where = {"RUMAH_TANGGA": "di rumah", "SEKOLAH": "di sekolah", "TEMPAT_KERJA": "di tempat kerja",
                 "FASILITAS_UMUM": "di tempat umum", "LEMBAGA_PENDIDIKAN_KILAT": "di tempat mengaji",
                 "LAINNYA": "di luar rumah", None: ""}
        who = (rel_label or "orang tidak dikenal").lower()
        reporter = "ibu korban" if v_age < 18 else "korban sendiri"
        if perpetrator:
            deed = {"SEKSUAL": "persetubuhan", "FISIK": "pengeroyokan"}.get(forms[0], "perundungan")
            return (f"Anak {name} ({v_age} th) diduga melakukan {deed} terhadap teman sebaya "
                    f"{where[place]}, diserahkan oleh Polsek sekitar pukul {r.randint(7, 21):02d}.00.")
        clock = f"{r.randint(7, 21):02d}.{r.choice(('00', '15', '30', '45'))}"
        return (f"Korban {name} ({v_age} th) {what[forms[0]]} oleh {who} {where[place]}, "
                f"dilaporkan oleh {reporter} sekitar pukul {clock}.")

    def _victim(self, report: date, incident: date | None, sex: str, age: int, profile: tuple,
                kec: tuple, role: str | None, shared: dict | None = None) -> Victim:
        r = self.rng
        forms, rel, place, kdrt = profile
        rel_label = r.choice(RELATION_LABELS[rel]) if rel else None
        if rel == "SUAMI_ISTRI" and sex == "L":
            rel_label = "Istri"
        perp_female = rel_label in ("Ibu Kandung", "Ibu Tiri", "Istri") or (
            rel_label in ("Teman", "Kenalan", "Tidak Dikenal") and r.random() < 0.2)
        ppl = self.people
        name = ppl.name(sex)
        birth = report - timedelta(days=int(age * 365.25) + r.randint(0, 360))
        shared = shared or {}
        personal = {
            "name": name,
            "nik": ppl.nik(kec[0], birth, sex) if r.random() < (0.9 if age >= 18 else 0.6) else None,
            "address": shared.get("address") or ppl.address(),
            "phone": shared.get("phone") or (ppl.phone() if r.random() < 0.8 else None),
            "perp_name": shared.get("perp_name") or (ppl.name("P" if perp_female else "L")
                                                     if r.random() < 0.85 else None),
            "parent_name": (shared.get("parent_name") or ppl.name("P")) if age < 18 else None,
            "school": ppl.school(age) if 6 <= age < 18 and r.random() < 0.7 else None,
            "kronologi": self._kronologi(name, age, forms, rel_label, place, perpetrator=role == "PELAKU"),
        }
        return Victim(
            agency=self.p.code, case_id="", victim_seq=1, report_date=report, incident_date=incident,
            sex=sex, age=age, age_months=r.randint(1, 11) if age == 0 else None, forms=forms,
            is_kdrt=kdrt, child_role=role, place=place, relation=rel, relation_label=rel_label,
            kecamatan=kec[0], kecamatan_label=kec[1], services=self._services(forms),
            status=shared.get("status") or self._status(report), education=self._education(age),
            occupation=self._occupation(age, sex), personal=personal,
            nik_as_number=r.random() < 0.3, style=r.randrange(2 ** 31))

    def child(self, report, incident=None, kec=None, age=None, sex=None, shared=None) -> Victim:
        r = self.rng
        sex = sex or ("L" if r.random() < self.params["boys"] else "P")
        if age is None:
            lo, hi = r.choices(((0, 5), (6, 12), (13, 17)), (0.15, 0.38, 0.47))[0]
            age = r.randint(lo, hi)
        return self._victim(report, incident, sex, age, self._child_profile(sex, age),
                            kec or self.kecamatan(), "KORBAN", shared)

    def adult(self, report, incident=None, kec=None, age=None, shared=None) -> Victim:
        r = self.rng
        sex = "L" if r.random() < 0.03 else "P"
        if age is None:
            lo, hi = r.choices(((18, 24), (25, 44), (45, 59), (60, 75)), (0.2, 0.6, 0.15, 0.05))[0]
            age = r.randint(lo, hi)
        return self._victim(report, incident, sex, age, self._adult_profile(sex, age),
                            kec or self.kecamatan(), None, shared)

    def perpetrator(self, report: date) -> Victim:
        """A child recorded as perpetrator (ABH): a valid row that is not a victim."""
        r = self.rng
        sex = "L" if r.random() < 0.85 else "P"
        age = r.randint(13, 17)
        forms = (_pick(r, dict(SEKSUAL=0.55, FISIK=0.3, LAINNYA=0.15)),)
        profile = (forms, None, self._place("PACAR_TEMAN", age), False)
        v = self._victim(report, self.incident(report, False), sex, age, profile, self.kecamatan(), "PELAKU")
        v.personal["perp_name"] = None
        return v

    def case(self, report: date, size: int) -> _Case:
        r = self.rng
        incident = self.incident(report, False)
        kec = self.kecamatan()
        if r.random() < self.params["child"]:
            first = self.child(report, incident, kec)
        else:
            first = self.adult(report, incident, kec)
        rows = [first]
        shared = {k: first.personal[k] for k in ("address", "phone", "perp_name")}
        shared["status"] = first.status
        for _ in range(size - 1):
            # siblings of a child victim, or the children of a woman in a KDRT case
            if first.is_child:
                age = max(0, min(17, first.age + r.choice((-4, -3, -2, 2, 3))))
                shared["parent_name"] = first.personal["parent_name"]
                v = self.child(report, incident, kec, age=age, shared=shared)
                v = replace(v, forms=first.forms, relation=first.relation,
                            relation_label=first.relation_label, place=first.place, is_kdrt=first.is_kdrt)
            elif first.relation == "SUAMI_ISTRI":
                # a child of the woman, hurt in the same domestic case
                age = r.randint(0, max(0, min(17, first.age - 17)))
                shared["parent_name"] = first.personal["name"]
                v = self.child(report, incident, kec, age=age, shared=shared)
                v = replace(v, forms=r.choice((("PSIKIS",), ("FISIK", "PSIKIS"), ("FISIK",))),
                            relation="ORANG_TUA", relation_label="Ayah Kandung", place="RUMAH_TANGGA", is_kdrt=True)
            else:
                v = self.adult(report, incident, kec, shared=shared)
                v = replace(v, forms=first.forms, relation=first.relation, relation_label=first.relation_label,
                            place=first.place, is_kdrt=first.is_kdrt)
            v.personal["kronologi"] = self._kronologi(v.personal["name"], v.age, v.forms, v.relation_label, v.place)
            rows.append(v)
        return _Case(rows=rows, report_date=report, order=r.random())

    def year_cases(self, year: int, n_victims: int) -> list[_Case]:
        r = self.rng
        cases: list[_Case] = []
        left = n_victims
        while left > 0:
            size = min(left, r.choices((1, 2, 3), (0.935, 0.05, 0.015))[0])
            cases.append(self.case(self.report_date(year), size))
            left -= size
        for _ in range(round(n_victims * self.params["perp"])):
            d = self.report_date(year)
            cases.append(_Case(rows=[self.perpetrator(d)], report_date=d, order=r.random()))
        return cases

    # -- deliberately bad rows
    def bad_cases(self, spec: tuple[str, ...], year: int, variant: int) -> _Case:
        r = self.rng
        main = spec[0]
        latest = self.data_end - timedelta(days=12)
        report = self.report_date(year, latest=latest if year == latest.year else None)
        incident = report - timedelta(days=r.randint(0, 10))
        if main in ("age_group_mismatch", "child_role_invalid"):
            v = self.child(report, incident, age=r.randint(7, 11) if main == "age_group_mismatch" else None)
        elif main == "child_role_adult":
            v = self.adult(report, incident, age=r.randint(25, 40))
        else:
            v = (self.child if r.random() < 0.6 else self.adult)(report, incident)
        ov: dict[str, Any] = {}
        case = _Case(rows=[v], report_date=report, order=r.random())
        for rule in spec:
            if rule == "case_id_missing":
                case.no_case_id = True
            elif rule == "report_date_missing":
                ov["report_date"] = None
            elif rule == "report_date_unparseable":
                ov["report_date"] = f"31/02/{year}" if variant == 0 else "kemarin"
            elif rule == "report_date_future":
                ov["report_date"] = _shift_year(report, 30)
            elif rule == "report_date_too_old":
                ov["report_date"] = _shift_year(report, -20)
                ov["incident_date"] = None
            elif rule == "incident_after_report":
                ov["incident_date"] = report + timedelta(days=r.randint(3, 9))
            elif rule == "incident_date_unparseable":
                ov["incident_date"] = r.choice(("kemarin sore", f"30/02/{year}"))
            elif rule == "victim_sex_missing":
                ov["sex"] = None
            elif rule == "victim_sex_invalid":
                ov["sex"] = "LP"
            elif rule == "forms_missing":
                ov["forms"] = None
            elif rule == "form_unknown":
                ov["forms"] = "psikis/kekerasan verbal" if self.layout == "bontang" else "Psikis, kekerasan verbal"
            elif rule in ("age_out_of_range", "age_unparseable"):
                ov["age"] = 150 if rule == "age_out_of_range" else "belasan"
                ov["age_group"] = None
                ov["child_role"] = None
            elif rule == "age_group_mismatch":
                ov["age_group"] = _Canon("13-17")
            elif rule == "child_role_invalid":
                ov["child_role"] = "Pelapor"
            elif rule == "child_role_adult":
                ov["child_role"] = "Korban"
            elif rule == "key_duplicate_in_file":
                case.dup_key = True
        v = replace(v, reasons=tuple(spec), overrides=ov)
        case.rows = [v]
        if case.dup_key:
            twin = replace(v, style=r.randrange(2 ** 31), overrides=dict(ov))
            case.rows.append(twin)
        return case


@dataclass(frozen=True)
class _Canon:
    """An override given as a canonical value, written with the layout's labels."""
    value: str


def applicable_rules(layout: str) -> tuple[str, ...]:
    fields = _LAYOUTS[layout].fields()
    out = []
    for rule in RULE_IDS:
        if rule == "age_group_mismatch" and not {"age", "age_group"} <= fields:
            continue
        if rule.startswith("child_role") and "child_role" not in fields:
            continue
        if rule == "key_duplicate_in_file" and "seq" not in fields:
            continue
        out.append(rule)
    return tuple(out)


# --------------------------------------------------------------------------- sheets and files

class _Sheet:
    def __init__(self, name: str, date_format: str = "DD/MM/YYYY"):
        self.name = name
        self.rows: list[list[Any]] = []
        self.merges: list[tuple[int, int, int, int]] = []
        self.bold_rows: set[int] = set()
        self.widths: dict[int, float] = {}
        self.hidden = False
        self.date_format = date_format
        self.placements: list[tuple[int, Victim]] = []
        self.chart: tuple[str, int, int] | None = None  # (data sheet, first row, last row)

    def add(self, values: Iterable[Any] = (), victim: Victim | None = None, bold: bool = False) -> int:
        self.rows.append(list(values))
        n = len(self.rows)
        if victim is not None:
            self.placements.append((n, victim))
        if bold:
            self.bold_rows.add(n)
        return n


@dataclass
class _Build:
    rel: str
    kind: str
    when: datetime                      # aware local time of the export
    fmt: str = "xlsx"                   # xlsx, xlsm, xls, ods, raw
    sheets: list[_Sheet] = field(default_factory=list)
    raw: bytes | None = None
    truncate_of: str | None = None      # a copy of another build, cut short


def _fixed_zip(data: bytes, when: datetime, core_modified: datetime | None = None,
               macro: bool = False) -> bytes:
    """Rewrite a zip with fixed entry times (openpyxl and odfpy stamp the clock)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    stamp = when.replace(tzinfo=None).timetuple()[:6]
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            payload = src.read(info.filename)
            if core_modified and info.filename == "docProps/core.xml":
                iso = core_modified.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                payload = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>" + iso + rb"\g<2>", payload)
            if macro and info.filename == "[Content_Types].xml":
                payload = payload.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
            zi = zipfile.ZipInfo(info.filename, date_time=stamp)
            zi.compress_type = info.compress_type
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, payload)
    return out.getvalue()


def _xlsx_bytes(sheets: list[_Sheet], when: datetime, macro: bool = False) -> bytes:
    import openpyxl
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for s in sheets:
        ws = wb.create_sheet(s.name)
        for r, row in enumerate(s.rows, 1):
            for c, val in enumerate(row, 1):
                if val is None:
                    continue
                cell = ws.cell(row=r, column=c, value=val)
                if isinstance(val, date):
                    cell.number_format = s.date_format
                if r in s.bold_rows:
                    cell.font = bold
        for r1, c1, r2, c2 in s.merges:
            ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)
        for col, width in s.widths.items():
            ws.column_dimensions[get_column_letter(col)].width = width
        if s.hidden:
            ws.sheet_state = "hidden"
        if s.chart:
            src, first, last = s.chart
            chart = BarChart()
            chart.title = "Jumlah korban per kecamatan"
            data = Reference(wb[src], min_col=3, max_col=4, min_row=first - 1, max_row=last)
            cats = Reference(wb[src], min_col=2, min_row=first, max_row=last)
            chart.add_data(data, titles_from_data=True)
            chart.set_categories(cats)
            ws.add_chart(chart, "B2")
    utc = when.astimezone(timezone.utc).replace(tzinfo=None)
    wb.properties.creator = "Operator"
    wb.properties.lastModifiedBy = "Operator"
    wb.properties.created = utc - timedelta(days=30)
    wb.properties.modified = utc
    buf = io.BytesIO()
    wb.save(buf)
    return _fixed_zip(buf.getvalue(), when, core_modified=utc, macro=macro)


def _xls_bytes(sheets: list[_Sheet]) -> bytes:
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    date_style = xlwt.easyxf(num_format_str="DD/MM/YYYY")
    bold = xlwt.easyxf("font: bold on")
    for s in sheets:
        ws = wb.add_sheet(s.name)
        for r, row in enumerate(s.rows):
            for c, val in enumerate(row):
                if val is None:
                    continue
                if isinstance(val, date):
                    ws.write(r, c, val, date_style)
                elif r + 1 in s.bold_rows:
                    ws.write(r, c, val, bold)
                else:
                    ws.write(r, c, val)
        if s.hidden:
            ws.visibility = 1
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _ods_bytes(sheets: list[_Sheet], when: datetime) -> bytes:
    from odf.element import Element

    # odfpy keeps declared namespaces in a class-level dict that grows with every
    # document in the process; start from an empty one so the bytes do not depend
    # on what was written before, and put it back afterwards.
    saved = dict(Element.namespaces)
    Element.namespaces.clear()
    try:
        return _ods_build(sheets, when)
    finally:
        Element.namespaces.clear()
        Element.namespaces.update(saved)


def _ods_build(sheets: list[_Sheet], when: datetime) -> bytes:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    for s in sheets:
        t = Table(name=s.name)
        for row in s.rows:
            tr = TableRow()
            for val in row or [None]:
                if val is None:
                    tc = TableCell()
                elif isinstance(val, date):
                    tc = TableCell(valuetype="date", datevalue=val.isoformat())
                    tc.addElement(P(text=val.strftime("%d/%m/%Y")))
                elif isinstance(val, (int, float)):
                    tc = TableCell(valuetype="float", value=str(val))
                    tc.addElement(P(text=str(val)))
                else:
                    tc = TableCell(valuetype="string")
                    tc.addElement(P(text=str(val)))
                tr.addElement(tc)
            t.addElement(tr)
        doc.spreadsheet.addElement(t)
    buf = io.BytesIO()
    doc.write(buf)
    return _fixed_zip(buf.getvalue(), when)


def _fake_encrypted_xlsx(rng: random.Random) -> bytes:
    """An OLE compound file shaped like a password-protected workbook: unreadable."""
    end, free, nostream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFF
    info = (b"\x04\x00\x04\x00\x40\x00\x00\x00" + b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
            b'<encryption xmlns="http://schemas.microsoft.com/office/2006/encryption">'
            b'<keyData saltSize="16" blockSize="16" keyBits="256" hashSize="64" '
            b'cipherAlgorithm="AES" cipherChaining="ChainingModeCBC" hashAlgorithm="SHA512"/>'
            b'</encryption>').ljust(4096, b"\x00")
    package = struct.pack("<Q", 18000) + rng.randbytes(8192 - 8)
    fat = [0xFFFFFFFD, end]
    start_info = len(fat)
    n_info = len(info) // 512
    fat += [start_info + i + 1 for i in range(n_info - 1)] + [end]
    start_pkg = len(fat)
    n_pkg = len(package) // 512
    fat += [start_pkg + i + 1 for i in range(n_pkg - 1)] + [end]
    fat += [free] * (128 - len(fat))
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", bytes.fromhex("D0CF11E0A1B11AE1"), b"\0" * 16,
                         0x3E, 3, 0xFFFE, 9, 6, b"\0" * 6, 0, 1, 1, 0, 4096, end, 0, end, 0)
    header += struct.pack("<109I", 0, *([free] * 108))

    def entry(name: str, typ: int, right: int, child: int, start: int, size: int) -> bytes:
        n = (name + "\0").encode("utf-16-le") if name else b""
        return struct.pack("<64sHBBIII16sIQQIQ", n.ljust(64, b"\0"), len(n), typ, 1, nostream,
                           right, child, b"\0" * 16, 0, 0, 0, start, size)
    directory = (entry("Root Entry", 5, nostream, 1, end, 0)
                 + entry("EncryptionInfo", 2, 2, nostream, start_info, len(info))
                 + entry("EncryptedPackage", 2, nostream, nostream, start_pkg, len(package))
                 + entry("", 0, nostream, nostream, 0, 0))
    return header + struct.pack("<128I", *fat) + directory + info + package


def _excel_lock(user: str) -> bytes:
    """The owner file Excel leaves next to an open workbook (~$name.xlsx)."""
    b = bytes([len(user)]) + user.encode("ascii").ljust(53, b" ")
    b += bytes([len(user), 0]) + user.encode("utf-16-le").ljust(108, b" ")
    return b[:162].ljust(162, b" ") + b"\x00\x00\x00"


# --------------------------------------------------------------------------- layouts

def _local(tz: str, d: date, hour: int, minute: int) -> datetime:
    return datetime.combine(d, time(hour, minute), tzinfo=ZoneInfo(tz))


def _id_date_long(d: date, rr: random.Random) -> str:
    month = MONTHS_ID[d.month - 1]
    if d.month == 2 and rr.random() < 0.4:
        month = "Pebruari"
    return f"{d.day} {month} {d.year}"


class _Layout:
    name = ""
    columns: list[tuple[str, str | None, str]] = []  # (upper or only header, lower, field)
    sex_labels = {"L": ("L",), "P": ("P",)}
    group_labels = {g: (g,) for g, _, _ in AGE_GROUPS}
    form_labels = {"FISIK": ("Fisik",), "PSIKIS": ("Psikis",), "SEKSUAL": ("Seksual",),
                   "EKSPLOITASI": ("Eksploitasi",), "TRAFFICKING": ("Trafficking",),
                   "PENELANTARAN": ("Penelantaran",), "LAINNYA": ("Lainnya",)}
    form_joins = (", ",)
    kdrt_in_forms = 0.0   # chance to write the KDRT flag as a label in the forms cell
    kdrt_slash = False    # "Fisik/KDRT"
    kdrt_labels = {True: "Ya", False: "Tidak"}
    role_labels = {"KORBAN": ("Korban",), "PELAKU": ("Pelaku",)}
    place_labels = {"RUMAH_TANGGA": ("Rumah Tangga",), "TEMPAT_KERJA": ("Tempat Kerja",),
                    "SEKOLAH": ("Sekolah",), "FASILITAS_UMUM": ("Fasilitas Umum",),
                    "LEMBAGA_PENDIDIKAN_KILAT": ("Lembaga Pendidikan Kilat",), "LAINNYA": ("Lainnya",)}
    status_labels = {"PROSES": ("Proses",), "SELESAI": ("Selesai",), "DIRUJUK": ("Dirujuk",)}
    empty_labels: tuple[Any, ...] = (None,)
    messy = False
    patterns: tuple[str, ...] = ()

    @classmethod
    def fields(cls) -> set[str]:
        return {f for _, _, f in cls.columns}

    def __init__(self, gen: _Gen, personal_log: set[str]):
        self.g = gen
        self.log = personal_log

    # -- cell rendering
    def fmt_date(self, d: date, rr: random.Random, opts: dict) -> Any:
        return d

    def fmt_age(self, v: Victim, rr: random.Random) -> Any:
        return v.age

    def case_id(self, year: int, n: int, month: int) -> str | int:
        return f"{n:04d}/{self.g.p.code.upper()}/{year}"

    def _mess(self, s: str, rr: random.Random) -> str:
        if not self.messy or not isinstance(s, str):
            return s
        x = rr.random()
        if x < 0.2:
            s = s.upper()
        elif x < 0.35:
            s = s.lower()
        if rr.random() < 0.25:
            s += " "
        return s

    def _empty(self, rr: random.Random) -> Any:
        return rr.choice(self.empty_labels)

    def forms_text(self, v: Victim, rr: random.Random) -> str:
        forms = list(v.forms)
        kdrt_label = v.is_kdrt and rr.random() < self.kdrt_in_forms
        if kdrt_label and forms == ["LAINNYA"]:
            return "KDRT"
        labels = [rr.choice(self.form_labels[f]) for f in forms]
        if kdrt_label:
            if self.kdrt_slash:
                labels[0] += "/KDRT"
            else:
                labels.append("KDRT")
        join = rr.choice(self.form_joins)
        if len(labels) > 2 and join == " dan ":
            return ", ".join(labels[:-1]) + " dan " + labels[-1]
        return join.join(labels)

    def cell(self, v: Victim, fld: str, opts: dict) -> Any:
        rr = _subrng(v.style, fld)
        if fld in v.overrides:
            val = v.overrides[fld]
            if isinstance(val, _Canon):
                return self._mess(rr.choice(self.group_labels[val.value]), rr)
            if isinstance(val, date):
                return self.fmt_date(val, rr, dict(opts, strict=True))
            return val
        personal = v.personal.get(fld) if fld in v.personal else None
        if fld in ("name", "address", "phone", "perp_name", "parent_name", "school", "kronologi"):
            if personal:
                self.log.add(personal)
            return personal if personal else self._empty(rr)
        if fld == "nik":
            if not personal:
                return self._empty(rr)
            self.log.add(personal)
            return int(personal) if v.nik_as_number and opts.get("nik_numbers", True) else personal
        if fld == "case_id":
            return v.case_id
        if fld == "seq":
            return v.victim_seq
        if fld == "report_date":
            return self.fmt_date(v.report_date, rr, opts)
        if fld == "incident_date":
            return self.fmt_date(v.incident_date, rr, opts) if v.incident_date else self._empty(rr)
        if fld == "sex":
            return self._mess(rr.choice(self.sex_labels[v.sex]), rr)
        if fld == "age":
            return self.fmt_age(v, rr)
        if fld == "age_group":
            return self._mess(rr.choice(self.group_labels[v.age_group]), rr)
        if fld == "forms":
            return self._mess(self.forms_text(v, rr), rr)
        if fld == "kdrt":
            return self.kdrt_labels[v.is_kdrt]
        if fld == "child_role":
            if not v.child_role or (v.child_role == "KORBAN" and rr.random() < 0.08):
                return self._empty(rr)
            return self._mess(rr.choice(self.role_labels[v.child_role]), rr)
        if fld == "place":
            return self._mess(rr.choice(self.place_labels[v.place]), rr) if v.place else self._empty(rr)
        if fld == "relation":
            return self._mess(v.relation_label, rr) if v.relation_label else self._empty(rr)
        if fld == "kecamatan":
            return self._mess(v.kecamatan_label, rr) if v.kecamatan_label else self._empty(rr)
        if fld == "services":
            labels = [rr.choice(SERVICE_LABELS[s]) for s in v.services]
            return self._mess(", ".join(labels), rr)
        if fld == "status":
            return self._mess(rr.choice(self.status_labels[v.status]), rr)
        if fld == "education":
            return v.education
        if fld == "occupation":
            return v.occupation
        if fld == "note":
            return self.note(v, rr)
        if fld == "no":
            return opts.get("no")
        raise KeyError(fld)

    def note(self, v: Victim, rr: random.Random) -> Any:
        return None

    def headers(self) -> list[str]:
        return [h for h, _, _ in self.columns]

    def data_row(self, v: Victim, no: int, opts: dict) -> list[Any]:
        o = dict(opts, no=no)
        return [self.cell(v, f, o) for _, _, f in self.columns]

    def files(self, years_cases: dict[int, list[_Case]]) -> list[_Build]:
        raise NotImplementedError

    # -- helpers
    def tz(self) -> str:
        return self.g.p.timezone

    def export_time(self, year: int, rng: random.Random, days_after: int = 0) -> datetime:
        """Year files are exported early the next year; the current year just after data_end."""
        end = self.g.data_end
        if year >= end.year:
            d = end + timedelta(days=2 + days_after)
        else:
            d = date(year + 1, 1, rng.randint(6, 20)) + timedelta(days=days_after)
            d = min(d, end)
        return _local(self.tz(), d, rng.randint(8, 15), rng.randint(0, 59))

    @staticmethod
    def rows_of(cases: list[_Case]) -> list[Victim]:
        return [v for c in sorted(cases, key=lambda c: (c.report_date, c.order)) for v in c.rows]


class KukarLayout(_Layout):
    """One workbook with a sheet per year, title rows and a two-row merged header."""
    name = "kukar"
    columns = [
        ("No", None, "no"), ("No Reg", None, "case_id"), ("Korban Ke", None, "seq"),
        ("Tanggal", "Tanggal Pengaduan", "report_date"), ("Tanggal", "Tanggal Kejadian", "incident_date"),
        ("Identitas Korban", "Nama Korban", "name"), ("Identitas Korban", "NIK", "nik"),
        ("Identitas Korban", "Jenis Kelamin", "sex"), ("Identitas Korban", "Usia", "age"),
        ("Identitas Korban", "Kelompok Umur", "age_group"), ("Identitas Korban", "Pendidikan", "education"),
        ("Identitas Korban", "Alamat", "address"), ("Identitas Korban", "Kecamatan", "kecamatan"),
        ("Jenis Kekerasan", None, "forms"), ("KDRT", None, "kdrt"), ("Tempat Kejadian", None, "place"),
        ("Identitas Pelaku", "Nama Pelaku", "perp_name"),
        ("Identitas Pelaku", "Hubungan dengan Korban", "relation"),
        ("Layanan", None, "services"), ("Status", None, "status"), ("Kronologi", None, "kronologi"),
    ]
    group_labels = {"0-5": ("< 6 Tahun", "0-5 Tahun"), "6-12": ("6-12 Tahun",), "13-17": ("13-17 Tahun",),
                    "18-24": ("18-24 Tahun",), "25-44": ("25-44 Tahun",), "45-59": ("45-59 Tahun",),
                    "60+": ("60 Tahun ke atas",)}
    empty_labels = (None, None, "-")
    patterns = ("register_kasus_*.xlsx", "rekap_grafik_*.xlsx")

    def case_id(self, year, n, month):
        return f"{n:03d}/UPT-PPA/{ROMAN[month - 1]}/{year}"

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        per_sheet: dict[int, list[_Case]] = {y: [] for y in years}
        for y in years:
            for c in years_cases[y]:
                per_sheet[y + 1 if c.late and y + 1 in per_sheet else y].append(c)
        title = f"UPT PPA {self.g.p.name.upper()}"
        ncol = len(self.columns)
        sheets = []
        for y in years:
            sh = _Sheet(str(y))
            sh.add([f"REGISTER KASUS KEKERASAN TERHADAP PEREMPUAN DAN ANAK TAHUN {y}"], bold=True)
            sh.add([title], bold=True)
            sh.add([])
            sh.merges += [(1, 1, 1, ncol), (2, 1, 2, ncol)]
            upper, lower = [], []
            for i, (up, low, _) in enumerate(self.columns, 1):
                prev = self.columns[i - 2][0] if i > 1 else None
                upper.append(up if up != prev or low is None else None)
                lower.append(low)
                if low is None:
                    sh.merges.append((4, i, 5, i))
            sh.add(upper, bold=True)
            sh.add(lower, bold=True)
            # horizontal merges over groups
            i = 0
            while i < ncol:
                up, low, _ = self.columns[i]
                j = i
                while low is not None and j + 1 < ncol and self.columns[j + 1][0] == up:
                    j += 1
                if j > i:
                    sh.merges.append((4, i + 1, 4, j + 1))
                i = j + 1
            rows = self.rows_of(per_sheet[y])
            for no, v in enumerate(rows, 1):
                sh.add(self.data_row(v, no, {}), victim=v)
            sh.add([])
            r = sh.add(["JUMLAH", None, None, None, None, f"{len(rows)} korban"], bold=True)
            sh.merges.append((r, 1, r, 5))
            sh.widths = {2: 24, 4: 14, 5: 14, 6: 24, 7: 20, 12: 34, 14: 24, 21: 60}
            sheets.append(sh)
        notes = _Sheet("Keterangan")
        for line in ("KETERANGAN PENGISIAN REGISTER",
                     "No Reg: nomor urut/UPT-PPA/bulan (romawi)/tahun",
                     "Jenis kekerasan: Fisik, Psikis, Seksual, Eksploitasi, Trafficking, Penelantaran, Lainnya",
                     "KDRT diisi Ya/Tidak",
                     "Data bersifat rahasia, tidak untuk dipublikasikan (UU 35/2014, UU 27/2022)"):
            notes.add([line])
        lists = _Sheet("Daftar Pilihan")
        lists.hidden = True
        lists.add(["Jenis Kekerasan", "Tempat Kejadian", "Kecamatan", "Status"], bold=True)
        cols = [[v[0] for v in self.form_labels.values()], [v[0] for v in self.place_labels.values()],
                [names[0] for _, names in self.g.p.kecamatan], ["Proses", "Selesai", "Dirujuk"]]
        for i in range(max(len(c) for c in cols)):
            lists.add([c[i] if i < len(c) else None for c in cols])
        code = self.g.p.code
        builds = [_Build(f"{code}/register_kasus_{code}_{years[0]}-{years[-1]}.xlsx", "register",
                         self.export_time(years[-1], rng, days_after=-1), sheets=sheets + [notes, lists])]
        if len(years) >= 2:
            builds.append(self._rekap(years[-2], years_cases[years[-2]], rng))
        return builds

    def _rekap(self, year: int, cases: list[_Case], rng: random.Random) -> _Build:
        """A pivot by kecamatan with a chart: a workbook that is not a case register."""
        counts: dict[str, list[int]] = {names[0]: [0, 0] for _, names in self.g.p.kecamatan}
        for v in self.rows_of(cases):
            if not v.reasons and v.child_role != "PELAKU" and v.kecamatan in dict(self.g.p.kecamatan):
                counts[dict(self.g.p.kecamatan)[v.kecamatan][0]][0 if v.sex == "L" else 1] += 1
        sh = _Sheet("Rekap")
        sh.add([f"JUMLAH KORBAN KEKERASAN TERHADAP PEREMPUAN DAN ANAK BERDASARAKAN KECAMATAN TAHUN {year}"],
               bold=True)
        sh.add([])
        sh.add(["No", "Kecamatan", "L", "P", "Jumlah"], bold=True)
        first = len(sh.rows) + 1
        for i, (name, (m, f)) in enumerate(counts.items(), 1):
            sh.add([i, name, m, f, m + f])
        last = len(sh.rows)
        sh.add(["JUMLAH", None, sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values()),
                sum(sum(c) for c in counts.values())], bold=True)
        chart = _Sheet("Grafik")
        chart.add([f"Grafik korban per kecamatan {year}"])
        chart.chart = ("Rekap", first, last)
        return _Build(f"{self.g.p.code}/rekap_grafik_{year}.xlsx", "not_register",
                      self.export_time(year, rng, days_after=3), sheets=[sh, chart])


class KutimLayout(_Layout):
    """A file per year (old years as .xls), Indonesian text dates, victims and child perpetrators."""
    name = "kutim"
    columns = [
        ("No", None, "no"), ("No. Registrasi", None, "case_id"), ("Tgl Lapor", None, "report_date"),
        ("Tgl Kejadian", None, "incident_date"), ("Nama Lengkap", None, "name"), ("NIK", None, "nik"),
        ("L/P", None, "sex"), ("Umur", None, "age"), ("Alamat", None, "address"),
        ("Kecamatan", None, "kecamatan"), ("Jenis Kasus", None, "forms"), ("Status Anak", None, "child_role"),
        ("Hubungan Pelaku", None, "relation"), ("Lokasi Kejadian", None, "place"),
        ("Tindak Lanjut", None, "services"), ("No. HP", None, "phone"), ("Keterangan", None, "note"),
    ]
    sex_labels = {"L": ("L", "L", "L", "Laki-laki"), "P": ("P", "P", "P", "Perempuan")}
    form_labels = {
        "SEKSUAL": ("pelecehan seksual", "persetubuhan", "pencabulan", "kekerasan seksual",
                    "pelecehan seksual, persetubuhan", "pemerkosaan"),
        "FISIK": ("kekerasan fisik", "fisik"), "PSIKIS": ("psikis", "kekerasan psikis"),
        "PENELANTARAN": ("penelantaran",), "EKSPLOITASI": ("eksploitasi ekonomi",),
        "TRAFFICKING": ("TPPO",), "LAINNYA": ("bullying", "perundungan"),
    }
    kdrt_in_forms = 1.0
    place_labels = {"RUMAH_TANGGA": ("Rumah", "Rumah Tangga"), "TEMPAT_KERJA": ("Tempat Kerja", "Kantor"),
                    "SEKOLAH": ("Sekolah",), "FASILITAS_UMUM": ("Jalan", "Tempat Umum"),
                    "LEMBAGA_PENDIDIKAN_KILAT": ("Lembaga Pendidikan Kilat",), "LAINNYA": ("Lain-lain",)}
    status_labels = {"PROSES": ("Dalam Proses",), "SELESAI": ("Selesai",), "DIRUJUK": ("Rujukan",)}
    empty_labels = (None, "-")
    patterns = ("data_kasus_kekerasan_*.xls", "data_kasus_kekerasan_*.xlsx", "Salinan data_kasus_kekerasan_*")

    def case_id(self, year, n, month):
        return f"{self.g.p.code.upper()}/{year}/{n:03d}"

    def fmt_date(self, d, rr, opts):
        x = rr.random()
        if x < 0.35:
            return _id_date_long(d, rr)
        if x < 0.55:
            return f"{WEEKDAYS_ID[d.weekday()]}, {_id_date_long(d, rr)}"
        if x < 0.8:
            abbr = MONTHS_ABBR[d.month - 1]
            if d.month == 2 and rr.random() < 0.4:
                abbr = "Peb"
            if d.month == 8 and rr.random() < 0.5:
                abbr = "Agu"
            return f"{d.day} {abbr} {d.year}"
        return d.strftime("%d/%m/%Y")

    def fmt_age(self, v, rr):
        if v.age_months is not None:
            return f"{v.age_months} bln"
        if v.age < 18:
            return rr.choice((f"{v.age} th", f"{v.age} thn", f"{v.age} tahun", v.age))
        return rr.choice((f"{v.age} tahun", f"{v.age} thn", v.age))

    def note(self, v, rr):
        return "Belum input SIMFONI" if rr.random() < 0.08 else None

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        code = self.g.p.code
        builds = []
        for i, y in enumerate(years):
            sh = _Sheet(f"DATA {y}")
            sh.add(["DATA KASUS KEKERASAN TERHADAP PEREMPUAN DAN ANAK"], bold=True)
            sh.add([f"DPPPA {self.g.p.name.upper().split(' ', 1)[-1]} TAHUN {y}"], bold=True)
            sh.add([])
            sh.add(self.headers(), bold=True)
            for no, v in enumerate(self.rows_of(years_cases[y]), 1):
                sh.add(self.data_row(v, no, {}), victim=v)
            fmt = "xls" if i < 2 else "xlsx"
            builds.append(_Build(f"{code}/data_kasus_kekerasan_{y}.{fmt}", "register",
                                 self.export_time(y, rng), fmt=fmt, sheets=[sh]))
        if len(years) >= 3:
            src = builds[-2]
            builds.append(_Build(f"{code}/Salinan data_kasus_kekerasan_{years[-2]}.xlsx", "partial",
                                 self.export_time(years[-1], rng, days_after=3), fmt="raw",
                                 truncate_of=src.rel))
        return builds


class PpuLayout(_Layout):
    """A workbook per year with a sheet per month, serial-number dates, one year as .ods."""
    name = "ppu"
    columns = [
        ("No", None, "no"), ("Kode Kasus", None, "case_id"), ("Korban Ke", None, "seq"),
        ("Tanggal Registrasi", None, "report_date"), ("Tanggal Kejadian", None, "incident_date"),
        ("Nama Korban", None, "name"), ("NIK Korban", None, "nik"),
        ("Jenis Kelamin Korban", None, "sex"), ("Umur Korban", None, "age"), ("Kel. Usia", None, "age_group"),
        ("Alamat Korban", None, "address"), ("Kecamatan", None, "kecamatan"),
        ("Bentuk Kekerasan", None, "forms"), ("Lingkup", None, "kdrt"), ("Anak Sebagai", None, "child_role"),
        ("TKP", None, "place"), ("Hubungan Pelaku", None, "relation"), ("Nama Pelaku", None, "perp_name"),
        ("Uraian Singkat Kejadian", None, "kronologi"), ("Layanan", None, "services"),
        ("Status Kasus", None, "status"),
    ]
    sex_labels = {"L": ("Laki-laki",), "P": ("Perempuan",)}
    form_labels = {"FISIK": ("Kekerasan Fisik", "Fisik"), "PSIKIS": ("Kekerasan Psikis", "Psikis"),
                   "SEKSUAL": ("Kekerasan Seksual", "Persetubuhan", "Pencabulan"),
                   "EKSPLOITASI": ("Eksploitasi",), "TRAFFICKING": ("Perdagangan Orang",),
                   "PENELANTARAN": ("Penelantaran",), "LAINNYA": ("Lain-lain",)}
    form_joins = (", ", " dan ")
    kdrt_labels = {True: "Domestik", False: "Publik"}
    role_labels = {"KORBAN": ("Korban",), "PELAKU": ("ABH",)}
    place_labels = {"RUMAH_TANGGA": ("Dalam Rumah", "Rumah Tangga"), "TEMPAT_KERJA": ("Tempat Kerja",),
                    "SEKOLAH": ("Sekolah",), "FASILITAS_UMUM": ("Fasum", "Fasilitas Umum"),
                    "LEMBAGA_PENDIDIKAN_KILAT": ("Lembaga Pendidikan Kilat",), "LAINNYA": ("Lainnya",)}
    empty_labels = (None, None, "-")
    patterns = ("register_ppu_*.xlsx", "register_ppu_*.ods", ".~lock.register_ppu_*", "laporan_kasus_*_dikunci.xlsx")

    def case_id(self, year, n, month):
        return f"{year % 100:02d}.{month:02d}.{n:03d}"

    def fmt_date(self, d, rr, opts):
        if opts.get("serial"):
            return (d - date(1899, 12, 30)).days
        return d

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        code = self.g.p.code
        builds = []
        for i, y in enumerate(years):
            rows = self.rows_of(years_cases[y])
            last_month = self.g.data_end.month if y == self.g.data_end.year else 12
            sheets = []
            for m in range(1, last_month + 1):
                sh = _Sheet(MONTHS_ID[m - 1].upper())
                serial = i < 2 or rng.random() < 0.25
                sh.add([f"REGISTER KASUS UPTD PPA {self.g.p.name.upper()}"], bold=True)
                sh.add([f"BULAN {MONTHS_ID[m - 1].upper()} {y}"], bold=True)
                sh.add([])
                sh.add(self.headers(), bold=True)
                month_rows = [v for v in rows if v.report_date.month == m]
                for no, v in enumerate(month_rows, 1):
                    sh.add(self.data_row(v, no, {"serial": serial}), victim=v)
                sheets.append(sh)
            fmt = "ods" if i == 2 else "xlsx"
            builds.append(_Build(f"{code}/register_ppu_{y}.{fmt}", "register", self.export_time(y, rng),
                                 fmt=fmt, sheets=sheets))
            if fmt == "ods":
                lock = (f"Admin UPTD,admin,PC-UPTD,{self.g.data_end.strftime('%d.%m.%Y')} 10:12,"
                        f"file:///C:/Users/admin/AppData/Roaming/LibreOffice/4;").encode()
                builds.append(_Build(f"{code}/.~lock.register_ppu_{y}.ods#", "lock",
                                     self.export_time(years[-1], rng, days_after=4), fmt="raw", raw=lock))
        if len(years) >= 2:
            builds.append(_Build(f"{code}/laporan_kasus_{years[-2]}_dikunci.xlsx", "encrypted",
                                 self.export_time(years[-2], rng, days_after=10), fmt="raw",
                                 raw=_fake_encrypted_xlsx(rng)))
        return builds


class BontangLayout(_Layout):
    """Text dates, messy labels, "Fisik/KDRT", a month exported twice, a corrected export."""
    name = "bontang"
    columns = [
        ("NO", None, "no"), ("JENIS KEKERASAN ", None, "forms"), ("No. Register", None, "case_id"),
        ("No Korban", None, "seq"), ("Tgl Pengaduan", None, "report_date"), ("tgl kejadian", None, "incident_date"),
        ("Nama", None, "name"), ("JK", None, "sex"), ("Usia", None, "age"), ("Kelompok Usia", None, "age_group"),
        ("Anak Sebagai", None, "child_role"), ("Nama Orang Tua", None, "parent_name"),
        ("Nama Sekolah", None, "school"), ("Alamat", None, "address"), ("Kecamatan ", None, "kecamatan"),
        ("No. HP", None, "phone"), ("Tempat Kejadian", None, "place"),
        ("Hub. Pelaku dgn Korban", None, "relation"), ("Pelayanan", None, "services"), ("STATUS", None, "status"),
    ]
    sex_labels = {"L": ("L", "Lk", "l"), "P": ("P", "Pr", "p", "P")}
    group_labels = {"0-5": ("0 - 5", "0-5"), "6-12": ("6 - 12",), "13-17": ("13 - 17",),
                    "18-24": ("18 - 24",), "25-44": ("25 - 44",), "45-59": ("45 - 59",), "60+": ("60 +",)}
    form_labels = {"FISIK": ("Fisik",), "PSIKIS": ("Psikis",),
                   "SEKSUAL": ("Kekerasan Seksual", "Pencabulan", "Seksual"), "EKSPLOITASI": ("Eksploitasi Ekonomi",),
                   "TRAFFICKING": ("TPPO",), "PENELANTARAN": ("Penelantaran",), "LAINNYA": ("Bullying", "Lainnya")}
    form_joins = (", ", "; ")
    kdrt_in_forms = 1.0
    kdrt_slash = True
    role_labels = {"KORBAN": ("Korban", "Anak Korban"), "PELAKU": ("Pelaku",)}
    place_labels = {"RUMAH_TANGGA": ("Rumah Tangga", "Rumah"), "TEMPAT_KERJA": ("Tempat Kerja",),
                    "SEKOLAH": ("Sekolah",), "FASILITAS_UMUM": ("Fasilitas Umum", "Tempat Umum"),
                    "LEMBAGA_PENDIDIKAN_KILAT": ("Lembaga Pendidikan Kilat",), "LAINNYA": ("Lainnya",)}
    empty_labels = (None, "-", "")
    messy = True
    patterns = ("register_*.xlsx", "~$register_*.xlsx")

    def __init__(self, gen, personal_log):
        super().__init__(gen, personal_log)
        self._years: list[int] = []

    def case_id(self, year, n, month):
        return f"REG/{year}/{n:04d}"

    def fmt_date(self, d, rr, opts):
        if opts.get("strict") or not 2015 <= d.year <= 2030:
            return d.strftime("%d/%m/%Y")  # four-digit years for the deliberate typos
        return rr.choice((d.strftime("%d-%m-%y"), d.strftime("%d.%m.%Y"), d.strftime("%d/%m/%Y")))

    def cols_for(self, year: int) -> list:
        # the first two years have an age group column only
        if self._years.index(year) < 2:
            return [c for c in self.columns if c[2] != "age"]
        return self.columns

    def sheet(self, year: int, blocks: list[list[Victim]], rng: random.Random) -> _Sheet:
        cols = self.cols_for(year)
        sh = _Sheet("Sheet1")
        sh.add([f"DATA KORBAN KEKERASAN {self.g.p.name.upper()} TAHUN {year}"], bold=True)
        sh.add([h for h, _, _ in cols], bold=True)
        no = 0
        for block in blocks:
            prev_month = None
            for v in block:
                if prev_month is not None and v.report_date.month != prev_month and rng.random() < 0.5:
                    sh.add([])
                prev_month = v.report_date.month
                no += 1
                sh.add([self.cell(v, f, {"no": no}) for _, _, f in cols], victim=v)
            sh.add([])
        while sh.rows and not sh.rows[-1]:
            sh.rows.pop()
        return sh

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        self._years = years
        code = self.g.p.code
        rows = {y: self.rows_of(years_cases[y]) for y in years}
        fix_year = years[-2] if len(years) >= 3 else None
        builds = []
        for y in years:
            blocks = [rows[y]]
            if y == fix_year and y - 1 in rows:
                # December of the year before, exported again on top of this file
                dec = [v for v in rows[y - 1] if v.report_date.month == 12 and not v.reasons]
                blocks = [dec, rows[y]]
            if y != fix_year:
                builds.append(_Build(f"{code}/register_{y}.xlsx", "register", self.export_time(y, rng),
                                     sheets=[self.sheet(y, blocks, rng)]))
                continue
            # the first export and a corrected one; the original carries the mistakes
            good = [v for v in rows[y] if not v.reasons and v.child_role != "PELAKU"
                    and not v.overrides and not v.warnings]
            if len(good) < 5:
                builds.append(_Build(f"{code}/register_{y}.xlsx", "register", self.export_time(y, rng),
                                     sheets=[self.sheet(y, blocks, rng)]))
                continue
            n = len(good)
            fixed_bad, fixed_kec, fixed_status = good[n // 4], good[n // 2], good[3 * n // 4:3 * n // 4 + 3]
            original = []
            for v in rows[y]:
                if v is fixed_bad:
                    v = replace(v, reasons=("victim_sex_missing",), overrides={"sex": None})
                elif v is fixed_kec:
                    v = replace(v, kecamatan=None, warnings=("kecamatan_unknown",),
                                overrides={"kecamatan": UNKNOWN_KECAMATAN.get(self.name, "Loktuan")})
                elif any(v is s for s in fixed_status):
                    v = replace(v, status="PROSES")
                original.append(v)
            for s in fixed_status:
                s.status = "SELESAI"
            t1 = self.export_time(y, rng)
            t2 = t1 + timedelta(days=24, hours=3)
            builds.append(_Build(f"{code}/register_{y}.xlsx", "register", t1,
                                 sheets=[self.sheet(y, blocks[:-1] + [original], random.Random(1))]))
            builds.append(_Build(f"{code}/register_{y}_revisi.xlsx", "corrected", t2,
                                 sheets=[self.sheet(y, blocks, random.Random(1))]))
        builds.append(_Build(f"{code}/~$register_{years[-1]}.xlsx", "lock",
                             self.export_time(years[-1], rng, days_after=5), fmt="raw", raw=_excel_lock("petugas")))
        return builds


class BatamLayout(_Layout):
    """The largest volume; no victim-number column, a Ranah column, extra columns, an .xlsm."""
    name = "batam"
    columns = [
        ("No", None, "no"), ("No Kasus", None, "case_id"), ("Tanggal Lapor", None, "report_date"),
        ("Waktu Kejadian", None, "incident_date"), ("Nama Korban", None, "name"), ("NIK", None, "nik"),
        ("Jenis Kelamin", None, "sex"), ("Usia Korban", None, "age"), ("Kelompok Usia", None, "age_group"),
        ("Pendidikan", None, "education"), ("Pekerjaan", None, "occupation"),
        ("Alamat Lengkap", None, "address"), ("Kecamatan", None, "kecamatan"),
        ("Jenis Kekerasan", None, "forms"), ("Ranah", None, "kdrt"), ("Tempat Kejadian", None, "place"),
        ("Hubungan dengan Korban", None, "relation"), ("Nama Pelaku", None, "perp_name"),
        ("Kronologis", None, "kronologi"), ("Layanan yang Diberikan", None, "services"),
        ("Status Kasus", None, "status"), ("Keterangan Petugas", None, "note"),
    ]
    group_labels = {"0-5": ("0-5 tahun",), "6-12": ("6-12 tahun",), "13-17": ("13-17 tahun",),
                    "18-24": ("18-24 tahun",), "25-44": ("25-44 tahun",), "45-59": ("45-59 tahun",),
                    "60+": ("60 tahun ke atas",)}
    kdrt_in_forms = 0.5
    kdrt_labels = {True: "KDRT", False: "Non KDRT"}
    place_labels = dict(_Layout.place_labels, FASILITAS_UMUM=("Fasilitas Umum", "Fasum"))
    patterns = ("register_batam_*.xlsx", "register_batam_*.xlsm", "export_simfoni_*.xlsx")

    def case_id(self, year, n, month):
        return int(f"{year % 100:02d}{n:04d}")  # a plain number, as Excel stores it

    def note(self, v, rr):
        return rr.choice(("Sudah BAP", "Menunggu hasil visum", "Didampingi ke Polresta",
                          "Konseling psikolog", "-", None, None))

    def sheet(self, name: str, rows: list[Victim]) -> _Sheet:
        sh = _Sheet(name)
        sh.add(self.headers(), bold=True)
        for no, v in enumerate(rows, 1):
            sh.add(self.data_row(v, no, {}), victim=v)
        sh.add(["TOTAL", None, None, None, len(rows)], bold=True)
        return sh

    def files(self, years_cases):
        rng = random.Random(self.g.rng.randrange(2 ** 32))
        years = sorted(years_cases)
        code = self.g.p.code
        builds = []
        for y in years:
            rows = self.rows_of(years_cases[y])
            if y == years[-1] and len(years) > 1:
                # a new head of office in mid-year: the second half comes as a macro workbook
                first = [v for v in rows if v.report_date.month <= 6]
                second = [v for v in rows if v.report_date.month > 6]
                if first and second:
                    builds.append(_Build(f"{code}/register_batam_{y}_sem1.xlsx", "register",
                                         _local(self.tz(), date(y, 7, 8), 10, 5),
                                         sheets=[self.sheet(f"DATA KORBAN {y}", first)]))
                    builds.append(_Build(f"{code}/register_batam_{y}_sem2.xlsm", "register",
                                         self.export_time(y, rng), fmt="xlsm",
                                         sheets=[self.sheet(f"DATA KORBAN {y}", second)]))
                    continue
            builds.append(_Build(f"{code}/register_batam_{y}.xlsx", "register", self.export_time(y, rng),
                                 sheets=[self.sheet(f"DATA KORBAN {y}", rows)]))
        if len(years) >= 2:
            y = years[-2]
            lines = ["Bulan;Perempuan;Anak;Jumlah"]
            for m in range(1, 13):
                vs = [v for v in self.rows_of(years_cases[y])
                      if v.report_date.month == m and not v.reasons and v.child_role != "PELAKU"]
                kids = sum(v.is_child for v in vs)
                lines.append(f"{MONTHS_ID[m - 1]};{len(vs) - kids};{kids};{len(vs)}")
            builds.append(_Build(f"{code}/export_simfoni_{y}.xlsx", "renamed_csv",
                                 self.export_time(y, rng, days_after=20), fmt="raw",
                                 raw=("\r\n".join(lines) + "\r\n").encode("utf-8")))
        return builds


_LAYOUTS: dict[str, type[_Layout]] = {
    "kukar": KukarLayout, "kutim": KutimLayout, "ppu": PpuLayout, "bontang": BontangLayout, "batam": BatamLayout,
}


# --------------------------------------------------------------------------- one agency

def _volumes(victims_per_year: int | dict[int, int], years: list[int], data_end: date) -> dict[int, int]:
    out = {}
    for y in years:
        n = victims_per_year[y] if isinstance(victims_per_year, dict) else victims_per_year
        if y == data_end.year and not isinstance(victims_per_year, dict):
            n = round(n * (data_end.timetuple().tm_yday / (366 if calendar.isleap(y) else 365)))
        out[y] = max(int(n), 1)
    return out


def generate_agency(out_dir: Path, agency_code: str, years: Iterable[int],
                    victims_per_year: int | dict[int, int], layout: str, rng: random.Random, *,
                    profile: AgencyProfile | None = None, today: date = DEFAULT_TODAY,
                    missing_months: Iterable[tuple[int, int]] = (), bad_rows: bool = True,
                    registry_path: Path | None = None) -> SampleManifest:
    """Write one agency's files under out_dir/<agency_code>/ in one of the five layouts.

    victims_per_year: an int (the last, partial year is scaled down) or exact counts per year.
    profile: kecamatan names and NIK prefix; by default the registry entry for agency_code,
    or, for a synthetic agency, the entry of the layout's home agency.
    """
    if layout not in _LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {LAYOUTS}")
    if profile is None:
        profiles = load_profiles(registry_path)
        base = profiles.get(agency_code) or profiles[layout]
        profile = replace(base, code=agency_code)
    data_end = today - EXPORT_LAG
    years = sorted(y for y in set(years) if y <= data_end.year)
    if not years:
        raise ValueError("no year on or before the data end")
    gen = _Gen(profile, layout, rng, data_end, missing_months)
    log: set[str] = set()
    lay = _LAYOUTS[layout](gen, log)

    cases = {y: gen.year_cases(y, n) for y, n in _volumes(victims_per_year, years, data_end).items()}
    if bad_rows:
        _add_bad_rows(gen, lay, cases, years)
    _add_warnings(gen, lay, cases)
    if layout == "kukar":
        _mark_late(gen, cases, years)
    _number(lay, cases)

    builds = lay.files(cases)
    files = _write(Path(out_dir), builds, agency_code, layout)
    manifest = _expect(agency_code, files)
    manifest.personal_values = log
    manifest.today = today
    return manifest


def _add_bad_rows(gen: _Gen, lay: _Layout, cases: dict[int, list[_Case]], years: list[int]) -> None:
    rng = gen.rng
    specs = [(r,) for r in applicable_rules(lay.name)]
    specs.insert(3, ("report_date_unparseable",))  # the "kemarin" variant
    specs.append(("victim_sex_missing", "forms_missing"))
    if lay.name == "bontang":
        allowed = years[2:] or years  # years with an age column
    else:
        allowed = years[1:] or years
    seen: dict[str, int] = {}
    for spec in specs:
        y = rng.choice(allowed)
        variant = seen.get(spec[0], 0)
        seen[spec[0]] = variant + 1
        cases[y].append(gen.bad_cases(spec, y, variant))


def _add_warnings(gen: _Gen, lay: _Layout, cases: dict[int, list[_Case]]) -> None:
    rng = gen.rng
    years = sorted(cases)
    plain = [c for y in years for c in cases[y]
             if len(c.rows) == 1 and not c.rows[0].reasons and c.rows[0].child_role != "PELAKU"]
    picks = rng.sample(plain, min(4, len(plain)))
    kec_label = UNKNOWN_KECAMATAN.get(lay.name, "Kampung Baru")
    for c, (fld, label, warn) in zip(picks, (
            ("place", "Kebun", "place_unknown"),
            ("kecamatan", kec_label, "kecamatan_unknown"),
            ("kecamatan", kec_label, "kecamatan_unknown"),
            ("relation", "Mertua", "perp_relation_unknown"))):
        v = c.rows[0]
        changes = {"place": dict(place=None), "kecamatan": dict(kecamatan=None, kecamatan_label=None),
                   "relation": dict(relation=None, relation_label=None)}[fld]
        c.rows[0] = replace(v, warnings=(warn,), overrides={fld: label}, **changes)


def _mark_late(gen: _Gen, cases: dict[int, list[_Case]], years: list[int]) -> None:
    """A few December cases are entered in the next year's sheet (year = report date)."""
    for y in years[:-1]:
        dec = [c for c in cases[y] if c.report_date >= date(y, 12, 18) and not c.dup_key
               and not any(v.reasons for v in c.rows)]
        for c in dec[-2:]:
            c.late = True


def _number(lay: _Layout, cases: dict[int, list[_Case]]) -> None:
    """Sequential register numbers per year, in report-date order."""
    for y, cs in cases.items():
        cs.sort(key=lambda c: (c.report_date, c.order))
        for n, c in enumerate(cs, 1):
            cid = lay.case_id(y, n, c.report_date.month)
            for seq, v in enumerate(c.rows, 1):
                v.case_id = cid
                v.victim_seq = 1 if c.dup_key else seq
                if c.no_case_id:
                    v.overrides["case_id"] = None


def _write(out_dir: Path, builds: list[_Build], agency: str, layout: str) -> list[FileInfo]:
    written: dict[str, bytes] = {}
    files = []
    for b in builds:
        if b.fmt in ("xlsx", "xlsm"):
            data = _xlsx_bytes(b.sheets, b.when, macro=b.fmt == "xlsm")
        elif b.fmt == "xls":
            data = _xls_bytes(b.sheets)
        elif b.fmt == "ods":
            data = _ods_bytes(b.sheets, b.when)
        elif b.truncate_of:
            src = written[b.truncate_of]
            data = src[: len(src) * 45 // 100]
        else:
            data = b.raw or b""
        written[b.rel] = data
        path = out_dir / b.rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        ts = b.when.timestamp()
        os.utime(path, (ts, ts))
        info = FileInfo(path=b.rel, agency=agency, kind=b.kind, layout=layout,
                        mtime=datetime.fromtimestamp(int(ts), tz=timezone.utc),
                        sheets=[s.name for s in b.sheets], hidden_sheets=[s.name for s in b.sheets if s.hidden])
        has_seq = "seq" in _LAYOUTS[layout].fields()
        for s in b.sheets:
            seen: dict[str, int] = {}
            for row, v in s.placements:
                cid = None if v.overrides.get("case_id", "x") is None else str(v.case_id)
                if has_seq or cid is None:
                    seq = v.victim_seq
                else:  # no victim-number column: rows sharing a case id are victims 1, 2, ...
                    seen[cid] = seq = seen.get(cid, 0) + 1
                    if not v.reasons and seq != v.victim_seq:
                        raise AssertionError(f"{b.rel}: victim order broken for {cid}")
                info.rows.append(RowInfo(sheet=s.name, row=row, case_id=cid, victim_seq=seq,
                                         reasons=v.reasons, warnings=v.warnings,
                                         child_role=v.child_role, record=v))
        _check_keys(info)
        files.append(info)
    return files


def _check_keys(info: FileInfo) -> None:
    """Keys repeated inside one file must be exactly the rows marked key_duplicate_in_file."""
    count: dict[tuple, int] = {}
    for r in info.rows:
        if r.case_id is not None:
            count[(r.case_id, r.victim_seq)] = count.get((r.case_id, r.victim_seq), 0) + 1
    for r in info.rows:
        dup = r.case_id is not None and count[(r.case_id, r.victim_seq)] > 1
        if dup != ("key_duplicate_in_file" in r.reasons):
            raise AssertionError(f"{info.path} row {r.row}: unexpected key repetition {r.case_id}")


def _expect(agency: str, files: list[FileInfo]) -> SampleManifest:
    """Resolve duplicates across files (newest wins, ties to the name that sorts last) and count."""
    order = sorted((f for f in files if f.rows), key=lambda f: (f.mtime, Path(f.path).name))
    latest: dict[tuple, RowInfo] = {}
    owner: dict[tuple, FileInfo] = {}
    for f in order:
        for r in f.rows:
            if not r.reasons:
                latest[(r.case_id, r.victim_seq)] = r
                owner[(r.case_id, r.victim_seq)] = f
    for f in order:
        for r in f.rows:
            key = (r.case_id, r.victim_seq)
            if not r.reasons and latest[key] is not r:
                r.superseded = True
                win = owner[key]
                # the newer file must also be the one whose name sorts last (git resets mtimes)
                if not (win.mtime >= f.mtime and Path(win.path).name > Path(f.path).name):
                    raise AssertionError(f"{f.path}: {win.path} is newer but does not sort last")
    m = SampleManifest(files=files)
    cases: dict[tuple[str, int], set[str]] = {}
    for r in latest.values():
        if r.child_role == "PELAKU":
            continue
        v = r.record
        key = (agency, v.report_date.year)
        m.expected_victims[key] = m.expected_victims.get(key, 0) + 1
        cases.setdefault(key, set()).add(r.case_id)
        d = m.expected_detail.setdefault(key, dict(victims_female=0, victims_male=0, child_victims=0,
                                                   adult_female_victims=0, kdrt_victims=0))
        d["victims_female" if v.sex == "P" else "victims_male"] += 1
        d["child_victims"] += v.is_child
        d["adult_female_victims"] += (not v.is_child) and v.sex == "P"
        d["kdrt_victims"] += v.is_kdrt
        for form in v.forms:
            fk = (agency, v.report_date.year, form)
            m.expected_forms[fk] = m.expected_forms.get(fk, 0) + 1
        m.victims.append(v)
    m.expected_cases = {k: len(v) for k, v in cases.items()}
    return m


# --------------------------------------------------------------------------- the sample

def generate_sample(out_dir: Path, seed: int = DEFAULT_SEED, today: date = DEFAULT_TODAY,
                    registry_path: Path | None = None) -> SampleManifest:
    """Write the five agencies' sample under out_dir and return its manifest."""
    profiles = load_profiles(registry_path)
    data_end = today - EXPORT_LAG
    manifest = SampleManifest(today=today)
    for code in LAYOUTS:
        rng = random.Random(f"{seed}:{code}")
        years = [y for y in YEARS if y <= data_end.year]
        vols = {}
        for y in years:
            n = BASE_VOLUMES[code][y] * rng.uniform(0.96, 1.04)
            if y == data_end.year:
                n *= data_end.timetuple().tm_yday / (366 if calendar.isleap(y) else 365)
            vols[y] = max(1, round(n))
        part = generate_agency(Path(out_dir), code, years, vols, code, rng, profile=profiles[code],
                               today=today, missing_months=SAMPLE_MISSING_MONTHS.get(code, ()))
        manifest.merge(part)
    return manifest


def _generated_files(raw_dir: Path) -> list[Path]:
    out = []
    for code in LAYOUTS:
        folder = raw_dir / code
        if not folder.is_dir():
            continue
        for p in sorted(folder.iterdir()):
            if p.is_file() and any(fnmatch.fnmatchcase(p.name, pat) for pat in _LAYOUTS[code].patterns):
                out.append(p)
    return out


def write_sample(raw_dir: Path = DEFAULT_RAW_DIR, seed: int = DEFAULT_SEED,
                 today: date = DEFAULT_TODAY) -> SampleManifest:
    """Regenerate the sample in raw_dir: delete the files an earlier run wrote, write new ones."""
    raw_dir = Path(raw_dir)
    for p in _generated_files(raw_dir):
        p.unlink()
    return generate_sample(raw_dir, seed=seed, today=today)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate the synthetic sample in data/raw/.")
    ap.add_argument("--raw-dir", type=Path, default=Path(os.environ.get("PPA_RAW_DIR", DEFAULT_RAW_DIR)))
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--today", type=date.fromisoformat, default=DEFAULT_TODAY)
    args = ap.parse_args(argv)
    m = write_sample(args.raw_dir, seed=args.seed, today=args.today)
    for code in LAYOUTS:
        per_year = ", ".join(f"{y}: {m.expected_victims.get((code, y), 0)}" for y in YEARS
                             if (code, y) in m.expected_victims)
        print(f"{code:8s} {per_year}")
    print(f"{len(m.files)} files, {sum(f.data_rows for f in m.files)} data rows, "
          f"{sum(f.bad_rows for f in m.files)} to reject")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
