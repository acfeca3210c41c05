"""Recap sheets (data contract, section 9) and files in the wrong folder (section 10).

Reading is tested on rows (ingest/recap.py is pure); staging on small workbooks through the
dry run that `ppa validate` uses; the marts in tests/test_recap_marts.py."""

from __future__ import annotations

import datetime as dt

import pytest
from workbooks import HEADER, row, write_workbook

from pipeline.contract import load_contract
from pipeline.ingest.agency_match import kecamatan_match, title_match
from pipeline.ingest.dryrun import dry_run
from pipeline.ingest.recap import find_recap
from pipeline.registry import load_registry
from pipeline.staging.recap import parse_count

C = load_contract()
MONTHS = ["Januari", "Februari", "Maret"]


def test_months_down_counts_across_with_a_jumlah_line():
    rows = [["REKAP KASUS KEKERASAN TAHUN 2024"], [],
            ["No", "Bulan", "L", "P", "Jumlah"],
            [1, "Januari", 1, 2, 3], [2, "Februari", None, "-", 0], [3, "Maret", 2, 1, 3],
            ["JUMLAH", None, 3, 3, 6], [], ["Catatan: data sementara"]]
    table = find_recap(rows, C)
    assert (table.axis, table.turned, table.header_row, table.header_rows) == ("period", False, 3, 1)
    assert [(c.dimension, c.category, c.measure) for c in table.columns] == [
        ("victim_sex", "L", "victims"), ("victim_sex", "P", "victims"), ("total", None, "victims")]
    assert [line.label for line in table.lines] == [*MONTHS, "JUMLAH"]
    assert [line.total for line in table.lines] == [False, False, False, True]
    assert table.lines[1].cells[1] == ("-", 5, 4)  # (text, Excel row, Excel column)
    assert table.cells == 12  # the note under the table is not a line


def test_two_header_rows_group_labels_and_case_counts():
    rows = [["REKAP TAHUN 2023"],
            ["Bulan", "Jenis Kelamin", None, "Jenis Kekerasan", None, "Jumlah Korban", "Jumlah Kasus"],
            [None, "Laki-laki", "Perempuan", "Fisik", "Kekerasan Seksual", None, None],
            ["Jan", 1, 1, 1, 1, 2, 2]]
    merges = [((1, 1), (1, 2)), ((1, 3), (1, 4)), ((1, 0), (2, 0)), ((1, 5), (2, 5)), ((1, 6), (2, 6))]
    table = find_recap(rows, C, merges)
    assert (table.header_row, table.header_rows) == (3, 2)
    assert [(c.header, c.group, c.dimension, c.category, c.measure) for c in table.columns] == [
        ("Laki-laki", "Jenis Kelamin", "victim_sex", "L", "victims"),
        ("Perempuan", "Jenis Kelamin", "victim_sex", "P", "victims"),
        ("Fisik", "Jenis Kekerasan", "violence_form", "FISIK", "victims"),
        ("Kekerasan Seksual", "Jenis Kekerasan", "violence_form", "SEKSUAL", "victims"),
        ("Jumlah Korban", None, "total", None, "victims"),
        ("Jumlah Kasus", None, "total", None, "cases")]


def test_months_across_is_read_turned():
    rows = [["REKAP KORBAN 2024"],
            ["Uraian", *MONTHS, "Jumlah"],
            ["Anak", 1, 0, 2, 3], ["Dewasa", 1, "", 1, 2], ["Jumlah", 2, 0, 3, 5]]
    table = find_recap(rows, C)
    assert table.turned and table.axis == "period"
    assert [(c.dimension, c.category) for c in table.columns] == [
        ("age_class", "ANAK"), ("age_class", "DEWASA"), ("total", None)]
    assert [line.label for line in table.lines] == [*MONTHS, "Jumlah"]
    assert table.lines[0].cells == [("1", 3, 2), ("1", 4, 2), ("2", 5, 2)]
    assert table.lines[-1].total


