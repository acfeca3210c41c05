"""Each Great Expectations check fails on bad data and passes on good data."""

import pandas as pd
import pytest

from pipeline.marts.expectations import validate

AGENCIES = ["a", "b"]


def region_year(**changes) -> pd.DataFrame:
    frame = pd.DataFrame({
        "agency": ["a", "a", "b", "b"], "year": [2023, 2024, 2023, 2024], "cases": [3, 4, 0, 2],
        "victims": [4, 5, 0, 2], "victims_female": [3, 4, 0, 1], "victims_male": [1, 1, 0, 1],
        "child_victims": [2, 3, 0, 1], "adult_female_victims": [1, 1, 0, 1],
        "population": [100_000, 101_000, 50_000, 51_000], "victims_per_100k": [4.0, 4.95, 0.0, 3.92],
        "child_victims_per_100k_children": [6.0, 9.0, 0.0, 5.0], "has_data": [True, True, False, True],
    })
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    return frame


def failed(table, frame):
    outcome = validate(table, frame, AGENCIES)
    return outcome.success, {f["expectation"] for f in outcome.failed}


def test_good_region_year_passes():
    assert failed("victims_by_region_year", region_year()) == (True, set())


@pytest.mark.parametrize("changes,expectation", [
    ({"year": (1, 2023)}, "expect_compound_columns_to_be_unique"),
    ({"victims": (0, -1), "cases": (0, -2)}, "expect_column_values_to_be_between"),
    ({"cases": (0, 9)}, "expect_column_pair_values_a_to_be_greater_than_b"),
    ({"cases": (1, 0), "victims": (1, 0)}, "expect_column_values_to_be_between"),  # a year with data and no case
    ({"victims_per_100k": (0, 5000.0)}, "expect_column_values_to_be_between"),
    ({"agency": (2, "a"), "year": (2, 2022)}, "expect_column_distinct_values_to_equal_set"),
])
def test_region_year_expectations_fail_on_bad_data(changes, expectation):
    frame = region_year(**changes)
    if "agency" in changes:  # agency b missing entirely
        frame = frame[frame["agency"] == "a"]
    success, names = failed("victims_by_region_year", frame)
    assert not success and expectation in names


def test_form_counts_at_least_victims():
    good = pd.DataFrame({"agency": ["a"], "year": [2024], "form_victims": [6], "victims": [5]})
    assert failed("form_totals", good)[0]
    bad = good.assign(form_victims=[4])
    assert failed("form_totals", bad) == (False, {"expect_column_pair_values_a_to_be_greater_than_b"})


def test_forms_outside_vocabulary_and_bad_shares_fail():
    frame = pd.DataFrame({"agency": ["a", "a"], "year": [2024, 2024], "violence_form": ["FISIK", "KDRT"],
                          "victims": [1, 1], "share_pct": [50.0, 150.0]})
    success, names = failed("victims_by_form", frame)
    assert not success and {"expect_column_values_to_be_in_set", "expect_column_values_to_be_between"} <= names


def test_completeness_months_and_agencies():
    frame = pd.DataFrame({"agency": ["a", "b", "b"], "year": [2024] * 3, "month": [1, 1, 13], "victims": [1, 0, 0]})
    success, names = failed("reporting_completeness", frame)
    assert not success and names == {"expect_column_values_to_be_between"}


def test_yoy_unique_rows():
    frame = pd.DataFrame({"agency": ["a", "a", "b"], "year": [2024, 2024, 2024], "victims": [1, 2, 3],
                          "cases": [1, 1, 1], "months_reported": [12, 12, 12]})
    assert failed("yoy_by_region", frame) == (False, {"expect_compound_columns_to_be_unique"})
