"""Feedback for agency staff: workbooks with marked cells, receipts, the summary page,
the dry run of one file, and the register template."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import openpyxl
import pytest
from helpers import run_pipeline
from workbooks import HEADER, register, row, write_ods, write_workbook

from pipeline.feedback import write as feedback_write
from pipeline.feedback.files import FEEDBACK_SUFFIX, INDEX_FILE, RECEIPT_SUFFIX
from pipeline.feedback.gather import files_from_frames
from pipeline.feedback.pages import esc
from pipeline.feedback.sheet import RED, YELLOW, put
from pipeline.feedback.source import source_path
from pipeline.feedback.template import write_template
from pipeline.feedback.words import texts
from pipeline.feedback.workbook import write_feedback_workbook
from pipeline.feedback.write import build_feedback, feedback_for_new_file, stored_fingerprint
from pipeline.ingest import archive
from pipeline.ingest.dropfolder import FEEDBACK_DIR
from pipeline.names import output_stems

HOSTILE = '=HYPERLINK("http://x","klik")'
PERSONAL = ["Siti Contoh", "6402011234560001", "Budi Contoh"]
AGENCY = "kukar"


def _with_env(mp: pytest.MonkeyPatch, root: Path) -> dict[str, Path]:
    paths = {k: root / k for k in ("raw", "warehouse", "reports", "archive", "dagster_home")}
    for p in paths.values():
        p.mkdir(parents=True, exist_ok=True)
    (paths["dagster_home"] / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for var, key in (("PPA_RAW_DIR", "raw"), ("PPA_WAREHOUSE_DIR", "warehouse"), ("PPA_REPORTS_DIR", "reports"),
                     ("PPA_ARCHIVE_DIR", "archive"), ("DAGSTER_HOME", "dagster_home")):
        mp.setenv(var, str(paths[key]))
    mp.setenv("PPA_HASH_SECRET", "test-secret-for-the-keyed-hashes-only")
    mp.delenv("PPA_REGISTRY", raising=False)
    return paths


def _files(raw: Path) -> None:
    folder = raw / AGENCY
    old = register(folder / "register_2024.xlsx", [row(case_id="K1"), row(case_id="K2")])
    extra = HEADER + ["Tgl Kjd", "Catatan"]
    new = register(folder / "register_2024_revisi.xlsx", [
        row(case_id="K1") + ["01/03/2024", None],
        row(case_id="K2", age="13") + [None, None],
        row(case_id="K3", sex="X") + [None, None],  # victim_sex_invalid
        row(case_id="K4", incident="12/13/2024") + [None, None],  # incident_date_unparseable
        row(case_id="K5", forms=None) + [None, None],  # forms_missing (an empty cell)
        row(case_id=None) + [None, None],  # case_id_missing (an empty cell)
        row(case_id="K6", place="Kebun", kecamatan="Loa Duri") + [None, None],  # two warnings
        row(case_id="K7", place=HOSTILE) + [None, HOSTILE],  # a hostile value, in a warned cell and elsewhere
    ], header=extra)
    _as_text(new, HOSTILE)  # the agency's cell holds this text (openpyxl would have written a formula)
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_700_000_100, 1_700_000_100))
    # a two-row header: the upper row names some columns, the lower row the others
    write_workbook(folder / "register_2023_dua_baris.xlsx", {"2023": [
        ["REGISTER KASUS 2023"],
        ["No Reg", "Tanggal Pengaduan", "Identitas Korban", None, None, "Jenis Kekerasan", "Kecamatan", None],
        [None, None, "Jenis Kelamin", "Usia", "Nama", None, None, "Umur"],  # Umur repeats Usia
        ["K20", dt.date(2023, 5, 1), "P", "200", "Siti Contoh", "Fisik", "Tenggarong", 20],  # age_out_of_range
        ["K21", dt.date(2023, 6, 1), "L", "9", "Budi Contoh", "Psikis", "Tenggarong", 9],
        [None, dt.date(2023, 7, 1), "P", "30", "Ani", "Fisik", "Tenggarong", 30],  # case_id_missing
    ]})
    write_ods(folder / "register_2022.ods", {"Register": [
        HEADER, row(case_id="K40", report="05/03/2022", incident="01/03/2022"),
        row(case_id="K41", report="31/02/2022", incident=None)]})  # report_date_unparseable
    register(folder / "bersih.xlsx", [row(case_id="K30")])  # no problems at all
    write_workbook(folder / "catatan <b>&.xlsx", {"Catatan": [["bukan register"], ["isi", 1]]})
    (folder / "~$register_2024.xlsx").write_bytes(b"\x00lock")
    register(folder / "lama.xlsx", [row(case_id="K50"), row(case_id="K51", sex="?")])


def _as_text(path: Path, value: str) -> None:
    wb = openpyxl.load_workbook(path)
    for r in wb.active.iter_rows():
        for cell in r:
            if cell.value == value:
                cell.data_type = "s"
    wb.save(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two pipeline runs (lama.xlsx is deleted between them) and feedback after each."""
    root = tmp_path_factory.mktemp("feedback")
    with pytest.MonkeyPatch.context() as mp:
        paths = _with_env(mp, root)
        _files(paths["raw"])
        assert run_pipeline(AGENCY).success
        out = paths["raw"] / AGENCY / FEEDBACK_DIR
        with duckdb.connect(str(paths["warehouse"] / "warehouse.duckdb"), read_only=True) as con:
            first = build_feedback(con, AGENCY, paths["raw"], paths["archive"])
        first_names = sorted(p.name for p in out.iterdir())
        (paths["raw"] / AGENCY / "lama.xlsx").unlink()
        assert run_pipeline(AGENCY).success
        with duckdb.connect(str(paths["warehouse"] / "warehouse.duckdb"), read_only=True) as con:
            written = build_feedback(con, AGENCY, paths["raw"], paths["archive"])
            frames = {k: con.execute(sql).df() for k, sql in {
                "ledger": "SELECT * FROM meta.ingest_log ORDER BY path",
                "sheets": "SELECT * FROM meta.sheets",
                "rejected": "SELECT * FROM staging.rejected_rows",
                "warnings": "SELECT * FROM staging.cell_warnings",
                "staged": "SELECT _source_file, _source_sheet, _source_row FROM staging.case_victims",
                "superseded": "SELECT * FROM staging.superseded_rows",
                "months": "SELECT * FROM marts.reporting_completeness WHERE agency = 'kukar'",
                "flags": "SELECT * FROM marts.dq_flags WHERE agency = 'kukar'",
            }.items()}
        yield {**paths, "out": out, "first": first, "first_names": first_names, "written": written, **frames}


