"""Generating instructions from the seeds: Evol-Instruct rounds with elimination."""

from __future__ import annotations

import dagster as dg

from resources.teacher.resource import TeacherResource
from resources.warehouse import Warehouse
from synth_assets.assets.common import WAREHOUSE_POOL, RecordingTeacher, stage_metadata, write_stage
from synth_assets.core.evolution import OPERATIONS, EvolutionConfig, evolve

GENERATION = "generation"


class EvolutionSettings(dg.Config):
    rounds: int = 3
    seed: int = 0
    temperature: float = 0.7
    max_tokens: int = 512
    operations: list[str] = list(OPERATIONS)


@dg.asset(group_name=GENERATION, pool=WAREHOUSE_POOL, deps=["seeds"], kinds={"duckdb"})
def evolved_instructions(
    context: dg.AssetExecutionContext, config: EvolutionSettings, teacher: TeacherResource, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Evol-Instruct (Xu et al. 2023): each round rewrites every lineage once (in depth or in
    breadth); failed evolutions are eliminated with their reason and the parent stays in the pool."""
    seed_rows = warehouse.read_table("seeds").to_dict("records")
    settings = EvolutionConfig(
        rounds=config.rounds, seed=config.seed, temperature=config.temperature,
        max_tokens=config.max_tokens, operations=tuple(config.operations),
    )
    recorder = RecordingTeacher(teacher)
    outcome = evolve(seed_rows, recorder, recorder.teacher_id, settings)
    out, rejects = write_stage(warehouse, "evolved_instructions", outcome.rows, outcome.rejected)
    by_operation = out["operation"].value_counts().to_dict() if not out.empty else {}
    return dg.MaterializeResult(
        metadata=stage_metadata(
            out, rejects, rows_in=len(outcome.rows) + len(outcome.rejected),
            **{f"accepted/{op}": int(n) for op, n in sorted(by_operation.items())},
            **recorder.metadata(),
        )
    )
