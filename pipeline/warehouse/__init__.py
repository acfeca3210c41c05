"""The DuckDB warehouse: every table declared once, the one-writer lock,
transactions and the replacement of an agency's slice."""
