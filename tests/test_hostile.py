"""Hostile and broken files: a corpus generated here, each file with its own reason in the ledger.

Nothing is committed: every file is written by a generator below (the encrypted
workbook is a real one when msoffcrypto-tool is installed, else an OLE container
shaped like one). Attacks (zip bombs, entity expansion, a stray cell far away)
are refused in a subprocess whose time and peak memory are measured.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest
from helpers import query, run_pipeline
from workbooks import HEADER, register, row, write_ods, write_workbook, write_xls

from pipeline.contract import load_contract
from pipeline.ingest.container import check_file
from pipeline.ingest.limits import SafetyLimits, UnreadableFile
from pipeline.ingest.workbook import read_workbook, sheet_rows
from pipeline.messages import render

C = load_contract()
ROOT = Path(__file__).resolve().parent.parent
SHEET = "xl/worksheets/sheet1.xml"
TITLE = 3  # register() writes three title rows; the header is row 4, data from row 5


# ---------------------------------------------------------------- generators

def rewrite(src: Path, dst: Path, part: str, fn) -> Path:
    """Copy a zip, changing one part's bytes with fn (added when missing)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        names = zin.namelist()
        for name in names:
            data = zin.read(name)
            zout.writestr(name, fn(data) if name == part else data)
        if part not in names:
            zout.writestr(part, fn(b""))
    return dst


def raw_zip(path: Path, entries: list[tuple[str, int, bytes, int, int]]) -> Path:
    """A zip written by hand: (name, method, stored bytes, crc, declared size); sizes may lie."""
    out, central = bytearray(), bytearray()
    for name, method, data, crc, size in entries:
        offset, raw = len(out), name.encode()
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data), size, len(raw), 0)
        out += raw + data
        central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(raw), 0, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + end))
    return path


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


PREFIX = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
SUFFIX = b"</sheetData></worksheet>"


