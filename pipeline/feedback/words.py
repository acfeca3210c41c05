"""The wording of feedback for staff: messages from schemas/feedback_messages.yaml, a file's
status explained, and times, numbers and sizes written the Indonesian way.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd
import yaml

from pipeline.config import SCHEMAS_DIR
from pipeline.feedback.gather import FileFeedback


@lru_cache(maxsize=1)
def texts() -> dict:
    """The wording in schemas/feedback_messages.yaml (key `feedback`)."""
    data = yaml.safe_load((SCHEMAS_DIR / "feedback_messages.yaml").read_text(encoding="utf-8"))
    return data["feedback"]


def _short(path: str | None) -> str:
    """A ledger path without the agency folder: 'kukar/a/b.xlsx' -> 'a/b.xlsx'."""
    if not path:
        return ""
    return path.split("/", 1)[1] if "/" in path else path


def status_explained(fb: FileFeedback) -> str:
    """The file's message from the ledger, or what its status means, with the rows that did not load."""
    s = texts()["status_explained"]
    text = fb.message or s.get(fb.status, "")
    if fb.status == "loaded" and fb.rows_rejected:
        text += " " + s["loaded_but_rejected"].format(n=fb.rows_rejected)
    if fb.status == "loaded" and fb.rows_superseded:
        text += " " + s["loaded_but_superseded"].format(n=fb.rows_superseded)
    return text


# ---------------------------------------------------------------- times and numbers, the Indonesian way

def local_timestamp(value: object, timezone: str) -> pd.Timestamp:
    """A naive-UTC ledger time (or an aware one) in the agency's time zone."""
    when = pd.Timestamp(value)
    return (when.tz_localize("UTC") if when.tzinfo is None else when).tz_convert(ZoneInfo(timezone))


def local_time(value: object, timezone: str, short: bool = False) -> str:
    """A naive-UTC ledger time in the agency's time zone: '24 November 2025 pukul 14.33 WITA'."""
    t = texts()
    if value is None or pd.isna(value):
        return t["receipt"]["unknown_time"]
    when = local_timestamp(value, timezone)
    months = t["months_short"] if short else t["months"]
    return t["time_format_short" if short else "time_format"].format(
        day=when.day, month=months[when.month - 1], year=when.year, hour=when.hour, minute=when.minute,
        zone=when.tzname())


def fmt_num(value: object, digits: int = 0, sign: bool = False) -> str:
    """1.234 and 12,5 (Indonesian separators); '–' when missing."""
    if value is None or pd.isna(value):
        return "–"
    sign = sign and round(float(value), digits) != 0  # no "+0"
    text = f"{float(value):{'+' if sign else ''},.{digits}f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def _size(n: int | None) -> str:
    if n is None:
        return "–"
    return f"{fmt_num(n / 1024, 1)} KB" if n < 1024 * 1024 else f"{fmt_num(n / 1024 / 1024, 1)} MB"


