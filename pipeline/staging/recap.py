"""Recap cells (raw.recap_cells) to staging.recap_counts (data contract, section 9). Pure, no Dagster.

1. Each line is placed: a table by period gets its line's period from the label (a month
   takes the year its sheet states: title, sheet name or file name); a table by kecamatan
   gets the sheet's period and each line's kecamatan from the agency's list (LUAR_WILAYAH;
   TIDAK_DIKETAHUI with the warning kecamatan_unknown for a name not in it). A JUMLAH line
   covers the periods of the lines above it.
2. Each cell is typed: a whole number ≥ 0, a blank or a dash being 0. The recap contract
   (recap_rules.py) rejects a cell that is not a whole number ≥ 0 or whose line has no known
   period, with every reason; the rest of the sheet loads.
3. Totals are checked against their parts (warning recap_total_mismatch, and the total is
   taken as the sum of its parts): a line's total against its sex parts (L + P) and its
   child and adult parts (ANAK + DEWASA), of the same measure, never against forms; a JUMLAH
   line against the lines above it, column by column. Parts with a rejected cell, or left
   wholly blank, are not summed: the total stays as written.
4. One recap per period: the cells that give the whole region's counts (a table by period:
   its lines; a table by kecamatan: its JUMLAH line, else its kecamatan) are `counted`,
   unless a recap received later (file_rank, as for registers) covers an overlapping period
   for the same measure and category: then `superseded_by` names it. A table all of whose
   counted cells are superseded is superseded as a whole.

Row accounting for a recap file: its cells = staged + rejected (superseded cells are staged).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.contract import Contract, load_contract, norm_value
from pipeline.ingest.coverage import Period, find_period
from pipeline.messages import render
from pipeline.registry import Agency
from pipeline.staging.recap_rules import CELL_RULES, candidate_schema
from pipeline.staging.values import kecamatan_lookup
from pipeline.warehouse import tables

STAGED_COLUMNS = tables.RECAP_COUNTS.names
REJECT_COLUMNS = tables.REJECTED_RECAP_CELLS.names
WARNING_COLUMNS = tables.CELL_WARNINGS.names
UNKNOWN_PLACE = "TIDAK_DIKETAHUI"
PART_DIMENSIONS = (("victim_sex", ("L", "P")), ("age_class", ("ANAK", "DEWASA")))  # in the order a total is taken
_DIGITS = re.compile(r"[0-9]+")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")  # 1.234: the Indonesian thousands separator
_LETTERS = re.compile(r"^([A-Z]+)")


@dataclass
class RecapResult:
    staged: pd.DataFrame  # staging.recap_counts
    rejected: pd.DataFrame  # staging.rejected_recap_cells
    warnings: pd.DataFrame  # rows for staging.cell_warnings


def empty_result() -> RecapResult:
    return RecapResult(pd.DataFrame(columns=STAGED_COLUMNS), pd.DataFrame(columns=REJECT_COLUMNS),
                       pd.DataFrame(columns=WARNING_COLUMNS))


def parse_count(text: object, zero: frozenset[str]) -> int | None:
    """A count cell: a whole number ≥ 0 ("12", "1.234"); a blank or a dash is 0; else None."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return 0
    value = str(text).strip()
    if norm_value(value) in zero:
        return 0
    if _DIGITS.fullmatch(value):
        return int(value)
    if _THOUSANDS.fullmatch(value):
        return int(value.replace(".", ""))
    return None


def _given(text: object, zero: frozenset[str]) -> bool:
    return isinstance(text, str) and norm_value(text) not in zero


