"""A hostile drop folder: names, links, special files, a full disk, a clock that lies.

Everything is generated here. `build_fs_corpus` writes every case into one agency's
folder (and the raw folder around it), each with the outcome it must have; the run over
it must finish and leave every other agency's counts exact. Time and peak memory are
measured where a case could cost them (a 2 GB file, 10,000 files).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from helpers import query, run_pipeline
from hypothesis import given
from hypothesis import strategies as st
from workbooks import HEADER, register, row, write_workbook

from pipeline import names, privacy, safefs
from pipeline.ingest import archive, slices
from pipeline.ingest.ledger import supersede_rule

ROOT = Path(__file__).resolve().parent.parent
AGENCY, OTHERS = "kukar", ("kutim", "ppu", "bontang", "batam")
SECRET_NAME, SECRET_NIK = "Rahasia Batam Korban", "2171019876540007"  # Batam's: never in Kukar's outputs
OLD = time.time() - 3600


def load_one(agency, raw_dir, previous, run_id, now, load_date, limits, archive_dir=None):
    """One agency's load, as a run's task gives it."""
    from pipeline.ingest import load as ingest

    return ingest.load_agencies([ingest.LoadTask(agency, raw_dir, previous, run_id, now, load_date, limits, archive_dir)])[0]


def other_rows(agency: str, n: int) -> list[list]:
    return [row(case_id=f"{agency.upper()}-{i}", name=SECRET_NAME, nik=SECRET_NIK, kecamatan=None)
            for i in range(1, n + 1)]


def bad(case_id: str) -> list:
    """A row that is rejected (sex '?'), so that its file gets a feedback workbook."""
    return row(case_id=case_id, sex="?")


def raw_name(folder: Path, name: bytes) -> Path:
    return Path(os.fsdecode(bytes(folder) + b"/" + name))


def mkfifo_socket_device(folder: Path) -> dict[str, str]:
    """A FIFO, a socket and (where allowed) a device, named like workbooks: name -> kind."""
    made = {}
    os.mkfifo(folder / "pipa.xlsx")
    made["pipa.xlsx"] = "FIFO"
    here = os.getcwd()
    os.chdir(folder)  # a socket's path must be short: bind it by its name
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind("soket.xlsx")
        sock.close()
        made["soket.xlsx"] = "socket"
    finally:
        os.chdir(here)
    try:
        os.mknod(folder / "perangkat.xlsx", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
        made["perangkat.xlsx"] = "device"
    except PermissionError:
        pass
    return made


# ---------------------------------------------------------------- the corpus

NON_UTF8 = b"data_\xe9t\xe9_2024.xlsx"  # "data_été_2024.xlsx" saved in Windows-1252
LONG_NAME = "register_" + "x" * 221 + ".xlsx"  # 235 characters
LONG_UTF8 = "korban_" + "é" * 118 + ".xlsx"  # 248 bytes of UTF-8
ESCAPE_NAME = "laporan\x1b[2J\x1b]0;diretas\x07\u202egpj.xlsx"  # clears the screen, sets the title, flips text


def build_fs_corpus(raw: Path) -> dict[str, tuple[str, str | None]]:
    """Every file-system case in raw/kukar (and raw/ around it): ledger path -> (status, reason code).
    Good registers go into the other agencies' folders (other_rows)."""
    folder = raw / AGENCY
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, tuple[str, str | None]] = {}
    for agency, n in zip(OTHERS, (3, 4, 5, 6)):
        register(raw / agency / "register.xlsx", other_rows(agency, n))
    register(folder / "baik.xlsx", [row(case_id="K1")])
    expected["kukar/baik.xlsx"] = ("loaded", None)
    # names as they come
    register(raw_name(folder, NON_UTF8), [row(case_id="E1"), bad("E2")])
    expected["kukar/data_\\xe9t\\xe9_2024.xlsx"] = ("loaded", None)
    register(folder / LONG_NAME, [row(case_id="L1"), bad("L2")])
    expected[f"kukar/{LONG_NAME}"] = ("loaded", None)
    register(folder / LONG_UTF8, [row(case_id="U1"), bad("U2")])
    expected[f"kukar/{LONG_UTF8}"] = ("loaded", None)
    register(folder / "a" / "b.xlsx", [row(case_id="AB1"), bad("AB2")])
    expected["kukar/a/b.xlsx"] = ("loaded", None)
    register(folder / "a__b.xlsx", [row(case_id="A_B1"), bad("A_B2")])
    expected["kukar/a__b.xlsx"] = ("loaded", None)
    register(folder / ESCAPE_NAME, [row(case_id="ESC1"), bad("ESC2")])
    expected[f"kukar/{ESCAPE_NAME}"] = ("loaded", None)
    # links and things that are not files: a line in the ledger, never opened
    os.symlink(raw / "batam" / "register.xlsx", folder / "tautan_batam.xlsx")
    expected["kukar/tautan_batam.xlsx"] = ("rejected", "symlink")
    os.symlink(raw / "batam", folder / "folder_batam")
    expected["kukar/folder_batam"] = ("rejected", "symlink")
    os.symlink(folder / "tidak_ada.xlsx", folder / "tautan_putus.xlsx")
    expected["kukar/tautan_putus.xlsx"] = ("rejected", "symlink")
    unpacked = folder / "dibuka.xlsx"  # a workbook unzipped into a folder of its name
    unpacked.mkdir()
    (unpacked / "[Content_Types].xml").write_text("<Types/>")
    expected["kukar/dibuka.xlsx"] = ("rejected", "not_regular_file")
    for name in mkfifo_socket_device(folder):
        expected[f"kukar/{name}"] = ("rejected", "not_regular_file")
    # limits before work: a 2 GB file that holds nothing (sparse), never hashed or copied
    with open(folder / "besar_2gb.xlsx", "wb") as handle:
        handle.truncate(2 * 1024 ** 3)
    expected["kukar/besar_2gb.xlsx"] = ("rejected", "file_too_large")
    # a clock far ahead: still read, its time kept
    future = register(folder / "jam_maju.xlsx", [row(case_id="F1")])
    os.utime(future, (32503680000, 32503680000))  # the year 3000
    expected["kukar/jam_maju.xlsx"] = ("loaded", None)
    # outside any agency's folder: named, never read
    register(raw / "lepas.xlsx", [row(case_id="LOOSE1")])
    register(raw / "asing" / "register.xlsx", [row(case_id="ALIEN1")])
    return expected


