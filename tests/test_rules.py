"""The pandera contract, rule by rule: a valid row passes; each broken rule
rejects with the right reason; a row that breaks two rules carries both."""

import datetime as dt

import pandas as pd
import pytest

from pipeline.registry import get_agency
from pipeline.staging.stage import LINEAGE, SOURCE_COLUMNS, stage_agencies, stage_agency

TODAY = dt.date(2025, 6, 30)
VALID = {"case_id": "001", "report_date": "05/03/2024", "incident_date": "01/03/2024", "victim_sex": "P",
         "victim_age": "12", "violence_forms": "Seksual", "place": "Rumah Tangga", "perp_relation": "Ayah",
         "kecamatan": "Tenggarong", "services": "Pengaduan", "case_status": "Proses"}
HEADERS = {("kukar/a.xlsx", "S"): {c: c.replace("_", " ").title() for c in SOURCE_COLUMNS}}


def raw(*rows: dict, file="kukar/a.xlsx") -> pd.DataFrame:
    records = []
    for i, r in enumerate(rows):
        rec = {c: r.get(c) for c in SOURCE_COLUMNS}
        rec.update(_source_file=r.get("_file", file), _source_sha256="x", _source_sheet="S", _source_row=5 + i,
                   _load_id="run", _ingested_at=pd.Timestamp("2025-06-30"))
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=[*SOURCE_COLUMNS, *LINEAGE])


def stage(*rows, ranks=None):
    ranks = ranks or {"kukar/a.xlsx": (1, "a.xlsx"), "kukar/b.xlsx": (2, "b.xlsx")}
    headers = {**HEADERS, ("kukar/b.xlsx", "S"): HEADERS[("kukar/a.xlsx", "S")]}
    return stage_agency(raw(*rows), get_agency("kukar"), headers, ranks, TODAY)


def rules_of(result) -> list[list[str]]:
    return [list(r) for r in result.rejected["rules"]]


def test_valid_row_passes():
    result = stage(VALID)
    assert len(result.staged) == 1 and result.rejected.empty and result.warnings.empty
    row = result.staged.iloc[0]
    assert row["victim_seq"] == 1 and row["year"] == 2024 and row["is_child"]
    assert row["violence_forms"] == ["SEKSUAL"] and row["kecamatan_code"] == "64.02.06"


@pytest.mark.parametrize("change,rule", [
    ({"case_id": None}, "case_id_missing"),
    ({"case_id": " - "}, "case_id_missing"),
    ({"victim_seq": "0"}, "victim_seq_invalid"),
    ({"victim_seq": "satu"}, "victim_seq_invalid"),
    ({"report_date": None}, "report_date_missing"),
    ({"report_date": "31/02/2024"}, "report_date_unparseable"),
    ({"report_date": "01/07/2025", "incident_date": None}, "report_date_future"),
    ({"report_date": "31/12/2014", "incident_date": None}, "report_date_too_old"),
    ({"incident_date": "kemarin"}, "incident_date_unparseable"),
    ({"incident_date": "06/03/2024"}, "incident_after_report"),
    ({"victim_sex": None}, "victim_sex_missing"),
    ({"victim_sex": "X"}, "victim_sex_invalid"),
    ({"violence_forms": None}, "forms_missing"),
    ({"violence_forms": "kekerasan verbal"}, "form_unknown"),
    ({"victim_age": "tujuh"}, "age_unparseable"),
    ({"victim_age": "150"}, "age_out_of_range"),
    ({"victim_age_group": "25-44"}, "age_group_mismatch"),
    ({"child_role": "Penonton"}, "child_role_invalid"),
    ({"child_role": "Korban", "victim_age": "30"}, "child_role_adult"),
])
def test_each_rule_rejects_with_its_reason(change, rule):
    result = stage({**VALID, **change})
    assert result.staged.empty
    assert rules_of(result) == [[rule]]
    assert result.rejected.iloc[0]["_source_row"] == 5
    assert result.rejected.iloc[0]["reasons"] and result.rejected.iloc[0]["reasons_en"]


def test_reason_names_the_column_as_the_agency_wrote_it_and_the_value():
    result = stage({**VALID, "report_date": "12/13/2024"})
    reasons = result.rejected.iloc[0]["reasons"]
    assert reasons == "Tanggal '12/13/2024' di kolom 'Report Date' tidak dikenali"