def zip_bomb(path: Path, good: Path, gib: float = 3.75, lie: bool = False) -> Path:
    """A workbook whose sheet part unpacks to `gib` GiB of blanks from about 4 MB.

    Built from one 16 MiB block compressed once and repeated (a full flush makes
    the blocks independent), so writing it takes no time. With `lie` the zip
    declares 4000 bytes for the part: only unpacking shows the truth.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(PREFIX) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(b" " * (16 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.compress(SUFFIX) + c.flush()
    repeats = int(gib * 64)
    bomb = head + block * repeats + tail
    size = 4000 if lie else len(PREFIX) + len(SUFFIX) + repeats * (16 << 20)
    entries = []
    with zipfile.ZipFile(good) as z:
        for name in z.namelist():
            if name == SHEET:
                entries.append((name, 8, bomb, 0, size))
            else:
                data = z.read(name)
                entries.append((name, 8, deflate(data), zlib.crc32(data), len(data)))
    return raw_zip(path, entries)


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%s;" % (str(i - 1).encode() if i > 1 else b"")) * 10)
                     for i in range(1, 10))
          + b"]>")


def billion_laughs(path: Path, good: Path, part: str = SHEET) -> Path:
    """Entity expansion ("billion laughs"): nine levels of ten make 10^9 'lol's from 1 KB."""
    if part == SHEET:
        return rewrite(good, path, SHEET, lambda d: LAUGHS + re.sub(rb"^<\?xml[^>]*\?>", b"", d).replace(
            b"<t>DP3A CONTOH</t>", b"<t>&lol9;</t>"))
    sst = (LAUGHS + b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
           b'uniqueCount="1"><si><t>&lol9;</t></si></sst>')
    tmp = rewrite(good, path.with_suffix(".tmp"), "xl/sharedStrings.xml", lambda d: sst)
    tmp = rewrite(tmp, path.with_suffix(".tmp2"), "[Content_Types].xml", lambda d: d.replace(
        b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                     b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'))
    out = rewrite(tmp, path, "xl/_rels/workbook.xml.rels", lambda d: d.replace(
        b"</Relationships>", b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/'
                             b'2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'))
    path.with_suffix(".tmp").unlink()
    path.with_suffix(".tmp2").unlink()
    return out


def with_cells(good: Path, path: Path, xml: bytes, dimension: bytes | None = None) -> Path:
    """A copy of a workbook with raw rows added at the end of its sheet (and its dimension replaced)."""
    def fn(d: bytes) -> bytes:
        d = d.replace(b"</sheetData>", xml + b"</sheetData>")
        return re.sub(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="%s"/>' % dimension, d) if dimension else d
    return rewrite(good, path, SHEET, fn)


def formatted_blank_rows(n: int, first: int) -> bytes:
    """n rows that Excel writes when a range is formatted: a style, no value."""
    return b"".join(b'<row r="%d" spans="1:13" s="1" customFormat="1" ht="15"/>' % r for r in range(first, first + n))


def ole_encrypted(path: Path) -> Path:
    """An OLE compound file shaped like a password-protected .xlsx: EncryptionInfo and
    EncryptedPackage streams (random bytes: nobody can open it). Used when msoffcrypto-tool
    is not installed to make a real one."""
    sect, free, end, fatsect = 512, 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    streams = [("EncryptionInfo", os.urandom(4096)), ("EncryptedPackage", os.urandom(8192))]
    fat, starts = [fatsect, end], []
    for _, data in streams:
        first, n = len(fat), len(data) // sect
        starts.append(first)
        fat += [first + i + 1 for i in range(n - 1)] + [end]
    fat += [free] * (128 - len(fat))

    def entry(name: str, kind: int, child=free, right=free, start=end, size=0) -> bytes:
        raw = name.encode("utf-16-le") + b"\0\0" if name else b""
        return struct.pack("<64sHBBIII16sIQQIQ", raw, len(raw), kind, 1, free, right, child, b"\0" * 16, 0, 0, 0,
                           start, size)

    directory = (entry("Root Entry", 5, child=1) + entry("EncryptionInfo", 2, right=2, start=starts[0], size=4096)
                 + entry("EncryptedPackage", 2, start=starts[1], size=8192) + entry("", 0))
    header = struct.pack("<8s16sHHHHH6sIIIIIIIII", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\0" * 16, 0x3E, 3, 0xFFFE,
                         9, 6, b"\0" * 6, 0, 1, 1, 0, 4096, end, 0, end, 0)
    header += struct.pack("<109I", 0, *([free] * 108))
    path.write_bytes(header + struct.pack("<128I", *fat) + directory + b"".join(d for _, d in streams))
    return path


def encrypted_workbook(path: Path, good: Path) -> tuple[Path, str]:
    """A real password-protected workbook (msoffcrypto-tool), else an OLE container like one."""
    try:
        from msoffcrypto.format.ooxml import OOXMLFile
    except ImportError:
        return ole_encrypted(path), "ole"
    with open(good, "rb") as src, open(path, "wb") as out:
        OOXMLFile(src).encrypt("rahasia", out)
    return path, "msoffcrypto"


def xls_with_password(path: Path) -> Path:
    """An .xls whose workbook stream says it is encrypted (a FILEPASS record after BOF)."""
    data = bytearray(write_xls(path, {"R": [HEADER, row()]}).read_bytes())
    bof = data.find(b"\x09\x08\x10\x00\x00\x06\x05\x00")
    struct.pack_into("<H", data, bof + 20, 0x002F)  # the record after BOF (16 bytes) becomes FILEPASS
    path.write_bytes(bytes(data))
    return path


def ods_repeated(path: Path, rows: int, cols: int, quote: bytes = b'"') -> Path:
    """An .ods where one filled row is repeated `rows` times, `cols` cells wide: tiny file, huge sheet.
    Its attributes in `quote` (XML allows ' as well as ")."""
    good = write_ods(path.with_suffix(".tmp.ods"), {"R": [HEADER, row()]})
    rep = (b'<table:table-row table:number-rows-repeated="%d"><table:table-cell table:number-columns-repeated="%d" '
           b'office:value-type="float" office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>'
           % (rows, cols)).replace(b'"', quote)
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "content.xml":
                data = data.replace(b"</table:table>", rep + b"</table:table>", 1)
            zout.writestr(info, data)
    good.unlink()
    return path


def good_register(path: Path, prefix: str, n: int = 2, **kw) -> Path:
    return register(path, [row(case_id=f"{prefix}{i}", **kw) for i in range(1, n + 1)])


# ---------------------------------------------------------------- the corpus

UNICODE_NAME = 'Data "Kasus" 2024 – Dinas\'s (revisi) ñ 日本.xlsx'


def build_corpus(folder: Path, scratch: Path) -> dict[str, str | None]:
    """Every kind of bad file next to good ones; file name -> expected reason code (None: loads)."""
    folder.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    good = good_register(scratch / "base.xlsx", "Z")
    expected: dict[str, str | None] = {}

    def put(name: str, code: str | None) -> Path:
        expected[name] = code
        return folder / name

    good_register(put("register_baik.xlsx", None), "G")
    # empty things
    import openpyxl
    openpyxl.Workbook().save(put("kosong.xlsx", "workbook_empty"))
    put("nol_byte.xlsx", "file_empty").write_bytes(b"")
    # not a workbook, whatever the name says
    put("csv_diganti_nama.xlsx", "file_unreadable").write_text("No Reg,Tanggal Pengaduan\n1,2024-01-01\n")
    put("pdf_diganti_nama.xlsx", "file_unreadable").write_bytes(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    put("dokumen_word.xlsx", "file_unreadable").write_bytes(docx.getvalue())
    # damaged
    data = good.read_bytes()
    put("terpotong.xlsx", "file_damaged").write_bytes(data[: len(data) // 2])
    with zipfile.ZipFile(good) as z:
        info = z.getinfo(SHEET)
    flipped = bytearray(data)
    middle = info.header_offset + 30 + len(SHEET) + info.compress_size // 2
    flipped[middle: middle + 8] = bytes(b ^ 0xFF for b in flipped[middle: middle + 8])
    put("rusak_crc.xlsx", "file_damaged").write_bytes(bytes(flipped))
    # passwords
    encrypted_workbook(put("sandi.xlsx", "file_password"), good)
    xls_with_password(put("sandi.xls", "file_password"))
    # formulas saved without their value (openpyxl writes formulas so)
    formula = row(case_id="F1")
    formula[1] = "=DATE(2024,3,5)"
    register(put("rumus_tanpa_nilai.xlsx", "formula_not_calculated"), [formula, row(case_id="F2")])
    # attacks
    zip_bomb(put("bom_zip.xlsx", "file_zip_bomb"), good)
    zip_bomb(put("bom_zip_ukuran_palsu.xlsx", "file_zip_bomb"), good, lie=True)
    billion_laughs(put("entitas_xml.xlsx", "file_xml_unsafe"), good)
    billion_laughs(put("entitas_sharedstrings.xlsx", "file_xml_unsafe"), good, part="xl/sharedStrings.xml")
    with_cells(good, put("sel_nyasar_xfd1048576.xlsx", "sheet_too_many_rows"),
               b'<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row>')
    with_cells(good, put("sel_nyasar_xfd400.xlsx", "sheet_too_large"),
               b'<row r="400"><c r="XFD400" t="n"><v>1</v></c></row>')
    ods_repeated(put("baris_berulang.ods", "sheet_too_many_rows"), 1_000_000, 1000)
    merges = b"".join(b'<mergeCell ref="A%d:A%d"/>' % (r, r + 1) for r in range(10, 400_000, 2))
    rewrite(good, put("gabungan_berlebihan.xlsx", "sheet_too_many_merges"), SHEET, lambda d: d.replace(
        b"</sheetData>", b'</sheetData><mergeCells count="199995">' + merges + b"</mergeCells>"))
    # these load
    with_cells(good_register(scratch / "dim.xlsx", "D", 3), put("dimensi_bohong.xlsx", None), b"", dimension=b"A1")
    with_cells(good_register(scratch / "fmt.xlsx", "B", 2), put("sejuta_baris_berformat.xlsx", None),
               formatted_blank_rows(1_000_000, 7), dimension=b"A1:M1000006")
    write_workbook(put("sel_digabung.xlsx", None), {"Register": [["REGISTER"], ["DP3A"], [], HEADER, row(case_id="M1", age="9 th"),
                                         row(case_id=None, age="12 th"), row(case_id="M2")]},
                   merges={"Register": ["A5:A6"]})
    register(put("nik_sebagai_angka.xlsx", None), [row(case_id="N1", nik=6402011234560001.0, status=6402019876540002.0)])
    good_register(put(UNICODE_NAME, None), "U")
    write_xls(scratch / "lama.xls", {"R": [HEADER, row(case_id="X1")]}).rename(put("xls_bernama_xlsx.xlsx", None))
    total = register(scratch / "total.xlsx", [row(case_id="T1"), ["JUMLAH", None, None, None, None, None,
                                                                  "=COUNTA(A5:A5)"]])
    total.rename(put("rumus_di_baris_jumlah.xlsx", None))
    return expected


@pytest.mark.slow
def test_corpus_every_bad_file_has_its_own_reason_and_the_good_ones_load(isolated_env, tmp_path):
    expected = build_corpus(isolated_env["raw"] / "kukar", tmp_path / "scratch")
    result = run_pipeline("kukar")
    assert result.success
    wh = isolated_env["warehouse"]
    ledger = query(wh, "SELECT * FROM meta.ingest_log").set_index("path")
    assert sorted(ledger.index) == sorted(f"kukar/{n}" for n in expected)
    for name, code in expected.items():
        r = ledger.loc[f"kukar/{name}"]
        if code is None:
            assert r["status"] == "loaded", (name, r["reason_code"], r["error"])
            assert r["rows_staged"] > 0, name
        else:
            assert (r["status"], r["reason_code"]) == ("rejected", code), (name, r["reason_code"], r["error"])
            assert r["message"] and r["message_en"] and "{" not in r["message"], name
            assert r["rows_staged"] == 0 and r["data_rows"] == 0, name
            detail = r["error"] or ""
            assert r["message"] == render(code, detail=detail) and r["message_en"] == render(code, "en", detail=detail)
    bad = ledger[ledger["status"] == "rejected"]
    # the same kind of problem gives the same words; different problems never do
    by_message = bad.groupby("message")["reason_code"].nunique()
    assert (by_message == 1).all()
    assert bad.loc["kukar/csv_diganti_nama.xlsx", "error"] == "CSV/TXT"
    assert bad.loc["kukar/pdf_diganti_nama.xlsx", "error"] == "PDF"
    assert bad.loc["kukar/dokumen_word.xlsx", "error"] == "Word"
    assert "XFD1048576" in bad.loc["kukar/sel_nyasar_xfd1048576.xlsx", "message"]

    staged = query(wh, "SELECT case_id, victim_seq, victim_age, case_status, _source_file FROM staging.case_victims")
    ids = set(staged["case_id"])
    assert {"G1", "G2", "D1", "D2", "D3", "B1", "B2", "M1", "M2", "N1", "U1", "U2", "X1", "T1"} <= ids
    assert not ids & {"F1", "F2", "Z1"}  # nothing of a refused file
    # a case id merged over two victim rows: one case, victims 1 and 2
    merged = staged[staged["case_id"] == "M1"].sort_values("victim_seq")
    assert merged[["victim_seq", "victim_age"]].values.tolist() == [[1, 9], [2, 12]]
    # the 16-digit number: masked in a kept column, never stored from the NIK column
    raw = query(wh, "SELECT * FROM raw.case_rows WHERE case_id = 'N1'").iloc[0]
    assert raw["case_status"] == "[NIK]" and raw["_pii_masked"] == "nik" and raw["_victim_key"]
    from leaks import duckdb_texts

    texts = duckdb_texts(wh / "warehouse.duckdb")
    assert not [t for t in texts if "6402011234560001" in t or "6402019876540002" in t or "402011234560001" in t]
    # the unicode file name is kept exactly, in the ledger and the lineage
    assert f"kukar/{UNICODE_NAME}" in set(staged["_source_file"])


@pytest.mark.slow
def test_formatted_blank_rows_and_a_lying_dimension_do_not_hide_or_limit_data(tmp_path):
    good = good_register(tmp_path / "g.xlsx", "B", 3)
    path = with_cells(good, tmp_path / "fmt.xlsx", formatted_blank_rows(1_000_000, 8), dimension=b"A1")
    limits = SafetyLimits(max_rows=100)  # a million formatted rows, a limit of 100: still read
    [sheet] = read_workbook(path, C, max_rows=100, limits=limits).registers
    assert [r.values["case_id"] for r in sheet.rows] == ["B1", "B2", "B3"]
    container = check_file(path, limits)
    assert (container.sheets["Register"].max_row, container.sheets["Register"].max_col) == (7, 13)


def test_a_value_far_below_the_table_counts_against_the_row_limit(tmp_path):
    good = good_register(tmp_path / "g.xlsx", "B", 3)
    path = with_cells(good, tmp_path / "far.xlsx", b'<row r="5000"><c r="B5000" t="n"><v>1</v></c></row>')
    with pytest.raises(UnreadableFile) as err:
        read_workbook(path, C, max_rows=1000)
    assert err.value.code == "sheet_too_many_rows" and err.value.detail == "Register!M5000 > 1000"
    assert [r.row for r in read_workbook(path, C, max_rows=10_000).registers[0].rows] == [5, 6, 7, 5000]


def test_formula_without_value_in_a_kept_column_refuses_the_file_elsewhere_it_is_ignored(tmp_path):
    bad = row(case_id="F1")
    bad[7] = "=CONCAT(\"Fi\",\"sik\")"  # the form of violence, a required column
    with pytest.raises(UnreadableFile) as err:
        read_workbook(register(tmp_path / "a.xlsx", [row(case_id="F0"), bad]), C)
    assert err.value.code == "formula_not_calculated" and err.value.detail == "Register!H6"
    unknown = HEADER + ["Catatan Petugas"]
    ok = register(tmp_path / "b.xlsx", [row(case_id="F3") + ["=1+1"]], header=unknown)
    assert [r.values["case_id"] for r in read_workbook(ok, C).registers[0].rows] == ["F3"]


def test_cached_formula_values_are_read(tmp_path):
    path = register(tmp_path / "a.xlsx", [row(case_id="C1")])
    cached = rewrite(path, tmp_path / "c.xlsx", SHEET, lambda d: re.sub(
        rb'<c r="G5" t="inlineStr"><is><t>12 th</t></is></c>', b'<c r="G5"><f>6*2</f><v>12</v></c>', d))
    [sheet] = read_workbook(cached, C).registers
    assert sheet.rows[0].values["victim_age"] == "12"
    # a formula whose value is the empty string: Excel writes t="str" and an empty <v>; that is a value
    empty = rewrite(path, tmp_path / "e.xlsx", SHEET, lambda d: re.sub(
        rb'<c r="M5" t="inlineStr"><is><t>Proses</t></is></c>', b'<c r="M5" t="str"><f>IF(1,"","x")</f><v></v></c>', d))
    [sheet] = read_workbook(empty, C).registers
    assert sheet.rows[0].values["case_status"] is None


def test_merged_cells_fill_only_data_rows_and_only_their_first_column(tmp_path):
    rows = [["REGISTER"], [], [], HEADER, row(case_id="M1", services="Pengaduan"), row(case_id=None, services=None),
            row(case_id=None, services=None), row(case_id="M2")]
    # the title merged over two rows and all columns; the case id over three rows; services and status
    # over two rows and two columns (openpyxl, like Excel, keeps only the top-left value of a merge)
    path = write_workbook(tmp_path / "m.xlsx", {"R": rows}, merges={"R": ["A1:M2", "A5:A7", "L5:M6"]})
    [sheet] = read_workbook(path, C).registers
    values = [(r.values["case_id"], r.values["services"], r.values["case_status"]) for r in sheet.rows]
    from pipeline.ingest.rows import _MergeFill

    with pytest.raises(UnreadableFile):  # overlapping merges made to fill memory
        _MergeFill([((r, 0), (1_000_000, 0)) for r in range(10, 2_000)], 4, last_row=1_000_000)
    assert values == [("M1", "Pengaduan", None), ("M1", "Pengaduan", None), ("M1", None, "Proses"),
                      ("M2", "Pengaduan, Kesehatan", "Proses")]


def test_sheet_rows_match_calamine_to_python(tmp_path):
    """sheet_rows() reads lazily; it must give what to_python(skip_empty_area=False) gives."""
    import openpyxl
    import python_calamine as pc

    shapes = [{"C5": "x", "D7": 2}, {"A1": "a", "B2": 1.5}, {"E1": "top"}, {"B9": "b", "AA3": "far"}]
    for i, cells in enumerate(shapes):
        wb = openpyxl.Workbook()
        for ref, value in cells.items():
            wb.active[ref] = value
        wb.save(tmp_path / f"{i}.xlsx")
        book = pc.CalamineWorkbook.from_path(str(tmp_path / f"{i}.xlsx"))
        sheet = book.get_sheet_by_index(0)
        assert list(sheet_rows(sheet)) == sheet.to_python(skip_empty_area=False), cells


@pytest.mark.parametrize("suffix", [".xlsx", ".xls", ".ods"])
def test_wrong_suffix_is_read_by_content(tmp_path, suffix):
    writers = {".xlsx": lambda p: register(p, [row()]), ".xls": lambda p: write_xls(p, {"R": [HEADER, row()]}),
               ".ods": lambda p: write_ods(p, {"R": [HEADER, row()]})}
    src = writers[suffix](tmp_path / f"a{suffix}")
    other = {".xlsx": ".xls", ".xls": ".xlsx", ".ods": ".xlsx"}[suffix]
    [sheet] = read_workbook(src.rename(tmp_path / f"b{other}"), C).registers
    assert sheet.rows[0].values["case_id"] == "001/PPA/2024"


def test_utf16_parts_and_doctype_anywhere_are_refused(tmp_path):
    good = good_register(tmp_path / "g.xlsx", "G")
    utf16 = rewrite(good, tmp_path / "u.xlsx", "docProps/app.xml", lambda d: d.decode().encode("utf-16"))
    with pytest.raises(UnreadableFile) as err:
        check_file(utf16)
    assert (err.value.code, err.value.detail) == ("file_xml_unsafe", "docProps/app.xml: UTF-16")
    external = rewrite(good, tmp_path / "d.xlsx", "docProps/core.xml",
                       lambda d: b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + d)
    with pytest.raises(UnreadableFile) as err:
        check_file(external)
    assert (err.value.code, err.value.detail) == ("file_xml_unsafe", "docProps/core.xml: DOCTYPE")


def test_a_real_or_shaped_encrypted_workbook_is_password_protected(tmp_path):
    good = good_register(tmp_path / "g.xlsx", "G")
    path, how = encrypted_workbook(tmp_path / "e.xlsx", good)
    with pytest.raises(UnreadableFile) as err:
        read_workbook(path, C)
    assert err.value.code == "file_password", how
    with pytest.raises(UnreadableFile) as err:
        read_workbook(ole_encrypted(tmp_path / "o.xlsx"), C)
    assert err.value.code == "file_password"
    with pytest.raises(UnreadableFile) as err:
        read_workbook(xls_with_password(tmp_path / "p.xls"), C)
    assert err.value.code == "file_password"


@pytest.mark.slow
def test_limits_file_size_and_rows_per_sheet_have_clear_messages(isolated_env, monkeypatch, tmp_path):
    raw = isolated_env["raw"] / "ppu"
    good_register(raw / "kecil.xlsx", "K", 3)
    good_register(raw / "banyak_baris.xlsx", "R", 12)  # rows 5 to 16
    big = with_cells(good_register(tmp_path / "b.xlsx", "L"), raw / "besar.xlsx",
                     b"".join(b'<row r="%d"><c r="Z%d" t="inlineStr"><is><t>%s</t></is></c></row>'
                              % (r, r, os.urandom(600).hex().encode()) for r in range(10, 2100)))
    assert big.stat().st_size > 1024 * 1024
    monkeypatch.setenv("PPA_MAX_FILE_MB", "1")
    monkeypatch.setenv("PPA_MAX_ROWS_PER_SHEET", "10")
    assert run_pipeline("ppu").success
    ledger = query(isolated_env["warehouse"], "SELECT path, status, reason_code, message, message_en, error "
                                              "FROM meta.ingest_log").set_index("path")
    assert ledger.loc["ppu/kecil.xlsx", "status"] == "loaded"
    size = ledger.loc["ppu/besar.xlsx"]
    assert (size["status"], size["reason_code"]) == ("rejected", "file_too_large")
    assert re.fullmatch(r"File terlalu besar \(1\.\d MB > 1 MB, ukuran > batas\); bagi .*", size["message"])
    assert size["message_en"].startswith("The file is too large (1.")
    rows = ledger.loc["ppu/banyak_baris.xlsx"]
    assert (rows["status"], rows["reason_code"]) == ("rejected", "sheet_too_many_rows")
    assert rows["error"] == "Register!M16 > 10"
    assert "sampai sel Register!M16 > 10 baris" in rows["message"]


def test_unpacked_size_ratio_and_cell_limits_come_from_the_environment(tmp_path, monkeypatch):
    """A million formatted rows: 45 MB of XML from 2.6 MB (about 17:1). Within the defaults; not under
    small limits."""
    path = with_cells(good_register(tmp_path / "g.xlsx", "B"), tmp_path / "fmt.xlsx",
                      formatted_blank_rows(1_000_000, 7))
    assert check_file(path, SafetyLimits.from_env()).kind == "xlsx"
    for env, value, code, detail in (("PPA_MAX_UNCOMPRESSED_MB", "20", "file_zip_bomb", "> 20 MB"),
                                     ("PPA_MAX_COMPRESSION_RATIO", "10", "file_zip_bomb", f"{SHEET}: > 10:1"),
                                     ("PPA_MAX_CELLS_PER_SHEET", "50", "sheet_too_large", "Register!M6: 6 x 13 > 50")):
        monkeypatch.setenv(env, value)
        with pytest.raises(UnreadableFile) as err:
            read_workbook(path, C)
        assert (err.value.code, err.value.detail) == (code, detail)
        monkeypatch.delenv(env)


@pytest.mark.slow
def test_a_file_changing_while_read_is_not_loaded_and_is_read_next_run(isolated_env, monkeypatch):
    import pipeline.ingest.load as ingest

    raw = isolated_env["raw"] / "bontang"
    good_register(raw / "tetap.xlsx", "S")
    moving = good_register(raw / "sedang_disalin.xlsx", "W", 3)
    real = ingest.read_file

    def read_while_written(entry, *args, **kwargs):
        out = real(entry, *args, **kwargs)
        if entry.path.name == "sedang_disalin.xlsx":
            with open(entry.path, "ab") as handle:  # the copy goes on while we read
                handle.write(b"\0" * 100)
        return out

    monkeypatch.setattr(ingest, "read_file", read_while_written)
    assert run_pipeline("bontang").success
    wh = isolated_env["warehouse"]
    ledger = query(wh, "SELECT path, status, reason_code, message, data_rows, archived_as FROM meta.ingest_log")
    ledger = ledger.set_index("path")
    changing = ledger.loc["bontang/sedang_disalin.xlsx"]
    assert (changing["status"], changing["reason_code"]) == ("rejected", "file_changing")
    assert changing["message"] == render("file_changing") and "berikutnya" in changing["message"]
    assert changing["data_rows"] == 0
    assert sorted(query(wh, "SELECT case_id FROM staging.case_victims")["case_id"]) == ["S1", "S2"]
    # no archived copy holds other bytes than its name says (decrypting authenticates the sha256 in its name)
    from pipeline.ingest import archive

    copies = list(isolated_env["archive"].rglob("*.xlsx"))
    assert copies
    for copy in copies:
        archive.check(copy, isolated_env["archive"])

    monkeypatch.setattr(ingest, "read_file", real)
    moving.write_bytes(good_register(isolated_env["reports"] / "w.xlsx", "W", 3).read_bytes())  # the copy finished
    assert run_pipeline("bontang").success
    ledger = query(wh, "SELECT path, status FROM meta.ingest_log ORDER BY path").values.tolist()
    assert ledger == [["bontang/sedang_disalin.xlsx", "loaded"], ["bontang/tetap.xlsx", "loaded"]]
    assert sorted(query(wh, "SELECT case_id FROM staging.case_victims")["case_id"]) == ["S1", "S2", "W1", "W2", "W3"]


@pytest.mark.slow
def test_a_file_removed_while_read_does_not_stop_the_run(isolated_env, monkeypatch):
    import pipeline.ingest.load as ingest

    raw = isolated_env["raw"] / "batam"
    good_register(raw / "a.xlsx", "A")
    good_register(raw / "b.xlsx", "B")
    real = ingest.sha256_file

    def vanish(path, *args, **kwargs):
        if path.name == "b.xlsx" and path.exists():
            path.unlink()
        return real(path, *args, **kwargs)

    monkeypatch.setattr(ingest, "sha256_file", vanish)
    assert run_pipeline("batam").success
    ledger = query(isolated_env["warehouse"], "SELECT path, status, coalesce(reason_code, '') AS code "
                                              "FROM meta.ingest_log ORDER BY path")
    assert ledger.values.tolist() == [["batam/a.xlsx", "loaded", ""], ["batam/b.xlsx", "rejected", "file_changing"]]


# ---------------------------------------------------------------- attacks: bounded time and memory

PROBE = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from pipeline.contract import load_contract
    from pipeline.ingest.workbook import read_workbook
    from pipeline.ingest.container import UnreadableFile

    def peak_mb():  # VmHWM: this process's peak RSS (ru_maxrss would include the parent's, kept over exec)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024

    contract = load_contract()
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "openpyxl":
        import openpyxl
    before = peak_mb()
    start = time.perf_counter()
    outcome = "read"
    try:
        if mode == "openpyxl":
            openpyxl.load_workbook(path)
        else:
            book = read_workbook(path, contract)
            outcome = f"read {sum(len(s.rows) for s in book.registers)} rows"
    except UnreadableFile as exc:
        outcome = exc.code
    except Exception as exc:  # openpyxl wraps the parser's error in a ValueError
        outcome = type(exc.__cause__ or exc).__name__
    seconds = time.perf_counter() - start
    print(json.dumps({"outcome": outcome, "seconds": seconds, "peak_mb": peak_mb(), "baseline_mb": before}))
""")


def probe(path: Path, mode: str = "read", env: dict | None = None) -> dict:
    """Read one file in a fresh process; its outcome, seconds and peak RSS (MB)."""
    run_env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE, mode, str(path)], capture_output=True, text=True, timeout=120,
                         env=run_env, cwd=ROOT)
    assert out.returncode == 0, f"{path.name}: exit {out.returncode}\n{out.stderr[-2000:]}"
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{path.name} [{mode}]: {result}")
    return result


@pytest.mark.slow
def test_attacks_are_refused_in_bounded_time_and_memory(tmp_path):
    good = good_register(tmp_path / "g.xlsx", "G")
    attacks = {
        zip_bomb(tmp_path / "bomb.xlsx", good): "file_zip_bomb",
        zip_bomb(tmp_path / "bomb_lie.xlsx", good, lie=True): "file_zip_bomb",
        billion_laughs(tmp_path / "laughs_sheet.xlsx", good): "file_xml_unsafe",
        billion_laughs(tmp_path / "laughs_sst.xlsx", good, part="xl/sharedStrings.xml"): "file_xml_unsafe",
        with_cells(good, tmp_path / "xfd.xlsx", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'):
            "sheet_too_many_rows",
        ods_repeated(tmp_path / "rows.ods", 1_000_000, 90): "sheet_too_many_rows",
    }
    for path, code in attacks.items():
        assert path.stat().st_size < 5 * 1024 * 1024
        result = probe(path)
        assert result["outcome"] == code, path.name
        assert result["seconds"] < 5, result
        assert result["peak_mb"] < 300, result
    # the feedback code reads with openpyxl: with defusedxml installed it refuses entities too
    for name in ("laughs_sheet.xlsx", "laughs_sst.xlsx"):
        result = probe(tmp_path / name, mode="openpyxl")
        assert result["outcome"] in {"EntitiesForbidden", "DTDForbidden"}, result
        assert result["seconds"] < 5 and result["peak_mb"] < 300, result


def test_openpyxl_uses_defusedxml():
    import openpyxl

    assert openpyxl.DEFUSEDXML is True


def large_workbook(path: Path, rows: int) -> Path:
    """A register of `rows` victims written straight as XML (openpyxl would take a minute)."""
    def cell(ref: str, text: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

    cols = "ABCDEFGHIJKLM"
    lines = ["<row r=\"1\">" + "".join(cell(f"{c}1", h) for c, h in zip(cols, HEADER)) + "</row>"]
    forms = ["Fisik", "Psikis", "Seksual", "Penelantaran"]
    for i in range(2, rows + 2):
        values = [f"{i:06d}/PPA/2024", f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024", "", f"Nama {i}", f"64020{i:011d}",
                  "P" if i % 3 else "L", f"{i % 17 + 1} th", forms[i % 4], "Rumah Tangga", "Orang Tua", "Tenggarong",
                  "Pengaduan", "Proses"]
        lines.append(f'<row r="{i}">' + "".join(cell(f"{c}{i}", v) for c, v in zip(cols, values) if v) + "</row>")
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             'spreadsheetml/2006/main"><sheetData>' + "".join(lines) + "</sheetData></worksheet>")
    ns = "http://schemas.openxmlformats.org"
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{ns}/package/2006/content-types"><Default Extension="rels" '
                               f'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default '
                               f'Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
                               f'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                               f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
                               f'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship Id="r1" Type="{ns}/'
                       f'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<workbook xmlns="{ns}/spreadsheetml/2006/main" xmlns:r="{ns}/officeDocument/2006/'
                           f'relationships"><sheets><sheet name="Register" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship '
                                      f'Id="rId1" Type="{ns}/officeDocument/2006/relationships/worksheet" '
                                      f'Target="worksheets/sheet1.xml"/></Relationships>',
        SHEET: sheet,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return path


@pytest.mark.slow
def test_memory_stays_bounded_while_a_large_workbook_is_read(tmp_path):
    path = large_workbook(tmp_path / "besar.xlsx", 50_000)
    result = probe(path)
    assert result["outcome"] == "read 50000 rows"
    growth = result["peak_mb"] - result["baseline_mb"]
    print(f"50,000 rows, {path.stat().st_size / 1e6:.1f} MB file: {result['seconds']:.1f} s, "
          f"peak RSS {result['peak_mb']:.0f} MB ({growth:.0f} MB above the imports)")
    assert growth < 250, result
    # a million formatted blank rows below a small register: read in bounded memory, not refused
    blank = with_cells(good_register(tmp_path / "g.xlsx", "B", 3), tmp_path / "fmt.xlsx",
                       formatted_blank_rows(1_000_000, 8), dimension=b"A1:M1000007")
    result = probe(blank)
    assert result["outcome"] == "read 3 rows" and result["peak_mb"] - result["baseline_mb"] < 50, result
