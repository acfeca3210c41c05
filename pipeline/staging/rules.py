"""The shared pandera contract for case rows (data contract, section 3).

`candidate_schema` holds the row rules: every check is named after a rule in
messages.yaml, and a row that fails any of them is rejected with all its
reasons. `staged_schema` is the contract of `staging.case_victims` itself.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pandera.pandas as pa

from pipeline.contract import form_flag_columns, load_contract
from pipeline.staging.values import AGE_GROUPS, CHILD_GROUPS
from pipeline.warehouse import tables

# The vocabularies, in contract.yaml's order: one list each, for every layer.
_CONTRACT = load_contract()
SEXES, FORMS, CHILD_ROLES, PLACES, RELATIONS, SERVICES, STATUSES = (_CONTRACT.codes_in_order(c) for c in (
    "victim_sex", "violence_forms", "child_role", "place", "perp_relation", "services", "case_status"))
GROUPS = [g for g, _, _ in AGE_GROUPS]
EARLIEST_REPORT = dt.date(2015, 1, 1)


def _given(df: pd.DataFrame, column: str) -> pd.Series:
    return df[f"_raw_{column}"].notna()


def victim_mask(df: pd.DataFrame) -> pd.Series:
    """The contract's victim rule: a child recorded as perpetrator (child_role PELAKU) is not a victim."""
    return df["child_role"].ne("PELAKU").fillna(True).astype(bool)


def _is_adult(df: pd.DataFrame) -> pd.Series:
    adult_age = (df["victim_age"] >= 18).fillna(False).astype(bool)
    adult_group = df["victim_age_group"].notna() & ~df["victim_age_group"].isin(CHILD_GROUPS)
    return adult_age | adult_group


def _row_check(passes, name: str, **options) -> pa.Check:
    """A check over whole rows: `passes(df)` alone decides each row.

    pandera's default (ignore_na) lets a row pass when all its values are null, and to find such
    rows it runs isna() over the whole frame for every check: a tenth of the load's CPU. Our rows
    always have an agency and lineage, so that pass never applied."""
    return pa.Check(passes, name=name, ignore_na=False, **options)


def _rule(name: str, passes) -> pa.Check:
    """A row rule: `passes(df)` is True for rows that keep to it."""
    return _row_check(lambda df: passes(df).fillna(True).astype(bool), name, error=name)


def row_rules(load_date: dt.date) -> list[pa.Check]:
    today = pd.Timestamp(load_date)
    earliest = pd.Timestamp(EARLIEST_REPORT)
    return [
        _rule("case_id_missing", lambda d: d["case_id"].notna()),
        _rule("victim_seq_invalid", lambda d: ~_given(d, "victim_seq") | (d["victim_seq"] >= 1).fillna(False)),
        _rule("report_date_missing", lambda d: _given(d, "report_date")),
        _rule("report_date_unparseable", lambda d: ~_given(d, "report_date") | d["report_date"].notna()),
        _rule("report_date_future", lambda d: ~(d["report_date"] > today)),
        _rule("report_date_too_old", lambda d: ~(d["report_date"] < earliest)),
        _rule("incident_date_unparseable", lambda d: ~_given(d, "incident_date") | d["incident_date"].notna()),
        _rule("incident_after_report", lambda d: ~(d["incident_date"] > d["report_date"])),
        _rule("victim_sex_missing", lambda d: ~victim_mask(d) | _given(d, "victim_sex")),
        _rule("victim_sex_invalid", lambda d: ~_given(d, "victim_sex") | d["victim_sex"].notna()),
        _rule("forms_missing", lambda d: ~victim_mask(d) | (d["violence_forms"].map(len) > 0) | d["_forms_unknown"].notna()),
        _rule("form_unknown", lambda d: d["_forms_unknown"].isna()),
        _rule("age_unparseable", lambda d: ~_given(d, "victim_age") | d["victim_age"].notna()),
        _rule("age_out_of_range", lambda d: ~((d["victim_age"] < 0) | (d["victim_age"] > 120))),
        _rule("age_group_mismatch", lambda d: d["_group_from_age"].isna() | d["_group_given"].isna()
              | (d["_group_from_age"] == d["_group_given"])),
        _rule("child_role_invalid", lambda d: ~_given(d, "child_role") | d["child_role"].notna()),
        _rule("child_role_adult", lambda d: d["child_role"].isna() | ~_is_adult(d)),
        _rule("key_duplicate_in_file", lambda d: ~d["case_id"].notna()
              | ~d.duplicated(["agency", "_source_file", "case_id", "victim_seq"], keep=False)),
    ]


