"""Seed categories too thin for the `tail_coverage` gate, found when the seeds are read.

`tail_coverage` (a blocking gate on the mix) asks every seed (domain, category) for at least
`min_rows` rows in the mix. A category's rows reach the mix through its seeds' answers and their
evolutions, after verification, dedup and the mix's quota; the only number the seed files fix is
the seeds. The rule here: a category with fewer seeds than `min_rows` is reported when the seeds
are read, with the fix, because it then depends on human pairs of the same category or on its
evolutions surviving all three, and otherwise the gate would stop the export only at the end of the
run. Seeds are counted over every seed file, since the gate counts the whole mix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from synth_assets.core.metrics.thresholds import DEFAULT_THRESHOLDS

__all__ = ["TAIL_COVERAGE_CHECK", "TAIL_MIN_ROWS", "ThinCategory", "thin_categories", "thin_categories_table"]

# The gate's default minimum, read from where the gate reads it.
TAIL_MIN_ROWS = int(DEFAULT_THRESHOLDS["tail_min_rows"].value)
# The gate's op name in a run config: `<asset>_<check>`.
TAIL_COVERAGE_CHECK = "mixed_training_set_tail_coverage"


@dataclass(frozen=True)
class ThinCategory:
    """A seed category with fewer seeds, in every seed batch together, than the gate's minimum."""

    domain: str
    category: str
    seeds: int
    min_rows: int

    def warning(self) -> str:
        """What a user reads in the log of `seeds`: the category, its count, the minimum and the fix."""
        return (
            f"seed category {self.domain}/{self.category} has {self.seeds} seed(s) in all seed files, fewer than "
            f"the {self.min_rows} rows per category the tail_coverage gate asks of the mix. The gate counts every "
            "row of the category in the mix, human pairs included: unless human pairs of this category make up "
            "the rest, its rows must come from evolutions that survive verification, dedup and the mix's quota, "
            "or tail_coverage fails at the end of the run and blocks the export. Fix: add "
            f"{self.min_rows - self.seeds} or more seeds of domain {self.domain!r} and category {self.category!r} "
            "to data/seeds/, or lower the gate's minimum in the run config: "
            f"ops: {{{TAIL_COVERAGE_CHECK}: {{config: {{min_rows: {self.seeds}}}}}}}"
        )


def thin_categories(seed_counts: Mapping[tuple[str, str], int], min_rows: int = TAIL_MIN_ROWS) -> list[ThinCategory]:
    """The (domain, category) pairs of `seed_counts` (seeds per category) below `min_rows`, thinnest first."""
    thin = [ThinCategory(domain, category, count, min_rows)
            for (domain, category), count in seed_counts.items() if count < min_rows]
    return sorted(thin, key=lambda c: (c.seeds, c.domain, c.category))


def thin_categories_table(thin: list[ThinCategory]) -> str:
    """The thin categories as a markdown table, for the metadata of `seeds`."""
    if not thin:
        return "Every category of this batch has enough seeds for tail_coverage."
    lines = ["| domain | category | seeds (all files) | tail_coverage min_rows |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {c.domain} | {c.category} | {c.seeds} | {c.min_rows} |" for c in thin]
    return "\n".join(lines)
