"""The content-addressed archive of every file read (PPA_ARCHIVE_DIR), encrypted at rest.

Each file is stored once as <archive>/<sha[:2]>/<sha><suffix> before its rows
are loaded, so the exact bytes behind every row can be given back even after
the agency overwrites or deletes its file. The archive holds personal data
(names, NIK): every copy is encrypted with AES-256-GCM (the `cryptography`
library) under the archive key (privacy.key_bytes("archive key"): PPA_ARCHIVE_KEY,
else the key file PPA_ARCHIVE_KEY_FILE, default .ppa_archive_key, created on
first use), and is for the pipeline's operators only.

A copy is MAGIC, the key's id (8 bytes), a random 96-bit nonce, the ciphertext and
GCM's 16-byte tag: 44 bytes more than the file. It is written and read in chunks of
1 MiB (never the whole file in memory); the header and the file's sha256 (its name)
are authenticated data, so a copy renamed to another hash, altered, or made with
another key is refused, and plaintext reaches its destination only through a
temporary file renamed after the tag was checked. Copies made before encryption
(plain bytes) are still read, checked against their sha256, and encrypted in place
by `encrypt_plain` (the retention sweep runs it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import safefs
from pipeline.privacy import SafeMessage
from pipeline.safefs import open_regular, safe_dir

CHUNK = 1 << 20
MAGIC = b"PPAARC01"
NONCE_BYTES, KEY_ID_BYTES, TAG_BYTES = 12, 8, 16
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES
ALL_ENCRYPTED = ".all-encrypted"  # in the archive folder: no plain copy from before is left
# partial copies: ours, and those of earlier versions (.<sha><suffix>.<pid>.tmp)
LEFTOVER = re.compile(rf"{safefs.LEFTOVER.pattern}|^\.[0-9a-f]{{64}}[.\w]*\.(\d+)\.tmp$")


class ChangedWhileCopied(OSError):
    """The bytes copied are not the bytes hashed: the file changed in between."""


class ArchiveError(SafeMessage, ValueError):
    """An archived copy that cannot be given back: made with another key, or damaged."""


@dataclass(frozen=True)
class ArchiveKey:
    secret: bytes = field(repr=False)  # the 256-bit AES key (never in a log)
    key_id: bytes  # names the key in each copy's header (never the key itself)


def archive_key() -> ArchiveKey:
    """The archive's AES-256 key, derived (HKDF-SHA256) from the key text, which is at least
    32 characters like the hashing key's (SecretError otherwise)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from pipeline.privacy import key_bytes

    text = key_bytes("archive key")
    derive = lambda length, info: HKDF(hashes.SHA256(), length, salt=None, info=info).derive(text)  # noqa: E731
    return ArchiveKey(derive(32, b"ppa-pipeline archive AES-256-GCM"), derive(KEY_ID_BYTES, b"ppa-pipeline key id"))


def _gcm(key: ArchiveKey, nonce: bytes, tag: bytes | None = None):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    cipher = Cipher(algorithms.AES(key.secret), modes.GCM(nonce, tag))
    return cipher.decryptor() if tag is not None else cipher.encryptor()


def _encrypting(out, sha256: str, key: ArchiveKey):
    """Write the header to `out`; return the encryptor (its AAD: the header and the sha256)."""
    header = MAGIC + key.key_id + os.urandom(NONCE_BYTES)
    enc = _gcm(key, header[-NONCE_BYTES:])
    enc.authenticate_additional_data(header + sha256.encode())
    out.write(header)
    return enc


