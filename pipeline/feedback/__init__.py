"""Feedback for agency staff, written into their own folder (umpan-balik/):
a workbook per file with problems, a receipt per file, an index page, and the
register template. Dagster face: pipeline/assets/feedback.py."""