def test_a_row_that_breaks_two_rules_carries_both():
    result = stage({**VALID, "victim_sex": "X", "report_date": "kemarin"})
    assert rules_of(result) == [["report_date_unparseable", "victim_sex_invalid"]]
    assert result.rejected.iloc[0]["reasons"].count(";") == 1


def test_key_repeated_inside_one_file_rejects_both_rows():
    first = {**VALID, "victim_seq": "1"}
    result = stage(first, {**first, "victim_age": "13"}, {**first, "case_id": "002"})
    assert len(result.staged) == 1 and result.staged.iloc[0]["case_id"] == "002"
    assert rules_of(result) == [["key_duplicate_in_file"], ["key_duplicate_in_file"]]


def test_victim_numbers_in_row_order_when_the_file_has_none():
    result = stage(VALID, {**VALID, "victim_age": "9"}, {**VALID, "case_id": "002"})
    assert result.staged[["case_id", "victim_seq"]].values.tolist() == [["001", 1], ["001", 2], ["002", 1]]


def test_child_perpetrator_needs_no_sex_or_form_and_is_staged():
    result = stage({**VALID, "child_role": "Pelaku", "victim_sex": None, "violence_forms": None, "victim_age": "15"})
    assert result.rejected.empty and result.staged.iloc[0]["child_role"] == "PELAKU"


def test_unknown_optional_labels_become_null_with_warnings():
    result = stage({**VALID, "place": "Pasar", "kecamatan": "Kota Antah", "services": "Konseling, Pengaduan",
                    "case_status": "Ditutup", "perp_relation": "Sahabat Pena"})
    assert len(result.staged) == 1 and result.rejected.empty
    row = result.staged.iloc[0]
    assert pd.isna(row["place"]) and pd.isna(row["kecamatan_code"]) and row["services"] == ["PENGADUAN"]
    assert sorted(result.warnings["code"]) == ["case_status_unknown", "kecamatan_unknown", "perp_relation_unknown",
                                               "place_unknown", "services_unknown"]


def test_kdrt_from_forms_cell_or_ranah_column():
    result = stage({**VALID, "violence_forms": "Fisik/KDRT", "victim_age": "30", "perp_relation": "Suami"},
                   {**VALID, "case_id": "002", "violence_forms": "KDRT", "victim_age": "30"},
                   {**VALID, "case_id": "003", "is_kdrt": "KDRT", "victim_age": "30"},
                   {**VALID, "case_id": "004", "is_kdrt": "Non KDRT", "victim_age": "30"})
    assert result.staged["violence_forms"].tolist() == [["FISIK"], ["LAINNYA"], ["SEKSUAL"], ["SEKSUAL"]]
    assert result.staged["is_kdrt"].tolist() == [True, True, True, False]


def test_age_group_only_sheet_gives_group_and_child_flag():
    result = stage({**VALID, "victim_age": None, "victim_age_group": "13 - 17"})
    row = result.staged.iloc[0]
    assert row["victim_age_group"] == "13-17" and row["is_child"] and pd.isna(row["victim_age"])


def test_same_victim_in_a_newer_file_supersedes_the_older_row():
    result = stage(VALID, {**VALID, "_file": "kukar/b.xlsx", "victim_age": "13"}, {**VALID, "case_id": "002"})
    assert result.staged.set_index("case_id")["_source_file"].to_dict() == {"001": "kukar/b.xlsx", "002": "kukar/a.xlsx"}
    assert result.superseded[["case_id", "_source_file", "superseded_by"]].values.tolist() == [
        ["001", "kukar/a.xlsx", "kukar/b.xlsx"]]


def test_modification_time_tie_is_broken_by_the_file_name_that_sorts_last():
    ranks = {"kukar/a.xlsx": (5, "a.xlsx"), "kukar/b.xlsx": (5, "b.xlsx")}
    result = stage({**VALID, "_file": "kukar/b.xlsx"}, VALID, ranks=ranks)
    assert result.staged.iloc[0]["_source_file"] == "kukar/b.xlsx"
    ranks = {"kukar/a.xlsx": (6, "a.xlsx"), "kukar/b.xlsx": (5, "b.xlsx")}
    result = stage({**VALID, "_file": "kukar/b.xlsx"}, VALID, ranks=ranks)
    assert result.staged.iloc[0]["_source_file"] == "kukar/a.xlsx"