def test_lines_by_kecamatan_and_a_list_of_people_is_not_a_recap():
    table = find_recap([["No", "Kecamatan", "L", "P", "Jumlah"], [1, "Tenggarong", 1, 2, 3],
                        ["JUMLAH", None, 1, 2, 3]], C)
    assert table.axis == "kecamatan" and [line.label for line in table.lines] == ["Tenggarong", "JUMLAH"]
    assert find_recap([["Nama Korban", "Bulan", "L", "P"], ["Siti", "Januari", 1, 0]], C) is None
    assert find_recap([["Catatan"], ["Data diperbarui tiap bulan"]], C) is None


@pytest.mark.parametrize("text,count", [(None, 0), ("", 0), ("-", 0), ("–", 0), ("0", 0), ("12", 12),
                                        ("1.234", 1234), ("3,5", None), ("2.5", None), ("-1", None),
                                        ("tiga", None)])
def test_a_count_is_a_whole_number_and_blanks_and_dashes_are_zero(text, count):
    assert parse_count(text, C.recap.zero_markers) == count


def _recap(tmp_path, rows, name="rekap_2024.xlsx", agency="kukar", merges=None):
    path = write_workbook(tmp_path / name, {"Rekap": rows}, merges=merges)
    return dry_run(path, agency)


def test_a_bad_cell_is_rejected_with_its_reason_and_the_sheet_still_loads(tmp_path):
    read, result = _recap(tmp_path, [["REKAP KASUS TAHUN 2024"], ["Bulan", "L", "P", "Jumlah"],
                                     ["Januari", 1, "3,5", 4], ["Februari", 2, 2, 4], ["JUMLAH", 3, 5, 8]])
    staged, rejected = result.recap.staged, result.recap.rejected
    assert len(read.recap) == 9 and len(staged) + len(rejected) == 9  # every cell staged or rejected
    [bad] = rejected.to_dict("records")
    assert (bad["_source_cell"], bad["value"], bad["rules"]) == ("C3", "3,5", ["recap_count_invalid"])
    assert "bukan bilangan bulat" in bad["reasons"] and "'P'" in bad["reasons"]
    feb = staged[staged["period_start"] == dt.datetime(2024, 2, 1)]
    assert sorted(zip(feb["dimension"], feb["count"])) == [("total", 4), ("victim_sex", 2), ("victim_sex", 2)]
    assert set(feb["period_end"]) == {dt.datetime(2024, 2, 29)}
    # the JUMLAH line's P column has a rejected part, so it is not checked: no warning
    assert result.warnings.empty


def test_a_total_that_differs_from_its_parts_is_warned_and_taken_as_their_sum(tmp_path):
    _, result = _recap(tmp_path, [["REKAP KASUS TAHUN 2024"],
                                  ["Bulan", "L", "P", "Fisik", "Psikis", "Jumlah"],
                                  ["Januari", 1, 2, 3, 3, 4],  # L + P = 3, not 4; forms are not parts
                                  ["Februari", 0, 1, 1, 1, 1],
                                  ["JUMLAH", 1, 3, 4, 9, 4]])  # Psikis: 3 + 1 = 4, not 9
    warned = result.warnings
    assert set(warned["code"]) == {"recap_total_mismatch"}
    assert sorted(warned["_source_cell"]) == ["E5", "F3"]
    staged = result.recap.staged.set_index("_source_cell")["count"]
    assert (staged["F3"], staged["E5"], staged["F4"], staged["F5"]) == (3, 4, 1, 4)
    assert "L + P = 3" in warned.set_index("_source_cell").loc["F3", "message"]


