"""Every `ppa` command driven with each kind of mistake a user makes: one line in Bahasa
Indonesia and English, exit code 2 (the command line is wrong) or 1 (it cannot be done now),
never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from workbooks import register, row

from pipeline.cli import main

PPA = str(Path(sys.executable).parent / "ppa")


def one_line(capsys, argv: list[str], code: int, *words: str) -> str:
    """Run `ppa argv` in this process: its exit code, and its one line on stderr."""
    capsys.readouterr()
    assert main(argv) == code, (argv, capsys.readouterr())
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ppa: ") and " / " in lines[0], (argv, err)
    for word in words:
        assert word in lines[0], (argv, word, lines[0])
    return lines[0]


def test_an_unknown_agency_is_named_with_the_registered_ones(capsys, tmp_path):
    book = register(tmp_path / "a.xlsx", [row()])
    for argv in (["run", "--agency", "kutimm"], ["status", "--agency", "samarinda"],
                 ["validate", str(book), "--agency", "kutimm"], ["template", "--agency", "samarinda"],
                 ["compare", "kutim", "samarinda"], ["dq", "list", "--agency", "samarinda"]):
        line = one_line(capsys, argv, 2, "tidak terdaftar", "unknown agency", "kukar, kutim, ppu, bontang, batam")
    assert "(did you mean 'kutim'?)" in one_line(capsys, ["run", "--agency", "kutimm"], 2)
    assert "did you mean" not in line  # no suggestion for a name that is nothing like one


def test_missing_and_wrong_paths(capsys, tmp_path):
    folder = tmp_path / "kutim"
    folder.mkdir()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    os.mkfifo(tmp_path / "pipe.xlsx")
    cases = [
        (["validate", str(tmp_path / "missing.xlsx"), "--agency", "kutim"], "tidak ada", "does not exist"),
        (["validate", str(folder), "--agency", "kutim"], "bukan file (folder)", "is not a file (folder)"),
        (["validate", str(tmp_path / "pipe.xlsx"), "--agency", "kutim"], "(FIFO)", "is not a file"),
        (["validate", str(a_file / "x.xlsx"), "--agency", "kutim"], "tidak ada", "does not exist"),
        (["template", "--agency", "kutim", "--out", str(tmp_path / "nowhere" / "t.xlsx")], "tidak ada", "nowhere"),
        (["template", "--agency", "kutim", "--out", str(folder)], "bukan file", "is not a file"),
        (["report", "--out", str(a_file)], "bukan folder", "is not a folder"),
        (["backup", str(a_file)], "bukan folder", "is not a folder"),
        (["restore-backup", str(tmp_path / "no-backups")], "tidak ada", "does not exist"),
        (["restore", "abcdef12", "--to", str(a_file)], "bukan folder", "is not a folder"),
        (["restore", "not-a-hash"], "bukan sha256", "is not a sha256"),
    ]
    for argv, *words in cases:
        one_line(capsys, argv, 2, *words)
    assert not (tmp_path / "nowhere").exists()


def test_nothing_to_read_yet(capsys):
    for argv in (["status"], ["status", "--json"], ["yoy"], ["compare", "kutim", "batam"], ["report"],
                 ["dq", "list"], ["dq", "review", "kutim:2024-10:x", "--status", "open"], ["docs"]):
        one_line(capsys, argv, 1, "jalankan `ppa run` dulu", "run `ppa run` first")
    one_line(capsys, ["restore", "abcdef12"], 1, "tidak ada file arsip", "no archived file")


def test_the_command_line_itself_wrong(capsys):
    for argv in (["bogus"], ["status", "--bogus"], ["validate"], ["validate", "x.xlsx"], ["compare", "kutim"],
                 ["dq", "review", "x", "--status", "bogus"], ["dq", "review", "x"], ["run", "-v", "extra"],
                 ["compare", "kutim", "kutim"]):
        one_line(capsys, argv, 2)
    capsys.readouterr()
    assert main([]) == 2 and "Usage: ppa" in capsys.readouterr().out  # no command: the help


def test_an_unreadable_workbook_is_a_finding_not_a_crash(capsys, tmp_path):
    bad = tmp_path / "rusak.xlsx"
    bad.write_bytes(b"PK\x03\x04 cut short")
    capsys.readouterr()
    assert main(["validate", str(bad), "--agency", "kutim"]) == 1
    out, err = capsys.readouterr()
    assert "DITOLAK / REJECTED" in out and "Traceback" not in out + err


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from pipeline.warehouse.db import connect
    with connect(Path(sys.argv[1])):
        print("holding", flush=True)
        time.sleep(float(sys.argv[2]))
""")


@pytest.mark.slow
def test_a_run_writing_the_warehouse(capsys, isolated_env, monkeypatch):
    """Another process holds the warehouse (its writer lock and DuckDB's own): the commands that
    read it wait a moment and then say so; those that write it wait for the lock, then say so."""
    monkeypatch.setenv("PPA_LOCK_TIMEOUT_S", "1")
    path = isolated_env["warehouse"] / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "60"], stdout=subprocess.PIPE, text=True,
                              env=os.environ.copy())
    try:
        assert holder.stdout.readline().strip() == "holding"
        for argv in (["status"], ["dq", "list"], ["dq", "review", "x", "--status", "open"], ["docs"]):
            one_line(capsys, argv, 1, "sedang ditulis oleh run lain", "a run is writing the warehouse")
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_the_console_script_prints_no_traceback(isolated_env, tmp_path):
    """The real `ppa`, as a user runs it; and PPA_DEBUG=1 shows the traceback of an unexpected error."""
    broken = {**os.environ, "PPA_REGISTRY": str(tmp_path / "missing.yaml")}  # an installation missing a file
    for argv, code, env in ((["validate", str(tmp_path / "missing.xlsx"), "--agency", "kutimm"], 2, os.environ),
                            (["status"], 1, os.environ), (["template", "--agency", "kutim"], 1, broken)):
        done = subprocess.run([PPA, *argv], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == code and "Traceback" not in done.stdout + done.stderr, done
        assert done.stderr.startswith("ppa: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    debug = subprocess.run([PPA, "template", "--agency", "kutim"], capture_output=True, text=True,
                           env={**broken, "PPA_DEBUG": "1"}, timeout=60)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_status_imports_neither_dagster_nor_pandas(isolated_env):
    """`ppa status` answers without starting Dagster (python -X importtime lists every import)."""
    from pipeline.warehouse.db import connect

    with connect(isolated_env["warehouse"] / "warehouse.duckdb"):
        pass
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "pipeline.cli", "status"], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "duckdb" in imported and time.perf_counter() - started < 60
    assert not {m for m in imported if m.split(".")[0] in ("dagster", "pandas", "pydantic", "great_expectations")}


@pytest.mark.slow
def test_ppa_run_waits_for_a_run_in_progress_and_says_why_it_gave_up(isolated_env):
    register(isolated_env["raw"] / "kutim/a.xlsx", [row()])
    path = isolated_env["warehouse"] / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "120"], stdout=subprocess.PIPE, text=True,
                              env=os.environ.copy())
    try:
        assert holder.stdout.readline().strip() == "holding"
        done = subprocess.run([PPA, "run"], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PPA_LOCK_TIMEOUT_S": "2"})
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    assert "another run is writing the warehouse" in done.stderr and "warehouse busy" in done.stderr