def _agency(code):
    from pipeline.registry import get_agency

    return get_agency(code)


def metadata(result, key: list[str]) -> dict:
    """The metadata of an asset's materialization in a run (the same in every partition's event)."""
    return next(e.event_specific_data.materialization.metadata for e in result.all_events
                if e.event_type_value == "ASSET_MATERIALIZATION" and e.asset_key.path == key)


def ledger(wh: Path) -> dict[str, dict]:
    frame = query(wh, "SELECT * FROM meta.ingest_log")
    return {r["path"]: r for r in frame.to_dict("records")}


@pytest.mark.slow
def test_a_run_over_every_case_finishes_and_other_agencies_are_exact(isolated_env, capsys):
    raw, wh = isolated_env["raw"], isolated_env["warehouse"]
    expected = build_fs_corpus(raw)
    start = time.perf_counter()
    result = run_pipeline()
    seconds = time.perf_counter() - start
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    print(f"run over the corpus: {seconds:.1f} s")
    lines = ledger(wh)
    kukar = {p: (r["status"], r["reason_code"] if isinstance(r["reason_code"], str) else None)
             for p, r in lines.items() if r["agency"] == AGENCY}
    assert kukar == expected
    for path, (status, code) in expected.items():
        if code:
            r = lines[path]
            assert r["message"] and r["message_en"] and "{" not in r["message"], path
    assert lines["kukar/dibuka.xlsx"]["error"] == "folder"
    assert lines["kukar/pipa.xlsx"]["error"] == "FIFO"
    # every other agency's counts are exact, and nothing of Batam's reached Kukar
    staged = query(wh, "SELECT agency, count(*) AS n FROM staging.case_victims GROUP BY agency")
    counts = dict(zip(staged["agency"], staged["n"]))
    assert {a: counts[a] for a in OTHERS} == {"kutim": 3, "ppu": 4, "bontang": 5, "batam": 6}
    kukar_ids = set(query(wh, "SELECT case_id FROM staging.case_victims WHERE agency = 'kukar'")["case_id"])
    assert kukar_ids == {"K1", "E1", "L1", "U1", "AB1", "A_B1", "ESC1", "F1"}
    feedback = raw / AGENCY / "umpan-balik"
    for path in feedback.iterdir():
        data = path.read_bytes()
        texts = [data] if path.suffix == ".html" else [zipfile.ZipFile(path).read(n) for n in
                                                         zipfile.ZipFile(path).namelist()]
        assert not any(SECRET_NAME.encode() in t or SECRET_NIK.encode() in t for t in texts), path.name
        assert len(os.fsencode(path.name)) <= 160, path.name
    # the sparse 2 GB file was neither hashed nor copied
    big = lines["kukar/besar_2gb.xlsx"]
    assert not isinstance(big["sha256"], str) and not isinstance(big["archived_as"], str)
    assert max(p.stat().st_size for p in isolated_env["archive"].rglob("*") if p.is_file()) < 1024 ** 2
    # the raw folder's strays are named in the run's metadata and by `ppa status`
    not_read = metadata(result, ["meta", "ingest_log"])["not_read"].value
    assert "asing/" in not_read and "lepas.xlsx" in not_read
    from pipeline.cli import main

    capsys.readouterr()
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "asing/" in out and "lepas.xlsx" in out
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "data_été_2024.xlsx" in out  # shown readably


