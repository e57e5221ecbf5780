"""`GateResult`: what every quality gate returns, whatever it measures.

A gate measures one figure, compares it with one threshold and says in one sentence why it passed or
failed. The offending rows come along as a small table, so a blocked run shows *which* rows blocked
it, not only how many. Nothing here knows about Dagster: the asset checks turn a `GateResult` into
an `AssetCheckResult` with metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["DEFAULT_MAX_OFFENDERS", "GateResult", "empty_offenders", "top_offenders"]

DEFAULT_MAX_OFFENDERS = 20


@dataclass(frozen=True, eq=False)
class GateResult:
    """The outcome of one gate.

    `value` is the measured figure and `threshold` the figure it was held against (for the mix ratio,
    the target; the tolerance is in `extra`). `source` says where the threshold comes from (see
    `thresholds.DEFAULT_THRESHOLDS`). `offenders` holds at most `max_offenders` rows, worst first,
    with the columns that explain why; it is empty when nothing offends. `extra` carries the other
    figures a reader wants next to `value` (per-n distinct values, per-domain rates).
    """

    name: str
    passed: bool
    value: float
    threshold: float
    detail: str
    source: str = ""
    offenders: pd.DataFrame = field(default_factory=pd.DataFrame)
    extra: Mapping[str, float] = field(default_factory=dict)


def empty_offenders(columns: Sequence[str]) -> pd.DataFrame:
    """An offenders table with no rows but the columns a reader expects."""
    return pd.DataFrame({column: pd.Series(dtype=object) for column in columns})


def top_offenders(frame: pd.DataFrame, columns: Sequence[str], max_offenders: int) -> pd.DataFrame:
    """The first `max_offenders` rows of an already worst-first `frame`, restricted to `columns`."""
    if max_offenders < 0:
        raise ValueError(f"max_offenders must be >= 0, got {max_offenders}")
    present = [column for column in columns if column in frame.columns]
    if frame.empty:
        return empty_offenders(present)
    return frame.loc[:, present].head(max_offenders).reset_index(drop=True)
