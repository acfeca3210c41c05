"""The counting-rule columns of staging.case_victims (is_victim, counts_case, form_*) and the
marts that sum them: the same numbers as count(DISTINCT case_id), count(*) FILTER and
unnest(violence_forms) over the same rows."""

import datetime as dt
import random

import duckdb
import pandas as pd
import pandera.pandas as pa
import pytest

from pipeline.contract import form_flag_columns
from pipeline.marts.build import build_marts
from pipeline.marts.sql import MARTS
from pipeline.registry import get_agency, load_registry
from pipeline.staging.rules import staged_schema
from pipeline.staging.stage import LINEAGE, SOURCE_COLUMNS, STAGED_COLUMNS, add_counting_flags, stage_agency
from pipeline.warehouse.db import COUNTING_COLUMNS, DDL, add_counting_columns, insert_frame

FLAGS = form_flag_columns()
TODAY = dt.date(2025, 6, 30)


def test_flag_columns_follow_the_contract_vocabulary():
    assert list(FLAGS.values()) == ["form_fisik", "form_psikis", "form_seksual", "form_eksploitasi",
                                    "form_trafficking", "form_penelantaran", "form_lainnya"]
    assert COUNTING_COLUMNS == ("is_victim", "counts_case", *FLAGS.values())
    assert [c for c in STAGED_COLUMNS if c in COUNTING_COLUMNS] == list(COUNTING_COLUMNS)


# --- through staging: the flags are computed on the final staged rows ------------------------

def raw(*rows: dict) -> pd.DataFrame:
    base = {"report_date": "05/03/2024", "victim_sex": "P", "victim_age": "12", "violence_forms": "Seksual",
            "kecamatan": "Tenggarong"}
    records = []
    for i, r in enumerate(rows):
        rec = {c: {**base, **r}.get(c) for c in SOURCE_COLUMNS}
        rec.update(_source_file=r.get("_file", "kukar/a.xlsx"), _source_sha256="x", _source_sheet="S",
                   _source_row=5 + i, _load_id="run", _ingested_at=pd.Timestamp("2025-06-30"))
        records.append(rec)
    return pd.DataFrame.from_records(records, columns=[*SOURCE_COLUMNS, *LINEAGE])


def stage(*rows):
    headers = {(f, "S"): {c: c for c in SOURCE_COLUMNS} for f in ("kukar/a.xlsx", "kukar/b.xlsx")}
    ranks = {"kukar/a.xlsx": (1, "a.xlsx"), "kukar/b.xlsx": (2, "b.xlsx")}
    return stage_agency(raw(*rows), get_agency("kukar"), headers, ranks, TODAY)


