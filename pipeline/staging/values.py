"""Parsing cell text into canonical values, as contract section 3 says.

Each parser returns the parsed value, or None when the text is not
recognised; the caller decides whether that is a rejection or a warning.
"""

from __future__ import annotations

import datetime as dt
import re

from pipeline.contract import Contract, norm_value

EXCEL_EPOCH = dt.date(1899, 12, 30)
AGE_GROUPS = (("0-5", 0, 5), ("6-12", 6, 12), ("13-17", 13, 17), ("18-24", 18, 24),
              ("25-44", 25, 44), ("45-59", 45, 59), ("60+", 60, 200))
CHILD_GROUPS = frozenset({"0-5", "6-12", "13-17"})

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_NUMERIC_DMY = re.compile(r"^(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{2}|\d{4})$")
_TEXT_DMY = re.compile(r"^(\d{1,2})[\s\-.]+([a-z]+)\.?[\s\-.]+(\d{2}|\d{4})$")
_SERIAL = re.compile(r"^\d{1,7}(?:\.\d+)?$")
_AGE = re.compile(r"^(\d{1,3})(?:[.,]\d+)?\s*(th|thn|tahun|thun|tahun\.?|th\.|thn\.|bln|bulan|bl|bln\.|hari|hr|minggu|mgg)?\.?$")


def _year(text: str) -> int:
    y = int(text)
    if len(text) == 2:
        y += 2000 if y <= 79 else 1900
    return y


def _make_date(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def parse_date(text: str, contract: Contract) -> dt.date | None:
    """ISO, Excel serial, day-first numeric, or Indonesian month names; else None."""
    s = text.strip().lower()
    if not s:
        return None
    m = _ISO.match(s)
    if m:
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    if _SERIAL.match(s):
        serial = float(s)
        if 10000 <= serial <= 2958465:  # 1927 onwards; a bare year is not a serial
            return EXCEL_EPOCH + dt.timedelta(days=int(serial))
        return None
    s = s.replace("(", " ").replace(")", " ")
    # a weekday prefix: "Senin, 17 November 2025" or "Senin 17/11/2025"
    first = re.split(r"[\s,]+", s, maxsplit=1)
    if len(first) == 2 and first[0] in contract.weekdays:
        s = first[1]
    s = re.sub(r"\s+", " ", s).strip(" ,")
    m = _NUMERIC_DMY.match(s)
    if m:
        return _make_date(_year(m[3]), int(m[2]), int(m[1]))
    m = _TEXT_DMY.match(s)
    if m:
        month = contract.months.get(m[2])
        if month is None:
            return None
        return _make_date(_year(m[3]), month, int(m[1]))
    return None


def parse_age(text: str) -> int | None:
    """'7', '7 th', '7 thn', '7 tahun' -> 7; '5 bln' (months, days, weeks) -> 0."""
    s = text.strip().lower()
    m = _AGE.match(s)
    if not m:
        return None
    unit = (m[2] or "").rstrip(".")
    if unit in {"bln", "bulan", "bl", "hari", "hr", "minggu", "mgg"}:
        return 0
    return int(m[1])


def parse_int(text: str) -> int | None:
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def age_group(age: int | None) -> str | None:
    if age is None:
        return None
    for name, lo, hi in AGE_GROUPS:
        if lo <= age <= hi:
            return name
    return None


def parse_forms(text: str, contract: Contract) -> tuple[list[str], bool, list[str]]:
    """Forms of violence in one cell: (codes, kdrt flag, unknown labels).

    KDRT is a context flag, not a form; a cell that says only KDRT gets LAINNYA.
    """
    codes: list[str] = []
    unknown: list[str] = []
    kdrt = False
    for label in contract.split_multi(text):
        key = norm_value(label)
        if key in contract.kdrt_labels:
            kdrt = True
            continue
        code = contract.vocab["violence_forms"].get(key)
        if code is None:
            unknown.append(label)
        elif code not in codes:
            codes.append(code)
    if kdrt and not codes and not unknown:
        codes.append("LAINNYA")
    return sorted(codes), kdrt, unknown


def parse_multi(column: str, text: str, contract: Contract) -> tuple[list[str], list[str]]:
    """A multi-valued vocabulary cell (services): (codes, unknown labels)."""
    codes: list[str] = []
    unknown: list[str] = []
    for label in contract.split_multi(text):
        code = contract.lookup(column, label)
        if code is None:
            unknown.append(label)
        elif code not in codes:
            codes.append(code)
    return sorted(codes), unknown


def kecamatan_lookup(kecamatan: dict[str, list[str]], contract: Contract) -> dict[str, str]:
    """Normalised kecamatan spelling -> code, for one agency's region."""
    table = {norm_value(code): code for code in kecamatan}
    for code, names in kecamatan.items():
        for name in names:
            table[norm_value(name)] = code
            table[norm_value("kec " + name)] = code
            table[norm_value("kecamatan " + name)] = code
    for label in contract.luar_wilayah:
        table[label] = "LUAR_WILAYAH"
    return table