# ---------------------------------------------------------------- names as they come

def test_escaped_names_map_back_to_their_exact_bytes_and_never_collide():
    byte_names = [NON_UTF8, b"data_\\xe9t\\xe9_2024.xlsx", b"a\\b.xlsx", b"a\\\\b.xlsx", b"\xff\xfe.xlsx",
                  "é.xlsx".encode(), b"\xe9.xlsx", b"plain.xlsx", ESCAPE_NAME.encode()]
    stored = [names.escape(os.fsdecode(b)) for b in byte_names]
    assert len(set(stored)) == len(byte_names)
    for b, text in zip(byte_names, stored):
        text.encode("utf-8")  # valid UTF-8, whatever the bytes
        assert names.to_bytes(text) == b
    assert names.shown(names.escape(os.fsdecode(NON_UTF8))) == "data_été_2024.xlsx"
    assert "\x1b" not in names.shown(ESCAPE_NAME) and "\u202e" not in names.shown(ESCAPE_NAME)


@given(st.binary(min_size=1, max_size=60).filter(lambda b: b"/" not in b and b"\0" not in b))
def test_any_byte_name_round_trips(raw_bytes):
    text = names.escape(os.fsdecode(raw_bytes))
    text.encode("utf-8")
    assert names.to_bytes(text) == raw_bytes


def test_feedback_names_are_short_and_every_file_gets_its_own():
    paths = ["kukar/a/b.xlsx", "kukar/a__b.xlsx", "kukar/A__B.xlsx", f"kukar/{LONG_NAME}", f"kukar/{LONG_UTF8}",
             f"kukar/{names.escape(os.fsdecode(NON_UTF8))}", f"kukar/{ESCAPE_NAME}", "kukar/a.xlsx", "kukar/a.xls"]
    stems = names.output_stems(paths)
    assert len({s.casefold() for s in stems.values()}) == len(paths)
    for stem in stems.values():
        name = stem + ".tanda-terima.html"
        assert len(name.encode("utf-8")) <= 140 and "\x1b" not in name and "/" not in name
    assert stems["kukar/a.xlsx"] == "a.xlsx" and stems["kukar/a.xls"] == "a.xls"  # plain names stay plain
    from pipeline.feedback.files import feedback_name

    assert len(feedback_name(LONG_UTF8).encode()) <= 140


@pytest.mark.slow
def test_names_from_a_real_share_load_and_get_their_own_feedback(isolated_env):
    raw, wh = isolated_env["raw"], isolated_env["warehouse"]
    folder = raw / AGENCY
    register(raw_name(folder, NON_UTF8), [row(case_id="E1"), bad("E2")])
    register(folder / LONG_NAME, [row(case_id="L1"), bad("L2")])
    register(folder / "a" / "b.xlsx", [row(case_id="AB1"), bad("AB2")])
    register(folder / "a__b.xlsx", [row(case_id="A_B1"), bad("A_B2")])
    assert run_pipeline(AGENCY).success
    staged = query(wh, "SELECT case_id, _source_file FROM staging.case_victims")
    by_case = dict(zip(staged["case_id"], staged["_source_file"]))
    assert names.to_bytes(by_case["E1"]) == f"{AGENCY}/".encode() + NON_UTF8
    out = folder / "umpan-balik"
    books = sorted(out.glob("*.umpan-balik.xlsx"))
    assert len(books) == 4  # one each: a/b.xlsx and a__b.xlsx no longer overwrite each other
    from leaks import workbook_texts

    own = {p.name: " ".join(workbook_texts(p)) for p in books}
    ab = [n for n, text in own.items() if "AB2" in text]
    a_b = [n for n, text in own.items() if "A_B2" in text]
    assert len(ab) == 1 and len(a_b) == 1 and ab != a_b
    assert "A_B2" not in own[ab[0]] and "AB2" not in own[a_b[0]]


