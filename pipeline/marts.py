"""The marts: year-on-year, cross-regional tables built with SQL from staging.

Counting rules (data contract, section 2): one row per victim per case; a child
recorded as perpetrator (child_role = PELAKU) is not a victim; the year is the
year of the report date; forms are never added up to give victims or cases.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from pipeline.registry import Agency, population_series
from pipeline.warehouse import insert_frame

USAGE_WARNING = (
    "Reported cases are not prevalence: these counts are victims who reached a service unit and were "
    "recorded. Coverage changes between years (a new service unit, a late or missing export) move the "
    "counts. / Kasus yang dilaporkan bukan angka prevalensi; perubahan cakupan layanan antar tahun "
    "ikut menggeser angka."
)

VICTIMS = "(SELECT * FROM staging.case_victims WHERE child_role IS DISTINCT FROM 'PELAKU')"

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
                   count(DISTINCT case_id) AS cases,
                   count(*) AS victims,
                   count(*) FILTER (WHERE victim_sex = 'P') AS victims_female,
                   count(*) FILTER (WHERE victim_sex = 'L') AS victims_male,
                   count(*) FILTER (WHERE is_child) AS child_victims,
                   count(*) FILTER (WHERE victim_sex = 'P' AND is_child = false) AS adult_female_victims
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
    "yoy_by_region": (
        "Year-on-year change in victims and cases per agency; change_pct is null when the previous year has no data or zero.",
        """
        SELECT agency, year, victims,
               lag(victims) OVER w AS victims_prev_year,
               victims - lag(victims) OVER w AS change_abs,
               CASE WHEN lag(victims) OVER w > 0
                    THEN round((victims - lag(victims) OVER w) * 100.0 / lag(victims) OVER w, 1) END AS change_pct,
               cases,
               lag(cases) OVER w AS cases_prev_year,
               cases - lag(cases) OVER w AS cases_change_abs,
               CASE WHEN lag(cases) OVER w > 0
                    THEN round((cases - lag(cases) OVER w) * 100.0 / lag(cases) OVER w, 1) END AS cases_change_pct
        FROM marts.victims_by_region_year
        WINDOW w AS (PARTITION BY agency ORDER BY year)
        ORDER BY agency, year
        """,
    ),
    "victims_by_form": (
        "Victims per form of violence, agency and year; a victim with two forms counts under each, so shares add up to more than 100.",
        f"""
        WITH v AS {VICTIMS},
        totals AS (SELECT agency, year, count(*) AS all_victims FROM v GROUP BY agency, year),
        forms AS (SELECT unnest(['FISIK','PSIKIS','SEKSUAL','EKSPLOITASI','TRAFFICKING','PENELANTARAN','LAINNYA']) AS violence_form),
        counted AS (
            SELECT agency, year, f AS violence_form, count(*) AS victims
            FROM (SELECT agency, year, unnest(violence_forms) AS f FROM v) GROUP BY ALL
        )
        SELECT t.agency, t.year::INTEGER AS year, f.violence_form,
               coalesce(c.victims, 0)::INTEGER AS victims,
               round(coalesce(c.victims, 0) * 100.0 / t.all_victims, 1) AS share_pct
        FROM totals t CROSS JOIN forms f
        LEFT JOIN counted c ON c.agency = t.agency AND c.year = t.year AND c.violence_form = f.violence_form
        ORDER BY t.agency, year, f.violence_form
        """,
    ),
}


def registry_frames(agencies: tuple[Agency, ...], years: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """meta.agencies and meta.population (with interpolation flags) from the registry."""
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
    return pd.DataFrame(agency_rows), pd.DataFrame(pop_rows, columns=[
        "agency", "year", "population", "population_estimated", "children", "children_estimated"])


def build_marts(con: duckdb.DuckDBPyConnection, agencies: tuple[Agency, ...]) -> dict[str, int]:
    """Rebuild meta.agencies, meta.population and every mart in one transaction."""
    lo_hi = con.execute("SELECT min(year), max(year) FROM staging.case_victims").fetchall()[0]
    years = list(range(lo_hi[0], lo_hi[1] + 1)) if lo_hi[0] is not None else []
    agency_df, pop_df = registry_frames(agencies, years)
    counts: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE OR REPLACE TABLE meta.agencies (agency VARCHAR, name VARCHAR, region_name VARCHAR, "
                    "kabkota_code VARCHAR, bps_code VARCHAR, timezone VARCHAR, expected_interval_days INTEGER)")
        insert_frame(con, "meta.agencies", agency_df)
        con.execute("CREATE OR REPLACE TABLE meta.population (agency VARCHAR, year INTEGER, population BIGINT, "
                    "population_estimated BOOLEAN, children BIGINT, children_estimated BOOLEAN)")
        insert_frame(con, "meta.population", pop_df)
        for name, (description, sql) in MARTS.items():
            con.execute(f"CREATE OR REPLACE TABLE marts.{name} AS {sql}")
            con.execute(f"COMMENT ON TABLE marts.{name} IS '{(description + ' ' + USAGE_WARNING).replace(chr(39), chr(39) * 2)}'")
            counts[name] = con.execute(f"SELECT count(*) FROM marts.{name}").fetchall()[0][0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counts
