"""The archive encrypted at rest (pipeline/ingest/archive.py): AES-256-GCM in chunks, the sha256 as
authenticated data, the key from the environment or a key file, plain copies from before read and
migrated, `ppa restore` giving back the exact bytes, backups of the encrypted archive."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest
from workbooks import register, row

from pipeline import privacy
from pipeline.automation.backup import BackupError, backup, restore
from pipeline.cli import main
from pipeline.ingest import archive
from pipeline.ingest.dropfolder import sha256_file


def stored(tmp_path, archive_dir, content: bytes, name: str = "f.xlsx"):
    source = tmp_path / "src" / name
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(content)
    sha = hashlib.sha256(content).hexdigest()
    return archive.store(source, sha, archive_dir), sha


def test_a_workbook_is_stored_encrypted_and_restored_to_the_same_bytes(isolated_env, tmp_path):
    path = register(tmp_path / "in" / "register.xlsx", [row(case_id="E1", name="Siti Contoh")])
    original = path.read_bytes()
    sha = sha256_file(path)
    copy = archive.store(path, sha, isolated_env["archive"])
    cipher = copy.read_bytes()
    assert cipher.startswith(archive.MAGIC) and len(cipher) == len(original) + 44
    assert copy.stat().st_mode & 0o777 == 0o600
    assert b"PK\x03\x04" not in cipher and original[100:140] not in cipher  # no plaintext
    out = archive.restore(isolated_env["archive"], sha[:8], tmp_path / "out", "register.xlsx")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == sha and out.read_bytes() == original
    # the same bytes stored elsewhere: another random nonce, another ciphertext
    other = archive.store(path, sha, tmp_path / "archive2")
    assert other.read_bytes()[:36] != cipher[:36] and other.read_bytes() != cipher


def test_a_file_of_several_chunks_round_trips(isolated_env, tmp_path):
    content = os.urandom(3 * archive.CHUNK + 12345)
    copy, sha = stored(tmp_path, isolated_env["archive"], content, "big.xls")
    assert copy.stat().st_size == len(content) + 44
    out = archive.restore(isolated_env["archive"], sha, tmp_path / "out")
    assert out.read_bytes() == content and out.name == f"{sha}.xls"


def test_an_altered_or_renamed_copy_is_refused_and_nothing_is_written(isolated_env, tmp_path):
    content = os.urandom(archive.CHUNK + 10)
    copy, sha = stored(tmp_path, isolated_env["archive"], content)
    data = bytearray(copy.read_bytes())
    data[archive.HEADER_BYTES + 5] ^= 1
    copy.write_bytes(bytes(data))
    (tmp_path / "out").mkdir()
    with pytest.raises(archive.ArchiveError, match="failed its authentication"):
        archive.restore(isolated_env["archive"], sha, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []  # no plaintext was left, not even in part

    good, sha2 = stored(tmp_path, tmp_path / "a2", b"other file")
    other = "0" * 64  # the ciphertext under another hash's name: the sha256 is authenticated
    (tmp_path / "a2" / "00").mkdir()
    shutil.copy(good, tmp_path / "a2" / "00" / f"{other}.xlsx")
    with pytest.raises(archive.ArchiveError, match="failed its authentication"):
        archive.check(tmp_path / "a2" / "00" / f"{other}.xlsx")
    archive.check(good)


def test_a_wrong_key_is_one_clear_line(isolated_env, tmp_path, monkeypatch, capsys):
    register(isolated_env["raw"] / "kukar" / "a.xlsx", [row(case_id="W1")])
    path = isolated_env["raw"] / "kukar" / "a.xlsx"
    sha = sha256_file(path)
    archive.store(path, sha, isolated_env["archive"])
    monkeypatch.setenv("PPA_ARCHIVE_KEY", "another-archive-key-of-at-least-32-characters")
    assert main(["restore", sha[:10], "--to", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "encrypted with another archive key" in err and "kunci arsip salah" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "a.xlsx").exists()
    monkeypatch.setenv("PPA_ARCHIVE_KEY", "short")
    assert main(["restore", sha[:10], "--to", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "the archive key in PPA_ARCHIVE_KEY has only 5 characters" in err and "Traceback" not in err


def test_plain_copies_from_before_are_read_then_encrypted_in_place(isolated_env, tmp_path):
    content = bytes(range(256)) * (2 * archive.CHUNK // 256)
    sha = hashlib.sha256(content).hexdigest()
    assert sha[:2] > "00"  # the damaged copy below (in 00/) is met first
    plain = isolated_env["archive"] / sha[:2] / f"{sha}.xlsx"
    plain.parent.mkdir()
    plain.write_bytes(content)  # as archived before encryption
    assert archive.restore(isolated_env["archive"], sha, tmp_path / "o1").read_bytes() == content
    bad = isolated_env["archive"] / "00" / ("00" + "1" * 62 + ".xlsx")
    bad.parent.mkdir()
    bad.write_bytes(b"not the bytes its name says")
    with pytest.raises(archive.ArchiveError, match="does not match its sha256 name"):
        archive.encrypt_plain(isolated_env["archive"])
    bad.unlink()
    assert archive.encrypt_plain(isolated_env["archive"]) == [f"{sha[:2]}/{sha}.xlsx"]
    assert archive.is_encrypted(plain) and plain.stat().st_mode & 0o777 == 0o600
    assert archive.restore(isolated_env["archive"], sha, tmp_path / "o2").read_bytes() == content
    assert (isolated_env["archive"] / archive.ALL_ENCRYPTED).is_file()  # later sweeps look no further
    plain.write_bytes(content)
    assert archive.encrypt_plain(isolated_env["archive"]) == []


def test_the_key_file_is_made_like_the_hashing_key(isolated_env, tmp_path, monkeypatch):
    monkeypatch.delenv("PPA_ARCHIVE_KEY")
    monkeypatch.setenv("PPA_ARCHIVE_KEY_FILE", str(tmp_path / "keys" / "archive_key"))
    (tmp_path / "keys").mkdir()
    first = archive.archive_key()
    key_file = tmp_path / "keys" / "archive_key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text()) == 64
    assert archive.archive_key() == first and len(first.secret) == 32
    assert privacy.key_file("archive key") == key_file
    monkeypatch.setenv("PPA_ARCHIVE_KEY_FILE", str(tmp_path / "keys" / "weak"))
    (tmp_path / "keys" / "weak").write_text("too short")
    with pytest.raises(privacy.SecretError, match="archive key .* has only 9 characters"):
        archive.archive_key()


def test_backups_copy_the_ciphertext_check_it_and_never_hold_the_archive_key(isolated_env, tmp_path, monkeypatch):
    content = os.urandom(5000)
    copy, sha = stored(tmp_path, isolated_env["archive"], content)
    done = backup(tmp_path / "b")
    saved = done.path / "archive" / copy.relative_to(isolated_env["archive"])
    assert saved.read_bytes() == copy.read_bytes()  # encrypted as in the archive
    assert any("archive key" in note for note in done.notes)
    assert not [p for p in done.path.rglob("*") if p.is_file() and os.environ["PPA_ARCHIVE_KEY"].encode()
                in p.read_bytes()]

    for name in ("warehouse", "archive", "dagster_home"):
        shutil.rmtree(isolated_env[name])
        isolated_env[name].mkdir()
    monkeypatch.setenv("PPA_ARCHIVE_KEY", "a-new-machine-with-a-new-archive-key-0000")
    with pytest.raises(BackupError, match="is not the one the backup's archive was made with"):
        restore(done.path)
    monkeypatch.delenv("PPA_ARCHIVE_KEY")
    monkeypatch.setenv("PPA_ARCHIVE_KEY_FILE", str(tmp_path / "missing_key"))
    with pytest.raises(BackupError, match="put that key into"):
        restore(done.path)
    assert not (tmp_path / "missing_key").exists()  # never made up: a new key could read nothing


@pytest.mark.slow
def test_a_run_that_must_decrypt_with_another_key_fails_saying_why(isolated_env, monkeypatch):
    from helpers import run_pipeline

    from pipeline.cli import failure_text

    register(isolated_env["raw"] / "kukar" / "a.xlsx", [row(case_id="K1"), row(case_id="K2", sex="X")])
    assert run_pipeline("kukar").success
    workbook = isolated_env["raw"] / "kukar" / "umpan-balik" / "a.umpan-balik.xlsx"
    workbook.unlink()  # made again from the archived copy, which needs the key
    monkeypatch.setenv("PPA_ARCHIVE_KEY", "another-archive-key-of-at-least-32-characters")
    result = run_pipeline("kukar")
    assert not result.success
    reasons = [failure_text(e) for e in result.all_events if e.is_failure]
    assert any("encrypted with another archive key" in r and "kunci arsip salah" in r for r in reasons), reasons
    assert not workbook.exists()
