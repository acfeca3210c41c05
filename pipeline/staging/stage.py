"""From raw text rows to typed, validated staging rows (pure, no Dagster).

parse -> pandera row rules (schemas/cases.py) -> duplicates across files.
Every data row ends in exactly one of: staged, rejected, superseded.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.contract import Contract, form_flag_columns, load_contract
from pipeline.messages import catalogue, render
from pipeline.privacy import case_key
from pipeline.registry import Agency
from pipeline.staging import values as V
from pipeline.staging.rules import candidate_schema, victim_mask
from pipeline.warehouse import tables

if TYPE_CHECKING:
    from pipeline.staging.recap import RecapResult

SOURCE_COLUMNS = tables.SOURCE_NAMES
LINEAGE = [c.name for c in tables.LINEAGE]
STAGED_COLUMNS = tables.CASE_VICTIMS.names
TEXT_COLUMNS = ["agency", "case_id", "victim_sex", "victim_age_group", "child_role", "place", "perp_relation",
                "kecamatan_code", "case_status"]
WARNING_COLUMNS = tables.CELL_WARNINGS.names
REJECT_COLUMNS = tables.REJECTED_ROWS.names


@dataclass
class StagingResult:
    staged: pd.DataFrame
    rejected: pd.DataFrame
    warnings: pd.DataFrame
    superseded: pd.DataFrame  # lineage of superseded rows + superseded_by
    # the last day of the run that gives this same result: the day before the earliest report
    # date after the day of the run (rejected as in the future until then); None: every later day
    valid_until: dt.date | None = None
    recap: RecapResult | None = None  # the agency's recap cells staged (staging/recap.py)


def _memo(series: pd.Series, fn) -> pd.Series:
    """Apply fn to each distinct non-null value once."""
    uniques = series.dropna().unique()
    table = {u: fn(u) for u in uniques}
    return series.map(table)


def _header(headers: dict, row: pd.Series, column: str) -> str:
    return headers.get((row["_source_file"], row["_source_sheet"]), {}).get(column, column)


def parse_rows(raw: pd.DataFrame, agency: Agency, contract: Contract, headers: dict) -> tuple[pd.DataFrame, list[dict]]:
    """Typed candidate rows and the cell warnings found while parsing."""
    candidate, warnings, _ = _parse(raw, [agency], [len(raw)], contract, [headers])
    return candidate, warnings


def _parse(raw: pd.DataFrame, agencies: list[Agency], lengths: list[int], contract: Contract,
           headers: list[dict]) -> tuple[pd.DataFrame, list[dict], list[int]]:
    """parse_rows of several items at once: `raw` holds their rows one item after the other,
    lengths[i] rows of agencies[i] with headers[i]. Also returns the item of each warning.

    pandas' cost is mostly per operation, so one pass over all the rows of a batch costs about a
    third of one pass per agency. Nothing mixes items: the only grouping (victims numbered
    within a file) is by item too."""
    df = pd.DataFrame(index=raw.index)
    item = np.repeat(np.arange(len(lengths)), lengths)
    df["agency"] = np.repeat(np.array([a.code for a in agencies], dtype=object), lengths)
    for column in LINEAGE:
        df[column] = raw[column]
    df["victim_key"] = raw["_victim_key"].astype(object) if "_victim_key" in raw else None
    for column in SOURCE_COLUMNS:
        text = raw[column].where(~raw[column].map(contract.is_empty, na_action="ignore").fillna(True).astype(bool))
        df[f"_raw_{column}"] = text.astype(object).where(text.notna(), None)
    raw_ = lambda c: df[f"_raw_{c}"]  # noqa: E731

    df["case_id"] = raw_("case_id").map(lambda s: s.strip(), na_action="ignore")
    df["victim_seq"] = pd.array(_memo(raw_("victim_seq"), V.parse_int), dtype="Int64")
    for column in ("report_date", "incident_date"):
        parsed = _memo(raw_(column), lambda s: V.parse_date(s, contract))
        df[column] = pd.to_datetime(parsed, errors="coerce").astype("datetime64[us]")
    df["victim_sex"] = _memo(raw_("victim_sex"), lambda s: contract.lookup("victim_sex", s))
    df["victim_age"] = pd.array(_memo(raw_("victim_age"), V.parse_age), dtype="Int64")
    df["_group_given"] = _memo(raw_("victim_age_group"), lambda s: contract.lookup("victim_age_group", s))
    df["_group_from_age"] = df["victim_age"].map(lambda a: V.age_group(int(a)) if pd.notna(a) else None).astype(object)
    df["victim_age_group"] = df["_group_from_age"].where(df["_group_from_age"].notna(), df["_group_given"])

    forms = _memo(raw_("violence_forms"), lambda s: V.parse_forms(s, contract))
    df["violence_forms"] = forms.map(lambda t: t[0] if isinstance(t, tuple) else [])
    form_kdrt = forms.map(lambda t: t[1] if isinstance(t, tuple) else False).astype(bool)
    df["_forms_unknown"] = forms.map(lambda t: ", ".join(t[2]) if isinstance(t, tuple) and t[2] else None)

    kdrt_value = _memo(raw_("is_kdrt"), lambda s: contract.lookup("is_kdrt", s))
    df["is_kdrt"] = (form_kdrt | kdrt_value.eq("true").fillna(False)).astype(bool)
    df["child_role"] = _memo(raw_("child_role"), lambda s: contract.lookup("child_role", s))
    for column in ("place", "perp_relation", "case_status"):
        df[column] = _memo(raw_(column), lambda s, c=column: contract.lookup(c, s))
    # each item's own region list, over its own slice of the rows
    starts, codes = np.cumsum([0, *lengths]), []
    for agency, lo, hi in zip(agencies, starts[:-1], starts[1:]):
        table = V.kecamatan_lookup(agency.kecamatan, contract)
        codes.append(_memo(raw_("kecamatan").iloc[lo:hi], lambda s, t=table: t.get(V.norm_value(s))))
    df["kecamatan_code"] = pd.concat(codes)
    services = _memo(raw_("services"), lambda s: V.parse_multi("services", s, contract))
    df["services"] = services.map(lambda t: t[0] if isinstance(t, tuple) else [])
    services_unknown = services.map(lambda t: ", ".join(t[1]) if isinstance(t, tuple) and t[1] else None)

    _derive_victim_seq(df, item)
    for column in TEXT_COLUMNS:
        df[column] = df[column].astype("str")

    warnings: list[dict] = []
    owners: list[int] = []
    checks = [
        ("place", "place", df["place"].isna()),
        ("perp_relation", "perp_relation", df["perp_relation"].isna()),
        ("kecamatan", "kecamatan", df["kecamatan_code"].isna()),
        ("case_status", "case_status", df["case_status"].isna()),
        ("is_kdrt", "is_kdrt", kdrt_value.isna()),
        ("victim_age_group", "age_group", df["_group_given"].isna()),
    ]
    for source, code, unmatched in checks:
        for pos in np.flatnonzero((raw_(source).notna() & unmatched).to_numpy()):
            row = df.iloc[pos]
            warnings.append(_warning(row, headers[item[pos]], source, f"{code}_unknown", row[f"_raw_{source}"]))
            owners.append(int(item[pos]))
    for pos in np.flatnonzero(services_unknown.notna().to_numpy()):
        warnings.append(_warning(df.iloc[pos], headers[item[pos]], "services", "services_unknown",
                                 services_unknown.iloc[pos]))
        owners.append(int(item[pos]))
    cut = raw["_cells_cut"] if "_cells_cut" in raw else pd.Series(dtype=object)
    for pos in np.flatnonzero(cut.notna().to_numpy()):  # texts cut to Excel's limit by the reader
        row = df.iloc[pos]
        for column in cut.iat[pos].split(","):
            warnings.append(_warning(row, headers[item[pos]], column, "cell_text_cut", _start(row[f"_raw_{column}"])))
            owners.append(int(item[pos]))
    return df, warnings, owners


def _start(text: str | None, n: int = 60) -> str:
    """The start of a long text, to name it in a warning."""
    return f"{text[:n]}…" if text and len(text) > n else (text or "")


def _derive_victim_seq(df: pd.DataFrame, item: np.ndarray) -> None:
    """Rows without a victim number: victims 1, 2, … of their case in row order within the file
    (and within the item of a batch: see _parse)."""
    missing = df["_raw_victim_seq"].isna() & df["case_id"].notna()
    if missing.any():
        part = df.loc[missing, ["_source_file", "case_id"]].assign(_item=item[missing.to_numpy()])
        df.loc[missing, "victim_seq"] = part.groupby(["_item", "_source_file", "case_id"], sort=False).cumcount() + 1


def _warning(row: pd.Series, headers: dict, column: str, code: str, value: object) -> dict:
    header = _header(headers, row, column)
    return {
        "agency": row["agency"], "_source_file": row["_source_file"], "_source_sheet": row["_source_sheet"],
        "_source_row": int(row["_source_row"]), "column": column, "header": header, "value": str(value),
        "code": code, "message": render(code, header=header, value=value, hint=True),
        "message_en": render(code, "en", header=header, value=value), "_load_id": row["_load_id"],
    }


def apply_rules(candidate: pd.DataFrame, load_date: dt.date) -> pd.DataFrame:
    """(index, rule) for every rule every row breaks; pandera validates lazily."""
    try:
        candidate_schema(load_date).validate(candidate, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna() & fc["check"].isin(catalogue())]
        return fc[["index", "check"]].rename(columns={"check": "rule"}).drop_duplicates().astype({"index": int})
    return _no_issues()


def _no_issues() -> pd.DataFrame:
    return pd.DataFrame({"index": pd.Series(dtype=int), "rule": pd.Series(dtype=object)})


def _reason_value(row: pd.Series, rule: str) -> tuple[str, object, object]:
    column = catalogue()[rule].column
    source = {"victim_age_group": "victim_age_group"}.get(column, column)
    value = row.get(f"_raw_{source}")
    other = None
    if rule == "age_group_mismatch":
        other = row["_raw_victim_age"]
    elif rule == "child_role_adult":
        other = row["_raw_victim_age"] or row["_raw_victim_age_group"]
    elif rule == "key_duplicate_in_file":
        other = row["victim_seq"]
    elif rule == "form_unknown":
        value = row["_forms_unknown"]
    return column, value, other


def build_rejects(candidate: pd.DataFrame, issues: pd.DataFrame, headers: dict) -> pd.DataFrame:
    records = []
    for idx, rules in issues.groupby("index")["rule"]:
        row = candidate.loc[idx]
        ordered = sorted(set(rules), key=list(catalogue()).index)
        details, reasons, reasons_en = [], [], []
        for rule in ordered:
            column, value, other = _reason_value(row, rule)
            header = _header(headers, row, column)
            reasons.append(render(rule, header=header, value=value, other=other))
            reasons_en.append(render(rule, "en", header=header, value=value, other=other))
            details.append({"rule": rule, "column": column, "header": header,
                            "value": None if value is None else str(value),
                            "message": render(rule, header=header, value=value, other=other, hint=True),
                            "message_en": reasons_en[-1]})
        values = {c: row[f"_raw_{c}"] for c in SOURCE_COLUMNS if row[f"_raw_{c}"] is not None}
        records.append({
            "agency": row["agency"], "_source_file": row["_source_file"], "_source_sheet": row["_source_sheet"],
            "_source_row": int(row["_source_row"]), "case_id": row["case_id"], "rules": ordered,
            "reasons": "; ".join(reasons), "reasons_en": "; ".join(reasons_en),
            "details": json.dumps(details, ensure_ascii=False), "values": json.dumps(values, ensure_ascii=False),
            "_source_sha256": row["_source_sha256"], "_load_id": row["_load_id"], "_ingested_at": row["_ingested_at"],
        })
    return pd.DataFrame.from_records(records, columns=REJECT_COLUMNS)


def resolve_duplicates(valid: pd.DataFrame, file_rank: dict[str, tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same (case_id, victim_seq) in several files: the file received last wins.

    `file_rank[file]` sorts the winner last: (first seen, mtime to the second, file name, path)
    (ingest._read_folder; contract section 3).
    """
    if valid.empty or not valid.duplicated(["case_id", "victim_seq"]).any():  # most loads: nothing to resolve
        return valid, valid.iloc[0:0].assign(superseded_by=pd.Series(dtype=object))
    rank = valid["_source_file"].map(lambda f: file_rank[f])
    order = valid.assign(_rank=rank).sort_values("_rank", kind="stable")
    winners = order.drop_duplicates(["case_id", "victim_seq"], keep="last")
    losers = order.drop(winners.index)
    winner_file = winners.set_index(["case_id", "victim_seq"])["_source_file"]
    by = [winner_file.get((c, s)) for c, s in zip(losers["case_id"], losers["victim_seq"])]
    return valid.loc[valid.index.isin(winners.index)], losers.drop(columns="_rank").assign(superseded_by=by)


