"""One odd file can never stop a run: the reader's side.

- personal values are masked in time linear in the cell, whatever the cell holds;
- a cell's text is bounded (Excel's 32,767 characters) before anything scans it;
- the container is checked the way calamine reads it (relationships followed, any XML quoting);
- every file is read in a guarded child process: a crash, an abort or a timeout rejects that
  file with a reason, and the run and every other file go on.

Every hostile file is generated here; nothing is committed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from helpers import query
from hypothesis import given, settings
from hypothesis import strategies as st
from test_hostile import SHEET, good_register, ods_repeated, rewrite, with_cells
from workbooks import HEADER, register, row, write_ods

from pipeline import privacy
from pipeline.contract import load_contract
from pipeline.ingest import reader
from pipeline.ingest.container import check_file
from pipeline.ingest.limits import SafetyLimits, UnreadableFile
from pipeline.ingest.workbook import read_workbook
from pipeline.privacy import ScrubbedError

C = load_contract()
ROOT = Path(__file__).resolve().parent.parent
EXCEL_MAX_CHARS = 32_767


# ---------------------------------------------------------------- masking in linear time

_REFERENCE = (("nik", privacy.NIK), ("phone", privacy.PHONE), ("email", privacy.EMAIL))


def reference_mask(text: str) -> tuple[str, list[str]]:
    """The masking as the detectors' patterns define it (re.subn: quadratic on some texts)."""
    found = []
    for kind, pattern in _REFERENCE:
        text, n = pattern.subn(privacy.MASKS[kind], text)
        if n:
            found.append(kind)
    return text, found


# characters that start, continue or end the detectors' matches, and others
PIECES = st.text(alphabet="a1.@-+ ,eE5_(0)8\nZ\u00e9\u0661x62", min_size=0, max_size=40)


@settings(max_examples=600)
@given(PIECES)
def test_linear_masking_finds_what_the_patterns_define(text):
    assert privacy.mask(text) == reference_mask(text)
    assert privacy.detect(text) == [kind for kind, p in _REFERENCE if p.search(text)]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["ab", "a.b", "x@y", "@", ".", "-", "+", "1", "08", "0812", "e15", "1,", " ",
                                  "z.co", "@a.b", "@@"]), min_size=1, max_size=30))
def test_linear_masking_on_e_mail_shaped_texts(parts):
    text = "".join(parts)
    assert privacy.mask(text) == reference_mask(text)


def _seconds(fn, text: str) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - start)
    return best


