"""Which row of a duplicate cluster survives.

The policy, most preferred first: human over synthetic, then verified over unverified (NULL counts
as unverified), then the higher judge score (NULL and NaN last), then the lower generation (NULL
last), then the smaller id. `SURVIVOR_ORDER_SQL` states it for DuckDB and `survivor_sort_key`
for Python; a test checks that the two order the same rows the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from synth_assets.core.values import is_missing

__all__ = ["SURVIVOR_ORDER_SQL", "survivor_sort_key"]

SURVIVOR_ORDER_SQL = (
    "CASE WHEN origin = 'human' THEN 0 ELSE 1 END, "
    "CASE WHEN verified THEN 0 ELSE 1 END, "
    "CASE WHEN isnan(judge_score) THEN NULL ELSE judge_score END DESC NULLS LAST, "
    "generation ASC NULLS LAST, "
    "id ASC"
)


def survivor_sort_key(row: Mapping) -> tuple:
    """Sort key for one row (a mapping with origin, verified, judge_score, generation, id)."""
    origin = row.get("origin")
    verified = row.get("verified")
    score = row.get("judge_score")
    generation = row.get("generation")
    return (
        0 if not is_missing(origin) and origin == "human" else 1,
        0 if not is_missing(verified) and bool(verified) else 1,
        (1, 0.0) if is_missing(score) or math.isnan(float(score)) else (0, -float(score)),
        (1, 0) if is_missing(generation) else (0, int(generation)),
        str(row["id"]),
    )
