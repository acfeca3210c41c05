"""Detectors for personal data typed into cells, and masking.

Personal-data *columns* are dropped by header (contract.yaml). These detectors
catch personal data typed into a kept column: a NIK (16 digits, also as a float
such as 6.4021E+15), a phone number or an e-mail address. Matching cells are
masked before anything is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from functools import lru_cache
from pathlib import Path

# Each detector runs in time linear in the text, whatever the text (a cell may hold 32,767
# characters): NIK and PHONE try a bounded stretch of text at each start, or (the float form)
# scan a run of digits from the one start before it. EMAIL is the exception; see _email_subn.
NIK = re.compile(r"(?<!\d)\d{16}(?!\d)|(?<![\d.])\d(?:[.,]\d+)?[eE]\+?15(?!\d)")
PHONE = re.compile(r"(?<![\w])(?:\+62|62|0)[\s\-.]?8\d(?:[\s\-.]?\d){6,11}(?!\d)|(?<![\w])\(?0\d{2,3}\)?[\s\-.]\d{5,8}(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")  # what counts as an e-mail address
# EMAIL's search would try its local part from every start in a run of [\w.+-] and scan to the
# run's end each time: quadratic (a 32,767-character cell took seconds). The local part can only
# end at the run's end, before an '@', so every start in one run matches or fails alike, and the
# leftmost match starts where the search starts (inside a run) or where a run starts.
_EMAIL_HERE = re.compile(r"[\w.+-]++@[\w-]+(?:\.[\w-]+)+")
_EMAIL_RUN = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]+(?:\.[\w-]+)+")

# Staged columns safe to show in the UI and logs: codes only, no case ids, no values typed by staff.
PREVIEW_COLUMNS = ["agency", "year", "victim_sex", "victim_age_group", "violence_forms", "is_kdrt",
                   "child_role", "place", "perp_relation", "kecamatan_code", "case_status"]

MASKS = {"nik": "[NIK]", "phone": "[TELEPON]", "email": "[EMAIL]"}
_MAY_MATCH = re.compile(r"[\d@]")  # every detector needs a digit (NIK, phone) or an @ (e-mail)

# Words that make an unrecognised header a personal-data column.
PERSONAL_WORDS = frozenset(
    {"nama", "nik", "alamat", "telp", "telepon", "hp", "ktp", "kronologi", "kronologis",
     "uraian", "email", "lahir", "ttl", "wa", "whatsapp", "kk"}
)


def _email_subn(replacement: str, text: str) -> tuple[str, int]:
    """EMAIL.subn(replacement, text), in time linear in the text."""
    if "@" not in text:
        return text, 0
    parts, pos = [], 0
    while True:
        found = _EMAIL_HERE.match(text, pos) or _EMAIL_RUN.search(text, pos)
        if found is None:
            break
        parts += (text[pos:found.start()], replacement)
        pos = found.end()
    return ("".join(parts) + text[pos:] if parts else text), len(parts) // 2


_DETECTORS = (("nik", NIK.subn), ("phone", PHONE.subn), ("email", _email_subn))


def detect(text: str) -> list[str]:
    """Kinds of personal data found in a text ('nik', 'phone', 'email')."""
    return [kind for kind, subn in _DETECTORS if subn(MASKS[kind], text)[1]]


def mask(text: str) -> tuple[str, list[str]]:
    """The text with every detected personal value replaced, and the kinds found.

    The detectors run one after the other (NIK, phone, e-mail), each over the text the
    one before left; the time is linear in the text's length.
    """
    found: list[str] = []
    if not _MAY_MATCH.search(text):
        return text, found
    for kind, subn in _DETECTORS:
        text, n = subn(MASKS[kind], text)
        if n:
            found.append(kind)
    return text, found


def is_personal_header(normalised: str, personal_headers: frozenset[str]) -> bool:
    if normalised in personal_headers:
        return True
    return bool(PERSONAL_WORDS.intersection(normalised.split()))


MIN_SECRET_CHARS = 32  # 32 hexadecimal characters: 16 bytes, 128 bits


class SafeMessage(RuntimeError):
    """An error whose message never quotes a cell (a key, a file of the archive): logs keep it."""


class SecretError(SafeMessage):
    """A key is missing, empty or too short: nothing is hashed or encrypted with it."""


_WEAK_KEY_RISK = {
    "hashing key": "Keyed hashes made with a weak key can be reversed by trying every NIK. A key file emptied by "
                   "accident: restore it from a backup, since every stored key depends on it (kunci hash kosong "
                   "atau terlalu pendek)",
    "archive key": "A weak key lets anyone who copies the archive read it. A key file emptied by accident: restore "
                   "it from where you keep it apart from the archive, since the archive cannot be read without it "
                   "(kunci arsip kosong atau terlalu pendek)",
}


def _checked(key: str, where: str, what: str = "hashing key") -> bytes:
    """The key as bytes (as given: the hashes made with it stay the same), if it is long enough."""
    length = len(key.strip())
    if length < MIN_SECRET_CHARS:
        state = "is empty" if not length else f"has only {length} characters"
        raise SecretError(
            f"the {what} in {where} {state}; it needs at least {MIN_SECRET_CHARS} (for example "
            f"`python -c 'import secrets; print(secrets.token_hex(32))'`). {_WEAK_KEY_RISK[what]}")
    return key.encode()


# The keys: (variable holding the key, variable naming its file, the file's default name in the project)
KEYS = {"hashing key": ("PPA_HASH_SECRET", "PPA_SECRET_FILE", ".ppa_secret"),
        "archive key": ("PPA_ARCHIVE_KEY", "PPA_ARCHIVE_KEY_FILE", ".ppa_archive_key")}


def key_file(what: str) -> Path | None:
    """Where a key's file is (None: the key is given in its environment variable)."""
    value_var, file_var, default = KEYS[what]
    if os.environ.get(value_var):
        return None
    return Path(os.environ.get(file_var) or _default_key_path(default))


