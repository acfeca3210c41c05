"""The pandera contract for recap counts (data contract, section 9), beside the case contract
(rules.py).

`candidate_schema` holds the cell rules: a count is a whole number ≥ 0 (a blank or a dash is
0), and a line's period must be known. Every check is named after a rule in messages.yaml;
a cell that fails one is rejected with all its reasons and the rest of its sheet loads.
`staged_schema` is the contract of `staging.recap_counts` itself.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from pipeline.staging.rules import FORMS, SEXES, pandera_dtype
from pipeline.warehouse import tables

MEASURES = ["victims", "cases"]
DIMENSIONS = ["total", "violence_form", "victim_sex", "age_class", "kecamatan_code"]
AGE_CLASSES = ["ANAK", "DEWASA"]
CELL_RULES = ("recap_count_invalid", "recap_period_unknown")  # in the order reasons are given
NOT_VALIDATED = {c.name for c in tables.RECAP_LINEAGE} | {"label", "header"}


def _check(passes, name: str) -> pa.Check:
    """A check over whole rows: `passes(df)` alone decides each row (null is not a pass by itself)."""
    return pa.Check(lambda df: passes(df).fillna(True).astype(bool), name=name, error=name, ignore_na=False)


def cell_rules() -> list[pa.Check]:
    return [
        _check(lambda d: ~d["_given"] | d["count"].notna(), "recap_count_invalid"),
        _check(lambda d: d["period_start"].notna(), "recap_period_unknown"),
    ]


def candidate_schema() -> pa.DataFrameSchema:
    """Parsed recap cells before the rules."""
    return pa.DataFrameSchema(
        {"count": pa.Column("Int64", pa.Check.ge(0), nullable=True),
         "measure": pa.Column(str, pa.Check.isin(MEASURES)),
         "dimension": pa.Column(str, pa.Check.isin(DIMENSIONS))},
        checks=cell_rules(), strict=False, name="recap_cells")


def _category_ok(df: pd.DataFrame) -> pd.Series:
    """Each dimension's categories: none for the total, its vocabulary for the others."""
    allowed = {"victim_sex": set(SEXES), "age_class": set(AGE_CLASSES), "violence_form": set(FORMS)}
    return pd.Series([(c is None or pd.isna(c)) if d == "total" else
                      (isinstance(c, str) and (c in allowed[d] if d in allowed else bool(c)))
                      for d, c in zip(df["dimension"], df["category"])], index=df.index)


def staged_schema(agencies: list[str]) -> pa.DataFrameSchema:
    """The contract of staging.recap_counts: one row per count cell, typed, on a known period."""
    extra = {"agency": [pa.Check.isin(agencies)], "measure": [pa.Check.isin(MEASURES)],
             "dimension": [pa.Check.isin(DIMENSIONS)], "count": [pa.Check.ge(0)]}
    columns = {c.name: pa.Column(pandera_dtype(c), extra.get(c.name, []), nullable=c.nullable)
               for c in tables.RECAP_COUNTS.columns if c.name not in NOT_VALIDATED}
    return pa.DataFrameSchema(
        columns,
        checks=[
            pa.Check(lambda d: d["period_start"] <= d["period_end"], name="recap_period_in_order"),
            pa.Check(_category_ok, name="recap_category_in_vocabulary"),
            pa.Check(lambda d: ~d["counted"] | d["superseded_by"].isna(), name="recap_counted_not_superseded"),
            pa.Check(lambda d: ~d.duplicated(["agency", "_source_file", "_source_sheet", "_source_cell"]),
                     name="recap_cell_once"),
        ],
        strict=False, name="staging.recap_counts")


def recap_contract_failures(staged: pd.DataFrame, agencies: list[str]) -> pd.DataFrame:
    """Staged recap cells that break the contract of staging.recap_counts (column, check, index)."""
    try:
        staged_schema(agencies).validate(staged, lazy=True)
    except pa.errors.SchemaErrors as exc:
        found = exc.failure_cases[["column", "check", "index"]].astype(str)
        return found.assign(check="recap_counts: " + found["check"])
    return pd.DataFrame(columns=["column", "check", "index"])
