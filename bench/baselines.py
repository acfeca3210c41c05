"""The two baselines, each run by bench/run.py in its own process on the same files as W2.

    python -m bench.baselines floor RAW_DIR
        (a) the floor: every sheet of every workbook parsed to Python values with
        python-calamine alone, one file after the other. Nothing else.

    python -m bench.baselines plain RAW_DIR REGISTRY DB
        (b) what a user would write instead of the pipeline: for each file,
        pandas.read_excel(engine="openpyxl") (odf for .ods; .xls needs xlrd, which the
        project does not install, so .xls files go through calamine and are counted),
        find the header row, map the columns with the contract's synonyms, parse the
        values, validate with the same pandera schema (`staged_schema` of
        pipeline/schemas/cases.py, less the counting-rule flags that staging derives),
        drop the failing rows and insert the rest into
        DuckDB with one bulk INSERT per file. No archive, ledger, lineage tables,
        de-duplication across files, marts, checks or publishing.

Both print one JSON line of counts and their own timing.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

READABLE = {".xlsx", ".xlsm", ".xls", ".ods"}


def workbooks(raw_dir: Path) -> list[Path]:
    """The files the pipeline would try to read: workbook suffixes, not lock files or our output."""
    out = []
    for path in sorted(raw_dir.rglob("*")):
        if "umpan-balik" in path.parts or path.name.startswith(("~$", ".")) or not path.is_file():
            continue
        if path.suffix.lower() in READABLE:
            out.append(path)
    return out


def floor(raw_dir: Path) -> dict:
    import python_calamine as pc

    t0 = time.perf_counter()
    files = workbooks(raw_dir)
    sheets = rows = cells = failed = 0
    for path in files:
        try:
            wb = pc.CalamineWorkbook.from_path(str(path))
        except Exception:
            failed += 1
            continue
        try:
            for name in wb.sheet_names:
                try:
                    values = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
                except Exception:
                    continue
                sheets += 1
                rows += len(values)
                cells += sum(len(r) for r in values)
        finally:
            wb.close()
    return {"files": len(files), "unreadable": failed, "sheets": sheets, "rows": rows, "cells": cells,
            "seconds": round(time.perf_counter() - t0, 3)}


# --------------------------------------------------------------------------- the plain script

def _text(value) -> str | None:
    """A cell as text (the way a user would write it)."""
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime("%Y-%m-%d")
    text = str(value).strip()
    return text or None


def _find_header(frame, contract, norm_header):
    """(index of the lower header row, {column position: canonical name}) or None."""
    needed = set(contract.register_all)
    rows = [[_text(v) for v in frame.iloc[r].tolist()] for r in range(min(len(frame), 31))]
    for r in range(len(rows)):
        for pair in ((r,), (r, r + 1)) if r + 1 < len(rows) else ((r,),):
            mapping = {}
            for c in range(len(rows[r])):
                names = [rows[i][c] for i in pair if rows[i][c]]
                if names:
                    column = contract.header_to_column.get(norm_header(names[-1]))
                    if column and column not in mapping.values():
                        mapping[c] = column
            if needed <= set(mapping.values()) and any(c in mapping.values() for c in contract.register_any):
                return pair[-1], mapping
    return None


def _read_sheets(path: Path):
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return pd.read_excel(path, sheet_name=None, header=None, engine="openpyxl")
    if suffix == ".ods":
        return pd.read_excel(path, sheet_name=None, header=None, engine="odf")
    return pd.read_excel(path, sheet_name=None, header=None, engine="calamine")  # .xls: no xlrd here


def plain(raw_dir: Path, registry: Path, db: Path) -> dict:
    import duckdb
    import pandas as pd
    import pandera.pandas as pa

    from pipeline.contract import load_contract, norm_header, norm_value
    from pipeline.registry import load_registry
    from pipeline.staging import values as V
    from pipeline.staging.rules import staged_schema

    t0 = time.perf_counter()
    contract = load_contract()
    agencies = {a.code: a for a in load_registry(registry)}
    schema = staged_schema(list(agencies), counting_columns=False)  # the pipeline's derived flags are not its job
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("""CREATE TABLE case_victims (
        agency VARCHAR, case_id VARCHAR, victim_seq INTEGER, report_date DATE, incident_date DATE, year INTEGER,
        victim_sex VARCHAR, victim_age INTEGER, victim_age_group VARCHAR, is_child BOOLEAN,
        violence_forms VARCHAR[], is_kdrt BOOLEAN, child_role VARCHAR, place VARCHAR, perp_relation VARCHAR,
        kecamatan_code VARCHAR, services VARCHAR[], case_status VARCHAR, source_file VARCHAR)""")
    counts = {"files": 0, "unreadable": 0, "xls_via_calamine": 0, "sheets": 0, "rows": 0, "valid": 0, "invalid": 0}
    empty = contract.empty_markers

    def clean(s):
        return s.map(lambda v: None if v is None or norm_value(v) in empty else v)

    for path in workbooks(raw_dir):
        counts["files"] += 1
        agency = agencies[path.relative_to(raw_dir).parts[0]]
        counts["xls_via_calamine"] += path.suffix.lower() == ".xls"
        try:
            sheets = _read_sheets(path)
        except Exception:
            counts["unreadable"] += 1
            continue
        kecamatan = V.kecamatan_lookup(agency.kecamatan, contract)
        parts = []
        for frame in sheets.values():
            found = _find_header(frame, contract, norm_header)
            if found is None:
                continue
            counts["sheets"] += 1
            row, mapping = found
            body = frame.iloc[row + 1:, list(mapping)].copy()
            body.columns = [mapping[c] for c in mapping]
            body = body.map(_text)
            body = body[body.notna().any(axis=1)]
            is_total = body.apply(lambda r: any(isinstance(v, str) and norm_value(v) in contract.total_markers
                                                for v in r), axis=1)
            body = body[~is_total] if len(body) else body
            if len(body):
                parts.append(body)
        if not parts:
            continue
        raw = pd.concat(parts, ignore_index=True)
        for column in contract.columns:
            if column not in raw:
                raw[column] = None
        raw = raw.apply(clean)
        counts["rows"] += len(raw)
        df = pd.DataFrame({"agency": agency.code, "case_id": raw["case_id"]})
        seq = raw["victim_seq"].map(V.parse_int, na_action="ignore")
        if raw["victim_seq"].isna().all():
            seq = df.groupby("case_id").cumcount() + 1
        df["victim_seq"] = pd.array(seq, dtype="Int64")
        for column in ("report_date", "incident_date"):
            parsed = raw[column].map(lambda s: V.parse_date(s, contract), na_action="ignore")
            df[column] = pd.to_datetime(parsed, errors="coerce").astype("datetime64[us]")
        df["year"] = pd.array(df["report_date"].dt.year, dtype="Int64")
        df["victim_sex"] = raw["victim_sex"].map(lambda s: contract.lookup("victim_sex", s), na_action="ignore")
        df["victim_age"] = pd.array(raw["victim_age"].map(V.parse_age, na_action="ignore"), dtype="Int64")
        group = raw["victim_age_group"].map(lambda s: contract.lookup("victim_age_group", s), na_action="ignore")
        ages = df["victim_age"].astype(object)
        from_age = ages.map(lambda a: V.age_group(int(a)) if pd.notna(a) else None).astype(object)
        df["victim_age_group"] = from_age.where(from_age.notna(), group.astype(object))
        df["is_child"] = pd.array(ages.map(lambda a: bool(a < 18) if pd.notna(a) else None), dtype="boolean")
        forms = raw["violence_forms"].map(lambda s: V.parse_forms(s, contract), na_action="ignore")
        df["violence_forms"] = forms.map(lambda t: t[0] if isinstance(t, tuple) else [])
        kdrt = raw["is_kdrt"].map(lambda s: contract.lookup("is_kdrt", s), na_action="ignore")
        df["is_kdrt"] = (forms.map(lambda t: isinstance(t, tuple) and t[1]) | kdrt.eq("true")).astype(bool)
        for column in ("child_role", "place", "perp_relation", "case_status"):
            df[column] = raw[column].map(lambda s, c=column: contract.lookup(c, s), na_action="ignore")
        df["kecamatan_code"] = raw["kecamatan"].map(lambda s: kecamatan.get(norm_value(s)), na_action="ignore")
        df["services"] = raw["services"].map(lambda s: V.parse_multi("services", s, contract)[0]
                                             if isinstance(s, str) else [])
        for column in ("agency", "case_id", "victim_sex", "victim_age_group", "child_role", "place",
                       "perp_relation", "kecamatan_code", "case_status"):
            df[column] = df[column].astype("str")
        try:
            schema.validate(df, lazy=True)
            valid = df
        except pa.errors.SchemaErrors as exc:
            bad = exc.failure_cases["index"].dropna().astype(int).unique()
            valid = df.drop(index=bad, errors="ignore")
        counts["valid"] += len(valid)
        counts["invalid"] += len(df) - len(valid)
        if len(valid):
            con.register("_f", valid.assign(source_file=str(path.relative_to(raw_dir))))
            con.execute("INSERT INTO case_victims BY NAME SELECT * FROM _f")
            con.unregister("_f")
    counts["rows_in_duckdb"] = con.execute("SELECT count(*) FROM case_victims").fetchall()[0][0]
    con.close()
    counts["seconds"] = round(time.perf_counter() - t0, 3)
    return counts


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args[:1] == ["floor"] and len(args) == 2:
        print(json.dumps(floor(Path(args[1]))))
        return 0
    if args[:1] == ["plain"] and len(args) == 4:
        print(json.dumps(plain(Path(args[1]), Path(args[2]), Path(args[3]))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