@pytest.mark.slow
def test_ten_thousand_empty_files_and_one_register_among_them(isolated_env):
    """DuckDB guesses a list column's type from sampled rows: the register's sheet list in row
    5,003 of the ledger, between 10,000 empty files, is one it does not sample."""
    folder = isolated_env["raw"] / AGENCY
    folder.mkdir(parents=True)
    for i in range(10_000):
        (folder / f"{'a' if i < 5003 else 'z'}{i:05d}.xlsx").write_bytes(b"")
    register(folder / "m_register.xlsx", [row(case_id="M1")])
    import dagster as dg

    from pipeline.definitions import FULL_REFRESH, build_definitions

    job = build_definitions().resolve_job_def(FULL_REFRESH)
    start = time.perf_counter()  # the ledger's step: the feedback step is the same as for any file
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), partition_key=AGENCY,
                                    op_selection=["agency_load"], raise_on_error=False)
    seconds = time.perf_counter() - start
    print(f"10,001 files: {seconds:.0f} s")
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    wh = isolated_env["warehouse"]
    counts = query(wh, "SELECT status, reason_code, count(*) AS n FROM meta.ingest_log GROUP BY ALL ORDER BY n")
    assert counts.fillna("").values.tolist() == [["loaded", "", 1], ["rejected", "file_empty", 10_000]]
    assert query(wh, "SELECT sheets_read FROM meta.ingest_log WHERE path = 'kukar/m_register.xlsx'")[
        "sheets_read"][0].tolist() == ["Register"]
    paths = query(wh, "SELECT path FROM meta.ingest_log")["path"].tolist()
    start = time.perf_counter()
    stems = names.output_stems(paths)  # every file its own outputs, in linear time
    assert len(set(stems.values())) == 10_001 and time.perf_counter() - start < 5


# ---------------------------------------------------------------- staying inside the drop tree

def test_links_and_special_files_are_listed_from_lstat_and_never_opened(isolated_env, monkeypatch):
    from pipeline.ingest import load as ingest

    raw = isolated_env["raw"]
    register(raw / "batam" / "register.xlsx", other_rows("batam", 2))
    folder = raw / AGENCY
    register(folder / "baik.xlsx", [row(case_id="K1")])
    os.symlink(raw / "batam" / "register.xlsx", folder / "tautan.xlsx")
    kinds = mkfifo_socket_device(folder)
    (folder / "folder.xlsx").mkdir()
    opened: list[str] = []
    real = safefs.open_regular
    monkeypatch.setattr(safefs, "open_regular", lambda path, *a, **k: opened.append(Path(path).name) or real(path, *a, **k))
    entries = {e.rel: e.kind for e in ingest.scan_folder(raw, AGENCY)}
    assert entries == {"kukar/baik.xlsx": "file", "kukar/tautan.xlsx": "symlink", "kukar/folder.xlsx": "folder",
                       **{f"kukar/{n}": k for n, k in kinds.items()}}
    load = load_one(_agency(AGENCY), raw, ingest.Previous(), "r1", dt.datetime.now(), dt.date.today(),
                              ingest.Limits(), isolated_env["archive"])
    codes = dict(zip(load.ledger["path"], load.ledger["reason_code"]))
    assert codes["kukar/tautan.xlsx"] == "symlink"
    assert all(codes[f"kukar/{n}"] == "not_regular_file" for n in [*kinds, "folder.xlsx"])
    assert set(opened) <= {"baik.xlsx"}  # nothing else was ever opened (a FIFO would block)
    # opening a link or a FIFO directly is refused as well
    with pytest.raises(safefs.NotRegular):
        safefs.open_regular(folder / "tautan.xlsx")
    with pytest.raises(safefs.NotRegular):
        safefs.open_regular(folder / "pipa.xlsx")


@pytest.mark.slow
def test_a_linked_feedback_folder_is_refused_and_nothing_outside_is_touched(isolated_env, tmp_path):
    raw = isolated_env["raw"]
    register(raw / AGENCY / "a.xlsx", [row(case_id="K1"), bad("K2")])
    register(raw / "batam" / "b.xlsx", other_rows("batam", 2))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "milik_orang_lain.txt").write_text("not ours")
    (elsewhere / "a.tanda-terima.html").write_text("looks like ours, is not")  # would be replaced
    (elsewhere / "lama.umpan-balik.xlsx").write_text("looks stale, is not")  # would be deleted
    os.symlink(elsewhere, raw / AGENCY / "umpan-balik")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in elsewhere.iterdir()}
    result = run_pipeline()
    assert result.success
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in elsewhere.iterdir()} == before
    assert (raw / AGENCY / "umpan-balik").is_symlink()
    refused = metadata(result, ["feedback", "umpan_balik"])["refused"].value
    assert list(refused) == [AGENCY] and "umpan-balik" in refused[AGENCY] and "link" in refused[AGENCY]
    assert (raw / "batam" / "umpan-balik" / "b.tanda-terima.html").is_file()  # the others get theirs
    assert query(isolated_env["warehouse"], "SELECT count(*) AS n FROM staging.case_victims")["n"][0] == 3
    # the link removed, the next run makes a real folder
    (raw / AGENCY / "umpan-balik").unlink()
    assert run_pipeline(AGENCY).success
    assert (raw / AGENCY / "umpan-balik" / "a.umpan-balik.xlsx").is_file()