def add_counting_flags(staged: pd.DataFrame, contract: Contract | None = None) -> pd.DataFrame:
    """The counting rules of the data contract (section 2) as columns, on the final staged rows
    (after rejects and superseded rows are gone), so a mart or a researcher sums a flag:

    - is_victim: child_role is not PELAKU (a child recorded as perpetrator is not a victim);
    - counts_case: true on exactly one victim row per (agency, year, case_id), the lowest victim_seq
      (then the first in source order), so sum(counts_case) = count(DISTINCT case_id) over victims;
    - form_fisik, …: true when violence_forms holds that form.
    """
    out = staged.copy()
    out["is_victim"] = victim_mask(out).to_numpy(dtype=bool)
    victims = out.loc[out["is_victim"], ["agency", "year", "case_id", "victim_seq"]]
    first = victims.sort_values("victim_seq", kind="stable").drop_duplicates(["agency", "year", "case_id"]).index
    out["counts_case"] = out.index.isin(first)
    forms = out["violence_forms"].map(lambda v: frozenset(v) if v is not None else frozenset())
    for code, column in form_flag_columns(contract).items():
        out[column] = forms.map(lambda f, c=code: c in f).astype(bool)
    return out


def stage_agency(raw: pd.DataFrame, agency: Agency, headers: dict, file_rank: dict[str, tuple],
                 load_date: dt.date, contract: Contract | None = None) -> StagingResult:
    """One agency's raw rows to staged, rejected, warned and superseded rows."""
    return stage_agencies([(raw, agency, headers, file_rank, load_date)], contract)[0]