def _default_key_path(name: str) -> Path:
    from pipeline.config import project_root

    return project_root() / name


def key_bytes(what: str) -> bytes:
    """A key from its environment variable when set, else from its key file (created on first
    use), checked to be long enough (SecretError otherwise)."""
    value_var, file_var, default = KEYS[what]
    value = os.environ.get(value_var)
    if value is not None:
        return _checked(value, value_var, what)
    return _key_file(os.environ.get(file_var), default, what)


def _secret() -> bytes:
    return key_bytes("hashing key")


def check_secret() -> None:
    """Raise SecretError now, with its clear message, rather than in the middle of a run."""
    _secret()


@lru_cache(maxsize=8)
def _key_file(configured: str | None, default: str, what: str) -> bytes:
    """The key kept in a file (the hashing key: PPA_SECRET_FILE, default .ppa_secret in the
    project; the archive key: PPA_ARCHIVE_KEY_FILE), created there on first use. Read once per
    process and file: a run hashes every case id, and reading the file for each hash made a
    hash cost 22 µs instead of 2.

    The key is written whole to a temporary file, which is then linked to the key file's name:
    a name that exists always holds a whole key, and of processes starting at once exactly one
    link succeeds; the others read the winner's key."""
    path = Path(configured) if configured else _default_key_path(default)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process made it first: its key is the key
                pass
        finally:
            tmp.unlink(missing_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as handle:
        return _checked(handle.read().strip(), str(path), what)


def keyed_hash(*parts: str) -> str:
    """HMAC-SHA256 of the parts with the pipeline's secret (never the value itself)."""
    message = "\x1f".join(parts).encode()
    return hmac.new(_secret(), message, hashlib.sha256).hexdigest()


def case_key(agency: str, case_id: str) -> str:
    """The pseudonymous key of a case (staging.case_victims.case_key): never the register number."""
    return keyed_hash("case", agency, case_id)[:20]


def identity_key(value: object) -> str | None:
    """Keyed hash of a NIK cell (16 digits, as text or as an integral number), else None.

    A NIK typed as a number is kept by Excel to 15 significant digits; both files of
    the same victim then hold the same rounded number, so the key still links them.
    """
    if isinstance(value, float):
        if not value.is_integer() or not 1e15 <= value < 1e16:
            return None
        digits = str(int(value))
    else:
        digits = re.sub(r"[\s.\-]", "", str(value or ""))
    if not re.fullmatch(r"\d{16}", digits):
        return None
    return keyed_hash("nik", digits)[:32]


class ScrubbedError(RuntimeError):
    """An error re-raised without its message, which may quote a cell value.

    It keeps the exception type and where it happened (file, line, function), which
    is enough to find a bug, and nothing that came from an agency's file.
    """


class SystemFault(RuntimeError):
    """An operating-system error (a full disk, a permission) re-raised with its message:
    errno, strerror and the path (escaped), which never quote a cell."""


def _said_by_the_system(exc: BaseException) -> str | None:
    """The message of an error that cannot quote a cell, else None."""
    import duckdb

    from pipeline.safefs import describe

    if isinstance(exc, OSError) and exc.errno:
        return describe(exc)
    commit_failed = isinstance(exc, duckdb.TransactionException) and "Failed to commit" in str(exc)
    if isinstance(exc, duckdb.IOException) or commit_failed:  # DuckDB's own files: a full disk, a permission
        from pipeline.names import clean

        full = "disk full: " if "No space left" in str(exc) or "quota" in str(exc).lower() else ""
        return clean(f"{full}{type(exc).__name__}: {exc}")
    if isinstance(exc, SafeMessage):
        return str(exc)
    return None


def scrubbed(exc: BaseException, context: str) -> Exception:
    """The exception to raise instead of `exc`: its message is withheld (it may quote a cell),
    unless the operating system (or DuckDB's file layer, or the key check) said it."""
    import traceback

    if isinstance(exc, ScrubbedError):  # scrubbed already (in the reader process): keep where it happened
        return ScrubbedError(f"{context}: {exc}")

    said = _said_by_the_system(exc)
    if said is not None:
        return SystemFault(f"{context}: {said}")
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return ScrubbedError(f"{context}: {type(exc).__name__} at {where} (message withheld: it may quote a cell; "
                         f"set PPA_DEBUG=1 to see it)")