def test_a_result_holds_until_the_day_before_the_earliest_future_report_date():
    assert stage(VALID).valid_until is None
    result = stage(VALID, {**VALID, "case_id": "002", "report_date": "15/08/2025", "incident_date": None},
                   {**VALID, "case_id": "003", "report_date": "02/07/2025", "incident_date": None})
    assert rules_of(result) == [["report_date_future"], ["report_date_future"]]
    assert result.valid_until == dt.date(2025, 7, 1)  # on 2 July the row of that day is no longer in the future


def test_agencies_staged_together_give_what_each_gives_alone():
    from pandas.testing import assert_frame_equal

    headers = {**HEADERS, ("kukar/b.xlsx", "S"): HEADERS[("kukar/a.xlsx", "S")]}
    ranks = {"kukar/a.xlsx": (1, "a.xlsx"), "kukar/b.xlsx": (2, "b.xlsx")}
    late = {**VALID, "case_id": "009", "report_date": "02/07/2025", "incident_date": None}
    parts = [
        raw(VALID, {**VALID, "victim_age": "150"}, {**VALID, "case_id": "002", "victim_sex": "X"}),
        raw(),  # an agency without rows
        raw({**VALID, "_file": "kukar/b.xlsx"}, {**VALID, "case_id": None}, late),
        raw(VALID, {**VALID, "_file": "kukar/b.xlsx"}, {**VALID, "violence_forms": "kekerasan verbal"}),
    ]
    days = [TODAY, TODAY, TODAY, dt.date(2025, 7, 3)]  # the last one in another time zone's day
    items = [(part, get_agency("kukar"), headers, ranks, day) for part, day in zip(parts, days)]
    together = stage_agencies(items)
    alone = [stage_agency(*item) for item in items]
    assert [len(r.rejected) for r in together] == [2, 0, 2, 1]
    for t, a in zip(together, alone):
        for name in ("staged", "rejected", "warnings", "superseded"):
            assert_frame_equal(getattr(t, name), getattr(a, name))
        assert t.valid_until == a.valid_until


def test_a_batch_keeps_each_agency_its_own_region_warnings_and_victim_numbers():
    """Items are parsed in one pass (staging._parse): nothing of one item may leak into another."""
    from pandas.testing import assert_frame_equal

    headers = {**HEADERS, ("kukar/b.xlsx", "S"): HEADERS[("kukar/a.xlsx", "S")]}
    ranks = {"kukar/a.xlsx": (1, "a.xlsx"), "kukar/b.xlsx": (2, "b.xlsx")}
    unnumbered = {**VALID, "victim_seq": None}
    kukar = raw(unnumbered, unnumbered, {**VALID, "case_id": "002", "place": "Kebun"})
    kutim = raw(unnumbered, {**VALID, "case_id": "003", "kecamatan": "Sangatta Utara"})  # the same file name
    items = [(kukar, get_agency("kukar"), headers, ranks, TODAY), (kutim, get_agency("kutim"), headers, ranks, TODAY)]
    together = stage_agencies(items)
    alone = [stage_agency(*item) for item in items]
    for t, a in zip(together, alone):
        for name in ("staged", "rejected", "warnings", "superseded"):
            assert_frame_equal(getattr(t, name), getattr(a, name))
    first, second = (r.staged.set_index("case_id") for r in together)
    assert first.loc["001", "victim_seq"].tolist() == [1, 2] and second.loc["001", "victim_seq"] == 1
    assert first.loc["001", "kecamatan_code"].tolist() == ["64.02.06"] * 2
    assert pd.isna(second.loc["001", "kecamatan_code"]) and second.loc["003", "kecamatan_code"].startswith("64.08")
    assert together[0].warnings["code"].tolist() == ["place_unknown"]
    assert together[1].warnings[["agency", "code", "value"]].values.tolist() == [["kutim", "kecamatan_unknown", "Tenggarong"]]