def stage_agencies(items: list[tuple[pd.DataFrame, Agency, dict, dict[str, tuple], dt.date]],
                   contract: Contract | None = None) -> list[StagingResult]:
    """stage_agency for several agencies (raw, agency, headers, file_rank, load_date), with one
    parse and one pandera call per day of the run rather than one per agency: most of pandas'
    and pandera's cost is per call."""
    contract = contract or load_contract()
    results: list = [None] * len(items)
    for load_date in sorted({item[4] for item in items}):
        group = [i for i, item in enumerate(items) if item[4] == load_date]
        for i, checked in zip(group, _parse_and_check([items[i] for i in group], load_date, contract)):
            results[i] = _finish_staging(*checked, contract, *items[i][1:])
    return results


def _parse_and_check(items: list[tuple], load_date: dt.date,
                     contract: Contract) -> list[tuple[pd.DataFrame, list[dict], pd.DataFrame]]:
    """(candidate, warnings, issues) of each item of one day: one _parse and one apply_rules
    over the rows of all of them, split back by item (each candidate indexed from 0)."""
    out: list = [None] * len(items)
    for k, (raw, agency, headers, _, _) in enumerate(items):
        if not len(raw):  # parsed alone, which gives the columns and their types
            out[k] = (*parse_rows(raw.reset_index(drop=True), agency, contract, headers), _no_issues())
    full = [k for k in range(len(items)) if out[k] is None]
    if not full:
        return out
    lengths = [len(items[k][0]) for k in full]
    raw = pd.concat([items[k][0] for k in full], ignore_index=True)
    candidate, warnings, owners = _parse(raw, [items[k][1] for k in full], lengths, contract,
                                         [items[k][2] for k in full])
    found = apply_rules(candidate, load_date)
    starts = np.cumsum([0, *lengths])
    for n, k in enumerate(full):
        lo, hi = starts[n], starts[n + 1]
        mine = found[(found["index"] >= lo) & (found["index"] < hi)]
        out[k] = (candidate.iloc[lo:hi].reset_index(drop=True), [], mine.assign(index=mine["index"] - lo))
    for warning, owner in zip(warnings, owners):  # in the order found: each item's own order
        out[full[owner]][1].append(warning)
    return out