def _stem(path: str) -> str:
    return Path(path).stem


def _status_col(ws, header_row: int) -> int:
    for cell in ws[header_row]:
        if cell.value == texts()["added_status_header"]:
            return cell.column
    raise AssertionError("no status column")


def _header_cols(ws, header_row: int, header_rows: int) -> dict[str, int]:
    cols = {}
    for c in range(1, ws.max_column + 1):
        lower = ws.cell(row=header_row, column=c).value
        upper = ws.cell(row=header_row - 1, column=c).value if header_rows == 2 else None
        name = lower or upper
        if name:
            cols.setdefault(str(name).strip(), c)
    return cols


def test_the_ledger_has_what_the_feedback_needs(world):
    ledger = world["ledger"].set_index("path")
    assert ledger.loc["kukar/register_2024.xlsx", "status"] == "superseded"
    assert ledger.loc["kukar/lama.xlsx", "status"] == "removed"
    assert ledger.loc["kukar/~$register_2024.xlsx", "status"] == "ignored"
    assert ledger.loc["kukar/catatan <b>&.xlsx", "status"] == "rejected"
    assert list(ledger.loc["kukar/register_2024_revisi.xlsx", "unknown_headers"]) == ["Tgl Kjd"]  # Catatan: harmless
    rules = {r for rs in world["rejected"]["rules"] for r in rs}
    assert {"victim_sex_invalid", "incident_date_unparseable", "forms_missing", "case_id_missing",
            "age_out_of_range", "report_date_unparseable"} <= rules
    assert {"place_unknown", "kecamatan_unknown"} <= set(world["warnings"]["code"])


def test_every_reject_and_warning_is_marked_on_its_cell_with_a_comment(world):
    out, sheets = world["out"], world["sheets"]
    checked = 0
    for path, group in world["rejected"].groupby("_source_file"):
        wb = openpyxl.load_workbook(out / f"{_stem(path)}{FEEDBACK_SUFFIX}")
        for r in group.to_dict("records"):
            meta = sheets[(sheets["path"] == path) & (sheets["sheet"] == r["_source_sheet"])].iloc[0]
            ws = wb[r["_source_sheet"]]
            cols = _header_cols(ws, int(meta["header_row"]), int(meta["header_rows"]))
            for d in json.loads(r["details"]):
                cell = ws.cell(row=int(r["_source_row"]), column=cols[d["header"]])
                assert cell.fill.fgColor.rgb.endswith(RED), (path, r["_source_row"], d["rule"])
                assert cell.comment is not None and d["message"] in cell.comment.text
                assert cell.comment.text.startswith(texts()["cell_reject_prefix"])
                checked += 1
    for r in world["warnings"].to_dict("records"):
        path = r["_source_file"]
        wb = openpyxl.load_workbook(out / f"{_stem(path)}{FEEDBACK_SUFFIX}")
        meta = sheets[(sheets["path"] == path) & (sheets["sheet"] == r["_source_sheet"])].iloc[0]
        ws = wb[r["_source_sheet"]]
        cell = ws.cell(row=int(r["_source_row"]), column=_header_cols(ws, int(meta["header_row"]),
                                                                      int(meta["header_rows"]))[r["header"]])
        assert cell.fill.fgColor.rgb.endswith((YELLOW, RED))
        assert cell.comment is not None and r["message"] in cell.comment.text
        checked += 1
    assert checked >= 10


