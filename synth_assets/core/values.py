"""Reading values out of rows that came through pandas or DuckDB: missing values and numpy scalars."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["is_missing", "plain"]


def is_missing(value: object) -> bool:
    """None, NaN, and pandas' NA and NaT (without importing pandas)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and math.isnan(value)


def plain(value: Any) -> Any:
    """A JSON-friendly value: missing values as None, numpy scalars as Python ones."""
    if is_missing(value):
        return None
    return value.item() if hasattr(value, "item") else value
