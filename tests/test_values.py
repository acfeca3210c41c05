"""Value formats of contract section 3, one by one."""

import datetime as dt

import pytest

from pipeline.contract import load_contract, norm_header
from pipeline.staging import values as V

C = load_contract()
D = dt.date(2025, 11, 17)


@pytest.mark.parametrize("text", [
    "17/11/2025", "17-11-2025", "17-11-25", "17.11.2025", "2025-11-17", "17 Nov 2025", "17 November 2025",
    "Senin, 17 November 2025", "senin 17/11/2025", " 17 NOVEMBER 2025 ", "2025-11-17 00:00:00", "45978",
    "45978.0", "17 Nop 2025", "(17/11/2025)",
])
def test_dates_day_first_in_every_format(text):
    assert V.parse_date(text, C) == D


@pytest.mark.parametrize("text,expected", [
    ("3 Pebruari 2024", dt.date(2024, 2, 3)), ("3 Peb 2024", dt.date(2024, 2, 3)),
    ("3 Agt 2023", dt.date(2023, 8, 3)), ("3 Agu 2023", dt.date(2023, 8, 3)), ("3 Agus 2023", dt.date(2023, 8, 3)),
    ("3 Sept 2023", dt.date(2023, 9, 3)), ("3 Okt 2023", dt.date(2023, 10, 3)), ("3 Des 2023", dt.date(2023, 12, 3)),
    ("3 Mei 2023", dt.date(2023, 5, 3)), ("Jumat, 1 Maret 2024", dt.date(2024, 3, 1)),
    ("01/02/2024", dt.date(2024, 2, 1)),  # day first, never month first
])
def test_indonesian_month_names_and_abbreviations(text, expected):
    assert V.parse_date(text, C) == expected


@pytest.mark.parametrize("text", ["31/02/2024", "12/13/2024", "kemarin", "2024", "17 Foo 2025", "1/2", ""])
def test_bad_dates_are_not_guessed(text):
    assert V.parse_date(text, C) is None


@pytest.mark.parametrize("text,age", [("7", 7), ("7 th", 7), ("7 thn", 7), ("7 tahun", 7), ("7 Th.", 7),
                                      ("5 bln", 0), ("5 bulan", 0), ("7.0", 7), ("150", 150), ("0", 0)])
def test_ages(text, age):
    assert V.parse_age(text) == age


@pytest.mark.parametrize("text", ["tujuh", "7-8", "-3", ""])
def test_bad_ages(text):
    assert V.parse_age(text) is None


@pytest.mark.parametrize("age,group", [(0, "0-5"), (5, "0-5"), (6, "6-12"), (12, "6-12"), (13, "13-17"), (17, "13-17"),
                                       (18, "18-24"), (44, "25-44"), (59, "45-59"), (60, "60+"), (120, "60+")])
def test_age_groups(age, group):
    assert V.age_group(age) == group


@pytest.mark.parametrize("text,code", [("L", "L"), ("Laki-laki", "L"), ("laki laki", "L"), ("Lk", "L"), ("Pria", "L"),
                                       ("M", "L"), ("P", "P"), ("Perempuan", "P"), ("PR", "P"), ("Wanita", "P"),
                                       ("F", "P"), (" perempuan ", "P")])
def test_sex_spellings(text, code):
    assert C.lookup("victim_sex", text) == code


@pytest.mark.parametrize("text,forms,kdrt,unknown", [
    ("Fisik", ["FISIK"], False, []),
    ("Fisik/KDRT", ["FISIK"], True, []),
    ("KDRT", ["LAINNYA"], True, []),
    ("Fisik, Psikis", ["FISIK", "PSIKIS"], False, []),
    ("Fisik; Psikis + Seksual", ["FISIK", "PSIKIS", "SEKSUAL"], False, []),
    ("pelecehan seksual dan persetubuhan", ["SEKSUAL"], False, []),
    ("Psikologis dan Penelantaran", ["PENELANTARAN", "PSIKIS"], False, []),
    ("TPPO", ["TRAFFICKING"], False, []),
    ("Eksploitasi Ekonomi", ["EKSPLOITASI"], False, []),
    ("Bullying", ["LAINNYA"], False, []),
    ("kekerasan verbal", [], False, ["kekerasan verbal"]),
    ("Fisik, kekerasan verbal", ["FISIK"], False, ["kekerasan verbal"]),
])
def test_forms_several_in_one_cell_and_kdrt_as_flag(text, forms, kdrt, unknown):
    assert V.parse_forms(text, C) == (forms, kdrt, unknown)


def test_services_multi_valued_with_spaces_hyphens_underscores():
    assert V.parse_multi("services", "Bantuan Hukum, rehabilitasi-sosial / PENGADUAN", C) == (
        ["BANTUAN_HUKUM", "PENGADUAN", "REHABILITASI_SOSIAL"], [])
    assert V.parse_multi("services", "Konseling", C) == ([], ["Konseling"])


@pytest.mark.parametrize("text", [None, "", " ", "-", "--", "N/A", "NA", "tidak diketahui", "Tdk Tahu"])
def test_empty_markers(text):
    assert C.is_empty(text)


def test_zero_is_not_empty():
    assert not C.is_empty("0")


@pytest.mark.parametrize("text,code", [("Ayah Tiri", "ORANG_TUA"), ("ibu", "ORANG_TUA"), ("Paman", "KELUARGA_SAUDARA"),
                                       ("kakek", "KELUARGA_SAUDARA"), ("Mantan Suami", "SUAMI_ISTRI"),
                                       ("mantan pacar", "PACAR_TEMAN"), ("Guru", "GURU")])
def test_perpetrator_relations(text, code):
    assert C.lookup("perp_relation", text) == code


def test_kecamatan_spellings_and_luar_wilayah():
    from pipeline.registry import get_agency

    table = V.kecamatan_lookup(get_agency("kukar").kecamatan, C)
    assert table[V.norm_value("Semboja")] == table[V.norm_value("Samboja")] == "64.02.13"
    assert table[V.norm_value("Sanga-Sanga")] == "64.02.15"
    assert table[V.norm_value("Luar Wilayah")] == table[V.norm_value("luar daerah")] == "LUAR_WILAYAH"
    batam = V.kecamatan_lookup(get_agency("batam").kecamatan, C)
    kutim = V.kecamatan_lookup(get_agency("kutim").kecamatan, C)
    assert batam["batu ampar"] == "21.71.02" and kutim["batu ampar"] == "64.08.17"


def test_header_normalisation_is_whole_cell():
    assert norm_header("No. Reg ") == "no reg"
    assert C.header_to_column[norm_header("Kel. Usia")] == "victim_age_group"
    assert C.header_to_column[norm_header("L/P")] == "victim_sex"
    assert norm_header("Usia Pelaku") not in C.header_to_column
    assert C.header_to_column[norm_header("Nomor Kasus")] == "case_id"
    assert C.header_to_column[norm_header("Kasus")] == "violence_forms"