def test_staging_flags_after_rejects_and_superseded_rows():
    result = stage(
        # case 1: victim 1 is superseded by a newer file that records the child as perpetrator
        {"case_id": "1", "victim_seq": "1", "child_role": "Korban"},
        {"case_id": "1", "victim_seq": "2", "violence_forms": "Fisik, Psikis", "victim_age": "10"},
        {"case_id": "1", "victim_seq": "1", "child_role": "Pelaku", "_file": "kukar/b.xlsx"},
        # case 2: victim 1 is rejected (no sex), victim 2 carries the case
        {"case_id": "2", "victim_seq": "1", "victim_sex": None},
        {"case_id": "2", "victim_seq": "2"},
        # case 3: two victims reported in two years: a case in each year
        {"case_id": "3", "victim_seq": "1", "report_date": "30/12/2023"},
        {"case_id": "3", "victim_seq": "2", "report_date": "02/01/2024", "victim_sex": "L"},
        # case 4: only a child perpetrator: no victim, no case
        {"case_id": "4", "victim_seq": "1", "child_role": "Pelaku", "victim_sex": "L"},
        # case 5: two victims in one year, listed with the higher number first
        {"case_id": "5", "victim_seq": "2", "violence_forms": "Penelantaran/KDRT"},
        {"case_id": "5", "victim_seq": "1", "violence_forms": "Trafficking, Eksploitasi, Lainnya"},
    )
    assert len(result.rejected) == 1 and len(result.superseded) == 1
    staged = result.staged
    assert list(staged.columns) == STAGED_COLUMNS
    staged_schema(["kukar"]).validate(staged, lazy=True)
    got = {(r.case_id, r.victim_seq): (r.year, r.is_victim, r.counts_case) for r in staged.itertuples()}
    assert got == {
        ("1", 1): (2024, False, False), ("1", 2): (2024, True, True),
        ("2", 2): (2024, True, True),
        ("3", 1): (2023, True, True), ("3", 2): (2024, True, True),
        ("4", 1): (2024, False, False),
        ("5", 1): (2024, True, True), ("5", 2): (2024, True, False),
    }
    forms = staged.set_index(["case_id", "victim_seq"])
    assert [c for c in FLAGS.values() if forms.loc[("1", 2), c]] == ["form_fisik", "form_psikis"]
    assert [c for c in FLAGS.values() if forms.loc[("5", 1), c]] == ["form_eksploitasi", "form_trafficking",
                                                                     "form_lainnya"]
    assert [c for c in FLAGS.values() if forms.loc[("5", 2), c]] == ["form_penelantaran"]
    for column in FLAGS.values():
        assert staged[column].dtype == bool


@pytest.mark.parametrize("column,index", [("counts_case", 1), ("counts_case", 0), ("is_victim", 0),
                                          ("form_seksual", 0)])
def test_staged_schema_refuses_flags_that_break_the_rules(column, index):
    staged = stage({"case_id": "1", "victim_seq": "1"}, {"case_id": "1", "victim_seq": "2"}).staged
    staged.loc[index, column] = not staged.loc[index, column]
    with pytest.raises(pa.errors.SchemaErrors):
        staged_schema(["kukar"]).validate(staged, lazy=True)


# --- the marts against straightforward reference queries -------------------------------------

FORMS = list(FLAGS)
NOT_PERPETRATOR = "child_role IS DISTINCT FROM 'PELAKU'"
REFERENCE = {
    "victims_by_region_year": f"""
        SELECT agency, year, count(DISTINCT case_id) AS cases, count(*) AS victims,
               count(*) FILTER (WHERE victim_sex = 'P') AS victims_female,
               count(*) FILTER (WHERE victim_sex = 'L') AS victims_male,
               count(*) FILTER (WHERE is_child) AS child_victims,
               count(*) FILTER (WHERE victim_sex = 'P' AND is_child = false) AS adult_female_victims
        FROM staging.case_victims WHERE {NOT_PERPETRATOR} GROUP BY ALL ORDER BY ALL""",
    "victims_by_form": f"""
        SELECT agency, year, form, count(*) AS victims
        FROM (SELECT agency, year, unnest(violence_forms) AS form FROM staging.case_victims
              WHERE {NOT_PERPETRATOR}) GROUP BY ALL ORDER BY ALL""",
    "reporting_completeness": f"""
        SELECT agency, year(report_date) AS year, month(report_date) AS month,
               count(*) FILTER (WHERE {NOT_PERPETRATOR}) AS victims, count(*) AS rows_staged
        FROM staging.case_victims GROUP BY ALL ORDER BY ALL""",
    "child_perpetrators_by_region_year": """
        SELECT agency, year, count(*) AS records FROM staging.case_victims WHERE child_role = 'PELAKU'
        GROUP BY ALL ORDER BY ALL""",
    "victims_by_service": f"""
        SELECT agency, year, service, count(*) AS victims
        FROM (SELECT agency, year, unnest(services) AS service FROM staging.case_victims
              WHERE {NOT_PERPETRATOR}) GROUP BY ALL ORDER BY ALL""",
}
FROM_MART = {
    "victims_by_region_year": "SELECT agency, year, cases, victims, victims_female, victims_male, child_victims, "
                              "adult_female_victims FROM marts.victims_by_region_year WHERE has_data ORDER BY ALL",
    "victims_by_form": "SELECT agency, year, violence_form, victims FROM marts.victims_by_form WHERE victims > 0 "
                       "ORDER BY ALL",
    "reporting_completeness": "SELECT agency, year, month, victims, rows_staged FROM marts.reporting_completeness "
                              "WHERE has_data ORDER BY ALL",
    "child_perpetrators_by_region_year": "SELECT agency, year, child_perpetrator_records "
                                         "FROM marts.child_perpetrators_by_region_year "
                                         "WHERE child_perpetrator_records > 0 ORDER BY ALL",
    "victims_by_service": "SELECT agency, year, service, victims FROM marts.victims_by_service ORDER BY ALL",
}