def test_writes_stay_below_their_root_and_never_go_through_a_link(tmp_path):
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(safefs.UnsafePath):
        safefs.write_text(root / "link" / "x.txt", "no", root=root)
    with pytest.raises(safefs.UnsafePath):
        safefs.write_text(root / "link" / "deeper" / "x.txt", "no", root=root)
    with pytest.raises(safefs.UnsafePath):
        safefs.write_text(outside / "x.txt", "no", root=root)
    with pytest.raises(safefs.UnsafePath):
        safefs.write_text(root / ".." / "outside" / "x.txt", "no", root=root)
    assert list(outside.iterdir()) == []
    # a link at the target's own name is replaced, never written through
    target_elsewhere = outside / "victim.txt"
    target_elsewhere.write_text("keep")
    os.symlink(target_elsewhere, root / "real" / "out.txt")
    safefs.write_text(root / "real" / "out.txt", "new", root=root)
    assert target_elsewhere.read_text() == "keep" and not (root / "real" / "out.txt").is_symlink()
    assert (root / "real" / "out.txt").read_text() == "new"
    # removing goes by the entry itself: a link is removed, not what it points to
    os.symlink(target_elsewhere, root / "real" / "gone.txt")
    with safefs.safe_dir(root / "real", root) as folder:
        folder.remove("gone.txt")
    assert target_elsewhere.read_text() == "keep"


def test_the_sensor_lists_what_the_ledger_lists_and_opens_no_special_file(isolated_env):
    from pipeline.automation.triggers import content_id, list_drop_files

    raw = isolated_env["raw"]
    register(raw / AGENCY / "a.xlsx", [row()])
    os.symlink(raw / AGENCY / "a.xlsx", raw / AGENCY / "b.xlsx")
    os.mkfifo(raw / AGENCY / "c.xlsx")
    (raw / AGENCY / "~$a.xlsx").write_bytes(b"lock")
    files = list_drop_files(raw, [AGENCY])
    assert [(f.rel, f.kind) for f in files] == [("kukar/a.xlsx", "file"), ("kukar/b.xlsx", "symlink"),
                                               ("kukar/c.xlsx", "FIFO")]
    ids = [content_id(f, 50 * 1024 ** 2) for f in files]  # the FIFO would block if opened
    assert len(ids[0]) == 64 and ids[1].startswith("symlink:") and ids[2].startswith("FIFO:")


# ---------------------------------------------------------------- limits before work

PROBE = textwrap.dedent("""
    import datetime as dt, json, sys, time
    from pathlib import Path
    from pipeline.ingest import load as ingest
    from pipeline.registry import get_agency

    def peak_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

    raw, archive = Path(sys.argv[1]), Path(sys.argv[2])
    before = peak_mb()
    start = time.perf_counter()
    task = ingest.LoadTask(get_agency("kukar"), raw, ingest.Previous(), "r1", dt.datetime.now(), dt.date.today(),
                           ingest.Limits(), archive)
    load = ingest.load_agencies([task])[0]
    row = load.ledger.set_index("path").loc["kukar/besar.xlsx"]
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), "baseline_mb": before,
                      "code": row["reason_code"], "sha256": row["sha256"] if isinstance(row["sha256"], str) else None}))
""")


@pytest.mark.slow
def test_a_2gb_file_is_refused_from_its_size_before_it_is_hashed_or_copied(isolated_env, monkeypatch):
    from pipeline.ingest import load as ingest

    raw, arch = isolated_env["raw"], isolated_env["archive"]
    register(raw / AGENCY / "baik.xlsx", [row(case_id="K1")])
    with open(raw / AGENCY / "besar.xlsx", "wb") as handle:
        handle.truncate(2 * 1024 ** 3)  # sparse: 2 GB that take no disk
    out = subprocess.run([sys.executable, "-c", PROBE, str(raw), str(arch)], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"2 GB sparse file: {probe}")
    assert probe["code"] == "file_too_large" and probe["sha256"] is None
    assert probe["seconds"] < 10 and probe["peak_mb"] - probe["baseline_mb"] < 100
    assert max(p.stat().st_size for p in arch.rglob("*") if p.is_file()) < 1024 ** 2
    # neither a load nor the check for an unchanged folder hashes it
    hashed: list[str] = []
    real = ingest.sha256_file
    counting = lambda path, *a, **k: hashed.append(Path(path).name) or real(path, *a, **k)  # noqa: E731
    monkeypatch.setattr(ingest, "sha256_file", counting)
    monkeypatch.setattr(slices, "sha256_file", counting)
    agency = _agency(AGENCY)
    load = load_one(agency, raw, ingest.Previous(), "r1", dt.datetime.now(), dt.date.today(), ingest.Limits(), arch)
    key = load.frames["meta.agency_loads"]["load_key"][0]
    assert slices.unchanged_since(agency, raw, ingest.Limits(), key, arch)
    assert hashed == ["baik.xlsx", "baik.xlsx"]


