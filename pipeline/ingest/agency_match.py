"""A file in the wrong folder (data contract, section 10): a register or recap whose kecamatan
match another registered agency's far better than its own folder's is rejected as
`wrong_agency`, naming the likely agency; nothing of it loads.

The rule: at least MIN_CELLS non-empty kecamatan cells (LUAR_WILAYAH and empty markers not
counted); at least OTHER_SHARE of them known in one other agency's list and at most
OWN_SHARE in the folder's own. Names are not unique across regions (Batu Ampar is in Kutim
and in Batam), so a name known in two lists counts for both. Where a file has no kecamatan
column (or too few cells to judge), a title block naming another agency's region and not
its own is the same signal.

Plain functions over what the reader gave; the registry is data (agencies.yaml).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from pipeline.contract import Contract, norm_header, norm_value
from pipeline.registry import Agency
from pipeline.staging.values import kecamatan_lookup

MIN_CELLS = 5
OTHER_SHARE = 0.8
OWN_SHARE = 0.2


@dataclass(frozen=True)
class Match:
    agency: Agency  # the likely agency
    evidence: str  # "45/46 kecamatan", or the region named in the title: neutral, for both languages

    @property
    def detail(self) -> str:
        """What the ledger's message says (messages.yaml `wrong_agency`)."""
        return f"{self.agency.name} ({self.agency.code}): {self.evidence}"


_PLACES: list[tuple[tuple[Agency, ...], Contract, dict[str, set[str]]]] = []  # the last registry's, kept


def _places(agencies: tuple[Agency, ...], contract: Contract) -> dict[str, set[str]]:
    """Normalised kecamatan spelling -> the agencies whose list holds it (LUAR_WILAYAH left out).

    Made once per registry and contract (the same objects: both are loaded once per process) and
    kept: at national scale (514 agencies, 12,000 spellings) making it took 16 ms, for every file
    read, about a quarter of the whole agency load."""
    if _PLACES and _PLACES[0][0] is agencies and _PLACES[0][1] is contract:
        return _PLACES[0][2]
    out: dict[str, set[str]] = {}
    for agency in agencies:
        for name, code in kecamatan_lookup(agency.kecamatan, contract).items():
            if code != "LUAR_WILAYAH":
                out.setdefault(name, set()).add(agency.code)
    _PLACES[:] = [(agencies, contract, out)]
    return out


def kecamatan_match(cells: list[str | None], own: str, agencies: tuple[Agency, ...],
                    contract: Contract) -> Match | None:
    """The likely agency of a file's kecamatan cells, when the rule above fires."""
    names = [norm_value(c) for c in cells if c is not None and not contract.is_empty(c)]
    names = [n for n in names if n not in contract.luar_wilayah]
    if len(names) < MIN_CELLS:
        return None
    places = _places(agencies, contract)
    known: Counter[str] = Counter()
    for name in names:
        for code in places.get(name, ()):
            known[code] += 1
    if known[own] > OWN_SHARE * len(names):
        return None
    by_code = {a.code: a for a in agencies}
    best = [code for code, n in known.most_common() if code != own and n >= OTHER_SHARE * len(names)]
    if not best:
        return None
    return Match(by_code[best[0]], f"{known[best[0]]}/{len(names)} kecamatan")


def title_match(lines: list[str], own: str, agencies: tuple[Agency, ...]) -> Match | None:
    """The agency whose region a title block names, when it names exactly one other region and not its own."""
    text = " " + " ".join(norm_header(line) for line in lines) + " "
    named = [a for a in agencies if re.search(rf"\s{re.escape(norm_header(a.region_name))}\s", text)]
    if len(named) != 1 or named[0].code == own:
        return None
    return Match(named[0], f"'{named[0].region_name}'")


def wrong_agency(sheets: list, own: str, agencies: tuple[Agency, ...], contract: Contract) -> Match | None:
    """The likely agency of a workbook read into another agency's folder (`sheets`: the reader's
    SheetResults), or None. Kecamatan cells come from register rows and from the lines of
    recaps by kecamatan; titles from register and recap sheets."""
    cells: list[str | None] = []
    has_column = False
    titles: list[str] = []
    for sheet in sheets:
        if sheet.is_register:
            titles += sheet.title
            if "kecamatan" in sheet.header.columns:
                has_column = True
                cells += [row.values.get("kecamatan") for row in sheet.rows]
        elif sheet.recap is not None:
            titles += sheet.title
            if sheet.recap.axis == "kecamatan":
                has_column = True
                cells += [line.label for line in sheet.recap.lines if not line.total]
    found = kecamatan_match(cells, own, agencies, contract) if has_column else None
    if found is None and (not has_column or _counted(cells, contract) < MIN_CELLS):
        found = title_match(titles, own, agencies)
    return found


def _counted(cells: list[str | None], contract: Contract) -> int:
    return sum(1 for c in cells if c is not None and not contract.is_empty(c)
               and norm_value(c) not in contract.luar_wilayah)