def row(agency: str, case: str, seq: int, report: dt.date, forms: list[str], role: str | None = None,
        sex: str | None = "P", age: int | None = 30, services: list[str] | None = None) -> dict:
    return {"agency": agency, "case_id": case, "victim_seq": seq, "report_date": report, "incident_date": None,
            "year": report.year, "victim_sex": sex, "victim_age": age,
            "victim_age_group": None, "is_child": None if age is None else age < 18,
            "violence_forms": sorted(forms), "is_kdrt": False, "child_role": role, "place": None,
            "perp_relation": None, "kecamatan_code": None, "services": services or [], "case_status": None,
            "_source_file": f"{agency}/a.xlsx", "_source_sha256": "0", "_source_sheet": "S",
            "_source_row": 0, "_load_id": "l", "_ingested_at": dt.datetime(2025, 1, 1)}


HAND = [
    row("kukar", "A", 1, dt.date(2021, 1, 5), ["SEKSUAL", "PSIKIS"], "KORBAN", age=9),  # two victims,
    row("kukar", "A", 2, dt.date(2021, 1, 5), ["SEKSUAL"], "KORBAN", "L", 12),           # one with two forms
    row("kukar", "C", 1, dt.date(2021, 2, 10), ["FISIK"], "PELAKU", "L", 15),            # child perpetrator only
    row("kukar", "D", 1, dt.date(2021, 3, 1), ["FISIK"], "PELAKU", "L", 16),             # perpetrator first,
    row("kukar", "D", 2, dt.date(2021, 3, 1), ["FISIK", "PSIKIS"], "KORBAN", "P", 10),   # then the victim
    row("kukar", "Y", 1, dt.date(2021, 12, 30), ["PSIKIS"]),                             # a case spanning
    row("kukar", "Y", 2, dt.date(2022, 1, 3), ["PSIKIS"], sex="L"),                      # two years
    row("kutim", "A", 1, dt.date(2021, 6, 1), ["LAINNYA"], sex=None, age=None),          # same id, other agency
]


def random_rows(seed: int) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for agency in ("kukar", "kutim", "ppu"):
        for case in range(rnd.randint(1, 40)):
            day = dt.date(2021, 1, 1) + dt.timedelta(days=rnd.randint(0, 900))
            for seq in rnd.sample(range(1, 5), rnd.choice([1, 1, 2, 3])):  # numbers need not start at 1
                report = day + dt.timedelta(days=rnd.choice([0, 0, 0, 40, 200]))  # some cases span years
                age = rnd.choice([None, *range(0, 60)])
                role = rnd.choice([None, None, "KORBAN", "PELAKU", "SAKSI"]) if age is not None and age < 18 else None
                rows.append(row(agency, f"K{case}", seq, report, rnd.sample(FORMS, rnd.choice([1, 1, 2, 3])), role,
                                rnd.choice(["P", "P", "L", None]), age,
                                rnd.sample(["PENGADUAN", "KESEHATAN"], rnd.randint(0, 2))))
    rnd.shuffle(rows)
    for i, r in enumerate(rows):
        r["_source_row"] = i
    return rows


