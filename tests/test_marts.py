"""The marts against tables worked out by hand from a small dataset with
multi-victim cases, multi-form victims, a child perpetrator, a missing month
and interpolated population years."""

import datetime as dt

import pytest
from helpers import query, run_pipeline
from workbooks import register

pytestmark = pytest.mark.slow  # three pipeline runs
D = dt.date
KUTIM_2021 = 434459 + round((455504 - 434459) / 3)  # interpolated between 2020 and 2023
KUTIM_2022 = 434459 + round(2 * (455504 - 434459) / 3)


def r(case, report, sex, age, forms, seq, role=None, kec="Sangatta Utara"):
    return [case, report, None, sex, age, forms, kec, seq, role]


@pytest.fixture
def built(isolated_env):
    header = ["No Reg", "Tanggal Pengaduan", "Tanggal Kejadian", "JK", "Usia", "Jenis Kekerasan", "Kecamatan",
              "Korban Ke", "Status Anak"]
    rows_2021 = [
        r("A", D(2021, 1, 5), "P", "9", "Seksual, Psikis", 1, "Korban"),  # case A: two victims
        r("A", D(2021, 1, 5), "L", "12", "Seksual", 2, "Korban"),
        r("B", D(2021, 2, 9), "P", "30", "Fisik/KDRT", 1),                 # adult woman, KDRT flag
        r("C", D(2021, 2, 10), "L", "15", "Fisik", 1, "Pelaku"),           # child perpetrator: not a victim
    ] + [r(f"M{m}", D(2021, m, 3), "P", "40", "Psikis", 1) for m in range(3, 13)]
    rows_2022 = [r(f"N{m}", D(2022, m, 3), "P", "25", "Fisik, Psikis", 1) for m in range(1, 13) if m != 3]
    register(isolated_env["raw"] / "kutim/register.xlsx", rows_2021 + rows_2022, header=header)
    result = run_pipeline("kutim")
    assert result.success
    return isolated_env["warehouse"]


def test_victims_by_region_year_by_hand(built):
    got = query(built, "SELECT year, cases, victims, victims_female, victims_male, child_victims, "
                       "adult_female_victims, population, population_estimated, victims_per_100k, "
                       "child_population, child_victims_per_100k_children FROM marts.victims_by_region_year "
                       "WHERE agency = 'kutim' ORDER BY year").values.tolist()
    assert got == [
        # cases A, B and M3..M12 (C is only a child perpetrator); victims 2 + 1 + 10
        [2021, 12, 13, 12, 1, 2, 11, KUTIM_2021, True, round(13 * 100000 / KUTIM_2021, 2),
         133155, round(2 * 100000 / 133155, 2)],
        [2022, 11, 11, 11, 0, 0, 11, KUTIM_2022, True, round(11 * 100000 / KUTIM_2022, 2), 133155, 0.0],
    ]


def test_yoy_and_completeness_by_hand(built):
    yoy = query(built, "SELECT year, victims, victims_prev_year, change_abs, change_pct, cases_change_pct, "
                       "months_reported, incomplete FROM marts.yoy_by_region WHERE agency = 'kutim' ORDER BY year")
    assert yoy.astype(object).where(yoy.notna(), None).values.tolist() == [
        [2021, 13, None, None, None, None, 12, False],
        [2022, 11, 13, -2, round(-2 * 100 / 13, 1), round(-1 * 100 / 12, 1), 11, True],
    ]
    months = query(built, "SELECT month, has_data, victims FROM marts.reporting_completeness "
                          "WHERE agency = 'kutim' AND year = 2022 ORDER BY month")
    assert months[~months["has_data"]]["month"].tolist() == [3]
    assert months["victims"].tolist() == [1, 1, 0] + [1] * 9
    jan = query(built, "SELECT victims FROM marts.reporting_completeness WHERE agency = 'kutim' "
                       "AND year = 2021 AND month IN (1, 2) ORDER BY month")
    assert jan["victims"].tolist() == [2, 1]  # the child perpetrator of February is not a victim


def test_forms_kdrt_and_child_perpetrators_by_hand(built):
    forms = query(built, "SELECT year, violence_form, victims, share_pct FROM marts.victims_by_form "
                         "WHERE agency = 'kutim' AND victims > 0 ORDER BY year, violence_form")
    assert forms.values.tolist() == [
        [2021, "FISIK", 1, round(100 / 13, 1)], [2021, "PSIKIS", 11, round(1100 / 13, 1)],
        [2021, "SEKSUAL", 2, round(200 / 13, 1)],
        [2022, "FISIK", 11, 100.0], [2022, "PSIKIS", 11, 100.0],
    ]
    kdrt = query(built, "SELECT is_kdrt, victims FROM marts.victims_by_kdrt WHERE agency = 'kutim' AND year = 2021 "
                        "ORDER BY is_kdrt")
    assert kdrt.values.tolist() == [["false", 12], ["true", 1]]
    abh = query(built, "SELECT year, child_perpetrator_records FROM marts.child_perpetrators_by_region_year "
                       "WHERE agency = 'kutim' ORDER BY year")
    assert abh.values.tolist() == [[2021, 1], [2022, 0]]
    age_sex = query(built, "SELECT victim_age_group, victim_sex, victims FROM marts.victims_by_age_sex "
                           "WHERE agency = 'kutim' AND year = 2021 ORDER BY 1, 2")
    assert age_sex.values.tolist() == [["25-44", "P", 11], ["6-12", "L", 1], ["6-12", "P", 1]]