ADVERSARIAL = ["a", "1", "1.", "a.", "a-", "x@a-", "1,1 ", "a@", "0812 ", "ab+", "\u00e9"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(ADVERSARIAL), min_size=1, max_size=3), st.sampled_from(["", "@", "1", "@x"]))
def test_masking_time_grows_linearly_with_the_cell(unit, tail):
    """At 4k and 32k characters (8 times longer) the time grows about 8 times; the patterns'
    own search took seconds at 32k (64 times its 4k time) on these texts."""
    unit = "".join(unit)

    def cell(n: int) -> str:
        return (unit * (n // len(unit) + 1))[: n - len(tail)] + tail

    small, big = _seconds(privacy.mask, cell(4096)), _seconds(privacy.mask, cell(32_768))
    assert big < max(24 * small, 0.05), (unit, tail, small, big)


def test_a_full_cell_of_each_adversarial_kind_is_masked_quickly():
    benign = _seconds(privacy.mask, ("Rumah Tangga 1 " * 3000)[:EXCEL_MAX_CHARS])
    for unit in ADVERSARIAL:
        text = (unit * EXCEL_MAX_CHARS)[: EXCEL_MAX_CHARS - 1] + "@"
        assert _seconds(privacy.mask, text) < max(20 * benign, 0.05), unit


# ---------------------------------------------------------------- each cell's text bounded before it is scanned

def long_cells(path: Path) -> Path:
    """A register whose place holds 40,000 characters (openpyxl would cut it: written as XML here) and
    whose status holds a full 32,767-character cell that made the e-mail search quadratic ('a.a. … @')."""
    full = ("a." * EXCEL_MAX_CHARS)[: EXCEL_MAX_CHARS - 1] + "@"
    good = register(path.with_suffix(".tmp"), [row(case_id="L1", place="PLACE", status="STATUS")])
    out = rewrite(good, path, SHEET, lambda d: d.replace(b">PLACE<", b">" + b"Rumah " * 6000 + b"Tangga" * 670 + b"<")
                  .replace(b">STATUS<", b">" + full.encode() + b"<"))
    good.unlink()
    return out


def test_a_cell_is_cut_to_excels_limit_before_it_is_masked_or_mapped(tmp_path):
    [sheet] = read_workbook(long_cells(tmp_path / "panjang.xlsx"), C).registers
    [data] = sheet.rows
    assert len(data.values["place"]) == EXCEL_MAX_CHARS and data.values["place"].startswith("Rumah Rumah")
    assert data.values["case_status"] == ("a." * EXCEL_MAX_CHARS)[: EXCEL_MAX_CHARS - 1] + "@"  # exactly the limit
    assert data.cut == ["place"]


# ---------------------------------------------------------------- the container checked the way calamine reads it

FAR = b'<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row>'  # calamine asks for 512 GiB


def single_quoted(path: Path, good: Path) -> Path:
    """The attack of the issue: the far cell's reference in single quotes (legal XML)."""
    return with_cells(good, path, b"<row r='1048576'><c r='XFD1048576' t='n'><v>1</v></c></row>")


def spaced_tags(path: Path, good: Path) -> Path:
    """Newlines and spaces inside the tags, around '=' too."""
    return with_cells(good, path, b'<row\n r = "1048576"\n><c\tr\n=\n"XFD1048576"\n t="n"\n><v\n>1</v\n></c\n></row\n>')


def prefixed(path: Path, good: Path) -> Path:
    """The far cell written with a namespace prefix (calamine ignores prefixes)."""
    ns = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    return with_cells(good, path, b'<x:row xmlns:x="%s" r="1048576"><x:c r="XFD1048576"><x:v>1</x:v></x:c></x:row>' % ns)


def zero_padded(path: Path, good: Path) -> Path:
    """Leading zeros in the row number: calamine reads row 1,048,576."""
    return with_cells(good, path, b'<row r="1048576"><c r="XFD0001048576"><v>1</v></c></row>')


def without_references(path: Path, good: Path) -> Path:
    """A cell with no r: calamine puts it by its counters, here the row's r."""
    return with_cells(good, path, b'<row r="1048576"><c t="n"><v>1</v></c></row>')


def decoy(path: Path, good: Path, far: bytes = FAR) -> Path:
    """_rels/.rels names the workbook data/book.xml: calamine reads data/workbook.xml and the sheets
    its relationships name (here a part whose name differs in case), while xl/workbook.xml, a decoy,
    names the harmless sheet."""
    ns = "http://schemas.openxmlformats.org"
    with zipfile.ZipFile(good) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    parts["_rels/.rels"] = parts["_rels/.rels"].replace(b'Target="xl/workbook.xml"', b'Target="data/book.xml"')
    parts["data/workbook.xml"] = parts["xl/workbook.xml"]
    parts["data/_rels/workbook.xml.rels"] = (
        f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="rId1" Type="{ns}/'
        f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>').encode()
    parts["Data/Worksheets/Sheet1.XML"] = parts[SHEET].replace(b"</sheetData>", far + b"</sheetData>")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in parts.items():
            out.writestr(name, data)
    return path


def ods_single_quoted(path: Path) -> Path:
    """An .ods whose repeated rows and cells are counted in single quotes: 20 million cells."""
    return ods_repeated(path, 1_000_000, 20, quote=b"'")


def huge_unique_count(path: Path, good: Path) -> Path:
    """Shared strings that claim 10^11 unique strings: calamine reserves 2.4 TB before reading one."""
    sst = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
           b'uniqueCount="100000000000"><si><t>x</t></si></sst>')
    tmp = rewrite(good, path.with_suffix(".tmp"), "xl/sharedStrings.xml", lambda d: sst)
    out = rewrite(tmp, path, "xl/_rels/workbook.xml.rels", lambda d: d.replace(
        b"</Relationships>", b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/'
                             b'2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'))
    tmp.unlink()
    return out


def polyglot(path: Path, good: Path) -> Path:
    """A workbook that is also an .ods: calamine reads one or the other, by its name or its content."""
    ods = write_ods(path.with_suffix(".tmp.ods"), {"R": [HEADER, row()]})
    with zipfile.ZipFile(ods) as src:
        extra = {name: src.read(name) for name in ("mimetype", "content.xml")}
    ods.unlink()
    out = decoy(path, good)
    with zipfile.ZipFile(out, "a") as z:
        for name, data in extra.items():
            z.writestr(name, data)
    return out


CONTAINER_CASES = {  # generator -> (reason code, detail)
    single_quoted: ("sheet_too_many_rows", "Register!XFD1048576 > 200000"),
    spaced_tags: ("sheet_too_many_rows", "Register!XFD1048576 > 200000"),
    prefixed: ("sheet_too_many_rows", "Register!XFD1048576 > 200000"),
    zero_padded: ("sheet_too_many_rows", "Register!XFD1048576 > 200000"),
    without_references: ("sheet_too_many_rows", "Register!M1048576 > 200000"),
    decoy: ("sheet_too_many_rows", "Register!XFD1048576 > 200000"),
    huge_unique_count: ("file_xml_unsafe", "xl/sharedStrings.xml: uniqueCount 100000000000 > 5000000"),
    polyglot: ("file_damaged", "OOXML + OpenDocument"),
}


@pytest.mark.parametrize("make", CONTAINER_CASES, ids=lambda f: f.__name__)
def test_the_container_check_reads_what_calamine_reads(tmp_path, make):
    path = make(tmp_path / f"{make.__name__}.xlsx", good_register(tmp_path / "g.xlsx", "G"))
    with pytest.raises(UnreadableFile) as err:
        check_file(path)
    assert (err.value.code, err.value.detail) == CONTAINER_CASES[make]


def test_an_ods_repeat_count_in_single_quotes_is_counted(tmp_path):
    with pytest.raises(UnreadableFile) as err:
        check_file(ods_single_quoted(tmp_path / "ulang.ods"))
    assert (err.value.code, err.value.detail) == ("sheet_too_many_rows", "R!T1000002 > 200000")


def test_calamine_reads_the_sheet_the_decoy_hides_and_the_check_measures_it(tmp_path):
    """The decoy with a far cell calamine can afford (XFD400): calamine's sheet reaches it, and the
    check measures the same area (the decoy's sheet ends at M6)."""
    import python_calamine as pc

    path = decoy(tmp_path / "umpan.xlsx", good_register(tmp_path / "g.xlsx", "G"),
                 b'<row r="400"><c r="XFD400"><v>1</v></c></row>')
    book = pc.CalamineWorkbook.from_path(str(path))
    assert book.get_sheet_by_name("Register").end == (399, 16383)
    with pytest.raises(UnreadableFile) as err:
        check_file(path)
    assert (err.value.code, err.value.detail) == ("sheet_too_large", "Register!XFD400: 400 x 16384 > 5000000")
    area = check_file(path, SafetyLimits(max_cells=10_000_000)).sheets["Register"]
    assert (area.max_row, area.max_col) == (400, 16384)


def test_relative_and_absolute_targets_and_counted_cells_measure_what_calamine_reads(tmp_path):
    """openpyxl writes absolute targets (/xl/worksheets/sheet1.xml), Excel relative ones; without
    any r attribute (rows or cells) calamine counts them in order, and so does the check."""
    import python_calamine as pc

    good = good_register(tmp_path / "g.xlsx", "G", 3)
    relative = rewrite(good, tmp_path / "rel.xlsx", "xl/_rels/workbook.xml.rels",
                       lambda d: d.replace(b'Target="/xl/worksheets/sheet1.xml"', b'Target="worksheets/sheet1.xml"'))
    counted = rewrite(good, tmp_path / "counted.xlsx", SHEET, lambda d: re.sub(rb' r="[A-Z]*[0-9]+"', b"", d))
    for path, expected in ((good, (7, 13)), (relative, (7, 13)), (counted, (6, 13))):  # counted: no empty row 3
        area = check_file(path).sheets["Register"]
        end = pc.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Register").end
        assert (area.max_row, area.max_col) == (end[0] + 1, end[1] + 1) == expected, path.name
    assert [r.values["case_id"] for r in read_workbook(counted, C).registers[0].rows] == ["G1", "G2", "G3"]


def test_blank_cells_are_not_values_wherever_they_are(tmp_path):
    """A formatted blank cell in XFD1048576, right before the merged ranges: calamine skips it."""
    import python_calamine as pc

    good = good_register(tmp_path / "g.xlsx", "G", 3)
    path = rewrite(good, tmp_path / "blank.xlsx", SHEET, lambda d: d.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" s="1"/><c r="XFC1048576" s="1"></c></row></sheetData>'
                         b'<mergeCells count="1"><mergeCell ref="A1:C1"/></mergeCells>'))
    area = check_file(path).sheets["Register"]
    end = pc.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Register").end
    assert (area.max_row, area.max_col) == (end[0] + 1, end[1] + 1) == (7, 13)


# ---------------------------------------------------------------- the guarded reader process

UNCHECKED = SafetyLimits(max_rows=2_000_000, max_cells=10**30)  # the container check lets anything through


def guarded(path: Path, limits: SafetyLimits = SafetyLimits(), memory_mb: int = 1024, timeout_s: float = 60.0):
    """Read a file in the guarded reader process: the rows read, or (reason code, detail)."""
    try:
        book = reader.read_workbook(path, C, 200_000, limits, memory_mb, timeout_s)
    except UnreadableFile as exc:
        return exc.code, exc.detail
    return sum(len(s.rows) for s in book.registers)


def child_pid() -> int | None:
    proc = reader._reader().proc
    return proc.pid if proc is not None and proc.poll() is None else None


def test_a_file_that_makes_calamine_abort_rejects_that_file_and_the_next_one_is_read(tmp_path):
    good = good_register(tmp_path / "g.xlsx", "G", 3)
    far = single_quoted(tmp_path / "jauh.xlsx", good)
    assert guarded(far) == ("sheet_too_many_rows", "Register!XFD1048576 > 200000")  # the check, first
    assert guarded(good) == 3
    before = child_pid()
    # with the check out of the way, calamine asks for 512 GiB and the child aborts (SIGABRT)
    assert guarded(far, UNCHECKED) == ("reader_out_of_memory", "> 1024 MB")
    assert child_pid() is None
    assert guarded(good) == 3
    assert child_pid() not in (None, before)  # a new child
    unique = huge_unique_count(tmp_path / "unik.xlsx", good)  # calamine reserves 2.4 TB: aborts
    assert guarded(unique, UNCHECKED) == ("reader_out_of_memory", "> 1024 MB")
    overflow = rewrite(unique, tmp_path / "luap.xlsx", "xl/sharedStrings.xml",  # past 64 bits: a Rust panic
                       lambda d: d.replace(b'uniqueCount="100000000000"', b'uniqueCount="1000000000000000000"'))
    assert guarded(overflow, UNCHECKED) == ("reader_crashed", "panic")
    assert guarded(good) == 3


def test_a_file_read_past_its_timeout_or_a_child_killed_rejects_that_file(tmp_path):
    import signal
    import threading

    from test_hostile import large_workbook

    good = good_register(tmp_path / "g.xlsx", "G", 3)
    big = large_workbook(tmp_path / "besar.xlsx", 50_000)  # about 2 s to read
    assert guarded(big, timeout_s=0.3) == ("reader_timeout", "> 0.3 s")
    assert guarded(good) == 3
    pid = child_pid()
    threading.Timer(0.5, os.kill, (pid, signal.SIGSEGV)).start()
    assert guarded(big) == ("reader_crashed", "SIGSEGV")
    assert guarded(good) == 3


def test_a_bug_in_the_reader_fails_the_run_without_quoting_a_cell(tmp_path):
    good = good_register(tmp_path / "g.xlsx", "G", 3)
    pid = child_pid() or (guarded(good) and child_pid())
    with pytest.raises(ScrubbedError) as err:  # limits of the wrong type: a TypeError in the check
        reader.read_workbook(good, C, 200_000, SafetyLimits(max_rows="200000"), 1024, 60)
    assert "TypeError at limits.py" in str(err.value) and "message withheld" in str(err.value)
    assert child_pid() == pid and guarded(good) == 3  # the child carries on


def test_a_memory_limit_too_small_to_start_the_reader_is_a_setup_error(tmp_path):
    with pytest.raises(reader.ReaderUnavailable, match="PPA_READER_MEMORY_MB=20"):
        guarded(good_register(tmp_path / "g.xlsx", "G"), memory_mb=20)


def test_the_parent_unpickles_only_reader_results():
    import io
    import pickle

    with pytest.raises(pickle.UnpicklingError, match="posix.system"):
        reader._Unpickler(io.BytesIO(pickle.dumps(os.system))).load()


# ---------------------------------------------------------------- a whole run: one agency's hostile files

RUN = textwrap.dedent("""
    import json, resource, sys, time
    from helpers import run_pipeline
    from pipeline.ingest import reader

    def peak_mb():  # this process's peak RSS
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

    start = time.perf_counter()
    result = run_pipeline()
    seconds = time.perf_counter() - start
    reader._close()  # the reader process ends and is waited for: counted below
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"success": result.success, "seconds": seconds, "peak_mb": peak_mb(),
                      "children_peak_mb": children}))
""")

# kukar's folder: file -> reason code (None: loads), and what each is
HOSTILE_FOLDER = {
    "baik.xlsx": None,
    "sel_panjang.xlsx": None,  # 40,000 and 32,767 characters: cut, with a warning, and masked quickly
    "kutip_tunggal.xlsx": "sheet_too_many_rows",
    "spasi_dalam_tag.xlsx": "sheet_too_many_rows",
    "awalan_namespace.xlsx": "sheet_too_many_rows",
    "nol_di_depan.xlsx": "sheet_too_many_rows",
    "tanpa_referensi.xlsx": "sheet_too_many_rows",
    "workbook_umpan.xlsx": "sheet_too_many_rows",
    "ulang_kutip_tunggal.ods": "sheet_too_many_rows",
    "string_unik_palsu.xlsx": "file_xml_unsafe",
    "xlsx_dan_ods.xlsx": "file_damaged",
    "pembaca_kehabisan_memori.xlsx": "reader_out_of_memory",
}
OTHERS = {"kutim": ("T", 2), "ppu": ("P", 3), "bontang": ("B", 1), "batam": ("A", 2)}


def hostile_folder(folder: Path, scratch: Path) -> None:
    scratch.mkdir()
    good = good_register(scratch / "g.xlsx", "G")
    good_register(folder / "baik.xlsx", "K", 3)
    long_cells(folder / "sel_panjang.xlsx")
    for name, make in (("kutip_tunggal", single_quoted), ("spasi_dalam_tag", spaced_tags),
                       ("awalan_namespace", prefixed), ("nol_di_depan", zero_padded),
                       ("tanpa_referensi", without_references), ("workbook_umpan", decoy),
                       ("string_unik_palsu", huge_unique_count), ("xlsx_dan_ods", polyglot)):
        make(folder / f"{name}.xlsx", good)
    ods_single_quoted(folder / "ulang_kutip_tunggal.ods")
    # within the check's limits (100,000 x 50 = 5,000,000 cells), but calamine needs more than the
    # 128 MB the run gives the reader: the reader process aborts on it
    with_cells(good, folder / "pembaca_kehabisan_memori.xlsx", b'<row r="100000"><c r="AX100000"><v>1</v></c></row>')


@pytest.mark.slow
def test_one_agencys_hostile_files_stop_nothing_else(isolated_env, tmp_path):
    raw = isolated_env["raw"]
    hostile_folder(raw / "kukar", tmp_path / "scratch")
    for agency, (prefix, n) in OTHERS.items():
        good_register(raw / agency / "register.xlsx", prefix, n)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "PPA_WORKERS": "2",
           "PPA_READER_MEMORY_MB": "128"}
    out = subprocess.run([sys.executable, "-c", RUN], capture_output=True, text=True, timeout=900, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    run = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"whole run with {len(HOSTILE_FOLDER)} files in kukar: {run}")
    assert run["success"]
    assert run["peak_mb"] < 1024 and run["children_peak_mb"] < 1024, run

    wh = isolated_env["warehouse"]
    ledger = query(wh, "SELECT path, status, coalesce(reason_code, '') AS reason_code, message, message_en, "
                       "rows_staged FROM meta.ingest_log")
    ledger = ledger.set_index("path")
    for name, code in HOSTILE_FOLDER.items():
        entry = ledger.loc[f"kukar/{name}"]
        if code is None:
            assert (entry["status"], entry["reason_code"]) == ("loaded", ""), (name, entry["reason_code"])
        else:
            assert (entry["status"], entry["reason_code"], entry["rows_staged"]) == ("rejected", code, 0), name
            assert entry["message"] and entry["message_en"] and "{" not in entry["message"], name
    staged = query(wh, "SELECT agency, case_id FROM staging.case_victims ORDER BY agency, case_id")
    expected = {"kukar": ["K1", "K2", "K3", "L1"]} | {a: [f"{p}{i}" for i in range(1, n + 1)] for a, (p, n) in OTHERS.items()}
    assert staged.groupby("agency")["case_id"].apply(list).to_dict() == expected
    cut = query(wh, "SELECT _source_file, \"column\", header, code FROM staging.cell_warnings WHERE code = 'cell_text_cut'")
    assert cut.values.tolist() == [["kukar/sel_panjang.xlsx", "place", "Tempat Kejadian", "cell_text_cut"]]
    raw_row = query(wh, "SELECT length(place) AS n, _cells_cut, case_status FROM raw.case_rows WHERE case_id = 'L1'")
    assert raw_row[["n", "_cells_cut"]].values.tolist() == [[EXCEL_MAX_CHARS, "place"]]
    assert raw_row["case_status"][0] == ("a." * EXCEL_MAX_CHARS)[: EXCEL_MAX_CHARS - 1] + "@"
