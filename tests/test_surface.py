"""The public surface stays as users, schedules and scripts know it: asset keys (tests/test_pipeline.py),
op, job, sensor, schedule and check names, table names, and the `ppa` commands."""

from __future__ import annotations

from pipeline.definitions import defs
from pipeline.warehouse import tables

OPS = ["agency_load", "analytics__warehouse_copy", "feedback__umpan_balik", "marts", "marts__dq_flags_dq_flags_open",
       "marts__recap_reconciliation_recap_differs", "marts__reporting_completeness_agencies_silent",
       "marts__reporting_completeness_gx_reporting_completeness", "marts__victims_by_form_gx_victims_by_form",
       "marts__victims_by_region_year_gx_victims_by_region_year", "marts__yoy_by_region_gx_yoy_by_region",
       "meta__refresh_stamp", "public_tables"]
CHECKS = ["analytics/warehouse_copy:release_k_anonymity", "marts/dq_flags:dq_flags_open", "marts/recap_reconciliation:recap_differs",
          "marts/reporting_completeness:agencies_silent",
          "marts/reporting_completeness:gx_reporting_completeness", "marts/victims_by_form:gx_victims_by_form",
          "marts/victims_by_region_year:gx_victims_by_region_year", "marts/yoy_by_region:gx_yoy_by_region",
          "meta/ingest_log:files_rejected",
          "public/victims_by_region_year:suppression_audit", "staging/case_victims:row_accounting",
          "staging/case_victims:staging_contract", "staging/rejected_rows:rows_rejected"]
TABLES = ["meta.agencies", "meta.agency_loads", "meta.approvals", "meta.change_reports", "meta.dq_reviews",
          "meta.erasures", "meta.file_states", "meta.ingest_log", "meta.kecamatan", "meta.mart_figures",
          "meta.population", "meta.public_protection", "meta.release_cells", "meta.release_disclosure", "meta.releases", "meta.sheets", "raw.case_rows", "raw.recap_cells", "staging.case_victims",
          "staging.cell_warnings", "staging.recap_counts", "staging.rejected_recap_cells", "staging.rejected_rows",
          "staging.superseded_rows"]
MART_NAMES = ["child_perpetrators_by_region_year", "dq_flags", "recap_reconciliation", "reporting_completeness",
              "victims_by_age_sex",
              "victims_by_case_status", "victims_by_form", "victims_by_kdrt", "victims_by_kecamatan",
              "victims_by_month", "victims_by_place", "victims_by_region_year", "victims_by_relation",
              "victims_by_service", "yoy_by_region"]
COMMANDS = ["run", "status", "validate", "template", "yoy", "compare", "report", "restore", "erase", "retention",
            "sample", "docs", "dq", "backup", "restore-backup", "changes", "approve", "approvals", "release"]


def test_op_job_sensor_schedule_and_check_names():
    job = defs.resolve_job_def("full_refresh")
    assert sorted(n.name for n in job.graph.node_defs) == OPS
    assert sorted(k.to_user_string() for k in defs.resolve_asset_graph().asset_check_keys) == CHECKS
    assert [s.name for s in defs.sensors] == ["drop_folder_sensor"]
    assert [s.name for s in defs.schedules] == ["nightly_refresh"]
    assert "full_refresh" in {j.name for j in defs.resolve_all_job_defs()}


def test_table_names():
    assert sorted(t for t in tables.TABLES if not t.startswith("marts.")) == TABLES
    from pipeline.marts.sql import ALL_MARTS

    assert sorted(ALL_MARTS) == MART_NAMES == sorted(t.split(".")[1] for t in tables.TABLES if t.startswith("marts."))


def test_ppa_commands(capsys):
    from pipeline.cli import main

    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    for command in COMMANDS:
        assert command in shown, command