def test_a_missing_value_marks_the_empty_cell_of_its_column(world):
    wb = openpyxl.load_workbook(world["out"] / f"register_2024_revisi{FEEDBACK_SUFFIX}")
    ws = wb["Register"]
    cols = _header_cols(ws, 4, 1)
    empty_id = [r for r in range(5, ws.max_row + 1) if ws.cell(row=r, column=cols["No Reg"]).comment]
    assert len(empty_id) == 1 and ws.cell(row=empty_id[0], column=cols["No Reg"]).value is None
    assert "Nomor registrasi kosong" in ws.cell(row=empty_id[0], column=cols["No Reg"]).comment.text
    cell = ws.cell(row=4, column=cols["Tgl Kjd"])  # an unknown header: yellow, with a comment
    assert cell.fill.fgColor.rgb.endswith(YELLOW) and "Kolom 'Tgl Kjd' tidak dikenali" in cell.comment.text
    assert ws.cell(row=4, column=cols["Catatan"]).comment is None  # a remarks column is harmless (contract.yaml)
    assert "tidak disimpan" in ws.cell(row=4, column=cols["NIK"]).comment.text
    assert ws.cell(row=4, column=cols["No Reg"]).comment is None
    k4 = [r for r in range(5, ws.max_row + 1) if ws.cell(row=r, column=1).value == "K4"][0]
    comment = ws.cell(row=k4, column=cols["Tanggal Kejadian"]).comment.text
    assert "Tanggal kejadian '12/13/2024'" in comment and "hari/bulan/tahun" in comment


def test_rows_are_marked_loaded_rejected_or_superseded(world):
    labels = texts()["row_status"]
    sheets = world["sheets"]
    expected: dict[tuple[str, str, int], str] = {}
    for key, frame in (("loaded", world["staged"]), ("superseded", world["superseded"]),
                       ("rejected", world["rejected"])):
        for r in frame.to_dict("records"):
            expected[(r["_source_file"], r["_source_sheet"], int(r["_source_row"]))] = labels[key]
    problem_files = {p for p, _, _ in expected} - {"kukar/bersih.xlsx"}
    seen = 0
    for path in problem_files:
        wb = openpyxl.load_workbook(world["out"] / f"{_stem(path)}{FEEDBACK_SUFFIX}")
        for (p, sheet, r), label in expected.items():
            if p != path:
                continue
            header_row = int(sheets[(sheets["path"] == p) & (sheets["sheet"] == sheet)]["header_row"].iloc[0])
            ws = wb[sheet]
            assert ws.cell(row=r, column=_status_col(ws, header_row)).value == label, (p, sheet, r)
            seen += 1
    assert seen == len([k for k in expected if k[0] in problem_files]) > 10
    old = openpyxl.load_workbook(world["out"] / f"register_2024{FEEDBACK_SUFFIX}")["Register"]
    status = [old.cell(row=r, column=_status_col(old, 4)).value for r in (5, 6)]
    assert status == [labels["superseded"]] * 2
    assert "register_2024_revisi.xlsx" in old.cell(row=5, column=_status_col(old, 4) + 1).value


def test_the_summary_sheet_counts_rows_reasons_headers_and_other_files(world):
    wb = openpyxl.load_workbook(world["out"] / f"register_2024_revisi{FEEDBACK_SUFFIX}")
    assert wb.sheetnames[0] == "Ringkasan"
    text = "\n".join(str(v) for r in wb["Ringkasan"].iter_rows(values_only=True) for v in r if v is not None)
    ledger = world["ledger"].set_index("path").loc["kukar/register_2024_revisi.xlsx"]
    values = {r[0]: r[1] for r in wb["Ringkasan"].iter_rows(values_only=True) if r[0]}
    s = texts()["summary"]
    assert values[s["data_rows"]] == ledger["data_rows"] == 8
    assert values[s["rows_staged"]] == ledger["rows_staged"] == 4
    assert values[s["rows_rejected"]] == ledger["rows_rejected"] == 4
    assert values[s["rows_superseded"]] == 0
    labels = texts()["rule_labels"]
    for rule in ("victim_sex_invalid", "incident_date_unparseable", "forms_missing", "case_id_missing"):
        assert values[labels[rule]] == 1
    assert "Kolom 'Tgl Kjd' tidak dikenali" in text and "Kolom 'Catatan'" not in text  # remarks: harmless
    assert "Kolom data pribadi 'NIK' tidak disimpan" in text
    assert "register_2024.xlsx" in text  # the file it superseded
    assert values[s["status"]] == texts()["status"]["loaded"]
    old = openpyxl.load_workbook(world["out"] / f"register_2024{FEEDBACK_SUFFIX}")["Ringkasan"]
    old_text = "\n".join(str(v) for r in old.iter_rows(values_only=True) for v in r if v is not None)
    assert texts()["status"]["superseded"] in old_text and "register_2024_revisi.xlsx" in old_text


def test_two_row_headers_and_ods_files_are_marked_too(world):
    ws = openpyxl.load_workbook(world["out"] / f"register_2023_dua_baris{FEEDBACK_SUFFIX}")["2023"]
    assert ws["D4"].fill.fgColor.rgb.endswith(RED) and "Usia '200'" in ws["D4"].comment.text
    assert ws["A6"].value is None and ws["A6"].fill.fgColor.rgb.endswith(RED)
    assert ws["E4"].value == texts()["not_copied"]  # a personal column: staff have it in their own file
    assert ws["A4"].value == "K20" and ws["C4"].value == "P"  # the case id and the other cells are copied
    assert "Kolom 'Umur' muncul dua kali" in ws["H3"].comment.text and ws["D3"].comment is None
    assert "Kolom data pribadi 'Nama'" in ws["E3"].comment.text
    assert ws["A2"].comment is None and ws["C3"].comment is None
    ods = openpyxl.load_workbook(world["out"] / f"register_2022{FEEDBACK_SUFFIX}")["Register"]
    assert ods["B3"].fill.fgColor.rgb.endswith(RED) and "31/02/2022" in ods["B3"].comment.text


