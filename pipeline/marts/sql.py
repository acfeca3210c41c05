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

from pipeline.warehouse.db import FORM_FLAGS

USAGE_WARNING = (
    "Reported cases are not prevalence: these counts are victims who reached a service unit and were "
    "recorded. Coverage changes between years (a new service unit, a late or missing export) move the "
    "counts. / Kasus yang dilaporkan bukan angka prevalensi; perubahan cakupan layanan antar tahun "
    "ikut menggeser angka."
)

VICTIMS = "(SELECT * FROM staging.case_victims WHERE is_victim)"


def _kept(column: str) -> str:
    """A count of the year's source: 0 for a year without data, null where a recap does not give it
    (data contract, section 9: never 0 for what a recap cannot give)."""
    return f"CASE WHEN agg.source = 'recap' THEN agg.{column} ELSE coalesce(agg.{column}, 0) END"


_COUNTS = ",\n               ".join(
    f"({_kept(c)})::INTEGER AS {c}" for c in ("cases", "victims", "victims_female", "victims_male", "child_victims",
                                              "adult_female_victims"))
FORM_SUMS = ", ".join(f'sum({column}::INT) AS "{code}"' for code, column in FORM_FLAGS.items())
FORM_NAMES = ", ".join(f'"{code}"' for code in FORM_FLAGS)

# name -> the SQL that builds it, in build order (a mart may read the marts before it). The
# columns each gives, and what they mean, are declared in warehouse/tables.py.
MARTS: dict[str, str] = {
    "victims_by_region_year": f"""
        WITH v AS {VICTIMS},
        recap AS (SELECT * FROM recap_years r
                  WHERE NOT EXISTS (SELECT 1 FROM staging.case_victims c WHERE c.agency = r.agency AND c.year = r.year)),
        bounds AS (SELECT min(year) AS lo, max(year) AS hi FROM (SELECT year FROM v UNION ALL SELECT year FROM recap)),
        years AS (SELECT unnest(range(lo, hi + 1)) AS year FROM bounds WHERE lo IS NOT NULL),
        grid AS (SELECT a.agency, a.kabkota_code, a.region_name, y.year FROM meta.agencies a CROSS JOIN years y),
        agg AS (
            SELECT agency, year,
                   sum(counts_case::INT) AS cases,
                   count(*) AS victims,
                   sum((victim_sex = 'P')::INT) AS victims_female,
                   sum((victim_sex = 'L')::INT) AS victims_male,
                   sum(is_child::INT) AS child_victims,
                   sum((victim_sex = 'P' AND NOT is_child)::INT) AS adult_female_victims,
                   'cases' AS source
            FROM v GROUP BY agency, year
            UNION ALL
            SELECT agency, year::INTEGER, cases, victims, victims_female, victims_male, child_victims,
                   NULL AS adult_female_victims, 'recap' AS source
            FROM recap
        )
        SELECT g.agency, g.kabkota_code, g.region_name, g.year::INTEGER AS year,
               {_COUNTS},
               p.population, p.population_estimated,
               round({_kept("victims")} * 100000.0 / p.population, 2) AS victims_per_100k,
               p.children AS child_population, p.children_estimated AS child_population_estimated,
               round({_kept("child_victims")} * 100000.0 / p.children, 2) AS child_victims_per_100k_children,
               agg.source IS NOT NULL AS has_data,
               agg.source
        FROM grid g
        LEFT JOIN agg USING (agency, year)
        LEFT JOIN meta.population p USING (agency, year)
        ORDER BY g.agency, year
        """,
    "yoy_by_region": """
        WITH months AS (
            SELECT agency, year,
                   count(*) FILTER (WHERE coverage_status IN ('reported', 'reported_zero')) AS months_reported,
                   count(*) FILTER (WHERE coverage_status <> 'not_due') AS months_due,
                   count(*) FILTER (WHERE coverage_status = 'missing') AS months_missing,
                   count(*) FILTER (WHERE coverage_status = 'not_due') AS months_not_due,
                   count(*) AS months_in_grid
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
               coalesce(m.months_due, 12)::INTEGER AS months_expected,
               coalesce(m.months_in_grid < 12 OR m.months_not_due > 0, false) AS in_progress,
               coalesce(m.months_missing, 0) > 0 AS incomplete
        FROM marts.victims_by_region_year LEFT JOIN months m USING (agency, year)
        WINDOW w AS (PARTITION BY agency ORDER BY year)
        ORDER BY agency, year
        """,
    "victims_by_form": f"""
        WITH v AS {VICTIMS},
        counted AS (SELECT agency, year, count(*) AS all_victims, {FORM_SUMS} FROM v GROUP BY agency, year)
        SELECT agency, year::INTEGER AS year, violence_form, victims::INTEGER AS victims,
               round(victims * 100.0 / all_victims, 1) AS share_pct, 'cases' AS source
        FROM counted UNPIVOT INCLUDE NULLS (victims FOR violence_form IN ({FORM_NAMES}))
        UNION ALL
        SELECT agency, year::INTEGER, violence_form, victims::INTEGER, round(victims * 100.0 / all_victims, 1),
               'recap'
        FROM recap_forms r
        WHERE NOT EXISTS (SELECT 1 FROM staging.case_victims c WHERE c.agency = r.agency AND c.year = r.year)
        ORDER BY agency, year, violence_form
        """,
}

