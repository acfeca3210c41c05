"""Reading: header detection and every layout quirk of contract section 4."""

import datetime as dt

import pytest
from workbooks import HEADER, register, row, write_ods, write_workbook, write_xls

from pipeline.contract import load_contract
from pipeline.ingest.workbook import UnreadableFile, read_workbook

C = load_contract()


def test_title_block_above_header(tmp_path):
    wb = read_workbook(register(tmp_path / "a.xlsx", [row(), row(case_id="002")]), C)
    [sheet] = wb.registers
    assert sheet.header.row == 4 and sheet.header.rows == 1
    assert [r.row for r in sheet.rows] == [5, 6]
    assert sheet.rows[0].values["case_id"] == "001/PPA/2024"
    assert sheet.rows[0].values["report_date"] == "2024-03-05"


def test_personal_columns_never_read(tmp_path):
    wb = read_workbook(register(tmp_path / "a.xlsx", [row()]), C)
    [sheet] = wb.registers
    assert set(sheet.header.personal) == {"Nama Korban", "NIK"}
    values = sheet.rows[0].values
    assert "Siti Contoh" not in values.values() and "6402011234560001" not in values.values()


def test_two_row_merged_header_lower_cell_names_the_column(tmp_path):
    top = ["No Reg", "Tgl Lapor", "Identitas Korban", None, None, "Jenis Kekerasan"]
    low = [None, None, "Nama", "L/P", "Umur", None]
    path = write_workbook(tmp_path / "a.xlsx", {"2024": [["REGISTER 2024"], [], top, low,
                                                         ["R1", dt.date(2024, 1, 2), "Ani", "P", "9", "Seksual"]]},
                          merges={"2024": ["A3:A4", "B3:B4", "C3:E3", "F3:F4"]})
    [sheet] = read_workbook(path, C).registers
    assert sheet.header.rows == 2 and sheet.header.row == 4
    assert sheet.header.written == {"case_id": "No Reg", "report_date": "Tgl Lapor", "victim_sex": "L/P",
                                    "victim_age": "Umur", "violence_forms": "Jenis Kekerasan"}
    assert sheet.header.personal == ["Nama"]
    assert sheet.rows[0].values["victim_sex"] == "P"


def test_whole_cell_matches_only(tmp_path):
    header = ["Nomor Kasus", "Tanggal Lapor", "Usia Pelaku", "JK", "Kasus", "Jenis Kasus Lama"]
    path = write_workbook(tmp_path / "a.xlsx", {"s": [header, ["K1", "01/02/2024", "40", "P", "Fisik", "x"]]})
    [sheet] = read_workbook(path, C).registers
    assert sheet.header.columns["case_id"] == 0
    assert sheet.header.columns["violence_forms"] == 4
    assert "victim_age" not in sheet.header.columns
    assert set(sheet.header.unknown) == {"Usia Pelaku", "Jenis Kasus Lama"}


def test_columns_in_any_order_and_extra_columns(tmp_path):
    header = ["Pendidikan", "JK", "Bentuk Kekerasan", "Tgl Masuk", "Kode Kasus", "Keterangan Petugas"]
    path = write_workbook(tmp_path / "a.xlsx", {"s": [header, ["SD", "L", "Fisik", "02/01/2024", "X9", "ok"]]})
    [sheet] = read_workbook(path, C).registers
    assert sheet.rows[0].values["case_id"] == "X9"
    assert sheet.rows[0].values["victim_sex"] == "L"
    assert sheet.header.unknown == ["Pendidikan"]  # a remark column is harmless (contract.yaml)


def test_total_rows_and_blank_rows_are_not_data(tmp_path):
    rows = [row(), [], row(case_id="002"), [None] * 13, ["JUMLAH", None, None, None, None, None, None, 2],
            ["TOTAL KESELURUHAN"]]
    [sheet] = read_workbook(register(tmp_path / "a.xlsx", rows), C).registers
    assert len(sheet.rows) == 2 and sheet.total_rows == 2 and sheet.blank_rows == 2


def test_sheet_per_month_hidden_and_notes_sheets(tmp_path):
    sheets = {
        "Jan": [HEADER, row(case_id="J1")],
        "Feb": [HEADER, row(case_id="F1"), row(case_id="F2")],
        "Lama": [HEADER, row(case_id="H1")],
        "Keterangan": [["Catatan: data diperbarui tiap bulan"], ["Petugas", "Budi"]],
        "Grafik": [],
    }
    wb = read_workbook(write_workbook(tmp_path / "a.xlsx", sheets, hidden=("Lama",)), C)
    assert [s.name for s in wb.registers] == ["Jan", "Feb", "Lama"]
    assert not [s for s in wb.sheets if s.name == "Lama"][0].visible
    skipped = {s.name: s.reason for s in wb.sheets if not s.is_register}
    assert skipped == {"Keterangan": "sheet_not_register", "Grafik": "sheet_not_register"}


def test_not_a_register(tmp_path):
    path = write_workbook(tmp_path / "rekap.xlsx", {"Rekap": [["Kecamatan", "Jumlah"], ["Tenggarong", 4]]})
    assert read_workbook(path, C).registers == []


@pytest.mark.parametrize("writer,suffix", [(write_xls, ".xls"), (write_ods, ".ods")])
def test_old_xls_and_ods(tmp_path, writer, suffix):
    path = writer(tmp_path / f"a{suffix}", {"2019": [["REGISTER 2019"], HEADER, row(report=dt.date(2019, 5, 6))]})
    [sheet] = read_workbook(path, C).registers
    assert sheet.rows[0].values["case_id"] == "001/PPA/2024"
    assert sheet.rows[0].values["report_date"] in {"2019-05-06", "06/05/2019"}


def test_xlsm_is_read(tmp_path):
    path = register(tmp_path / "a.xlsx", [row()])
    target = path.rename(tmp_path / "a.xlsm")
    assert len(read_workbook(target, C).registers[0].rows) == 1


def test_date_serial_numbers_stay_numbers(tmp_path):
    [sheet] = read_workbook(register(tmp_path / "a.xlsx", [row(report=45356)]), C).registers
    assert sheet.rows[0].values["report_date"] == "45356"


def test_nik_typed_into_a_kept_column_is_masked(tmp_path):
    [sheet] = read_workbook(register(tmp_path / "a.xlsx", [row(case_id=6402011234560001.0, status="hp 0812-3456-7890")]),
                            C).registers
    values = sheet.rows[0].values
    assert values["case_id"] == "[NIK]" and values["case_status"] == "hp [TELEPON]"
    assert sorted(sheet.rows[0].masked) == ["nik", "phone"]


def test_csv_renamed_xlsx_is_unreadable(tmp_path):
    path = tmp_path / "a.xlsx"
    path.write_text("No Reg,Tanggal Pengaduan\n1,2024-01-01\n")
    with pytest.raises(UnreadableFile) as err:
        read_workbook(path, C)
    assert err.value.code == "file_unreadable"