def is_encrypted(path: Path, root: Path | None = None) -> bool:
    with os.fdopen(open_regular(path, root), "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def decrypt(path: Path, out, root: Path | None = None, key: ArchiveKey | None = None) -> None:
    """Write the original bytes of an archived copy to `out` (a plain copy from before
    encryption as it is). ArchiveError when the copy was made with another key, was altered or
    does not match its sha256 name: `out` then holds unchecked bytes, so write it to a
    temporary file and keep it only when this returns."""
    sha256 = path.name.split(".")[0]
    digest = hashlib.sha256()
    size = os.stat(path, follow_symlinks=False).st_size
    with os.fdopen(open_regular(path, root), "rb") as handle:
        header = handle.read(HEADER_BYTES)
        if not header.startswith(MAGIC):  # a plain copy from before encryption
            chunk = header
            while chunk:
                digest.update(chunk)
                out.write(chunk)
                chunk = handle.read(CHUNK)
        else:
            key = key or archive_key()
            if size < HEADER_BYTES + TAG_BYTES:
                raise ArchiveError(f"archived file {path.name} is cut short: restore it from a backup (arsip rusak)")
            key_id = header[len(MAGIC):len(MAGIC) + KEY_ID_BYTES]
            if key_id != key.key_id:
                raise ArchiveError(
                    f"archived file {path.name} was encrypted with another archive key (key id {key_id.hex()}; "
                    f"this installation's is {key.key_id.hex()}): set PPA_ARCHIVE_KEY or PPA_ARCHIVE_KEY_FILE to "
                    "the key it was made with (kunci arsip salah)")
            handle.seek(size - TAG_BYTES)
            tag = handle.read(TAG_BYTES)
            handle.seek(HEADER_BYTES)
            dec = _gcm(key, header[-NONCE_BYTES:], tag)
            dec.authenticate_additional_data(header + sha256.encode())
            left = size - HEADER_BYTES - TAG_BYTES
            while left:
                chunk = dec.update(handle.read(min(CHUNK, left)))
                left -= len(chunk)
                digest.update(chunk)
                out.write(chunk)
            from cryptography.exceptions import InvalidTag

            try:
                out.write(dec.finalize())
            except InvalidTag:
                raise ArchiveError(f"archived file {path.name} failed its authentication: it was altered or is "
                                   "damaged; restore it from a backup (arsip rusak)") from None
    if digest.hexdigest() != sha256:
        raise ArchiveError(f"archived file {path.name} does not match its sha256 name: the archive is damaged "
                           "(arsip rusak); restore it from a backup")


def check(path: Path, root: Path | None = None, key: ArchiveKey | None = None) -> None:
    """Decrypt an archived copy without keeping the bytes: ArchiveError unless it is whole."""

    class _Sink:
        def write(self, data: bytes) -> None:
            pass

    decrypt(path, _Sink(), root, key)


@contextlib.contextmanager
def readable(path: Path | None, archive_dir: Path | None) -> Iterator[Path | None]:
    """A path holding the original bytes: an archived copy decrypted into a private temporary
    folder (removed afterwards), any other path as it is."""
    if path is None or archive_dir is None or not Path(path).is_relative_to(archive_dir):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="ppa-plain-") as tmp:
        target = Path(tmp) / Path(path).name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            decrypt(Path(path), out, archive_dir)
        yield target


def archive_path(archive_dir: Path, sha256: str, suffix: str) -> Path:
    return archive_dir / sha256[:2] / f"{sha256}{suffix.lower()}"


def store(source: Path, sha256: str, archive_dir: Path, source_root: Path | None = None,
          max_bytes: int | None = None) -> Path:
    """Encrypt a file into the archive (once). The copy is readable by its owner only from its
    first byte, is checked against `sha256` as it is made, and appears under its name only
    when complete; a copy that fails (a full disk, the file changed) leaves nothing behind.
    `source` is opened without following a link (below `source_root` when given); a file
    grown past `max_bytes` since it was hashed is not copied further."""
    target = archive_path(archive_dir, sha256, source.suffix)
    with safe_dir(target.parent, archive_dir) as folder:
        if folder.kind(target.name) == "file":
            return target
        key = archive_key()

        def copy(out) -> None:
            digest, size = hashlib.sha256(), 0
            enc = _encrypting(out, sha256, key)
            with os.fdopen(open_regular(source, source_root), "rb") as handle:
                for chunk in iter(lambda: handle.read(CHUNK), b""):
                    digest.update(chunk)
                    out.write(enc.update(chunk))
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        break
            if digest.hexdigest() != sha256:
                raise ChangedWhileCopied(0, "changed while copied", str(source))
            out.write(enc.finalize() + enc.tag)

        folder.write(target.name, copy, mode=0o600)
    return target