def _finish_staging(candidate: pd.DataFrame, warnings: list[dict], issues: pd.DataFrame, contract: Contract,
                    agency: Agency, headers: dict, file_rank: dict[str, tuple], load_date: dt.date) -> StagingResult:
    rejected_idx = set(issues["index"])
    valid = candidate.loc[~candidate.index.isin(rejected_idx)]
    kept, superseded = resolve_duplicates(valid, file_rank)

    staged = kept.copy()
    staged["year"] = pd.array(staged["report_date"].dt.year, dtype="Int64")
    child = pd.Series(pd.NA, index=staged.index, dtype="boolean")
    has_age = staged["victim_age"].notna()
    child[has_age] = staged.loc[has_age, "victim_age"] < 18
    has_group = ~has_age & staged["victim_age_group"].notna()
    child[has_group] = staged.loc[has_group, "victim_age_group"].isin(V.CHILD_GROUPS)
    staged["is_child"] = child
    # pseudonymous case id for the researchers' copy: keyed hash, never the register number
    keys = {c: case_key(agency.code, c) for c in staged["case_id"].unique()}
    staged["case_key"] = staged["case_id"].map(keys).astype(object)
    staged = add_counting_flags(staged, contract)[STAGED_COLUMNS].reset_index(drop=True)

    future = candidate["report_date"][candidate["report_date"] > pd.Timestamp(load_date)]
    warnings_df = pd.DataFrame.from_records(warnings, columns=WARNING_COLUMNS)
    # warnings of rows that were rejected are kept: they are still true of the cell
    return StagingResult(
        staged=staged,
        rejected=build_rejects(candidate, issues, headers),
        warnings=warnings_df,
        superseded=superseded[tables.SUPERSEDED_ROWS.names].reset_index(drop=True),
        valid_until=(future.min() - pd.Timedelta(days=1)).date() if len(future) else None,
    )
