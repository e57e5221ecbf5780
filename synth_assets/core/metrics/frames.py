"""Small helpers the gates share to read rows: their text, a seeded sample, repeated openings.

Sampling is by a seeded hash of each row's id, never by position, so the same rows are measured
whatever order the table arrives in, and a re-run with the same seed measures the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from synth_assets.core.text import shorten

__all__ = ["TEXT_COLUMNS", "excerpt", "repeated_openings", "row_texts", "stable_sample_positions"]

TEXT_COLUMNS = ("instruction", "response")
_EXCERPT_CHARS = 120


def row_texts(frame: pd.DataFrame, columns: Sequence[str] = TEXT_COLUMNS) -> pd.Series:
    """Each row's text: the given columns joined by a newline, missing values as empty strings."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise KeyError(f"text columns missing from the frame: {missing}")
    if frame.empty:
        return pd.Series([], index=frame.index, dtype=object)
    parts = [frame[column].fillna("").astype(str) for column in columns]
    text = parts[0]
    for part in parts[1:]:
        text = text + "\n" + part
    return text


def excerpt(text: object, chars: int = _EXCERPT_CHARS) -> str:
    """The first `chars` characters of a text on one line, with an ellipsis when cut."""
    return shorten(text, chars, "\u2026") if isinstance(text, str) else ""


def stable_sample_positions(ids: pd.Series, size: int, seed: int) -> np.ndarray:
    """Positions of `size` rows chosen by a seeded hash of their ids (all rows, in order, if fewer)."""
    if size < 0:
        raise ValueError(f"sample size must be >= 0, got {size}")
    if len(ids) <= size:
        return np.arange(len(ids))
    key = f"{seed:016d}"[-16:]
    hashes = pd.util.hash_pandas_object(ids.astype(str).reset_index(drop=True), index=False, hash_key=key)
    return np.sort(np.argsort(hashes.to_numpy(), kind="stable")[:size])


def repeated_openings(
    frame: pd.DataFrame, *, column: str = "instruction", words: int = 6, id_column: str = "id"
) -> pd.DataFrame:
    """Openings (first `words` lower-cased words of `column`) shared by more than one row, most shared first.

    The table a diversity gate shows when it fails: a generator that collapses onto a few templates
    starts many rows the same way. Columns: opening, rows, example_id.
    """
    columns = ["opening", "rows", "example_id"]
    if frame.empty or column not in frame.columns:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in columns})
    openings = frame[column].fillna("").astype(str).str.lower().str.split().str[:words].str.join(" ")
    ids = frame[id_column] if id_column in frame.columns else pd.Series(frame.index, index=frame.index)
    grouped = (
        pd.DataFrame({"opening": openings, "example_id": ids})
        .groupby("opening", sort=False)
        .agg(rows=("example_id", "size"), example_id=("example_id", "first"))
        .reset_index()
    )
    grouped = grouped[grouped["rows"] > 1].sort_values(["rows", "opening"], ascending=[False, True])
    return grouped.loc[:, columns].reset_index(drop=True)