KILL_MIDWAY = textwrap.dedent("""
    import hashlib, os, signal, sys
    from pathlib import Path
    import pipeline.ingest.archive as archive

    os.umask(0)  # the copy is private because it is created so, not thanks to a umask
    source, sha, target = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])

    class KilledAfterTwoChunks:
        def __init__(self):
            self.n, self.real = 0, hashlib.sha256()
        def update(self, chunk):
            self.n += 1
            if self.n == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            self.real.update(chunk)
        def hexdigest(self):
            return self.real.hexdigest()

    archive.CHUNK = 4096
    archive.hashlib = type("H", (), {"sha256": staticmethod(KilledAfterTwoChunks)})
    archive.store(source, sha, target)
""")


def test_an_archive_copy_is_private_from_its_first_byte_and_a_killed_copy_is_removed(isolated_env, tmp_path):
    from pipeline.ingest.dropfolder import sha256_file

    source = tmp_path / "register.xlsx"
    source.write_bytes(os.urandom(64 * 1024))
    sha = sha256_file(source)
    arch = isolated_env["archive"]
    out = subprocess.run([sys.executable, "-c", KILL_MIDWAY, str(source), sha, str(arch)], capture_output=True,
                         text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == -9, out.stderr[-2000:]
    [left] = [p for p in arch.rglob("*") if p.is_file()]
    assert left.name.startswith(".ppa-tmp-") and 0 < left.stat().st_size < 64 * 1024  # killed midway
    assert stat.S_IMODE(left.stat().st_mode) == 0o600
    assert archive.find(arch, sha[:8]) == []  # never under its final name
    assert archive.remove_leftovers(arch) == [f"{sha[:2]}/{left.name}"]
    assert not left.exists()
    stored = archive.store(source, sha, arch)
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and archive.is_encrypted(stored)
    archive.check(stored)  # whole, and its plaintext's sha256 is its name


def test_only_temporary_files_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    names_ = [f".ppa-tmp-{dead.stdout.strip()}-0a0b", f".ppa-tmp-{os.getpid()}-0c0d", ".cadangan.2024.tmp", "data.xlsx"]
    for name in names_:
        (tmp_path / name).write_text("x")
    safefs.write_text(tmp_path / "laporan.html", "<p>", root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted([*names_[1:], "laporan.html"])


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs when this process may mount one (root), else None."""
    mount = tmp_path / "kecil"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(mount)],
                          capture_output=True) if os.geteuid() == 0 else None
    if made is None or made.returncode != 0:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_names_the_folder_and_leaves_no_partial_file(isolated_env, small_disk, monkeypatch):
    raw = isolated_env["raw"]
    register(raw / "batam" / "b.xlsx", other_rows("batam", 2))
    assert run_pipeline("batam").success
    for i in range(3):  # 600 KB that do not compress, named like workbooks: archived before they are read
        (raw / AGENCY / f"acak_{i}.xlsx").parent.mkdir(exist_ok=True)
        (raw / AGENCY / f"acak_{i}.xlsx").write_bytes(os.urandom(600 * 1024))
    if small_disk is not None:
        archive_dir = small_disk / "arsip"
        monkeypatch.setenv("PPA_ARCHIVE_DIR", str(archive_dir))
    else:  # no mount allowed: the disk fills at the second copy
        archive_dir = isolated_env["archive"]
        calls = []
        real = safefs.SafeDir.write

        def full(self, name, writer, *args, **kwargs):
            calls.append(name)
            if len(calls) > 1:
                def writer(handle, _w=writer):
                    handle.write(b"x" * 1000)
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(self, name, writer, *args, **kwargs)

        monkeypatch.setattr(safefs.SafeDir, "write", full)
    result = run_pipeline()
    assert not result.success
    from pipeline.cli import failure_text

    [failure] = [failure_text(e) for e in result.all_events if e.is_failure and e.step_key == "agency_load"]
    print(failure)
    assert "disk full" in failure and str(archive_dir) in failure and "withheld" not in failure
    assert not [p for p in archive_dir.rglob("*") if p.name.startswith(".ppa-tmp-")]  # no partial copy left
    # the warehouse kept what it had: Batam's slice, nothing of Kukar
    wh = isolated_env["warehouse"]
    assert query(wh, "SELECT agency, count(*) AS n FROM staging.case_victims GROUP BY agency").values.tolist() == [
        ["batam", 2]]


@pytest.mark.slow
def test_a_full_warehouse_disk_says_so(isolated_env, small_disk, monkeypatch):
    if small_disk is None:
        pytest.skip("needs a small tmpfs (root): DuckDB writes its own files")
    monkeypatch.setenv("PPA_WAREHOUSE_DIR", str(small_disk))
    register(isolated_env["raw"] / AGENCY / "besar.xlsx", [row(case_id=f"K{i}") for i in range(3000)])
    result = run_pipeline(AGENCY)
    assert not result.success
    from pipeline.cli import failure_text

    [failure] = [failure_text(e) for e in result.all_events if e.is_failure and e.step_key == "agency_load"]
    assert "disk full" in failure and str(small_disk) in failure and "No space left" in failure
    assert "withheld" not in failure


def test_operating_system_errors_keep_their_message_and_cell_errors_do_not():
    full = privacy.scrubbed(OSError(errno.ENOSPC, "No space left on device", "/data/arsip/ab/x\x1b.tmp"), "loading")
    assert isinstance(full, privacy.SystemFault)
    assert "ENOSPC" in str(full) and "No space left on device" in str(full) and "/data/arsip/ab/x" in str(full)
    assert "\x1b" not in str(full)
    cell = privacy.scrubbed(ValueError("invalid literal: '6402011234560001'"), "loading")
    assert isinstance(cell, privacy.ScrubbedError) and "6402011234560001" not in str(cell)


def test_a_full_disk_while_writing_names_the_folder_and_removes_the_partial_file(tmp_path):
    def fills(handle):
        handle.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(safefs.DiskFull) as caught:
        safefs.atomic_write(tmp_path / "out" / "laporan.html", fills, root=tmp_path)
    assert "disk full" in str(caught.value) and str(tmp_path / "out") in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------- secrets and names

@pytest.mark.parametrize("value", ["", "   ", "short", "x" * 31])
def test_an_empty_or_short_key_is_refused(monkeypatch, value):
    monkeypatch.setenv("PPA_HASH_SECRET", value)
    with pytest.raises(privacy.SecretError, match="at least 32"):
        privacy.keyed_hash("x")


def test_an_empty_key_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("PPA_HASH_SECRET")
    (tmp_path / "kunci").write_text("\n")
    monkeypatch.setenv("PPA_SECRET_FILE", str(tmp_path / "kunci"))
    privacy._key_file.cache_clear()
    with pytest.raises(privacy.SecretError, match="is empty"):
        privacy.keyed_hash("x")


def test_a_run_with_a_weak_key_stops_with_its_reason(isolated_env, monkeypatch):
    register(isolated_env["raw"] / AGENCY / "a.xlsx", [row()])
    monkeypatch.setenv("PPA_HASH_SECRET", "rahasia")
    result = run_pipeline(AGENCY)
    assert not result.success
    from pipeline.cli import failure_text

    assert any("at least 32" in failure_text(e) for e in result.all_events if e.is_failure)


FIRST_USE = textwrap.dedent("""
    import sys, time
    from pipeline import privacy
    while time.time() < float(sys.argv[1]):
        pass
    print(privacy.keyed_hash("x"))
""")


@pytest.mark.slow
def test_processes_creating_the_key_at_once_agree_on_it(tmp_path):
    (tmp_path / "kunci_di_sini").mkdir()
    key_file = tmp_path / "kunci_di_sini" / "kunci"
    env = {k: v for k, v in os.environ.items() if k != "PPA_HASH_SECRET"}
    env.update(PYTHONPATH=str(ROOT), PPA_SECRET_FILE=str(key_file))
    start = time.time() + 2.5  # every process waits for the same instant
    procs = [subprocess.Popen([sys.executable, "-c", FIRST_USE, str(start)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env=env) for _ in range(6)]
    hashes = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(hashes) == 1
    assert len(key_file.read_text()) == 64 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["kunci"]  # no temporary file left


@pytest.mark.slow
def test_personal_values_in_header_cells_and_sheet_names_are_masked(isolated_env):
    header = [*HEADER, "Catatan 6402015555550001", "Kontak siti@contoh.id", "Telp wali 0812-3456-7890"]
    sheets = {"Korban 6402015555550002": [header, row(case_id="H1") + ["a", "b", "c"]],
              "Korban 6402015555550003": [header, row(case_id="H2") + ["a", "b", "c"]]}
    write_workbook(isolated_env["raw"] / AGENCY / "kepala.xlsx", sheets)
    register(isolated_env["raw"] / AGENCY / "kepala_ganda.xlsx",
             [row(case_id="H3", sex="?") + ["x", "y"]], header=[*HEADER, "NIK 6402015555550004", "NIK 6402015555550004"])
    assert run_pipeline(AGENCY).success
    wh = isolated_env["warehouse"]
    from leaks import duckdb_texts

    texts = duckdb_texts(wh / "warehouse.duckdb")
    assert not [t for t in texts if "555555000" in t or "siti@contoh.id" in t or "3456-7890" in t]
    sheets = query(wh, "SELECT sheet, unknown_headers, personal_headers FROM meta.sheets ORDER BY path, sheet")
    assert sheets["sheet"].tolist() == ["Korban [NIK]", "Korban [NIK] (2)", "Register"]
    assert "Catatan [NIK]" in sheets["unknown_headers"][0].tolist()
    assert "Kontak [EMAIL]" in sheets["personal_headers"][0].tolist() or \
        "Kontak [EMAIL]" in sheets["unknown_headers"][0].tolist()
    staged = query(wh, "SELECT case_id, _source_sheet FROM staging.case_victims ORDER BY case_id")
    assert staged.values.tolist() == [["H1", "Korban [NIK]"], ["H2", "Korban [NIK] (2)"]]
    # the feedback still finds its sheets and marks the unknown header on the agency's own copy
    import openpyxl

    book = openpyxl.load_workbook(isolated_env["raw"] / AGENCY / "umpan-balik" / "kepala_ganda.umpan-balik.xlsx")
    marked = [c.coordinate for ws in book.worksheets[1:] for r in ws.iter_rows() for c in r if c.comment]
    assert marked, "the rejected row and the repeated header carry comments"


# ---------------------------------------------------------------- paths and DuckDB

@pytest.mark.slow
def test_an_apostrophe_in_the_warehouse_folder(isolated_env, tmp_path, monkeypatch):
    warehouse = tmp_path / "gudang data's \"2024\""
    monkeypatch.setenv("PPA_WAREHOUSE_DIR", str(warehouse))
    register(isolated_env["raw"] / AGENCY / "a.xlsx", [row()])
    assert run_pipeline(AGENCY).success
    assert query(warehouse, "SELECT count(*) AS n FROM staging.case_victims", f"analytics/{AGENCY}.duckdb")["n"][0] == 1
    assert (warehouse / "parquet" / "yoy_by_region.parquet").is_file()
    assert (warehouse / "public" / "yoy_by_region.csv").is_file()


# ---------------------------------------------------------------- a clock that lies

@pytest.mark.slow
def test_a_correction_saved_with_a_wrong_clock_wins_because_it_arrived_later(isolated_env):
    folder, wh = isolated_env["raw"] / AGENCY, isolated_env["warehouse"]
    register(folder / "awal.xlsx", [row(case_id="C1", age="12 th"), row(case_id="C2")])
    assert run_pipeline(AGENCY).success
    corrected = register(folder / "koreksi.xlsx", [row(case_id="C1", age="13 th")])
    os.utime(corrected, (978307200, 978307200))  # 2001-01-01: a PC whose clock was never set
    assert run_pipeline(AGENCY).success
    ages = dict(query(wh, "SELECT case_id, victim_age FROM staging.case_victims").values.tolist())
    assert ages == {"C1": 13, "C2": 12}
    lines = ledger(wh)
    assert lines["kukar/awal.xlsx"]["rows_superseded"] == 1
    assert list(lines["kukar/awal.xlsx"]["superseded_by"]) == ["kukar/koreksi.xlsx"]
    assert lines["kukar/koreksi.xlsx"]["first_seen"] > lines["kukar/awal.xlsx"]["first_seen"]
    # the old file renamed is still the content first seen in the first run: it does not win back
    (folder / "awal.xlsx").rename(folder / "awal_lama.xlsx")
    assert run_pipeline(AGENCY).success
    ages = dict(query(wh, "SELECT case_id, victim_age FROM staging.case_victims").values.tolist())
    assert ages == {"C1": 13, "C2": 12}
    # a file all of whose rows were replaced says which rule decided
    (folder / "awal_lama.xlsx").unlink()
    register(folder / "awal_lama.xlsx", [row(case_id="C1", age="12 th")])
    old = folder / "awal_lama.xlsx"
    os.utime(old, (time.time(), time.time()))
    assert run_pipeline(AGENCY).success  # new bytes, received now: it is the later file
    lines = ledger(wh)
    assert lines["kukar/koreksi.xlsx"]["status"] == "superseded"
    assert lines["kukar/koreksi.xlsx"]["message_en"].endswith("kukar/awal_lama.xlsx (received later)")
    assert "diterima lebih kemudian" in lines["kukar/koreksi.xlsx"]["message"]


def test_within_one_run_the_later_modified_file_wins_and_the_ledger_says_why():
    t0 = dt.datetime(2024, 5, 1)
    assert supersede_rule((t0, 1, "a", "k/a"), (dt.datetime(2024, 5, 2), 0, "a", "k/a")) == \
        "superseded_received_later"
    assert supersede_rule((t0, 1, "b", "k/b"), (t0, 2, "a", "k/a")) == "superseded_modified_later"
    assert supersede_rule((t0, 1, "a", "k/a"), (t0, 1, "b", "k/b")) == "superseded_name_order"