def stage_recaps(raw: pd.DataFrame, agency: Agency, sheets: pd.DataFrame, file_rank: dict[str, tuple],
                 contract: Contract | None = None) -> RecapResult:
    """One agency's recap cells to staged, rejected and warned cells."""
    if raw.empty:
        return empty_result()
    contract = contract or load_contract()
    zero = contract.recap.zero_markers
    df = raw.reset_index(drop=True).copy()
    df["count"] = pd.array([parse_count(v, zero) for v in df["value"]], dtype="Int64")
    df["_given"] = [_given(v, zero) for v in df["value"]]
    letters = df["_source_cell"].str.extract(_LETTERS.pattern, expand=False)
    turned = df["turned"].astype(bool).to_numpy()
    df["_line"] = np.where(turned, letters, df["_source_row"].astype(str))
    df["_column"] = np.where(turned, df["_source_row"].astype(str), letters)
    warnings: list[dict] = []
    lines = _place_lines(df, sheets, agency, contract, warnings)
    df = df.merge(lines, on=["_source_file", "_source_sheet", "_line"], how="left")
    _categories(df)
    issues = _issues(df)
    rejected = _rejects(df, issues)
    df["_valid"] = ~df.index.isin(issues["index"])
    _check_totals(df, warnings)
    valid = df[df["_valid"]].copy()
    _choose(valid, sheets, file_rank)
    staged = valid.assign(count=valid["count"].astype("int64"))[STAGED_COLUMNS].reset_index(drop=True)
    for column in ("period_start", "period_end"):
        staged[column] = pd.to_datetime(staged[column]).astype("datetime64[us]")
    return RecapResult(staged, rejected, pd.DataFrame.from_records(warnings, columns=WARNING_COLUMNS))


# ---------------------------------------------------------------- 1. the lines: periods and places

def _stated(sheets: pd.DataFrame) -> dict[tuple[str, str], Period | None]:
    """(file, sheet) -> the period a recap sheet states of itself (title, sheet name, file name)."""
    out: dict[tuple[str, str], Period | None] = {}
    if not len(sheets):
        return out
    for path, sheet, start, end in sheets[["path", "sheet", "period_start", "period_end"]].itertuples(index=False):
        known = start is not None and not pd.isna(start) and end is not None and not pd.isna(end)
        out[(path, sheet)] = Period(pd.Timestamp(start).date(), pd.Timestamp(end).date()) if known else None
    return out


def _year_of(period: Period | None) -> int | None:
    return period.start.year if period is not None and period.start.year == period.end.year else None


def _place_lines(df: pd.DataFrame, sheets: pd.DataFrame, agency: Agency, contract: Contract,
                 warnings: list[dict]) -> pd.DataFrame:
    """One row per line: its period (start, end) and kecamatan (axis kecamatan, not a JUMLAH line)."""
    stated = _stated(sheets)
    places = kecamatan_lookup(agency.kecamatan, contract)
    first = df.drop_duplicates(["_source_file", "_source_sheet", "_line"])
    records = []
    for (path, sheet), table in first.groupby(["_source_file", "_source_sheet"], sort=False):
        sheet_period = stated.get((path, sheet))
        placed = []
        for r in table.to_dict("records"):
            period, place = None, None
            if r["axis"] == "kecamatan":
                period = sheet_period
                if not r["total_line"]:
                    place = _place(r, places, contract, agency, warnings)
            elif not r["total_line"]:
                period = _line_period(r["label"], r["label_group"], sheet_period, contract)
            placed.append([path, sheet, r["_line"], period, place, r["total_line"]])
        known = [p[3] for p in placed if not p[5] and p[3] is not None]
        for p in placed:  # a JUMLAH line covers the lines above it
            if p[5] and p[3] is None and known:
                p[3] = Period(min(k.start for k in known), max(k.end for k in known))
        records += placed
    lines = pd.DataFrame(records, columns=["_source_file", "_source_sheet", "_line", "_period", "_place", "_total"])
    lines["period_start"] = [p.start if p else None for p in lines["_period"]]
    lines["period_end"] = [p.end if p else None for p in lines["_period"]]
    return lines.drop(columns=["_period", "_total"])


def _line_period(label: str | None, group: str | None, sheet_period: Period | None,
                 contract: Contract) -> Period | None:
    """A line's period from its label; a month takes its year from the group label over it (a
    year), else from the period its sheet states."""
    if not isinstance(label, str):
        return None
    hint = _year_of(find_period(group, contract)) if isinstance(group, str) else None
    return find_period(label, contract, hint or _year_of(sheet_period), whole_month=True)


def _place(line: dict, places: dict[str, str], contract: Contract, agency: Agency, warnings: list[dict]) -> str:
    label = line["label"]
    if isinstance(label, str) and norm_value(label) in places:
        return places[norm_value(label)]
    if isinstance(label, str) and not contract.is_empty(label):
        header = line["label_header"] if isinstance(line["label_header"], str) else "kecamatan"
        warnings.append(_warning(line, "kecamatan", header, line["label_cell"], "kecamatan_unknown", label))
    return UNKNOWN_PLACE