def test_a_hostile_value_is_written_as_text(world):
    path = world["out"] / f"register_2024_revisi{FEEDBACK_SUFFIX}"
    ws = openpyxl.load_workbook(path)["Register"]
    hits = [c for r in ws.iter_rows() for c in r if c.value == HOSTILE]
    assert len(hits) == 2
    assert all(c.data_type == "s" for c in hits)
    assert any(c.comment is not None for c in hits)  # the warned place cell
    import python_calamine as pc

    wb = pc.CalamineWorkbook.from_path(str(path))
    assert HOSTILE in [v for r in wb.get_sheet_by_name("Register").to_python() for v in r]


@pytest.mark.parametrize("value", [HOSTILE, "=1+1", "+62 811 2222 3333", "-5", "@SUM(A1)", "\t=1", "teks biasa"])
def test_put_keeps_text_as_text(tmp_path, value):
    wb = openpyxl.Workbook()
    put(wb.active, 1, 1, value)
    wb.save(tmp_path / "x.xlsx")
    cell = openpyxl.load_workbook(tmp_path / "x.xlsx").active["A1"]
    assert cell.data_type == "s" and cell.value == value


def test_receipts_for_every_file_and_feedback_only_where_needed(world):
    out = world["out"]
    names = {p.name for p in out.iterdir()}
    assert {p.name for p in world["written"]} == names
    for path in world["ledger"]["path"]:
        if path.split("/")[-1].startswith("~$"):
            assert not any(n.startswith("~$") for n in names)
            continue
        assert f"{_stem(path)}{RECEIPT_SUFFIX}" in names, path
    assert f"bersih{FEEDBACK_SUFFIX}" not in names
    receipt = (out / f"bersih{RECEIPT_SUFFIX}").read_text()
    assert "bersih.xlsx" in receipt and "WITA" in receipt and texts()["receipt"]["no_problems"] in receipt
    revisi = (out / f"register_2024_revisi{RECEIPT_SUFFIX}").read_text()
    assert f"register_2024_revisi{FEEDBACK_SUFFIX}" in revisi


def test_feedback_for_a_file_without_problems_anymore_is_removed(world):
    assert f"lama{FEEDBACK_SUFFIX}" in world["first_names"]
    names = {p.name for p in world["out"].iterdir()}
    assert f"lama{FEEDBACK_SUFFIX}" not in names  # the file is gone: nothing to fix
    assert f"lama{RECEIPT_SUFFIX}" in names  # but its receipt says so
    assert texts()["status"]["removed"] in (world["out"] / f"lama{RECEIPT_SUFFIX}").read_text()


def test_index_lists_every_ledger_file_and_the_missing_months(world):
    page = (world["out"] / INDEX_FILE).read_text()
    for path in world["ledger"]["path"]:
        assert esc(path.split("/", 1)[1]) in page, path
    assert "catatan &lt;b&gt;&amp;.xlsx" in page and "catatan <b>" not in page
    months = world["months"]
    missing = months[months["coverage_status"] == "missing"]  # due, and no file covers it
    assert len(missing) > 0
    names = texts()["months"]
    for r in missing.to_dict("records"):
        assert f"{names[r['month'] - 1]} {r['year']}" in page
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")  # no external resources


def test_index_shows_each_months_status_with_a_legend_and_the_open_flags(world):
    from test_report import rows_of

    from pipeline.marts.completeness import status_words

    page = (world["out"] / INDEX_FILE).read_text()
    grid = rows_of(page, texts()["index"]["months"], key="data-year")
    months = world["months"]
    assert {"reported", "reported_zero", "missing", "not_due"} <= set(months["coverage_status"])
    for r in months.to_dict("records"):
        cell = grid[str(r["year"])][r["month"]]
        assert cell.cls == r["coverage_status"], r
        assert cell.title == f"{texts()['months'][r['month'] - 1]} {r['year']}: {status_words(r['coverage_status'])}"
        if r["coverage_status"] == "reported":
            assert cell.text == str(r["victims"])
    legend = page[page.index('class="legend small"'):]
    for status in ("reported", "reported_zero", "missing", "not_due"):
        assert f'<span class="badge {status}">' in legend and esc(status_words(status)) in legend
    flags = rows_of(page, texts()["index"]["flags"], key=None)
    assert sorted(row[1].text for row in flags) == sorted(world["flags"]["message"])
    assert {row[2].text for row in flags} == {"terbuka: perlu diperiksa"}


def test_no_personal_data_outside_the_feedback_workbooks(world):
    for path in world["out"].iterdir():
        if path.suffix == ".html":
            text = path.read_text()
            assert not [p for p in PERSONAL if p in text], path.name
    assert all(isinstance(p, Path) for p in world["written"])


