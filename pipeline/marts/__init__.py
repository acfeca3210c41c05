"""Layer 3, marts: year-on-year and cross-regional tables built with SQL from
staging (`marts` schema), and the Great Expectations suites that check them.
Dagster face: pipeline/assets/marts.py."""
