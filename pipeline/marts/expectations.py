"""Great Expectations 1.x suites for the marts, defined in code.

great_expectations is imported inside the functions: it takes about 2 s to
import, and only the mart checks need it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pipeline.contract import load_contract

RATE_BOUNDS = {"victims_per_100k": (0, 1000), "child_victims_per_100k_children": (0, 3000)}
COUNTS = ["cases", "victims", "victims_female", "victims_male", "child_victims", "adult_female_victims"]

# The forms of a year's victims against its victims (the suite form_totals)
FORM_TOTALS_SQL = """
SELECT f.agency, f.year, sum(f.victims) AS form_victims, any_value(v.victims) AS victims
FROM marts.victims_by_form f JOIN marts.victims_by_region_year v USING (agency, year)
WHERE f.source = 'cases'
GROUP BY f.agency, f.year
"""


@dataclass
class Outcome:
    success: bool
    evaluated: int
    failed: list[dict] = field(default_factory=list)  # expectation, column, unexpected_count, sample


def _suite(name: str, expectations: list) -> object:
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name)
    for expectation in expectations:
        suite.add_expectation(expectation)
    return suite


def suite_for(table: str, agencies: list[str]):
    """The expectation suite of one mart (or derived frame)."""
    import great_expectations.expectations as E
    from great_expectations.expectations.row_conditions import Column

    if table == "victims_by_region_year":
        return _suite(table, [
            E.ExpectCompoundColumnsToBeUnique(column_list=["agency", "year"]),
            E.ExpectColumnValuesToNotBeNull(column="agency"),
            E.ExpectColumnValuesToNotBeNull(column="year"),
            E.ExpectColumnDistinctValuesToEqualSet(column="agency", value_set=agencies),
            *[E.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in COUNTS],
            E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="victims", column_B="cases", or_equal=True,
                                                      ignore_row_if="either_value_is_missing"),  # a recap may give one
            E.ExpectColumnValuesToBeBetween(column="cases", min_value=1, row_condition=Column("has_data") == True),  # noqa: E712
            *[E.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi)
              for c, (lo, hi) in RATE_BOUNDS.items()],
            E.ExpectColumnValuesToBeBetween(column="population", min_value=1000, max_value=50_000_000),
        ])
    if table == "yoy_by_region":
        return _suite(table, [
            E.ExpectCompoundColumnsToBeUnique(column_list=["agency", "year"]),
            E.ExpectColumnDistinctValuesToEqualSet(column="agency", value_set=agencies),
            E.ExpectColumnValuesToBeBetween(column="victims", min_value=0),
            E.ExpectColumnValuesToBeBetween(column="cases", min_value=0),
            E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="victims", column_B="cases", or_equal=True,
                                                      ignore_row_if="either_value_is_missing"),  # a recap may give one
            E.ExpectColumnValuesToBeBetween(column="months_reported", min_value=0, max_value=12),
        ])
    if table == "victims_by_form":
        return _suite(table, [
            E.ExpectCompoundColumnsToBeUnique(column_list=["agency", "year", "violence_form"]),
            E.ExpectColumnValuesToBeInSet(column="violence_form",
                                          value_set=load_contract().codes_in_order("violence_forms")),
            E.ExpectColumnValuesToBeBetween(column="victims", min_value=0),
            E.ExpectColumnValuesToBeBetween(column="share_pct", min_value=0, max_value=100),
        ])
    if table == "form_totals":  # derived: per agency-year, form mentions vs victims
        return _suite(table, [
            E.ExpectColumnPairValuesAToBeGreaterThanB(column_A="form_victims", column_B="victims", or_equal=True),
        ])
    if table == "reporting_completeness":
        return _suite(table, [
            E.ExpectCompoundColumnsToBeUnique(column_list=["agency", "year", "month"]),
            E.ExpectColumnDistinctValuesToEqualSet(column="agency", value_set=agencies),
            E.ExpectColumnValuesToBeBetween(column="month", min_value=1, max_value=12),
            E.ExpectColumnValuesToBeBetween(column="victims", min_value=0),
        ])
    raise KeyError(table)


SUITES = ["victims_by_region_year", "yoy_by_region", "victims_by_form", "form_totals", "reporting_completeness"]
# the frame each suite checks: its mart, or the derived frame (form_totals)
SUITE_SQL = {name: FORM_TOTALS_SQL if name == "form_totals" else f"SELECT * FROM marts.{name}" for name in SUITES}


def validate(table: str, frame: pd.DataFrame, agencies: list[str]) -> Outcome:
    """Run one suite on a DataFrame with an ephemeral GX context."""
    if frame.empty:
        return Outcome(success=True, evaluated=0)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas(name="marts")
             .add_dataframe_asset(name=table)
             .add_batch_definition_whole_dataframe("whole")
             .get_batch(batch_parameters={"dataframe": frame}))
    result = batch.validate(suite_for(table, agencies), result_format="SUMMARY")
    failed = []
    for r in result.results:
        if r.success:
            continue
        kwargs = r.expectation_config.kwargs
        failed.append({
            "expectation": r.expectation_config.type,
            "column": kwargs.get("column") or ", ".join(kwargs.get("column_list") or []) or
                      f"{kwargs.get('column_A')} >= {kwargs.get('column_B')}",
            "unexpected_count": r.result.get("unexpected_count"),
            "sample": str(r.result.get("partial_unexpected_list") or r.result.get("observed_value"))[:200],
        })
    return Outcome(success=bool(result.success), evaluated=len(result.results), failed=failed)
