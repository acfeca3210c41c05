"""Small helpers shared by the asset modules: previews and metadata."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from pipeline.privacy import PREVIEW_COLUMNS


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