def _warning(cell: dict, column: str, header: str, where: str, code: str, value: object, **args: object) -> dict:
    """A row of staging.cell_warnings for a recap cell (or a line's label cell)."""
    texts = dict(header=header, value=value, **args)
    return {"agency": cell["agency"], "_source_file": cell["_source_file"], "_source_sheet": cell["_source_sheet"],
            "_source_row": int(_row_of(where) or cell["_source_row"]), "column": column, "header": header,
            "value": None if value is None else str(value), "code": code,
            "message": render(code, hint=True, **texts), "message_en": render(code, "en", **texts),
            "_load_id": cell["_load_id"], "_source_cell": where}


def _row_of(cell: str | None) -> int | None:
    found = re.search(r"[0-9]+$", cell or "")
    return int(found.group(0)) if found else None


# ---------------------------------------------------------------- 2. categories and the cell rules

def _categories(df: pd.DataFrame) -> None:
    """A table by kecamatan: a line's total is the count of its kecamatan (dimension kecamatan_code);
    its other cells keep their category, with the kecamatan beside it."""
    by_place = df["_place"].notna().to_numpy()
    total = (df["dimension"] == "total").to_numpy()
    df["kecamatan_code"] = np.where(by_place & ~total, df["_place"], None)
    df["category"] = np.where(by_place & total, df["_place"], df["category"].astype(object))
    df["dimension"] = np.where(by_place & total, "kecamatan_code", df["dimension"])
    df["category"] = df["category"].where(df["category"].notna(), None)


def _issues(df: pd.DataFrame) -> pd.DataFrame:
    """(index, rule) for every cell rule every cell breaks."""
    try:
        candidate_schema().validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna() & fc["check"].isin(CELL_RULES)]
        return fc[["index", "check"]].rename(columns={"check": "rule"}).drop_duplicates().astype({"index": int})
    return pd.DataFrame({"index": pd.Series(dtype=int), "rule": pd.Series(dtype=object)})


def _rejects(df: pd.DataFrame, issues: pd.DataFrame) -> pd.DataFrame:
    records = []
    for idx, rules in issues.groupby("index")["rule"]:
        r = df.loc[idx]
        ordered = [rule for rule in CELL_RULES if rule in set(rules)]
        args = dict(header=r["header"], value=r["value"], other=r["label"])
        records.append({
            "agency": r["agency"], "_source_file": r["_source_file"], "_source_sheet": r["_source_sheet"],
            "_source_row": int(r["_source_row"]), "_source_cell": r["_source_cell"], "label": r["label"],
            "header": r["header"], "value": r["value"], "rules": ordered,
            "reasons": "; ".join(render(rule, **args) for rule in ordered),
            "reasons_en": "; ".join(render(rule, "en", **args) for rule in ordered),
            "_source_sha256": r["_source_sha256"], "_load_id": r["_load_id"], "_ingested_at": r["_ingested_at"]})
    return pd.DataFrame.from_records(records, columns=REJECT_COLUMNS)


# ---------------------------------------------------------------- 3. totals against their parts

def _is_total(dimension: str) -> bool:
    return dimension in ("total", "kecamatan_code")


def _check_totals(df: pd.DataFrame, warnings: list[dict]) -> None:
    """Each total against its parts; a total that differs is warned and taken as their sum. A
    rejected cell (`_valid` false) is neither checked nor summed: its total stays as written."""
    for _, table in df.groupby(["_source_file", "_source_sheet"], sort=False):
        by_line: dict[str, dict[str, int]] = {}  # line -> column -> index
        for idx, line, column in zip(table.index, table["_line"], table["_column"]):
            by_line.setdefault(line, {})[column] = idx
        totals = [line for line, cells in by_line.items() if df.at[next(iter(cells.values())), "total_line"]]
        body = [line for line in by_line if line not in totals]
        for line in body:
            _line_parts(df, by_line[line], warnings)
        for line in totals:
            _column_parts(df, by_line, body, line, warnings)
            _line_parts(df, by_line[line], warnings)


