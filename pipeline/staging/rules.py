"""The shared pandera contract for case rows (data contract, section 3).

`candidate_schema` holds the row rules: every check is named after a rule in
messages.yaml, and a row that fails any of them is rejected with all its
reasons. `staged_schema` is the contract of `staging.case_victims` itself.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pandera.pandas as pa

from pipeline.contract import form_flag_columns
from pipeline.staging.values import AGE_GROUPS, CHILD_GROUPS

SEXES = ["L", "P"]
FORMS = ["FISIK", "PSIKIS", "SEKSUAL", "EKSPLOITASI", "TRAFFICKING", "PENELANTARAN", "LAINNYA"]
CHILD_ROLES = ["KORBAN", "PELAKU", "SAKSI"]
PLACES = ["RUMAH_TANGGA", "TEMPAT_KERJA", "SEKOLAH", "FASILITAS_UMUM", "LEMBAGA_PENDIDIKAN_KILAT", "LAINNYA"]
RELATIONS = ["ORANG_TUA", "KELUARGA_SAUDARA", "SUAMI_ISTRI", "PACAR_TEMAN", "TETANGGA", "GURU", "MAJIKAN", "REKAN_KERJA", "LAINNYA"]
SERVICES = ["PENGADUAN", "KESEHATAN", "BANTUAN_HUKUM", "PENEGAKAN_HUKUM", "REHABILITASI_SOSIAL",
            "REINTEGRASI_SOSIAL", "PEMULANGAN", "PENDAMPINGAN_TOKOH_AGAMA"]
STATUSES = ["PROSES", "SELESAI", "DIRUJUK"]
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


def _opt(values: list[str]) -> pa.Column:
    return pa.Column(str, pa.Check.isin(values), nullable=True)


CANDIDATE_COLUMNS = {
    "agency": pa.Column(str),
    "case_id": pa.Column(str, nullable=True),
    "victim_seq": pa.Column("Int64", nullable=True),
    "report_date": pa.Column("datetime64[us]", nullable=True),
    "incident_date": pa.Column("datetime64[us]", nullable=True),
    "victim_sex": _opt(SEXES),
    "victim_age": pa.Column("Int64", nullable=True),
    "victim_age_group": _opt(GROUPS),
    "violence_forms": pa.Column(object),
    "is_kdrt": pa.Column(bool),
    "child_role": _opt(CHILD_ROLES),
    "place": _opt(PLACES),
    "perp_relation": _opt(RELATIONS),
    "kecamatan_code": pa.Column(str, nullable=True),
    "services": pa.Column(object),
    "case_status": _opt(STATUSES),
}


def candidate_schema(load_date: dt.date) -> pa.DataFrameSchema:
    """Parsed rows before the rules: canonical columns plus what the rules need."""
    return pa.DataFrameSchema(CANDIDATE_COLUMNS, checks=row_rules(load_date), strict=False, name="case_rows")


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
    counting = {
        # the counting rules as columns (staging.add_counting_flags)
        "is_victim": pa.Column(bool),
        "counts_case": pa.Column(bool),
        **{column: pa.Column(bool) for column in flags.values()},
    }
    counting_checks = [
        _row_check(lambda d: d["is_victim"] == victim(d), "is_victim_follows_child_role"),
        _row_check(lambda d: ~d["counts_case"] | d["is_victim"], "counts_case_only_on_victims"),
        _row_check(lambda d: ~d["is_victim"] | d.groupby(["agency", "year", "case_id"])["counts_case"]
                   .transform("sum").eq(1), "counts_case_once_per_case_and_year"),
        _row_check(lambda d: pd.concat([d[column] == d["violence_forms"].map(lambda v, c=code: c in v)
                                        for code, column in flags.items()], axis=1).all(axis=1),
                   "form_flags_follow_violence_forms"),
    ]
    return pa.DataFrameSchema(
        {
            "agency": pa.Column(str, pa.Check.isin(agencies)),
            "case_id": pa.Column(str),
            "victim_seq": pa.Column("Int64", pa.Check.ge(1)),
            "report_date": pa.Column("datetime64[us]", pa.Check.ge(pd.Timestamp(EARLIEST_REPORT))),
            "incident_date": pa.Column("datetime64[us]", nullable=True),
            "year": pa.Column("Int64"),
            "victim_sex": _opt(SEXES),
            "victim_age": pa.Column("Int64", pa.Check.in_range(0, 120), nullable=True),
            "victim_age_group": _opt(GROUPS),
            "is_child": pa.Column("boolean", nullable=True),
            "violence_forms": pa.Column(object, [forms_ok, forms_once]),
            "is_kdrt": pa.Column(bool),
            "child_role": _opt(CHILD_ROLES),
            "place": _opt(PLACES),
            "perp_relation": _opt(RELATIONS),
            "kecamatan_code": pa.Column(str, nullable=True),
            "services": pa.Column(object, services_ok),
            "case_status": _opt(STATUSES),
            **(counting if counting_columns else {}),
        },
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
