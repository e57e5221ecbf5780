"""Mixing human and synthetic rows at a controlled ratio.

The mix is as large as the data allows at the target human fraction: T = min(H / f, S / (1 - f))
rows, round(f * T) human. Within each origin, rows are taken round-robin across (domain, category)
strata in a fixed pseudo-random order, so rare categories (the tails) keep their rows and the same
seed always gives the same mix; within a stratum, one row per root (seed or document) comes before
a second row of any root, so a quota is filled from as many seeds as the stratum holds. Synthetic
rows above the generation cap never enter.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from synth_assets.core.rows import RejectReason

__all__ = ["MixConfig", "MixPlan", "plan_mix"]


@dataclass(frozen=True)
class MixConfig:
    human_fraction: float = 0.70
    max_generation: int = 1  # collapse guard: never train on recycled generations
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.human_fraction <= 1.0:
            raise ValueError(f"MixConfig.human_fraction must be in [0, 1], got {self.human_fraction}")
        if self.max_generation < 0:
            raise ValueError(f"MixConfig.max_generation must be >= 0, got {self.max_generation}")


@dataclass(frozen=True)
class MixPlan:
    selected: list[str]  # ids, in mix order
    dropped: dict[str, RejectReason]  # id -> reason (over_quota, above_generation_cap)
    human: int
    synthetic: int

    @property
    def human_fraction(self) -> float:
        total = self.human + self.synthetic
        return self.human / total if total else 0.0


def plan_mix(rows: Sequence[Mapping[str, Any]], config: MixConfig) -> MixPlan:
    dropped: dict[str, RejectReason] = {}
    human, synthetic = [], []
    for row in rows:
        if row["origin"] == "human":
            human.append(row)
        elif int(row["generation"]) > config.max_generation:
            dropped[row["id"]] = RejectReason.ABOVE_GENERATION_CAP
        else:
            synthetic.append(row)

    f = config.human_fraction
    limits = [len(human) / f if f > 0 else float("inf"), len(synthetic) / (1 - f) if f < 1 else float("inf")]
    total = int(min(limits) + 1e-9) if min(limits) != float("inf") else 0  # 30 / 0.3 is 99.999…
    n_human = min(len(human), round(f * total))
    n_synthetic = min(len(synthetic), total - n_human)

    chosen_human = _round_robin(human, n_human, config.seed)
    chosen_synthetic = _round_robin(synthetic, n_synthetic, config.seed)
    chosen = {r["id"] for r in chosen_human + chosen_synthetic}
    for row in human + synthetic:
        if row["id"] not in chosen:
            dropped[row["id"]] = RejectReason.OVER_QUOTA
    return MixPlan(
        selected=[r["id"] for r in chosen_human + chosen_synthetic],
        dropped=dropped,
        human=len(chosen_human),
        synthetic=len(chosen_synthetic),
    )


def _order(seed: int, row_id: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{row_id}".encode()).hexdigest()


def _round_robin(rows: Sequence[Mapping[str, Any]], quota: int, seed: int) -> list[Mapping[str, Any]]:
    strata: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        strata[(row["domain"], row["category"])].append(row)
    queues = [_spread_over_roots(strata[key], seed) for key in sorted(strata)]
    chosen: list[Mapping[str, Any]] = []
    depth = 0
    while len(chosen) < quota:
        for queue in queues:
            if depth < len(queue) and len(chosen) < quota:
                chosen.append(queue[depth])
        depth += 1
    return chosen


def _spread_over_roots(rows: Sequence[Mapping[str, Any]], seed: int) -> list[Mapping[str, Any]]:
    """A stratum's rows in the order they are taken: one row of each root (the seed or document a
    row descends from, `root_id`) before a second of any, each round in the seeded order. Rewordings
    and evolutions of one seed share its facts and often its answer; a quota filled from as many
    seeds as the stratum offers keeps the mix as varied as the seeds, and a row's root is itself
    when it has none."""
    ordered = sorted(rows, key=lambda r: _order(seed, r["id"]))
    taken: dict[str, int] = defaultdict(int)
    rank = []
    for row in ordered:
        root = row.get("root_id") or row["id"]
        rank.append(taken[root])
        taken[root] += 1
    return [row for _, row in sorted(zip(rank, ordered, strict=True), key=lambda pair: pair[0])]
