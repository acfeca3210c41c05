"""File names as they come, stored losslessly and shown safely.

A shared folder can hold names that are not UTF-8 (a legacy Windows encoding), names of
any length, and names holding terminal escape codes. Python gives a name's undecodable
bytes as lone surrogates, which no UTF-8 text column takes. `escape` turns a name into
text that is always valid UTF-8 and maps back to the exact bytes (`unescape`):
an undecodable byte becomes `\\xHH` and a backslash becomes `\\\\`, so two different
byte names never give the same text. `shown` is the readable form for people (the
bytes decoded as Windows-1252 where they are not UTF-8, control characters replaced).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections import Counter

_SURROGATE_BYTE = re.compile(r"[\udc80-\udcff]")
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")
# C0 and C1 control characters (ESC included) and DEL
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape(name: str) -> str:
    """A name (or relative path) as the OS gave it -> text that is valid UTF-8, losslessly."""
    if "\\" not in name and not _SURROGATE_BYTE.search(name):
        return name
    name = name.replace("\\", "\\\\")
    return _SURROGATE_BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", name)


def unescape(text: str) -> str:
    """The inverse of `escape`: the name as the OS gives it (undecodable bytes as surrogates)."""
    if "\\" not in text:
        return text

    def one(m: re.Match) -> str:
        token = m.group(1)
        return "\\" if token == "\\" else chr(0xDC00 + int(token[1:], 16))

    out = _ESCAPE.sub(one, text)
    if "\\" in _ESCAPE.sub("", text):
        raise ValueError(f"not an escaped name: {text!r}")
    return out


def to_bytes(text: str) -> bytes:
    """The exact bytes of the name that `text` (from `escape`) stands for."""
    return os.fsencode(unescape(text))


def clean(text: object, max_len: int | None = None) -> str:
    """Text safe for a terminal or a one-line cell: control characters (ESC, newlines...)
    become U+FFFD, format characters (bidi overrides, zero-width) are dropped."""
    text = _CONTROL.sub("\ufffd", str(text))
    if not text.isascii():
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    if max_len is not None and len(text) > max_len:
        text = text[: max_len - 1] + "…"
    return text


def shown(text: str) -> str:
    """A stored name (escaped) as people read it: bytes that are not UTF-8 decoded as
    Windows-1252 (what such names usually are), controls replaced."""
    if "\\" in text:
        try:
            raw = to_bytes(text).decode("utf-8", "surrogateescape")
        except ValueError:  # not escaped text after all: shown as it is
            return clean(text)
        text = re.sub(r"[\udc80-\udcff]+",
                      lambda m: m.group().encode("utf-8", "surrogateescape").decode("cp1252", "replace"), raw)
    return clean(text)


def cut_bytes(text: str, limit: int) -> str:
    """The longest start of `text` whose UTF-8 form is at most `limit` bytes."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


def _safe(text: str) -> str:
    """A stored name as part of a file name: its readable form, control characters as '_'."""
    return shown(text).replace("\ufffd", "_").replace("/", "_") or "_"


MAX_STEM_BYTES = 120  # outputs add at most 18 bytes of suffix; names stay far under 255 bytes


def _tagged(safe: str, key: str, digits: int = 8) -> str:
    tag = "~" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:digits]
    return cut_bytes(safe, MAX_STEM_BYTES - len(tag)) + tag


def output_stems(paths: list[str]) -> dict[str, str]:
    """Ledger path -> stem of its output files: 'kukar/register_2024.xlsx' -> 'register_2024'.

    Files in subfolders get the folders in front ('2024__register'); two files that differ
    only by extension keep it ('register.xls', 'register.xlsx'). A stem that would still be
    shared (also when only the case differs: a Windows share would mix them up), that is
    longer than MAX_STEM_BYTES bytes of UTF-8, or that is not the name as it is (bytes that
    are not UTF-8, control characters), ends in '~' and a hash of its path instead, so every
    file gets outputs of its own.
    """
    def base(path: str, keep_suffix: bool) -> str:
        parts = path.split("/")[1:] or [path]
        stem, dot, _ = parts[-1].rpartition(".")
        last = parts[-1] if keep_suffix or not (dot and stem) else stem
        return "__".join([*parts[:-1], last])

    def shared(stems: dict[str, str]) -> set[str]:
        counts = Counter(s.casefold() for s in stems.values())
        return {p for p, s in stems.items() if counts[s.casefold()] > 1}

    first = {p: base(p, False) for p in paths}
    clash = shared(first)
    wanted = {p: base(p, p in clash) for p in paths}
    stems = {p: _safe(s) for p, s in wanted.items()}
    clash = shared(stems)
    digits = 8
    while True:
        out = {p: _tagged(s, p, digits) if p in clash or s != wanted[p] or len(s.encode("utf-8")) > MAX_STEM_BYTES
               else s for p, s in stems.items()}
        clash = shared(out)
        if not clash:
            return out
        stems.update({p: out[p] for p in clash})
        digits += 4


def bounded_name(stem: str, suffix: str) -> str:
    """stem + suffix as a file name: made safe, and shortened with a hash when it is long."""
    safe = _safe(stem)
    if safe == stem and len(safe.encode("utf-8")) <= MAX_STEM_BYTES:
        return safe + suffix
    return _tagged(safe, stem) + suffix
