"""The sample's vocabulary, its data model, and the truth it records: what a correct
pipeline must produce from the files (victims, cases, rejects, supersessions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
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
# Months without any case (contract section 8). In kutim's yearly register that covers
# them they are reported zeros, not missing exports.
SAMPLE_MISSING_MONTHS = {"kutim": ((2023, 3),)}
# Months never exported: ppu sends a sheet per month, and May 2024's never came (a missing export).
SAMPLE_GAPS = {"ppu": ((2024, 5),)}
# Months without any case that an agency reported on their own, as a nil report (laporan nihil).
SAMPLE_NIL_REPORTS = {"ppu": ((2023, 8),)}
# Extra victims in one month, an outlier for the data-quality review (a group case, say).
SAMPLE_SPIKES = {"batam": {(2024, 9): 40}}
# A Kutim register dropped into PPU's folder (contract section 10): (the file, its copy).
WRONG_FOLDER = ("kutim/data_kasus_kekerasan_2023.xlsx", "ppu/data_kasus_kekerasan_2023.xlsx")
# The year Batam's only export is SIMFONI's monthly recap (contract section 9: the marts take it).
RECAP_ONLY = {"batam": 2019}

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
    kind: str                       # register, corrected, not_register, recap, wrong_agency, lock, encrypted,
                                    # renamed_csv, partial
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
    # (agency, year, month) -> rows a correct pipeline stages for that month (victims and child perpetrators)
    month_rows: dict[tuple[str, int, int], int] = field(default_factory=dict)
    # (agency, year, month) -> reported, reported_zero or missing, for every month from January of
    # the agency's first year to the month of the data end (contract section 8)
    coverage: dict[tuple[str, int, int], str] = field(default_factory=dict)
    # (agency, year, month) of the planted outlier months
    spikes: set[tuple[str, int, int]] = field(default_factory=set)
    # recaps (contract section 9): (agency, year) -> what the year's recap counts (victims, cases when
    # it gives them); the years that only a recap covers (their marts take the recap); per file the
    # cells a correct pipeline rejects and the totals it warns about (recap_total_mismatch)
    recap_victims: dict[tuple[str, int], int] = field(default_factory=dict)
    recap_cases: dict[tuple[str, int], int] = field(default_factory=dict)
    recap_only: set[tuple[str, int]] = field(default_factory=set)
    recap_detail: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)  # female, male, child
    recap_forms: dict[tuple[str, int, str], int] = field(default_factory=dict)
    recap_rejects: dict[str, set[str]] = field(default_factory=dict)
    recap_mismatches: dict[str, set[str]] = field(default_factory=dict)

    def merge(self, other: "SampleManifest") -> None:
        self.expected_victims.update(other.expected_victims)
        self.expected_cases.update(other.expected_cases)
        self.personal_values |= other.personal_values
        self.files.extend(other.files)
        self.expected_forms.update(other.expected_forms)
        self.expected_detail.update(other.expected_detail)
        self.victims.extend(other.victims)
        self.month_rows.update(other.month_rows)
        self.coverage.update(other.coverage)
        self.spikes |= other.spikes
        for name in ("recap_victims", "recap_cases", "recap_detail", "recap_forms", "recap_rejects",
                     "recap_mismatches"):
            getattr(self, name).update(getattr(other, name))
        self.recap_only |= other.recap_only

    def file(self, path: str) -> FileInfo:
        return next(f for f in self.files if f.path == path)

    def year_victims(self) -> dict[tuple[str, int], int]:
        """Victims per agency-year as the marts show them: the case rows, or the recap of a year
        that only a recap covers."""
        return {**self.expected_victims, **{k: self.recap_victims[k] for k in self.recap_only}}

    def reconciliation(self) -> dict[tuple[str, int, str], tuple[int, int]]:
        """(agency, year, measure) -> (recap count, recap count - staged count) where both exist."""
        out = {}
        for key, n in self.recap_victims.items():
            if key in self.expected_victims:
                out[(*key, "victims")] = (n, n - self.expected_victims[key])
        for key, n in self.recap_cases.items():
            if key in self.expected_cases:
                out[(*key, "cases")] = (n, n - self.expected_cases[key])
        return out


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