def remove_leftovers(archive_dir: Path) -> list[str]:
    """Partial copies left by processes killed while copying, removed (names relative to the archive)."""
    removed: list[str] = []
    if not archive_dir.is_dir():
        return removed
    for sub in sorted(os.listdir(archive_dir)):
        if len(sub) == 2 and (archive_dir / sub).is_dir() and not (archive_dir / sub).is_symlink():
            with safe_dir(archive_dir / sub, archive_dir, create=False) as folder:
                removed += [f"{sub}/{name}" for name in folder.remove_leftovers(LEFTOVER)]
    return removed


def find(archive_dir: Path, sha_prefix: str) -> list[Path]:
    """Archived files whose hash starts with the prefix (at least 6 characters)."""
    prefix = sha_prefix.lower()
    if len(prefix) < 6 or not all(c in "0123456789abcdef" for c in prefix):
        raise ValueError("give at least 6 hexadecimal characters of the sha256")
    folder = archive_dir / prefix[:2]
    return sorted(p for p in folder.glob(f"{prefix}*") if not p.name.startswith(".")) if folder.is_dir() else []


def restore(archive_dir: Path, sha_prefix: str, to_dir: Path, name: str | None = None) -> Path:
    """Give an archived file's original bytes back, under its original name when known. The
    file appears only once every byte was authenticated (see decrypt)."""
    from pipeline.safefs import atomic_write

    matches = find(archive_dir, sha_prefix)
    if not matches:
        raise FileNotFoundError(f"no archived file with sha256 {sha_prefix}")
    if len(matches) > 1:
        raise ValueError(f"{len(matches)} archived files start with {sha_prefix}; give more characters")
    source = matches[0]
    return atomic_write(Path(to_dir) / (name or source.name), lambda out: decrypt(source, out, archive_dir),
                        root=Path(to_dir), mode=0o600)


def copies(archive_dir: Path) -> Iterator[Path]:
    """Every archived copy (partial copies, hidden, left out)."""
    if not archive_dir.is_dir():
        return
    for sub in sorted(os.listdir(archive_dir)):
        folder = archive_dir / sub
        if len(sub) == 2 and folder.is_dir() and not folder.is_symlink():
            yield from sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_file()
                              and not p.is_symlink())


def encrypt_plain(archive_dir: Path) -> list[str]:
    """Copies made before the archive was encrypted, encrypted in place (each checked against its
    sha256 first, then replaced in one rename); their names relative to the archive. Once none
    is left, the hidden file ALL_ENCRYPTED says so and later calls look no further (reading the
    first bytes of 5,000 copies took 0.56 s): every new copy is encrypted."""
    done: list[str] = []
    if not archive_dir.is_dir() or (archive_dir / ALL_ENCRYPTED).is_file():
        return done
    key = None
    for path in copies(archive_dir):
        if is_encrypted(path, archive_dir):
            continue
        key = key or archive_key()
        sha256 = path.name.split(".")[0]

        def seal(out, path=path, sha256=sha256) -> None:
            enc = _encrypting(out, sha256, key)

            class _Through:
                def write(self, data: bytes) -> None:
                    out.write(enc.update(data))

            decrypt(path, _Through(), archive_dir)  # a plain copy: checked against its sha256 as it is read
            out.write(enc.finalize() + enc.tag)

        with safe_dir(path.parent, archive_dir) as folder:
            folder.write(path.name, seal, mode=0o600)
        done.append(path.relative_to(archive_dir).as_posix())
    with safe_dir(archive_dir, archive_dir) as folder:
        folder.write(ALL_ENCRYPTED, lambda out: out.write(b"every copy is encrypted\n"), mode=0o600)
    return done


def remove(archive_dir: Path, sha256: str) -> list[str]:
    """Every archived copy of a file (any suffix) removed; their names relative to the archive."""
    removed = []
    for path in find(archive_dir, sha256):
        if path.name.split(".")[0] == sha256:
            with safe_dir(path.parent, archive_dir, create=False) as folder:
                folder.remove(path.name)
            removed.append(path.relative_to(archive_dir).as_posix())
    return removed
