"""`ppa` end to end, as an analyst runs it: a subprocess with its own instance."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import query
from workbooks import register, row, write_workbook

PPA = [str(Path(sys.executable).parent / "ppa")]


def ppa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PPA, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=300)


@pytest.mark.slow
def test_ppa_run_status_validate_restore(isolated_env, tmp_path):
    raw = isolated_env["raw"]
    register(raw / "kutim/register_2024.xlsx", [row(case_id="T1", kecamatan="Sangatta Utara"),
                                                row(case_id="T2", sex="X")])
    register(raw / "batam/register_2024.xlsx", [row(case_id="B1", kecamatan="Batam Kota")])
    write_workbook(raw / "batam/catatan.xlsx", {"Catatan": [["bukan register"]]})

    result = ppa("run")
    assert result.returncode == 0, result.stderr
    assert "victims per agency and year" in result.stdout
    lines = [l.split() for l in result.stdout.splitlines()]
    assert ["kutim", "2024", "1"] == [l for l in lines if l[:2] == ["kutim", "2024"]][0][:3]
    assert ["batam", "2024", "1"] == [l for l in lines if l[:2] == ["batam", "2024"]][0][:3]
    runs = list((isolated_env["dagster_home"]).rglob("*.db"))
    assert runs, "the run was recorded in DAGSTER_HOME"

    status = ppa("status")
    assert status.returncode == 0
    assert "catatan.xlsx" in status.stdout and "rejected" in status.stdout  # files listed under their agency
    assert "register_2024.xlsx" in status.stdout and "loaded" in status.stdout

    check = ppa("validate", str(raw / "kutim/register_2024.xlsx"), "--agency", "kutim")
    assert check.returncode == 0
    assert "'No Reg'" in check.stdout and "-> case_id" in check.stdout
    assert "'Nama Korban'" in check.stdout and "dropped (personal data)" in check.stdout
    assert "Would load 1 rows, reject 1" in check.stdout
    assert "Jenis kelamin 'X' di kolom 'Jenis Kelamin' tidak dikenali" in check.stdout

    import duckdb

    con = duckdb.connect(str(isolated_env["warehouse"] / "warehouse.duckdb"), read_only=True)
    sha = con.execute("SELECT sha256 FROM meta.ingest_log WHERE path = 'batam/register_2024.xlsx'").fetchall()[0][0]
    con.close()
    (raw / "batam/register_2024.xlsx").unlink()
    restored = ppa("restore", sha[:12], "--to", str(tmp_path / "back"))
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "back/register_2024.xlsx").exists()


@pytest.mark.slow
def test_ppa_run_in_a_process_uses_the_folders_set_now(isolated_env, tmp_path, monkeypatch):
    """`pipeline.definitions.defs` is built when first imported: a run in a process whose
    settings changed since (each test is such a change) reads and writes the folders set now."""
    import importlib

    import pipeline.definitions
    from pipeline.cli import main

    before = {name: tmp_path / "before" / name for name in ("raw", "warehouse", "archive", "reports")}
    for name, folder in before.items():
        folder.mkdir(parents=True)
        monkeypatch.setenv(f"PPA_{name.upper()}_DIR", str(folder))
    importlib.reload(pipeline.definitions)  # its defs now hold the folders of `before`
    for name in before:
        monkeypatch.setenv(f"PPA_{name.upper()}_DIR", str(isolated_env[name]))
    register(isolated_env["raw"] / "kutim/a.xlsx", [row(case_id="T1")])
    assert main(["run", "--agency", "kutim"]) == 0
    assert query(isolated_env["warehouse"], "SELECT count(*) AS n FROM staging.case_victims")["n"][0] == 1
    assert len(list(isolated_env["archive"].rglob("*.xlsx"))) == 1
    assert not [p for p in (tmp_path / "before").rglob("*") if p.is_file()]


@pytest.mark.slow
def test_ppa_run_exits_nonzero_when_the_pipeline_fails(isolated_env):
    register(isolated_env["raw"] / "ppu/a.xlsx", [row()])
    (isolated_env["warehouse"] / "warehouse.duckdb").write_bytes(b"this is not a duckdb file")
    result = ppa("run")
    assert result.returncode == 1
    assert "FAILED" in result.stdout


def test_unknown_agency_is_refused(isolated_env):
    from pipeline.cli import main

    assert main(["run", "--agency", "jakarta"]) == 2


def test_validate_with_feedback_and_template_without_a_warehouse(isolated_env, tmp_path, capsys):
    import openpyxl

    from pipeline.cli import main

    path = register(tmp_path / "cek/register.xlsx", [row(case_id="V1"), row(case_id="V2", sex="X")])
    assert main(["validate", str(path), "--agency", "ppu", "--feedback"]) == 0
    out = capsys.readouterr().out
    assert "Would load 1 rows, reject 1" in out and "umpan balik / feedback:" in out
    written = next((tmp_path / "cek").rglob("*.umpan-balik.xlsx"))
    wb = openpyxl.load_workbook(written)
    assert wb.sheetnames[0] == "Ringkasan"
    assert not (isolated_env["warehouse"] / "warehouse.duckdb").exists()

    target = tmp_path / "template.xlsx"
    assert main(["template", "--agency", "ppu", "--out", str(target)]) == 0
    sheet = openpyxl.load_workbook(target)["Register"]
    assert sheet.data_validations.dataValidation, "drop-down lists"


SCRIPT = ("import atexit, sys, threading, time\n"
          "atexit.register(lambda: print('handler ran'))\n"
          "if sys.argv[1] == 'thread':\n"
          "    threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
          "sys.argv = ['ppa', *sys.argv[2:]]\n"
          "from pipeline.cli import script\n"
          "script()\n")


@pytest.mark.parametrize("thread", ["none", "thread"])
def test_the_console_script_exits_with_the_code_after_its_exit_handlers_and_output(isolated_env, thread):
    """`ppa` ends without Python's last collection (pipeline.cli.app.script): the exit code, the
    buffered output and the exit handlers are kept, and a thread still running is waited for."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output kept in buffers till exit
    for args, code in ((["run", "--agency", "jakarta"], 2), (["--help"], 0)):
        done = subprocess.run([sys.executable, "-c", SCRIPT, thread, *args], capture_output=True, text=True,
                              timeout=120, env=env)
        assert done.returncode == code, done.stderr
        assert done.stdout.endswith("handler ran\n") and ("jakarta" in done.stderr if code else "Usage" in done.stdout)
        assert ("thread done" in done.stdout) == (thread == "thread")
