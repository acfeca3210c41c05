"""What every agency layout shares: cells formatted the way staff type them.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pipeline.sample.cases import _Canon, _Case, _Gen
from pipeline.sample.people import _subrng
from pipeline.sample.truth import AGE_GROUPS, MONTHS_ID, SERVICE_LABELS, Victim
from pipeline.sample.writers import _Build


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

    def printed(self, days_after: int = 2) -> str:
        """The export-date line of a title block, for the files of the current year (contract
        section 8: months after it are not covered): the day just after data_end."""
        d = self.g.data_end + timedelta(days=days_after)
        return f"Dicetak tanggal: {d.day} {MONTHS_ID[d.month - 1]} {d.year}"

    def is_current(self, year: int) -> bool:
        return year >= self.g.data_end.year

    @staticmethod
    def rows_of(cases: list[_Case]) -> list[Victim]:
        return [v for c in sorted(cases, key=lambda c: (c.report_date, c.order)) for v in c.rows]


