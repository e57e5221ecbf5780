"""The three data regimes every collapse experiment runs under.

Each generation fits a model, samples from it, and builds the next training set from those samples:

- `replace`: the next training set is only the newest synthetic sample (Shumailov et al. 2024).
- `keep_real`: a fixed share of the next training set is drawn from the original real data and the
  rest is the newest synthetic sample; the set keeps its size.
- `accumulate`: the real data and every synthetic sample made so far are kept and unioned
  (Gerstgrasser et al. 2024); the set grows by one sample a generation.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["REGIMES", "Regime", "real_share_count"]


class Regime(StrEnum):
    REPLACE = "replace"
    KEEP_REAL = "keep_real"
    ACCUMULATE = "accumulate"


REGIMES: tuple[Regime, ...] = (Regime.REPLACE, Regime.KEEP_REAL, Regime.ACCUMULATE)


def real_share_count(size: int, real_fraction: float) -> int:
    """How many of `size` training items are real under `keep_real`: at least 1, at most size - 1."""
    return min(size - 1, max(1, round(real_fraction * size)))