def _line_parts(df: pd.DataFrame, cells: dict[str, int], warnings: list[dict]) -> None:
    """A line's total of each measure against its L + P and its ANAK + DEWASA (never its forms).
    Parts left wholly blank were not filled in: they are not checked (a "-" is a written 0)."""
    keyed = {(df.at[i, "measure"], "total" if _is_total(df.at[i, "dimension"]) else df.at[i, "dimension"],
              None if _is_total(df.at[i, "dimension"]) else df.at[i, "category"]): i for i in cells.values()}
    for (measure, kind, _), total in list(keyed.items()):
        if kind != "total" or not df.at[total, "_valid"]:
            continue
        sums = []
        for dimension, categories in PART_DIMENSIONS:
            parts = [keyed.get((measure, dimension, c)) for c in categories]
            if all(p is not None and df.at[p, "_valid"] for p in parts) and \
                    not all(pd.isna(df.at[p, "value"]) for p in parts):
                sums.append((parts, int(sum(df.at[p, "count"] for p in parts))))
        if not sums:
            continue
        written = int(df.at[total, "count"])
        for parts, value in sums:
            if value != written:
                detail = " + ".join(str(df.at[p, "header"]) for p in parts) + f" = {value}"
                warnings.append(_mismatch(df, total, written, detail))
        df.at[total, "count"] = sums[0][1]


def _column_parts(df: pd.DataFrame, by_line: dict[str, dict[str, int]], body: list[str], line: str,
                  warnings: list[dict]) -> None:
    """A JUMLAH line against the lines above it, column by column (when none of them was rejected)."""
    if not body:
        return
    first, last = (df.at[next(iter(by_line[b].values())), "label"] for b in (body[0], body[-1]))
    for column, total in by_line[line].items():
        parts = [by_line[b].get(column) for b in body]
        if not df.at[total, "_valid"] or any(p is None or not df.at[p, "_valid"] for p in parts):
            continue
        value, written = int(sum(df.at[p, "count"] for p in parts)), int(df.at[total, "count"])
        if value != written:
            warnings.append(_mismatch(df, total, written, f"{first}…{last} = {value}"))
            df.at[total, "count"] = value


def _mismatch(df: pd.DataFrame, idx: int, written: int, detail: str) -> dict:
    cell = df.loc[idx].to_dict()
    return _warning(cell, "count", str(cell["header"]), cell["_source_cell"], "recap_total_mismatch", written,
                    other=cell["label"], detail=detail)


# ---------------------------------------------------------------- 4. one recap per period

def _choose(df: pd.DataFrame, sheets: pd.DataFrame, file_rank: dict[str, tuple]) -> None:
    """Mark the cells the marts count, and those a recap received later supersedes."""
    df["counted"] = False
    df["superseded_by"] = None
    index = {(p, s): i for p, s, i in zip(sheets["path"], sheets["sheet"], sheets["sheet_index"])} if len(sheets) else {}
    tables = sorted(df.groupby(["_source_file", "_source_sheet"], sort=False).groups.items(),
                    key=lambda kv: index.get(kv[0], 0))
    tables.sort(key=lambda kv: file_rank.get(kv[0][0], ()), reverse=True)  # stable: the file received last first
    taken: dict[tuple, list[tuple[dt.date, dt.date, str]]] = {}
    for (path, _), rows in tables:
        table = df.loc[rows]
        by_total = table["axis"].eq("kecamatan").any() and table["total_line"].any()
        region = table[table["total_line"]] if by_total else table[~table["total_line"]]
        mine, hits = [], []
        for idx, measure, dimension, category, start, end in zip(
                region.index, region["measure"], region["dimension"], region["category"], region["period_start"],
                region["period_end"]):
            key = (measure, "total", None) if _is_total(dimension) else (measure, dimension, category)
            hit = next((p for s, e, p in taken.get(key, ()) if start <= e and s <= end), None)
            if hit is None:
                df.at[idx, "counted"] = True
                mine.append((key, start, end))
            else:
                df.at[idx, "superseded_by"] = hit
                hits.append(hit)
        if hits and not mine:  # every count of the table is covered by a later recap: all of it is replaced
            df.loc[rows, "superseded_by"] = hits[0]
        for key, start, end in mine:
            taken.setdefault(key, []).append((start, end, path))

