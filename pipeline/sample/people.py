"""Invented people: names, NIKs, phones, addresses and schools that belong to nobody.
"""

from __future__ import annotations

import random
import zlib
from datetime import date

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


