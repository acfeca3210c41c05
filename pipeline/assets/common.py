"""Small helpers shared by the asset modules: previews and metadata."""

from __future__ import annotations

import pandas as pd
import dagster as dg

# Columns safe to show in the UI: no case ids, no file contents beyond codes.
PREVIEW_COLUMNS = ["agency", "year", "victim_sex", "victim_age_group", "violence_forms", "is_kdrt",
                   "child_role", "place", "perp_relation", "kecamatan_code", "case_status"]


def markdown(frame: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    if frame.empty:
        return dg.MetadataValue.md("_(no rows)_")
    shown = frame.head(limit).copy()
    for column in shown.columns:
        shown[column] = shown[column].map(lambda v: ", ".join(v) if isinstance(v, (list, tuple)) else v)
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def preview(frame: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    """A preview with no personal data and no case ids."""
    return markdown(frame[[c for c in PREVIEW_COLUMNS if c in frame.columns]], limit)
