"""The marts: year-on-year, cross-regional tables built with SQL from staging.

Counting rules (data contract, section 2): one row per victim per case; a child
recorded as perpetrator (child_role = PELAKU) is not a victim; the year is the
year of the report date; forms are never added up to give victims or cases.

The rules are columns of staging.case_victims, computed once in staging
(pipeline/staging.py add_counting_flags): `is_victim`, `counts_case` (one victim
row per agency, year and case) and `form_fisik`, … The marts sum those flags
(sum(flag::INT)) rather than count(DISTINCT case_id), count(*) FILTER or
unnest(violence_forms), which cost several times more over millions of rows.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from pipeline.registry import Agency, population_series
from pipeline.warehouse import FORM_FLAGS, insert_frame, transaction

USAGE_WARNING = (
    "Reported cases are not prevalence: these counts are victims who reached a service unit and were "
    "recorded. Coverage changes between years (a new service unit, a late or missing export) move the "
    "counts. / Kasus yang dilaporkan bukan angka prevalensi; perubahan cakupan layanan antar tahun "
    "ikut menggeser angka."
)

VICTIMS = "(SELECT * FROM staging.case_victims WHERE is_victim)"
FORM_SUMS = ", ".join(f'sum({column}::INT) AS "{code}"' for code, column in FORM_FLAGS.items())
FORM_NAMES = ", ".join(f'"{code}"' for code in FORM_FLAGS)

MARTS: dict[str, tuple[str, str]] = {
    "victims_by_region_year": (
        "Victims and cases per agency and report year, with rates per 100,000 people and per 100,000 children.",
        f"""
        WITH v AS {VICTIMS},
        bounds AS (SELECT min(year) AS lo, max(year) AS hi FROM v),
        years AS (SELECT unnest(range(lo, hi + 1)) AS year FROM bounds WHERE lo IS NOT NULL),
        grid AS (SELECT a.agency, a.kabkota_code, a.region_name, y.year FROM meta.agencies a CROSS JOIN years y),
        agg AS (
            SELECT agency, year,
                   sum(counts_case::INT) AS cases,
                   count(*) AS victims,
                   sum((victim_sex = 'P')::INT) AS victims_female,
                   sum((victim_sex = 'L')::INT) AS victims_male,
                   sum(is_child::INT) AS child_victims,
                   sum((victim_sex = 'P' AND NOT is_child)::INT) AS adult_female_victims
            FROM v GROUP BY agency, year
        )
        SELECT g.agency, g.kabkota_code, g.region_name, g.year::INTEGER AS year,
               coalesce(agg.cases, 0)::INTEGER AS cases,
               coalesce(agg.victims, 0)::INTEGER AS victims,
               coalesce(agg.victims_female, 0)::INTEGER AS victims_female,
               coalesce(agg.victims_male, 0)::INTEGER AS victims_male,
               coalesce(agg.child_victims, 0)::INTEGER AS child_victims,
               coalesce(agg.adult_female_victims, 0)::INTEGER AS adult_female_victims,
               p.population, p.population_estimated,
               round(coalesce(agg.victims, 0) * 100000.0 / p.population, 2) AS victims_per_100k,
               p.children AS child_population, p.children_estimated AS child_population_estimated,
               round(coalesce(agg.child_victims, 0) * 100000.0 / p.children, 2) AS child_victims_per_100k_children,
               agg.victims IS NOT NULL AS has_data
        FROM grid g
        LEFT JOIN agg USING (agency, year)
        LEFT JOIN meta.population p USING (agency, year)
        ORDER BY g.agency, year
        """,
    ),
    "reporting_completeness": (
        "Per agency and month: whether any row arrived, how many victims, and from which files. A month "
        "without data is a missing export until shown otherwise, not a month without violence.",
        """
        WITH all_rows AS (SELECT agency, report_date, is_victim, _source_file FROM staging.case_victims),
        bounds AS (SELECT date_trunc('year', min(report_date)) AS lo, date_trunc('month', max(report_date)) AS hi
                   FROM all_rows),
        months AS (SELECT unnest(generate_series(lo, hi, INTERVAL 1 MONTH))::DATE AS month FROM bounds
                   WHERE lo IS NOT NULL),
        grid AS (SELECT a.agency, m.month FROM meta.agencies a CROSS JOIN months m),
        agg AS (
            SELECT agency, date_trunc('month', report_date)::DATE AS month,
                   sum(is_victim::INT) AS victims,
                   count(*) AS rows_staged,
                   list(DISTINCT _source_file ORDER BY _source_file) AS source_files
            FROM all_rows GROUP BY ALL
        )
        SELECT g.agency, year(g.month)::INTEGER AS year, month(g.month)::INTEGER AS month, g.month AS month_start,
               agg.month IS NOT NULL AS has_data,
               coalesce(agg.victims, 0)::INTEGER AS victims,
               coalesce(agg.rows_staged, 0)::INTEGER AS rows_staged,
               coalesce(len(agg.source_files), 0)::INTEGER AS file_count,
               coalesce(agg.source_files, []::VARCHAR[]) AS source_files
        FROM grid g LEFT JOIN agg USING (agency, month)
        ORDER BY g.agency, g.month
        """,
    ),
    "yoy_by_region": (
        "Year-on-year change in victims and cases per agency; change_pct is null when the previous year has "
        "no data or zero. `incomplete` marks a year with fewer than 12 months of data (a month that sent "
        "nothing, or a year still in progress, which `in_progress` flags); its change is not like for like.",
        """
        WITH months AS (
            SELECT agency, year, count(*) FILTER (WHERE has_data) AS months_reported, count(*) AS months_expected
            FROM marts.reporting_completeness GROUP BY agency, year
        )
        SELECT agency, year, victims,
               lag(victims) OVER w AS victims_prev_year,
               victims - lag(victims) OVER w AS change_abs,
               CASE WHEN lag(victims) OVER w > 0
                    THEN round((victims - lag(victims) OVER w) * 100.0 / lag(victims) OVER w, 1) END AS change_pct,
               cases,
               lag(cases) OVER w AS cases_prev_year,
               cases - lag(cases) OVER w AS cases_change_abs,
               CASE WHEN lag(cases) OVER w > 0
                    THEN round((cases - lag(cases) OVER w) * 100.0 / lag(cases) OVER w, 1) END AS cases_change_pct,
               coalesce(m.months_reported, 0)::INTEGER AS months_reported,
               coalesce(m.months_expected, 12)::INTEGER AS months_expected,
               coalesce(m.months_expected, 12) < 12 AS in_progress,
               coalesce(m.months_reported, 0) < 12 AS incomplete
        FROM marts.victims_by_region_year LEFT JOIN months m USING (agency, year)
        WINDOW w AS (PARTITION BY agency ORDER BY year)
        ORDER BY agency, year
        """,
    ),
    "victims_by_form": (
        "Victims per form of violence, agency and year; a victim with two forms counts under each, so shares add up to more than 100.",
        f"""
        WITH v AS {VICTIMS},
        counted AS (SELECT agency, year, count(*) AS all_victims, {FORM_SUMS} FROM v GROUP BY agency, year)
        SELECT agency, year::INTEGER AS year, violence_form, victims::INTEGER AS victims,
               round(victims * 100.0 / all_victims, 1) AS share_pct
        FROM counted UNPIVOT INCLUDE NULLS (victims FOR violence_form IN ({FORM_NAMES}))
        ORDER BY agency, year, violence_form
        """,
    ),
}

def _breakdown(column: str, label: str, unnest: bool = False, name: str | None = None) -> tuple[str, str]:
    value = f"unnest({column})" if unnest else f"coalesce(CAST({column} AS VARCHAR), 'TIDAK_DIKETAHUI')"
    out = name or column
    return (
        f"Victims per agency, year and {label}" + (" (a victim can count under several)" if unnest else "") + ".",
        f"""
        WITH v AS {VICTIMS},
        totals AS (SELECT agency, year, count(*) AS all_victims FROM v GROUP BY agency, year)
        SELECT agency, year::INTEGER AS year, {out}, victims::INTEGER AS victims,
               round(victims * 100.0 / all_victims, 1) AS share_pct
        FROM (SELECT agency, year, {out}, count(*) AS victims
              FROM (SELECT agency, year, {value} AS {out} FROM v) GROUP BY ALL)
        JOIN totals USING (agency, year)
        ORDER BY agency, year, {out}
        """,
    )


MARTS.update({
    "victims_by_age_sex": (
        "Victims per agency, year, age group and sex (TIDAK_DIKETAHUI where not recorded).",
        f"""
        WITH v AS {VICTIMS}
        SELECT agency, year::INTEGER AS year, coalesce(victim_age_group, 'TIDAK_DIKETAHUI') AS victim_age_group,
               coalesce(victim_sex, 'TIDAK_DIKETAHUI') AS victim_sex,
               CASE WHEN is_child THEN 'ANAK' WHEN NOT is_child THEN 'DEWASA' ELSE 'TIDAK_DIKETAHUI' END AS age_class,
               count(*)::INTEGER AS victims
        FROM v GROUP BY ALL ORDER BY ALL
        """,
    ),
    "victims_by_place": _breakdown("place", "place of the incident"),
    "victims_by_relation": _breakdown("perp_relation", "perpetrator's relation to the victim"),
    "victims_by_kdrt": _breakdown("is_kdrt", "domestic-violence context (KDRT)"),
    "victims_by_service": _breakdown("services", "service given", unnest=True, name="service"),
    "victims_by_case_status": _breakdown("case_status", "case status"),
    "victims_by_kecamatan": (
        "Victims per agency, year and kecamatan (codes joined to names; LUAR_WILAYAH for victims from "
        "outside the region, TIDAK_DIKETAHUI where not recorded).",
        f"""
        WITH v AS {VICTIMS}
        SELECT v.agency, v.year::INTEGER AS year, coalesce(v.kecamatan_code, 'TIDAK_DIKETAHUI') AS kecamatan_code,
               coalesce(k.kecamatan_name, CASE WHEN v.kecamatan_code = 'LUAR_WILAYAH' THEN 'Luar Wilayah'
                                               ELSE 'Tidak diketahui' END) AS kecamatan_name,
               count(*)::INTEGER AS victims
        FROM v LEFT JOIN meta.kecamatan k ON k.agency = v.agency AND k.kecamatan_code = v.kecamatan_code
        GROUP BY ALL ORDER BY ALL
        """,
    ),
    "victims_by_month": (
        "Victims per agency, year and month of the report date (seasonality); months without data are 0 "
        "here and has_data = false in reporting_completeness.",
        """
        SELECT agency, year, month, victims FROM marts.reporting_completeness ORDER BY agency, year, month
        """,
    ),
    "child_perpetrators_by_region_year": (
        "Records of children in conflict with the law as perpetrators (ABH, child_role = PELAKU) per agency "
        "and year. They are not victims and are not counted in any victim mart.",
        """
        SELECT a.agency, y.year::INTEGER AS year,
               count(c.agency)::INTEGER AS child_perpetrator_records
        FROM meta.agencies a
        CROSS JOIN (SELECT DISTINCT year FROM marts.victims_by_region_year) y
        LEFT JOIN staging.case_victims c ON c.agency = a.agency AND c.year = y.year AND NOT c.is_victim
        GROUP BY ALL ORDER BY ALL
        """,
    ),
})


def registry_frames(agencies: tuple[Agency, ...], years: list[int]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """meta.agencies, meta.population (with interpolation flags) and meta.kecamatan from the registry."""
    agency_rows = [
        {"agency": a.code, "name": a.name, "region_name": a.region_name, "kabkota_code": a.kemendagri_code,
         "bps_code": a.bps_code, "timezone": a.timezone, "expected_interval_days": a.expected_interval_days}
        for a in agencies
    ]
    pop_rows = []
    for a in agencies:
        people = population_series(a.population, years)
        children = population_series(a.children, years)
        for year in years:
            pop_rows.append({"agency": a.code, "year": year, "population": people[year][0],
                             "population_estimated": people[year][1], "children": children[year][0],
                             "children_estimated": children[year][1]})
    kecamatan = pd.DataFrame(
        [{"agency": a.code, "kecamatan_code": code, "kecamatan_name": names[0]}
         for a in agencies for code, names in a.kecamatan.items()],
        columns=["agency", "kecamatan_code", "kecamatan_name"])
    return pd.DataFrame(agency_rows), pd.DataFrame(pop_rows, columns=[
        "agency", "year", "population", "population_estimated", "children", "children_estimated"]), kecamatan


def build_marts(con: duckdb.DuckDBPyConnection, agencies: tuple[Agency, ...]) -> dict[str, int]:
    """Rebuild meta.agencies, meta.population and every mart in one transaction."""
    lo_hi = con.execute("SELECT min(year), max(year) FROM staging.case_victims").fetchall()[0]
    years = list(range(lo_hi[0], lo_hi[1] + 1)) if lo_hi[0] is not None else []
    agency_df, pop_df, kecamatan_df = registry_frames(agencies, years)
    counts: dict[str, int] = {}
    with transaction(con):
        con.execute("CREATE OR REPLACE TABLE meta.agencies (agency VARCHAR, name VARCHAR, region_name VARCHAR, "
                    "kabkota_code VARCHAR, bps_code VARCHAR, timezone VARCHAR, expected_interval_days INTEGER)")
        insert_frame(con, "meta.agencies", agency_df)
        con.execute("CREATE OR REPLACE TABLE meta.population (agency VARCHAR, year INTEGER, population BIGINT, "
                    "population_estimated BOOLEAN, children BIGINT, children_estimated BOOLEAN)")
        insert_frame(con, "meta.population", pop_df)
        con.execute("CREATE OR REPLACE TABLE meta.kecamatan (agency VARCHAR, kecamatan_code VARCHAR, kecamatan_name VARCHAR)")
        insert_frame(con, "meta.kecamatan", kecamatan_df)
        for name, (description, sql) in MARTS.items():
            con.execute(f"CREATE OR REPLACE TABLE marts.{name} AS {sql}")
            con.execute(f"COMMENT ON TABLE marts.{name} IS '{(description + ' ' + USAGE_WARNING).replace(chr(39), chr(39) * 2)}'")
            counts[name] = con.execute(f"SELECT count(*) FROM marts.{name}").fetchall()[0][0]
    return counts