def test_feedback_workbooks_copy_no_personal_column_and_no_other_sheet(world):
    """Staff have their own file: the copy keeps its layout, row numbers and case ids, not the
    personal columns (names, NIK) nor sheets that are not registers."""
    from leaks import find_leaks, trie_pattern, workbook_texts

    workbooks = sorted(world["out"].glob(f"*{FEEDBACK_SUFFIX}"))
    assert len(workbooks) >= 4
    pattern = trie_pattern(set(PERSONAL))
    assert not find_leaks(pattern, {p.name: workbook_texts(p) for p in workbooks})
    raw = {p.name: workbook_texts(p) for p in (world["raw"] / AGENCY).glob("*.xlsx")}
    assert len(find_leaks(pattern, raw)) >= 3  # the search finds them where they are
    ws = openpyxl.load_workbook(world["out"] / f"register_2024_revisi{FEEDBACK_SUFFIX}")["Register"]
    header = [c.value for c in ws[4]]
    rows = {r[0]: r for r in ws.iter_rows(min_row=5, values_only=True) if r[0]}
    assert rows["K1"][header.index("Nama Korban")] == texts()["not_copied"]
    assert rows["K1"][header.index("NIK")] == texts()["not_copied"]
    assert rows["K1"][header.index("Jenis Kelamin")] == "P" and rows["K3"][header.index("Jenis Kelamin")] == "X"
    notes = [c.value for c in openpyxl.load_workbook(world["out"] / f"register_2024_revisi{FEEDBACK_SUFFIX}")[
        "Ringkasan"]["A"] if c.value]
    assert any("Nama Korban, NIK" in str(n) for n in notes)
    other = openpyxl.load_workbook(next(world["out"].glob(f"catatan*{FEEDBACK_SUFFIX}")))
    sheet = other["Catatan"]
    assert [c.value for r in sheet.iter_rows() for c in r if c.value] == [
        texts()["sheet_not_copied"].format(sheet="Catatan")]


def test_a_second_build_changes_nothing(world, tmp_path):
    out = world["out"]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    (out / f"stale{FEEDBACK_SUFFIX}").write_bytes(b"old")
    (out / "catatan-petugas.txt").write_text("not ours")
    with duckdb.connect(str(world["warehouse"] / "warehouse.duckdb"), read_only=True) as con:
        build_feedback(con, AGENCY, world["raw"], world["archive"])
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    assert after.pop("catatan-petugas.txt")[0] == b"not ours"
    (out / "catatan-petugas.txt").unlink()
    assert after == before


def test_a_deleted_file_is_read_from_the_archive(world, tmp_path):
    ledger = world["ledger"].set_index("path")
    fb = next(f for f in files_from_frames(
        {"ledger": world["ledger"], "sheets": world["sheets"], "rejected": world["rejected"],
         "warnings": world["warnings"], "staged": world["staged"], "superseded": world["superseded"]})
        if f.path == "kukar/register_2024_revisi.xlsx")
    elsewhere = tmp_path / "raw"  # a raw folder without the file
    source = source_path(fb, elsewhere, world["archive"])
    assert source == world["archive"] / ledger.loc[fb.path, "archived_as"]
    assert archive.is_encrypted(source)
    with archive.readable(source, world["archive"]) as plain:  # decrypted into a private temporary folder
        target = write_feedback_workbook(fb, plain, tmp_path / "x.xlsx", AGENCY)
    assert not plain.exists()
    ws = openpyxl.load_workbook(target)["Register"]
    assert any(c.comment for r in ws.iter_rows() for c in r)


def test_the_container_is_checked_again_unless_the_reader_opened_these_bytes(world, tmp_path, monkeypatch):
    import dataclasses
    import shutil

    import pipeline.ingest.reader as reader

    frames = {k: world[k] for k in ("ledger", "sheets", "rejected", "warnings", "staged", "superseded")}
    fb = next(f for f in files_from_frames(frames) if f.path == "kukar/register_2024_revisi.xlsx")
    with archive.readable(source_path(fb, world["raw"], world["archive"]), world["archive"]) as plain:
        source = shutil.copy(plain, tmp_path / "decrypted.xlsx")
    checked: list[Path] = []  # the files read with the container check (in the reader process)
    real = reader.sheet_values

    def sheet_values(path, max_rows, is_checked, *args):
        if not is_checked:
            checked.append(Path(path))
        return real(path, max_rows, is_checked, *args)

    monkeypatch.setattr(reader, "sheet_values", sheet_values)

    write_feedback_workbook(fb, source, tmp_path / "same.xlsx", AGENCY)
    assert checked == []  # the ledger's sha256, and the reader found sheets in them
    other = shutil.copy(world["raw"] / AGENCY / "bersih.xlsx", tmp_path / "other.xlsx")
    write_feedback_workbook(fb, Path(other), tmp_path / "other-bytes.xlsx", AGENCY)
    assert checked == [Path(other)]  # not the bytes the reader opened
    unread = dataclasses.replace(fb, sheets=fb.sheets.iloc[0:0])
    write_feedback_workbook(unread, source, tmp_path / "unread.xlsx", AGENCY)
    assert checked == [Path(other), Path(source)]  # the reader never opened them (rejected before any sheet)
    assert openpyxl.load_workbook(tmp_path / "same.xlsx").sheetnames == \
        openpyxl.load_workbook(tmp_path / "unread.xlsx").sheetnames