def test_a_recap_by_kecamatan_takes_its_period_from_the_title(tmp_path):
    _, result = _recap(tmp_path, [["JUMLAH KORBAN BERDASARKAN KECAMATAN TAHUN 2023"], [],
                                  ["No", "Kecamatan", "L", "P", "Jumlah"],
                                  [1, "Tenggarong", 1, 2, 3], [2, "Loa Kulu", 0, 1, 1], [3, "Luar Daerah", 1, 0, 1],
                                  ["JUMLAH", None, 2, 3, 5]], name="rekap_grafik.xlsx")
    staged = result.recap.staged
    assert set(staged["period_start"]) == {dt.datetime(2023, 1, 1)}
    counted = staged[staged["counted"]]
    assert counted["total_line"].all()  # the JUMLAH line gives the region's counts
    assert sorted(zip(counted["category"].fillna("-"), counted["count"])) == [("-", 5), ("L", 2), ("P", 3)]
    places = staged[staged["dimension"] == "kecamatan_code"]
    assert sorted(places["category"]) == ["64.02.02", "64.02.06", "LUAR_WILAYAH"]


def test_a_line_without_a_known_period_is_rejected(tmp_path):
    read, result = _recap(tmp_path, [["REKAP KASUS"], ["Bulan", "Jumlah"], ["Januari", 2], ["Februari", 1]],
                          name="rekap.xlsx")
    assert len(result.recap.staged) == 0
    assert set(result.recap.rejected["rules"].map(tuple)) == {("recap_period_unknown",)}
    assert "Periode baris 'Januari' tidak dikenali" in result.recap.rejected["reasons"].iloc[0]


# ---------------------------------------------------------------- a file in the wrong folder

KUTIM = ["Sangatta Utara", "Sangatta Selatan", "Bengalon", "Muara Wahau", "Kaliorang", "Teluk Pandan",
         "Rantau Pulung", "Sangkulirang", "Kaubun", "Karangan"]
AGENCIES = load_registry()


@pytest.mark.parametrize("cells,fires", [
    (KUTIM[:5], True),  # five cells, all Kutim's: the least that is judged
    (KUTIM[:4], False),  # four cells are too few
    (KUTIM[:4] + ["Luar Wilayah"] * 6, False),  # LUAR_WILAYAH is not counted
    (KUTIM[:8] + ["Sangata", "Bengalun"], True),  # 80% known in Kutim's list
    (KUTIM[:7] + ["Sangata", "Bengalun", "Muara"], False),  # 70%
    (KUTIM[:8] + ["Penajam", "Waru"], True),  # 20% the folder's own
    (KUTIM[:7] + ["Penajam", "Waru", "Sepaku"], False),  # 30% the folder's own
    (["Penajam", "Waru", "Babulu", "Sepaku"] * 3 + ["Penjam", "Sepak"], False),  # the folder's own, with typos
    (["Penajam", "Waru", "Babulu", "Sepaku", "Penajam"] + ["Luar Daerah"] * 3, False),
])
def test_the_wrong_folder_rule_fires_at_its_thresholds(cells, fires):
    found = kecamatan_match(cells, "ppu", AGENCIES, C)
    assert (found is not None) == fires
    if fires:
        assert found.agency.code == "kutim" and "kecamatan" in found.detail


def test_the_kecamatan_of_another_registry_are_looked_up_in_it():
    """The spellings are made once per registry and kept: a registry loaded again (another file,
    another agency's list) must be read again, not taken from the last."""
    from dataclasses import replace

    assert kecamatan_match(KUTIM[:5], "ppu", AGENCIES, C).agency.code == "kutim"
    moved = tuple(replace(a, kecamatan={}) if a.code == "kutim" else
                  replace(a, kecamatan={**a.kecamatan, "99.99.99": KUTIM}) if a.code == "bontang" else a
                  for a in AGENCIES)
    assert kecamatan_match(KUTIM[:5], "ppu", moved, C).agency.code == "bontang"
    assert kecamatan_match(KUTIM[:5], "ppu", AGENCIES, C).agency.code == "kutim"


