"""Publishable tables: the marts with small counts suppressed (pipeline/suppression.py).

Written to the `public` schema of the warehouse and exported as Parquet and CSV to
<warehouse>/public/. In DuckDB and Parquet a suppressed value is NULL with a
`<column>_suppressed` flag; in CSV it is the symbol SYMBOL, never 0.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.marts import MARTS
from pipeline.publish import _public_select
from pipeline.suppression import FLAG, audit_marts, protect_marts

SYMBOL = "x"


def suppression_threshold() -> int:
    return int(os.environ.get("PPA_SUPPRESSION_K", "5"))


def build_public(con: duckdb.DuckDBPyConnection, k: int) -> dict[str, pd.DataFrame]:
    """Protect every mart together and replace the `public` schema with the result."""
    marts = {name: con.execute(_public_select(con, f"marts.{name}")).df() for name in MARTS}
    published = protect_marts(marts, k=k)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS public")
        for name, frame in published.items():
            con.register("_public", frame)
            con.execute(f"CREATE OR REPLACE TABLE public.{name} AS SELECT * FROM _public")
            con.unregister("_public")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return published


def read_public(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {name: con.execute(f"SELECT * FROM public.{name}").df() for name in MARTS}


def audit_public(con: duckdb.DuckDBPyConnection, k: int) -> list:
    """Try to recover every suppressed cell from what `public` shows."""
    return audit_marts(read_public(con), k=k)


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Suppressed values as SYMBOL, flag columns dropped."""
    out = frame.copy()
    for flag in [c for c in frame.columns if c.endswith(FLAG)]:
        column = flag[: -len(FLAG)]
        hidden = frame[flag].fillna(False).astype(bool)
        out[column] = out[column].astype(object).where(~hidden, SYMBOL)
        out = out.drop(columns=flag)
    return out


def export(con: duckdb.DuckDBPyConnection, published: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Parquet and CSV of every public table, each replaced atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in published.items():
        parquet, csv = out_dir / f"{name}.parquet", out_dir / f"{name}.csv"
        con.register("_public", frame)
        con.execute(f"COPY _public TO '{out_dir / f'.{name}.parquet.tmp'}' (FORMAT parquet)")
        con.unregister("_public")
        os.replace(out_dir / f".{name}.parquet.tmp", parquet)
        csv_frame(frame).to_csv(out_dir / f".{name}.csv.tmp", index=False)
        os.replace(out_dir / f".{name}.csv.tmp", csv)
        written += [parquet, csv]
    return written
