"""The mapping files under pipeline/schemas/, loaded into lookup tables.

Everything agency-specific about headers and labels is data in contract.yaml;
this module only normalises text and builds dictionaries from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from pipeline.config import SCHEMAS_DIR

_PUNCT = re.compile(r"[^\w\s+<>]", re.UNICODE)
_SPACES = re.compile(r"\s+")
_VALUE_SEPS = re.compile(r"[-_\s]+")


def norm_header(text: object) -> str:
    """Lower case, punctuation to spaces, spaces collapsed: 'No. Reg ' -> 'no reg'."""
    return "" if text is None else _norm_header(str(text))


def norm_value(text: object) -> str:
    """Lower case, trimmed, spaces/hyphens/underscores alike: 'Laki-laki' -> 'laki laki'."""
    return "" if text is None else _norm_value(str(text))


# A register repeats the same few labels in every row: normalise each text once per process.
@lru_cache(maxsize=4096)
def _norm_header(text: str) -> str:
    s = _PUNCT.sub(" ", text.lower().replace("_", " "))
    return _SPACES.sub(" ", s).strip()


@lru_cache(maxsize=4096)
def _norm_value(text: str) -> str:
    return _VALUE_SEPS.sub(" ", text.strip().lower()).strip()


@dataclass(frozen=True)
class RecapWords:
    """The recap vocabulary (contract.yaml `recap`), normalised like headers."""

    categories: dict[str, tuple[str, str | None]]  # header -> (dimension, category); total has no category
    count_words: frozenset[str]  # "jumlah", "korban": say what is counted, not which category
    case_words: frozenset[str]  # "kasus": the column counts cases
    label_headers: dict[str, str]  # header of the label column -> "period" or "kecamatan"
    numbering_headers: frozenset[str]
    zero_markers: frozenset[str]  # normalised like values: a count cell holding one is 0


@dataclass(frozen=True)
class Contract:
    columns: tuple[str, ...]
    header_to_column: dict[str, str]
    personal_headers: frozenset[str]
    identity_headers: frozenset[str]
    register_all: tuple[str, ...]
    register_any: tuple[str, ...]
    total_markers: frozenset[str]
    empty_markers: frozenset[str]
    multi_split: re.Pattern
    vocab: dict[str, dict[str, str]]  # column -> normalised label -> code
    kdrt_labels: frozenset[str]
    luar_wilayah: frozenset[str]
    months: dict[str, int]
    weekdays: frozenset[str]
    nil_markers: frozenset[str] = frozenset()
    harmless_headers: frozenset[str] = frozenset()  # row numbers and remarks: never reported as unknown
    # coverage vocabulary (contract.yaml `coverage`): kind -> words, lower case
    coverage_words: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)
    recap: RecapWords | None = field(default=None, hash=False, compare=False)

    def is_empty(self, value: object) -> bool:
        return value is None or norm_value(value) in self.empty_markers

    def lookup(self, column: str, value: object) -> str | None:
        return self.vocab[column].get(norm_value(value))

    def split_multi(self, value: str) -> list[str]:
        return [p.strip() for p in self.multi_split.split(value) if p and p.strip()]

    def vocabulary_codes(self, column: str) -> list[str]:
        return sorted(set(self.vocab[column].values()))

    def codes_in_order(self, column: str) -> list[str]:
        """The codes of a vocabulary in the order contract.yaml lists them."""
        return list(dict.fromkeys(self.vocab[column].values()))


def _build(data: dict) -> Contract:
    header_to_column: dict[str, str] = {}
    for column, spec in data["columns"].items():
        for header in spec["headers"]:
            key = norm_header(header)
            if header_to_column.get(key, column) != column:
                raise ValueError(f"header {header!r} maps to two columns")
            header_to_column[key] = column
    personal = frozenset(norm_header(h) for h in data["personal_headers"])
    clash = personal & set(header_to_column)
    if clash:
        raise ValueError(f"headers both personal and canonical: {sorted(clash)}")
    if not all(isinstance(h, str) for h in data.get("harmless_headers", [])):  # YAML reads a bare `no` as false
        raise ValueError("harmless_headers must be quoted text")
    harmless = frozenset(norm_header(h) for h in data.get("harmless_headers", []))
    if harmless & (personal | set(header_to_column)):
        raise ValueError(f"harmless headers that are also personal or canonical: "
                         f"{sorted(harmless & (personal | set(header_to_column)))}")

    vocab: dict[str, dict[str, str]] = {}
    for column, codes in data["vocabularies"].items():
        if not isinstance(codes, dict):
            continue
        table: dict[str, str] = {}
        for code, labels in codes.items():
            for label in [code, *labels]:
                table[norm_value(label)] = str(code)
        vocab[column] = table

    seps = "|".join(re.escape(s) for s in data["multi_separators"])
    months: dict[str, int] = {}
    for number, names in data["months"].items():
        for name in names:
            months[name.lower()] = int(number)
    return Contract(
        columns=tuple(data["columns"]),
        header_to_column=header_to_column,
        personal_headers=personal,
        identity_headers=frozenset(norm_header(h) for h in data["identity_headers"]),
        register_all=tuple(data["register_requires"]["all"]),
        register_any=tuple(data["register_requires"]["any"]),
        total_markers=frozenset(norm_value(t) for t in data["total_markers"]),
        empty_markers=frozenset(norm_value(t) for t in data["empty_markers"]),
        multi_split=re.compile(rf"(?:{seps}|\bdan\b)", re.IGNORECASE),
        vocab=vocab,
        kdrt_labels=frozenset(norm_value(t) for t in data["vocabularies"]["kdrt_labels"]),
        luar_wilayah=frozenset(norm_value(t) for t in data["vocabularies"]["luar_wilayah"]),
        months=months,
        weekdays=frozenset(w.lower() for w in data["weekdays"]),
        nil_markers=frozenset(norm_value(t) for t in data["coverage"]["nil_markers"]),
        harmless_headers=harmless,
        coverage_words={kind: tuple(str(w).lower() for w in words) for kind, words in data["coverage"].items()},
        recap=_recap_words(data["recap"], data["vocabularies"]["violence_forms"]),
    )


def _recap_words(spec: dict, forms: dict) -> RecapWords:
    """The recap vocabulary: every category header once (a header naming two raises)."""
    categories: dict[str, tuple[str, str | None]] = {}

    def add(header: object, value: tuple[str, str | None]) -> None:
        key = norm_header(header)
        if categories.get(key, value) != value:
            raise ValueError(f"recap header {header!r} names two categories")
        categories[key] = value

    for header in spec["categories"]["total"]:
        add(header, ("total", None))
    for dimension in ("victim_sex", "age_class"):
        for code, headers in spec["categories"][dimension].items():
            for header in [code, *headers]:
                add(header, (dimension, str(code)))
    for code, headers in forms.items():
        for header in [code, *headers]:
            add(header, ("violence_form", str(code)))
    return RecapWords(
        categories=categories,
        count_words=frozenset(norm_header(w) for w in spec["count_words"]),
        case_words=frozenset(norm_header(w) for w in spec["case_words"]),
        label_headers={norm_header(h): kind for kind, headers in spec["label_headers"].items() for h in headers},
        numbering_headers=frozenset(norm_header(h) for h in spec["numbering_headers"]),
        zero_markers=frozenset(norm_value(m) for m in spec["zero_markers"]),
    )


@lru_cache(maxsize=4)
def load_contract(path: Path = SCHEMAS_DIR / "contract.yaml") -> Contract:
    return _build(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


def form_flag_columns(contract: Contract | None = None) -> dict[str, str]:
    """Form of violence -> its boolean column in staging.case_victims (FISIK -> form_fisik), in the
    contract's order. The flags are the counting-rule columns the marts sum instead of unnesting
    violence_forms."""
    contract = contract or load_contract()
    return {code: f"form_{code.lower()}" for code in contract.codes_in_order("violence_forms")}