def test_dry_run_feedback_for_one_file_without_a_warehouse(isolated_env, tmp_path):
    path = register(tmp_path / "baru.xlsx", [row(case_id="N1"), row(case_id="N2", sex="X"),
                                             row(case_id="N3", place="Kebun")])
    out = feedback_for_new_file(path, AGENCY, tmp_path / "out")
    assert out == tmp_path / "out" / f"baru{FEEDBACK_SUFFIX}"
    assert not (isolated_env["warehouse"] / "warehouse.duckdb").exists()
    wb = openpyxl.load_workbook(out)
    summary = {r[0]: r[1] for r in wb["Ringkasan"].iter_rows(values_only=True) if r[0]}
    s = texts()["summary"]
    assert summary[s["rows_staged"]] == 2 and summary[s["rows_rejected"]] == 1
    assert s["title_dry_run"] in summary
    ws = wb["Register"]
    cols = _header_cols(ws, 4, 1)
    assert ws.cell(row=6, column=cols["Jenis Kelamin"]).fill.fgColor.rgb.endswith(RED)
    assert ws.cell(row=7, column=cols["Tempat Kejadian"]).fill.fgColor.rgb.endswith(YELLOW)
    status = _status_col(ws, 4)
    assert [ws.cell(row=r, column=status).value for r in (5, 6, 7)] == ["DIMUAT", "DITOLAK", "DIMUAT"]


def test_dry_run_of_an_unreadable_file_still_explains(tmp_path):
    bad = tmp_path / "rusak.xlsx"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    out = feedback_for_new_file(bad, AGENCY, tmp_path)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Ringkasan"]
    text = " ".join(str(v) for r in wb["Ringkasan"].iter_rows(values_only=True) for v in r if v)
    assert "DITOLAK" in text and "tidak dapat dibuka" in text