# Vocabulary and range checks by column, shared by the candidate and the staged schema.
COLUMN_CHECKS = {
    "victim_sex": pa.Check.isin(SEXES),
    "victim_age_group": pa.Check.isin(GROUPS),
    "child_role": pa.Check.isin(CHILD_ROLES),
    "place": pa.Check.isin(PLACES),
    "perp_relation": pa.Check.isin(RELATIONS),
    "case_status": pa.Check.isin(STATUSES),
}
# Columns of staging.case_victims made after the rules (not in the candidate rows), and columns
# the contract does not cover (keyed hashes, lineage: checked by the warehouse's own DDL).
DERIVED = {"year", "is_child", *(c.name for c in tables.COUNTING)}
NOT_VALIDATED = {"case_key", "victim_key", *(c.name for c in tables.LINEAGE)}


def pandera_dtype(column: tables.Column) -> object:
    """The in-memory dtype staging gives a declared column."""
    return {"VARCHAR": str, "INTEGER": "Int64", "BIGINT": "Int64", "DATE": "datetime64[us]",
            "VARCHAR[]": object, "BOOLEAN": "boolean" if column.nullable else bool}[column.type]


def _pa_column(column: tables.Column, nullable: bool, extra: list[pa.Check] | None = None) -> pa.Column:
    checks = [c for c in (COLUMN_CHECKS.get(column.name), *(extra or [])) if c is not None]
    return pa.Column(pandera_dtype(column), checks, nullable=nullable)


def candidate_columns() -> dict[str, pa.Column]:
    """Parsed rows before the rules: the contract's columns, any of them may be missing."""
    return {c.name: _pa_column(c, nullable=c.name != "agency") for c in tables.CASE_VICTIMS.columns
            if c.name not in DERIVED | NOT_VALIDATED}


def candidate_schema(load_date: dt.date) -> pa.DataFrameSchema:
    """Parsed rows before the rules: canonical columns plus what the rules need."""
    return pa.DataFrameSchema(candidate_columns(), checks=row_rules(load_date), strict=False, name="case_rows")


def staged_schema(agencies: list[str], counting_columns: bool = True) -> pa.DataFrameSchema:
    """The contract of staging.case_victims: canonical, typed, one row per victim per case.

    `counting_columns=False` leaves out the counting-rule flags and their checks (for rows that
    were never through staging.add_counting_flags, as in the benchmark's plain script)."""
    forms_ok = pa.Check(lambda s: s.map(lambda v: set(v) <= set(FORMS)), name="forms_in_vocabulary")
    # each form once per victim: the form flags count a victim once per form, as unnest would
    forms_once = pa.Check(lambda s: s.map(lambda v: len(set(v)) == len(v)), name="forms_distinct")
    services_ok = pa.Check(lambda s: s.map(lambda v: set(v) <= set(SERVICES)), name="services_in_vocabulary")
    victim = lambda d: d["child_role"].ne("PELAKU").fillna(True)  # noqa: E731
    flags = form_flag_columns()
    counting_checks = [
        _row_check(lambda d: d["is_victim"] == victim(d), "is_victim_follows_child_role"),
        _row_check(lambda d: ~d["counts_case"] | d["is_victim"], "counts_case_only_on_victims"),
        _row_check(lambda d: ~d["is_victim"] | d.groupby(["agency", "year", "case_id"])["counts_case"]
                   .transform("sum").eq(1), "counts_case_once_per_case_and_year"),
        _row_check(lambda d: pd.concat([d[column] == d["violence_forms"].map(lambda v, c=code: c in v)
                                        for code, column in flags.items()], axis=1).all(axis=1),
                   "form_flags_follow_violence_forms"),
    ]
    extra = {
        "agency": [pa.Check.isin(agencies)],
        "victim_seq": [pa.Check.ge(1)],
        "report_date": [pa.Check.ge(pd.Timestamp(EARLIEST_REPORT))],
        "victim_age": [pa.Check.in_range(0, 120)],
        "violence_forms": [forms_ok, forms_once],
        "services": [services_ok],
    }
    counting = {c.name for c in tables.COUNTING}
    columns = {c.name: _pa_column(c, c.nullable, extra.get(c.name)) for c in tables.CASE_VICTIMS.columns
               if c.name not in NOT_VALIDATED and (counting_columns or c.name not in counting)}
    return pa.DataFrameSchema(
        columns,
        checks=[
            _row_check(lambda d: ~d.duplicated(["agency", "case_id", "victim_seq"]), "key_unique_in_agency"),
            _row_check(lambda d: ~victim(d) | d["victim_sex"].notna(), "victim_has_sex"),
            _row_check(lambda d: ~victim(d) | (d["violence_forms"].map(len) > 0), "victim_has_form"),
            _row_check(lambda d: d["incident_date"].isna() | (d["incident_date"] <= d["report_date"]),
                       "incident_not_after_report"),
            *(counting_checks if counting_columns else []),
        ],
        strict=False,
        name="staging.case_victims",
    )