def test_a_title_naming_another_region():
    assert title_match(["REGISTER KASUS KABUPATEN KUTAI TIMUR TAHUN 2024"], "ppu", AGENCIES).agency.code == "kutim"
    assert title_match(["REGISTER KASUS KABUPATEN PENAJAM PASER UTARA"], "ppu", AGENCIES) is None
    assert title_match(["REGISTER KASUS 2024"], "ppu", AGENCIES) is None


def test_a_kutim_register_in_the_ppu_folder_is_rejected_before_it_is_dropped(tmp_path):
    rows = [row(case_id=f"K{i}", kecamatan=k) for i, k in enumerate(KUTIM[:6])]
    path = write_workbook(tmp_path / "register.xlsx", {"Register": [HEADER, *rows]})
    read, result = dry_run(path, "ppu")
    assert read.error_code == "wrong_agency" and "Kutai Timur (kutim): 6/6 kecamatan" in read.error_detail
    assert len(read.raw) == 0 and len(result.staged) == 0
    own, _ = dry_run(path, "kutim")
    assert own.error_code is None and len(own.raw) == 6


def test_the_recap_template_reads_back_as_a_recap(tmp_path):
    import openpyxl

    from pipeline.feedback.template import write_recap_template

    path = write_recap_template("ppu", tmp_path / "template_rekap_ppu.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["Rekap"]
    ws["A1"] = ws["A1"].value.replace("....", "2024")
    ws["B7"], ws["C7"], ws["F7"], ws["M7"], ws["N7"] = 1, 2, 3, 3, 2  # January: L, P, Fisik, victims, cases
    wb.save(path)
    read, result = dry_run(path, "ppu")
    [sheet] = read.sheets.to_dict("records")
    assert sheet["is_recap"] and sheet["header_rows"] == 2 and sheet["recap_cells"] == 12 * 13
    staged = result.recap.staged
    assert len(staged) == 12 * 13 and result.recap.rejected.empty and result.warnings.empty
    jan = staged[(staged["period_start"] == dt.datetime(2024, 1, 1)) & (staged["count"] > 0)]
    assert sorted(zip(jan["measure"], jan["dimension"], jan["category"].fillna("-"), jan["count"])) == [
        ("cases", "total", "-", 2), ("victims", "total", "-", 3), ("victims", "victim_sex", "L", 1),
        ("victims", "victim_sex", "P", 2), ("victims", "violence_form", "FISIK", 3)]


def test_the_feedback_of_a_recap_marks_its_cells(tmp_path):
    import openpyxl

    from pipeline.feedback.sheet import RED, YELLOW
    from pipeline.feedback.words import texts
    from pipeline.feedback.write import feedback_for_new_file

    path = write_workbook(tmp_path / "rekap_2024.xlsx", {"Rekap": [
        ["REKAP KASUS TAHUN 2024"], ["Bulan", "L", "P", "Jumlah"], ["Januari", 1, "3,5", 4], ["Februari", 2, 2, 5]]})
    out = feedback_for_new_file(path, "kukar", tmp_path / "out")
    wb = openpyxl.load_workbook(out)
    ws = wb["Rekap"]
    assert ws["C3"].fill.fgColor.rgb.endswith(RED) and "bukan bilangan bulat" in ws["C3"].comment.text
    assert ws["D4"].fill.fgColor.rgb.endswith(YELLOW) and "L + P = 4" in ws["D4"].comment.text
    assert ws["D3"].fill.fgColor.rgb != ws["C3"].fill.fgColor.rgb  # a total with a rejected part is not judged
    notes = {r: ws.cell(row=r, column=5).value for r in (2, 3, 4)}
    assert notes[2] == texts()["added_note_header"] and "DITOLAK" in notes[3] and "PERINGATAN" in notes[4]
    s = texts()["summary"]
    summary = {r[0]: r[1] for r in wb["Ringkasan"].iter_rows(values_only=True) if r[0]}
    assert (summary[s["recap_cells"]], summary[s["recap_cells_rejected"]]) == (6, 1)
    assert summary[texts()["rule_labels"]["recap_count_invalid"]] == 1