# What the Python-built marts are made from (marts/build.py hands the frames to marts/completeness.py
# and marts/quality.py).
STAGED_MONTHS = """
    SELECT agency, date_trunc('month', report_date)::DATE AS month_start, sum(is_victim::INT) AS victims,
           count(*) AS rows_staged, list(DISTINCT _source_file ORDER BY _source_file) AS source_files
    FROM staging.case_victims GROUP BY ALL
    """
# The months current files (loaded or nil report) cover, and when such a file was first seen.
COVERED_MONTHS = """
    SELECT s.agency, strptime(m.month, '%Y-%m')::DATE AS month_start, min(l.first_seen) AS first_reported_at
    FROM meta.sheets s
    JOIN meta.ingest_log l ON l.agency = s.agency AND l.path = s.path
    CROSS JOIN unnest(s.coverage_months) AS m(month)
    WHERE s.is_register AND l.status IN ('loaded', 'nil_report')
    GROUP BY ALL
    """
FORM_TOTALS = """
    SELECT agency, year, sum(victims)::INTEGER AS form_victims FROM marts.victims_by_form GROUP BY ALL
    """


def _breakdown(column: str, unnest: bool = False, name: str | None = None) -> str:
    value = f"unnest({column})" if unnest else f"coalesce(CAST({column} AS VARCHAR), 'TIDAK_DIKETAHUI')"
    out = name or column
    return f"""
        WITH v AS {VICTIMS},
        totals AS (SELECT agency, year, count(*) AS all_victims FROM v GROUP BY agency, year)
        SELECT agency, year::INTEGER AS year, {out}, victims::INTEGER AS victims,
               round(victims * 100.0 / all_victims, 1) AS share_pct
        FROM (SELECT agency, year, {out}, count(*) AS victims
              FROM (SELECT agency, year, {value} AS {out} FROM v) GROUP BY ALL)
        JOIN totals USING (agency, year)
        ORDER BY agency, year, {out}
        """


MARTS.update({
    "victims_by_age_sex": f"""
        WITH v AS {VICTIMS}
        SELECT agency, year::INTEGER AS year, coalesce(victim_age_group, 'TIDAK_DIKETAHUI') AS victim_age_group,
               coalesce(victim_sex, 'TIDAK_DIKETAHUI') AS victim_sex,
               CASE WHEN is_child THEN 'ANAK' WHEN NOT is_child THEN 'DEWASA' ELSE 'TIDAK_DIKETAHUI' END AS age_class,
               count(*)::INTEGER AS victims
        FROM v GROUP BY ALL ORDER BY ALL
        """,
    "victims_by_place": _breakdown("place"),
    "victims_by_relation": _breakdown("perp_relation"),
    "victims_by_kdrt": _breakdown("is_kdrt"),
    "victims_by_service": _breakdown("services", unnest=True, name="service"),
    "victims_by_case_status": _breakdown("case_status"),
    "victims_by_kecamatan": f"""
        WITH v AS {VICTIMS}
        SELECT v.agency, v.year::INTEGER AS year, coalesce(v.kecamatan_code, 'TIDAK_DIKETAHUI') AS kecamatan_code,
               coalesce(k.kecamatan_name, CASE WHEN v.kecamatan_code = 'LUAR_WILAYAH' THEN 'Luar Wilayah'
                                               ELSE 'Tidak diketahui' END) AS kecamatan_name,
               count(*)::INTEGER AS victims
        FROM v LEFT JOIN meta.kecamatan k ON k.agency = v.agency AND k.kecamatan_code = v.kecamatan_code
        GROUP BY ALL ORDER BY ALL
        """,
    "victims_by_month": """
        SELECT agency, year, month, victims FROM marts.reporting_completeness ORDER BY agency, year, month
        """,
    "child_perpetrators_by_region_year": """
        SELECT a.agency, y.year::INTEGER AS year,
               count(c.agency)::INTEGER AS child_perpetrator_records
        FROM meta.agencies a
        CROSS JOIN (SELECT DISTINCT year FROM marts.victims_by_region_year) y
        LEFT JOIN staging.case_victims c ON c.agency = a.agency AND c.year = y.year AND NOT c.is_victim
        GROUP BY ALL ORDER BY ALL
        """,
})

# Every mart in build order (a mart may read the ones before it): reporting_completeness,
# recap_reconciliation and dq_flags are built in Python (marts/build.py), the others by the SQL
# above. The SQL reads the recaps' years and forms as `recap_years` and `recap_forms`
# (marts/recaps.py), which the build registers beside the warehouse's tables.
ALL_MARTS = ("reporting_completeness", *MARTS, "recap_reconciliation", "dq_flags")
# The marts published with small counts suppressed. The data-quality review and the recaps'
# reconciliation stay internal: they quote counts (and differences of counts) that suppression hides.
PUBLISHED = tuple(name for name in ALL_MARTS if name not in ("dq_flags", "recap_reconciliation"))
