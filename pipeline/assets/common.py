"""Small helpers shared by the asset modules: previews and metadata."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd

from pipeline.privacy import PREVIEW_COLUMNS


def cell(value: object) -> str:
    """A value as a person reads it: lists joined with commas, yes/no, '–' for missing, two decimals."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(cell(v) for v in value) or "–"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value.is_integer():
            return str(int(value))
        return f"{value:.2f}" if abs(value) >= 0.01 else f"{value:.2g}"
    return str(value)


def markdown(frame: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    if frame.empty:
        return dg.MetadataValue.md("_(no rows)_")
    shown = frame.head(limit).copy()
    for column in shown.columns:
        shown[column] = shown[column].map(cell)
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def preview(frame: pd.DataFrame, limit: int = 20) -> dg.MetadataValue:
    """A preview with no personal data and no case ids."""
    return markdown(frame[[c for c in PREVIEW_COLUMNS if c in frame.columns]], limit)