def marts_and_reference(rows: list[dict]) -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    frame = add_counting_flags(pd.DataFrame(rows))
    con = duckdb.connect()
    con.execute(DDL)
    insert_frame(con, "staging.case_victims", frame)
    build_marts(con, load_registry())
    return con, frame


@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4, 5, 6])
def test_flag_marts_equal_the_reference_queries(seed):
    rows = HAND if seed is None else HAND + random_rows(seed)
    con, _ = marts_and_reference(rows)
    try:
        for name in REFERENCE:
            assert con.execute(FROM_MART[name]).fetchall() == con.execute(REFERENCE[name]).fetchall(), name
        # every agency-year with victims lists every form, zeros included, and shares of its victims
        counts = con.execute("SELECT count(*), count(DISTINCT (agency, year)), "
                             "count(*) FILTER (WHERE share_pct IS NULL) FROM marts.victims_by_form").fetchall()[0]
        assert counts[0] == counts[1] * len(FORMS) and counts[2] == 0
        assert MARTS  # every mart built without error
    finally:
        con.close()


def test_hand_rows_by_hand():
    con, frame = marts_and_reference(HAND)
    try:
        flags = frame.set_index(["agency", "case_id", "victim_seq"])[["is_victim", "counts_case"]]
        assert flags.loc[("kukar", "C", 1)].tolist() == [False, False]
        assert flags.loc[("kukar", "D", 1)].tolist() == [False, False]
        assert flags.loc[("kukar", "D", 2)].tolist() == [True, True]
        assert flags.loc[("kukar", "Y", 1)].tolist() == flags.loc[("kukar", "Y", 2)].tolist() == [True, True]
        region = con.execute("SELECT agency, year, cases, victims FROM marts.victims_by_region_year "
                             "WHERE has_data ORDER BY ALL").fetchall()
        # kukar 2021: cases A, D, Y (C is only a perpetrator); victims A1, A2, D2, Y1; 2022: Y again
        assert region == [("kukar", 2021, 3, 4), ("kukar", 2022, 1, 1), ("kutim", 2021, 1, 1)]
        forms = con.execute("SELECT violence_form, victims, share_pct FROM marts.victims_by_form "
                            "WHERE agency = 'kukar' AND year = 2021 AND victims > 0 ORDER BY 1").fetchall()
        assert forms == [("FISIK", 1, 25.0), ("PSIKIS", 3, 75.0), ("SEKSUAL", 2, 50.0)]
    finally:
        con.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_an_older_warehouse_gets_the_same_flags_from_sql(seed):
    """A staging table made before the flags existed: add_counting_columns computes them from the
    stored rows with the SQL form of the rules, and they equal staging's."""
    frame = add_counting_flags(pd.DataFrame(HAND + random_rows(seed)))
    con = duckdb.connect()
    try:
        con.execute(DDL)
        insert_frame(con, "staging.case_victims", frame)
        con.execute("CREATE TABLE expected AS SELECT * FROM staging.case_victims")
        con.execute(f"CREATE OR REPLACE TABLE staging.case_victims AS SELECT * EXCLUDE ({', '.join(COUNTING_COLUMNS)}) "
                    "FROM expected")
        assert add_counting_columns(con) == list(COUNTING_COLUMNS)
        assert add_counting_columns(con) == []
        columns = [r[0] for r in con.execute("DESCRIBE staging.case_victims").fetchall()]
        assert columns == [r[0] for r in con.execute("DESCRIBE expected").fetchall()]
        assert con.execute("SELECT * FROM staging.case_victims EXCEPT ALL SELECT * FROM expected").fetchall() == []
        assert con.execute("SELECT count(*) FROM staging.case_victims").fetchall()[0][0] == len(frame)
    finally:
        con.close()
