"""Keep the best, not only the passable: of the rows that passed verification, each (domain,
category) keeps its best `fraction`, and the rest are rejected as `below_top_fraction`.

Best first means, in order: a row a real check passed (tests, the reference answer) before one that
was only voted on or judged; the higher judge score; the higher mean of the judge's aspect scores
(`judge_aspects`, a JSON object of aspect -> score, when the judge gave them); the higher share of
the task's k samples that passed (an answer most samples reach is less likely a lucky pass); then the
id, so equal rows are cut the same way in every run. A group keeps ceil(fraction x rows) rows, so
never none: the fraction trims a group, it does not remove a category.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from synth_assets.core.rows import RejectReason, reject_fields

__all__ = ["aspect_mean", "keep_top_fraction", "rank_key"]


def aspect_mean(row: Mapping[str, Any]) -> float | None:
    """The mean of the row's judge aspect scores; None when the row has none (or they are not a
    JSON object of numbers: then the aspects do not rank it, and its judge score still does)."""
    raw = row.get("judge_aspects")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        aspects = json.loads(raw)
    except json.JSONDecodeError:
        return None
    values = [v for v in aspects.values() if isinstance(v, int | float) and not isinstance(v, bool)] \
        if isinstance(aspects, dict) else []
    return sum(values) / len(values) if values else None


def _missing_last(value: Any) -> tuple[bool, float]:
    """A descending sort key for a number that may be missing (None or NaN): missing sorts last."""
    if value is None or value != value:
        return (True, 0.0)
    return (False, -float(value))


def rank_key(row: Mapping[str, Any]) -> tuple:
    """The sort key of a row within its group: smaller is better (the module docstring's order)."""
    return (
        row.get("verified") is not True,
        _missing_last(row.get("judge_score")),
        _missing_last(aspect_mean(row)),
        _missing_last(row.get("task_pass_rate")),
        str(row["id"]),
    )


def keep_top_fraction(
    rows: Sequence[dict[str, Any]], fraction: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, rejected): the best ceil(fraction x n) rows of each (domain, category) group, in
    their input order, and the rest with reason `below_top_fraction`, their rank, the group's size
    and the last row kept (`related_id`). A fraction of 1 keeps every row."""
    if not 0 < fraction <= 1:
        raise ValueError(f"keep_top_fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return list(rows), []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((str(row["domain"]), str(row.get("category"))), []).append(row)
    dropped: dict[str, dict[str, Any]] = {}
    for (domain, category), members in groups.items():
        ranked = sorted(members, key=rank_key)
        keep = math.ceil(fraction * len(ranked))
        last_kept = ranked[keep - 1]["id"]
        for rank, row in enumerate(ranked[keep:], start=keep + 1):
            dropped[row["id"]] = row
            row.update(reject_fields(
                RejectReason.BELOW_TOP_FRACTION,
                f"rank {rank} of {len(ranked)} in {domain}/{category}; keep_top_fraction {fraction:g} keeps {keep}",
                related_id=last_kept, score=row.get("judge_score"),
            ))
    return [r for r in rows if r["id"] not in dropped], [r for r in rows if r["id"] in dropped]
