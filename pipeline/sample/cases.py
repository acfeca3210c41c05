"""Cases and victims drawn for an agency and year, the rows a rule must reject, and
the canonical values each row stands for.

Over 400 lines on purpose: _Gen is one class because every victim, case and bad row
is drawn from one random stream in a fixed order; splitting it would change the sample.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Iterable

from pipeline.sample.people import _People, _pick, _shift_year
from pipeline.sample.truth import RELATION_LABELS, AgencyProfile, Victim


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
        self.gaps: set[tuple[int, int]] = set()  # months never exported
        self.nil_files: set[tuple[int, int]] = set()  # months without case, reported in a file of their own
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

    def month_cases(self, year: int, month: int, n_victims: int) -> list[_Case]:
        """n victims, one a case, reported in one month (a spike)."""
        r = self.rng
        last = calendar.monthrange(year, month)[1]
        return [self.case(date(year, month, r.randint(1, last)), 1) for _ in range(n_victims)]

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
