"""The message catalogue (pipeline/schemas/messages.yaml): one place for wording."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from pipeline.config import SCHEMAS_DIR


@dataclass(frozen=True)
class Message:
    code: str
    kind: str  # "rules", "warnings", "files", "quality", "labels" or "changes"
    column: str | None
    id: str
    en: str
    hint: str


@lru_cache(maxsize=1)
def catalogue() -> dict[str, Message]:
    data = yaml.load((SCHEMAS_DIR / "messages.yaml").read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    out: dict[str, Message] = {}
    for kind in ("rules", "warnings", "files", "quality", "labels", "changes"):
        for code, spec in data[kind].items():
            out[code] = Message(code, kind, spec.get("column"), spec["id"], spec["en"], spec.get("hint", ""))
    return out


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(code: str, lang: str = "id", hint: bool = False, **values: object) -> str:
    """The message for `code` in Bahasa Indonesia ('id') or English ('en')."""
    message = catalogue()[code]
    text = (message.id if lang == "id" else message.en).format_map(_Blank({k: "" if v is None else v for k, v in values.items()}))
    if hint and message.hint and lang == "id":
        text = f"{text}; {message.hint}"
    return text
