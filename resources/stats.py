"""What the warehouse holds, per stage: rows kept, rows dropped and why, the mix (`synth stats`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from resources.lineage import STAGE_TABLES
from resources.warehouse import Warehouse

__all__ = ["StageStats", "collect_stats", "format_stats"]

PIPELINE_ORDER = (
    "seeds", "human_reference", "evolved_instructions", "self_instruct_tasks", "augmented_instructions",
    "backtranslated_pairs", "document_qa_pairs", "candidate_solutions", "verified_solutions", "correction_pairs",
    "deduplicated_corpus", "tail_fill", "mixed_training_set", "reviewed_training_set", "preference_pairs",
)


@dataclass
class StageStats:
    stage: str
    rows: int
    dropped: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0

    @property
    def rows_in(self) -> int:
        return self.rows + sum(self.dropped.values()) + self.quarantined


def collect_stats(warehouse: Warehouse) -> tuple[list[StageStats], dict[str, int]]:
    """Per-stage counts in pipeline order, and the mix's rows by origin."""
    stats = []
    for stage in (s for s in PIPELINE_ORDER if s in STAGE_TABLES and warehouse.table_exists(s)):
        rows = int(warehouse.query(f'SELECT count(*) AS n FROM "{stage}"')["n"].iloc[0])
        stats.append(StageStats(stage, rows))
    by_stage = {s.stage: s for s in stats}
    if warehouse.table_exists("rejects"):
        for stage, reason, n in warehouse.query(
            "SELECT stage, reason, count(*) AS n FROM rejects GROUP BY ALL ORDER BY stage, n DESC"
        ).itertuples(index=False):
            if stage in by_stage:
                by_stage[stage].dropped[reason] = int(n)
    if warehouse.table_exists("quarantine"):
        for stage, n in warehouse.query("SELECT stage, count(*) AS n FROM quarantine GROUP BY ALL").itertuples(index=False):
            if stage in by_stage:
                by_stage[stage].quarantined = int(n)
    mix = {}
    if warehouse.table_exists("mixed_training_set"):
        mix = dict(warehouse.query("SELECT origin, count(*) AS n FROM mixed_training_set GROUP BY ALL").itertuples(index=False))
        mix = {k: int(v) for k, v in mix.items()}
    return stats, mix


def format_stats(stats: list[StageStats], mix: dict[str, int]) -> str:
    if not stats:
        return "The warehouse is empty: run `synth run` first."
    lines = [f"{'stage':<22} {'rows in':>8} {'rows out':>9}  dropped (why)", "-" * 90]
    for s in stats:
        why = ", ".join(f"{reason} {n}" for reason, n in s.dropped.items())
        if s.quarantined:
            why = f"quarantined {s.quarantined}" + (f", {why}" if why else "")
        lines.append(f"{s.stage:<22} {s.rows_in:>8} {s.rows:>9}  {why or '-'}")
    total = sum(mix.values())
    if total:
        human = mix.get("human", 0)
        lines.append("")
        lines.append(f"mixed_training_set: {total} rows, {human} human ({human / total:.1%}), "
                     f"{mix.get('synthetic', 0)} synthetic ({mix.get('synthetic', 0) / total:.1%})")
    return "\n".join(lines)
