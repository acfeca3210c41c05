"""The agency registry, kept as data in pipeline/schemas/agencies.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.config import settings

AGENCY_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    region_name: str
    kemendagri_code: str
    bps_code: str
    timezone: str
    population: dict[int, int]
    children: dict[int, int]
    # kecamatan code ("64.02.13") -> spellings, official name first
    kecamatan: dict[str, list[str]] = field(default_factory=dict)
    # a month's report is due on this day of the following month, in the agency's time zone
    report_due_day: int = 10

    def kecamatan_name(self, code: str) -> str | None:
        names = self.kecamatan.get(code)
        return names[0] if names else None


def _agency(entry: dict) -> Agency:
    code = str(entry["code"])
    if not AGENCY_CODE.match(code):
        raise ValueError(f"agency code {code!r} must be lower-case letters, digits or _")
    kemendagri = str(entry["kemendagri_code"])
    kecamatan = {
        f"{kemendagri}.{suffix}": [str(n) for n in names]
        for suffix, names in (entry.get("kecamatan") or {}).items()
    }
    return Agency(
        code=code,
        name=str(entry["name"]),
        region_name=str(entry["region_name"]),
        kemendagri_code=kemendagri,
        bps_code=str(entry["bps_code"]),
        timezone=str(entry.get("timezone", "Asia/Makassar")),
        population={int(y): int(v) for y, v in (entry.get("population") or {}).items()},
        children={int(y): int(v) for y, v in (entry.get("children") or {}).items()},
        kecamatan=kecamatan,
        report_due_day=_due_day(code, entry.get("report_due_day", 10)),
    )


def _due_day(code: str, value: object) -> int:
    day = int(value)
    if not 1 <= day <= 28:
        raise ValueError(f"agency {code!r}: report_due_day must be a day from 1 to 28, not {value!r}")
    return day


@lru_cache(maxsize=8)
def _load(path: Path) -> tuple[Agency, ...]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    agencies = tuple(_agency(e) for e in data["agencies"])
    codes = [a.code for a in agencies]
    if len(set(codes)) != len(codes):
        raise ValueError(f"duplicate agency codes in {path}")
    return agencies


def load_registry(path: Path | None = None) -> tuple[Agency, ...]:
    return _load((path or settings().registry_path).resolve())


def agency_codes(path: Path | None = None) -> list[str]:
    return [a.code for a in load_registry(path)]


def get_agency(code: str, path: Path | None = None) -> Agency:
    for agency in load_registry(path):
        if agency.code == code:
            return agency
    raise KeyError(f"unknown agency {code!r}; registered: {', '.join(agency_codes(path))}")


def population_series(values: dict[int, int], years: list[int]) -> dict[int, tuple[int | None, bool]]:
    """Population for each year: (value, estimated).

    Known years are taken as they are. Years between two known years are
    interpolated linearly; years outside the known range carry the nearest
    known value. Both are flagged estimated.
    """
    known = sorted(values)
    out: dict[int, tuple[int | None, bool]] = {}
    for year in years:
        if year in values:
            out[year] = (values[year], False)
        elif not known:
            out[year] = (None, True)
        elif year < known[0]:
            out[year] = (values[known[0]], True)
        elif year > known[-1]:
            out[year] = (values[known[-1]], True)
        else:
            lo = max(k for k in known if k < year)
            hi = min(k for k in known if k > year)
            share = (year - lo) / (hi - lo)
            out[year] = (round(values[lo] + share * (values[hi] - values[lo])), True)
    return out