def test_staff_read_no_exception_text_for_a_damaged_file(tmp_path):
    whole = register(tmp_path / "utuh.xlsx", [row()]).read_bytes()
    cut = tmp_path / "terpotong.xlsx"
    cut.write_bytes(whole[: len(whole) // 2])
    out = feedback_for_new_file(cut, AGENCY, tmp_path)
    text = " ".join(str(v) for r in openpyxl.load_workbook(out)["Ringkasan"].iter_rows(values_only=True) for v in r if v)
    assert "rusak" in text
    assert not any(word in text for word in ("Error", "BadZip", "zip file", "Exception", "CRC")), text


def test_row_numbers_and_remarks_are_not_problems(tmp_path):
    from pipeline.feedback.gather import feedback_from_dry_run
    from pipeline.ingest.dryrun import dry_run

    header = ["No.", *HEADER, "Keterangan", "Ket", "Tgl Kjd"]
    path = register(tmp_path / "register.xlsx", [[1, *row(), "dirujuk", "", "x"]], header=header)
    fb = feedback_from_dry_run(*dry_run(path, AGENCY))
    assert fb.unknown_headers == ["Tgl Kjd"] and fb.needs_action  # a header not read: worth a word
    path = register(tmp_path / "bersih.xlsx", [[1, *row(), "dirujuk", ""]], header=["No.", *HEADER, "Keterangan", "Ket"])
    fb = feedback_from_dry_run(*dry_run(path, AGENCY))
    assert fb.unknown_headers == [] and not fb.needs_action and fb.status == "loaded"
    from pipeline.feedback.gather import FileFeedback

    replaced = FileFeedback(path="kukar/lama.xlsx", status="superseded", data_rows=3, rows_superseded=3)
    assert replaced.has_problems and not replaced.needs_action  # a workbook to read, nothing to fix


def test_output_names_keep_files_apart():
    stems = output_stems(["kukar/a.xlsx", "kukar/a.xls", "kukar/b.xlsx", "kukar/2024/b.xlsx"])
    assert stems == {"kukar/a.xlsx": "a.xlsx", "kukar/a.xls": "a.xls", "kukar/b.xlsx": "b",
                     "kukar/2024/b.xlsx": "2024__b"}


def test_wording_covers_every_rule_and_warning():
    from pipeline.messages import catalogue

    t = texts()
    for code, message in catalogue().items():
        if message.kind == "rules":
            assert code in t["rule_labels"], code
        if message.kind == "warnings":
            assert code in t["warning_labels"], code


# ---------------------------------------------------------------- the template

def test_template_headers_and_choices_are_in_the_contract():
    from pipeline.contract import load_contract, norm_header, norm_value
    from pipeline.registry import get_agency
    from pipeline.staging.values import kecamatan_lookup

    contract = load_contract()
    t = texts()["template"]
    for column, header in t["headers"].items():
        assert contract.header_to_column[norm_header(header)] == column
    for column, labels in t["choices"].items():
        for label in labels:
            assert contract.lookup(column, label) is not None, (column, label)
    table = kecamatan_lookup(get_agency(AGENCY).kecamatan, contract)
    assert table.get(norm_value(t["outside_region"])) == "LUAR_WILAYAH"


def test_template_round_trips_through_the_pipeline(tmp_path):
    from pipeline.contract import load_contract
    from pipeline.ingest.dropfolder import FileEntry
    from pipeline.ingest.read import Limits, read_file
    from pipeline.ingest.workbook import read_workbook
    from pipeline.registry import get_agency
    from pipeline.staging.stage import stage_agency

    path = write_template(AGENCY, tmp_path / "template.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Register"]
    assert wb.sheetnames[0] == "Register" and "Petunjuk" in wb.sheetnames
    headers = [c.value for c in ws[4] if c.value]
    assert headers[:3] == ["No Registrasi", "Korban Ke", "Tanggal Pengaduan"] and "Nama" not in headers
    lists = [dv for dv in ws.data_validations.dataValidation if dv.type == "list"]
    columns = {openpyxl.utils.get_column_letter(headers.index(h) + 1): h for h in headers}
    covered = {columns[str(dv.sqref).split(":")[0].rstrip("0123456789")] for dv in lists}
    assert covered == {"Jenis Kelamin", "Kelompok Umur", "Bentuk Kekerasan", "KDRT", "Status Anak",
                       "Tempat Kejadian", "Hubungan Pelaku", "Kecamatan", "Layanan", "Status Kasus"}
    kec = next(dv for dv in lists if columns[str(dv.sqref).split(":")[0].rstrip("0123456789")] == "Kecamatan")
    sheet, ref = kec.formula1.split("!")
    options = [c.value for r in wb[sheet.strip("'")][ref.replace("$", "")] for c in r]
    assert "Tenggarong" in options and "Luar Wilayah" in options

    values = [
        ["K1", 1, dt.datetime(2025, 3, 5), dt.datetime(2025, 3, 1), "P", 12, "6-12", "Seksual", "KDRT", "Korban",
         "Rumah Tangga", "Orang Tua", "Tenggarong", "Pengaduan, Kesehatan", "Proses"],
        ["K1", 2, dt.datetime(2025, 3, 5), dt.datetime(2025, 3, 1), "L", 9, None, "Fisik, Psikis", "KDRT",
         "Saksi", "Rumah Tangga", "Orang Tua", "Tenggarong", "Pengaduan", "Proses"],
        ["K2", 1, dt.datetime(2025, 4, 2), None, "P", 31, "25-44", "Psikis", "Non KDRT", None, "Tempat Kerja",
         "Rekan Kerja", "Luar Wilayah", "Bantuan Hukum", "Selesai"],
    ]
    for r, line in enumerate(values, 5):
        for c, value in enumerate(line, 1):
            ws.cell(row=r, column=c, value=value)
    wb.save(path)

    contract = load_contract()
    book = read_workbook(path, contract)
    assert [s.name for s in book.registers] == ["Register", texts()["template"]["nil_sheet"]]
    assert not book.registers[1].rows  # the unfilled nil-report sheet: its NIHIL row is not data
    sheet = book.registers[0]
    assert len(sheet.rows) == 3 and not sheet.header.unknown and not sheet.header.personal
    entry = FileEntry(path=path, rel="kukar/template.xlsx", size=path.stat().st_size, mtime=0, sha256="x")
    read = read_file(entry, AGENCY, contract, Limits(), "run", dt.datetime(2025, 6, 1))
    result = stage_agency(read.raw, get_agency(AGENCY), {("kukar/template.xlsx", "Register"): sheet.header.written},
                          {"kukar/template.xlsx": (0, "template.xlsx")}, dt.date(2025, 6, 30), contract)
    assert len(result.staged) == 3 and result.rejected.empty and result.warnings.empty
    staged = result.staged.sort_values(["case_id", "victim_seq"])
    assert staged["kecamatan_code"].tolist() == ["64.02.06", "64.02.06", "LUAR_WILAYAH"]
    assert staged["is_kdrt"].tolist() == [True, True, False]


@pytest.mark.slow
def test_the_filled_nil_report_sheet_round_trips_as_a_nil_report(isolated_env):
    """Staff write the period on the template's nil-report sheet and send it: the ledger says
    nil_report with its coverage, the month is reported_zero, the receipt and the summary say so."""
    from test_report import rows_of

    from pipeline.feedback.template import NIL_HEADER_ROW, NIL_PERIOD_ROW
    from pipeline.marts.completeness import status_words

    path = write_template(AGENCY, isolated_env["raw"] / AGENCY / "template_register_kukar.xlsx")
    wb = openpyxl.load_workbook(path)
    t = texts()["template"]
    nil = wb[t["nil_sheet"]]
    assert wb.sheetnames[:2] == ["Register", t["nil_sheet"]]
    assert nil.cell(NIL_HEADER_ROW + 1, 1).value == "NIHIL"
    assert [c.value for c in nil[NIL_HEADER_ROW] if c.value] == [c.value for c in wb["Register"][4] if c.value]
    nil.cell(NIL_PERIOD_ROW, 2, "Maret 2025")  # what staff fill in; the register sheet stays empty
    wb.save(path)
    assert run_pipeline(AGENCY).success

    wh = isolated_env["warehouse"]
    with duckdb.connect(str(wh / "warehouse.duckdb"), read_only=True) as con:
        ledger = con.execute("SELECT status, coverage_start, coverage_end, months_covered, message "
                             "FROM meta.ingest_log").df().iloc[0]
        month = con.execute("SELECT coverage_status, victims FROM marts.reporting_completeness "
                            "WHERE agency = 'kukar' AND year = 2025 AND month = 3").fetchone()
    assert ledger["status"] == "nil_report" and ledger["months_covered"] == 1
    assert (str(ledger["coverage_start"].date()), str(ledger["coverage_end"].date())) == ("2025-03-01", "2025-03-31")
    assert month == ("reported_zero", 0)
    out = isolated_env["raw"] / AGENCY / FEEDBACK_DIR
    receipt = (out / f"template_register_kukar{RECEIPT_SUFFIX}").read_text()
    assert "Laporan nihil diterima untuk Maret 2025." in receipt and texts()["status"]["nil_report"] in receipt
    assert texts()["summary"]["rows_staged"] not in receipt  # no row counts for a report of zero
    march = rows_of((out / INDEX_FILE).read_text(), texts()["index"]["months"], key="data-year")["2025"][3]
    assert (march.cls, march.text, march.title) == ("reported_zero", "0", f"Maret 2025: {status_words('reported_zero')}")


@pytest.mark.slow
def test_a_workbook_is_made_again_only_when_what_it_shows_changed(isolated_env, monkeypatch):
    raw = isolated_env["raw"]
    register(raw / AGENCY / "a.xlsx", [row(case_id="A1"), row(case_id="A2", sex="?")])
    register(raw / AGENCY / "b.xlsx", [row(case_id="B1", age="200")])
    assert run_pipeline(AGENCY).success  # writes the feedback once
    out = raw / AGENCY / FEEDBACK_DIR
    assert stored_fingerprint(out / "a.umpan-balik.xlsx") is not None
    made = []
    original = write_feedback_workbook
    monkeypatch.setattr(feedback_write, "write_feedback_workbook", lambda fb, *a, **k: made.append(fb.name) or original(fb, *a, **k))

    assert run_pipeline(AGENCY).success  # nothing changed: a new run id, the same workbooks
    assert made == []
    register(raw / AGENCY / "b.xlsx", [row(case_id="B1", age="201")])  # b changed
    (out / "a.umpan-balik.xlsx").unlink()  # a's workbook deleted by someone
    assert run_pipeline(AGENCY).success
    assert sorted(made) == ["a.xlsx", "b.xlsx"]
    made.clear()
    (out / "a.umpan-balik.xlsx").write_bytes(b"not a workbook")  # damaged
    assert run_pipeline(AGENCY).success
    assert made == ["a.xlsx"]
    assert openpyxl.load_workbook(out / "a.umpan-balik.xlsx").sheetnames[0] == texts()["summary"]["sheet_name"]


def test_index_says_where_the_data_end_in_the_agency_time_zone():
    import pandas as pd

    from pipeline.feedback.pages import render_index
    from pipeline.registry import get_agency

    def month(year, m, state):
        return {"year": year, "month": m, "has_data": state == "reported", "victims": 3 if state == "reported" else 0,
                "coverage_status": state}

    months = pd.DataFrame([month(2025, m, "reported" if m <= 11 else "missing") for m in range(1, 13)]
                          + [month(2026, m, "missing" if m < 12 else "not_due") for m in range(1, 13)])
    yoy = pd.DataFrame([{"year": 2025, "victims": 33, "victims_prev_year": None, "change_abs": None,
                         "change_pct": None, "cases": 30, "months_reported": 11, "months_expected": 12}])
    agency = get_agency(AGENCY)
    page = render_index(agency, [], {}, months, yoy, dt.datetime(2026, 12, 4, 23, 30))  # naive UTC, as the ledger
    assert "5 Desember 2026 pukul 07.30 WITA" in page
    assert "Data terakhir (bulan pengaduan): <b>November 2025</b>" in page
    assert "Data terakhir yang dimuat adalah bulan November 2025" in page  # long before the page's date
    assert "data s.d. bulan November" in page and "tahun berjalan" not in page
    assert page.count('<td class="missing"') == 12  # December 2025 and January to November 2026; December 2026 not due


def test_what_feedback_reads_does_not_depend_on_the_order_rows_were_stored(tmp_path):
    """A feedback workbook is kept while its fingerprint (its inputs) is the same: rows read in
    another order would rewrite it on a night with nothing new (a row with two warnings did,
    for one agency of the national bench)."""
    from pipeline.feedback.gather import load_agencies_frames
    from pipeline.warehouse.db import connect

    warnings = [("kutim", "a.xlsx", "Register", 7, column, column, "x", code, "m", "m", None)
                for column, code in (("victim_age", "age_unparsed"), ("report_date", "date_future"),
                                     ("victim_sex", "sex_unknown"))]
    staged = [("kutim", "a.xlsx", "Register", r) for r in (9, 5, 7)]
    frames = []
    for order in (1, -1):
        with connect(tmp_path / f"w{order}.duckdb") as con:
            for table in ("staging.cell_warnings", "staging.case_victims"):  # only the columns read here matter
                for (column,) in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name || '.' || "
                                             "table_name = ? AND NOT is_nullable", [table]).fetchall():
                    con.execute(f'ALTER TABLE {table} ALTER COLUMN "{column}" DROP NOT NULL')
            for w in warnings[::order]:
                con.execute("INSERT INTO staging.cell_warnings (agency, _source_file, _source_sheet, _source_row, "
                            '"column", header, value, code, message, message_en, _source_cell) '
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            list(w))
            for s in staged[::order]:
                con.execute("INSERT INTO staging.case_victims (agency, _source_file, _source_sheet, _source_row, "
                            "case_id, victim_seq) VALUES (?, ?, ?, ?, ?, 1)", [*s, f"C{s[3]}"])
            frames.append(load_agencies_frames(con, ["kutim"])["kutim"])
    for name in ("warnings", "staged"):
        assert len(frames[0][name]) == 3
        assert frames[0][name].equals(frames[1][name]), name
