"""The table declarations (pipeline/warehouse/tables.py) and what is derived from them."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipeline.ingest import ledger, read
from pipeline.marts.build import MartColumnsDiffer, check_columns
from pipeline.marts.sql import MARTS
from pipeline.staging import stage
from pipeline.staging.rules import NOT_VALIDATED, candidate_schema, staged_schema
from pipeline.warehouse import tables
from pipeline.warehouse.db import DDL


def test_every_column_is_described_once_per_table():
    for table in tables.TABLES.values():
        assert table.description.strip(), table.name
        assert len(set(table.names)) == len(table.names), table.name
        for column in table.columns:
            assert column.description.strip(), f"{table.name}.{column.name}"


def test_the_ddl_makes_exactly_the_declared_tables():
    con = duckdb.connect()
    con.execute(DDL)
    for table in tables.AGENCY_SLICE:
        got = con.execute("SELECT column_name, data_type, is_nullable FROM duckdb_columns() WHERE schema_name = ? "
                          "AND table_name = ? ORDER BY column_index", table.name.split(".")).fetchall()
        assert got == [(c.name, c.type, c.nullable) for c in table.columns], table.name


def test_the_layers_build_their_frames_with_the_declared_columns():
    assert read.RAW_COLUMNS == tables.CASE_ROWS.names
    assert ledger.LEDGER_COLUMNS == tables.INGEST_LOG.names
    assert read.SHEET_COLUMNS == tables.SHEETS.names
    assert stage.STAGED_COLUMNS == tables.CASE_VICTIMS.names
    assert stage.REJECT_COLUMNS == tables.REJECTED_ROWS.names


def test_the_pandera_contract_has_the_declared_columns():
    validated = [c for c in tables.CASE_VICTIMS.names if c not in NOT_VALIDATED]
    assert list(staged_schema(["kutim"]).columns) == validated
    assert set(candidate_schema(dt.date.today()).columns) < set(validated)
    nullable = {name: col.nullable for name, col in staged_schema(["kutim"]).columns.items()}
    assert nullable == {c.name: c.nullable for c in tables.CASE_VICTIMS.columns if c.name in validated}


def test_every_declared_mart_has_its_sql_in_build_order():
    from pipeline.marts.sql import ALL_MARTS

    assert list(ALL_MARTS) == [t.name.split(".", 1)[1] for t in tables.MARTS]
    assert set(ALL_MARTS) - set(MARTS) == {"reporting_completeness", "recap_reconciliation", "dq_flags"}  # in Python


def test_a_mart_whose_sql_differs_from_its_declaration_is_refused():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    declared = tables.mart("victims_by_month")
    con.execute("CREATE TABLE marts.victims_by_month AS SELECT 'kutim' AS agency, 2024 AS year, 1 AS month, "
                "2 AS victims")
    check_columns(con, declared)  # the declared names and types
    con.execute("CREATE OR REPLACE TABLE marts.victims_by_month AS SELECT 'kutim' AS agency, 2024 AS year, "
                "1 AS month, 2.0 AS victims")
    with pytest.raises(MartColumnsDiffer, match="victims"):
        check_columns(con, declared)
