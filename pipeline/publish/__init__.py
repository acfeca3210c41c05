"""Layer 4, publish: what leaves the warehouse. The researchers' read-only copy
(analytics.duckdb, Parquet), the public tables with small counts suppressed,
the HTML report and the data dictionary. Dagster face: pipeline/assets/publish.py.
"""
