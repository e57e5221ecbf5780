"""Generating instructions: Evol-Instruct, Self-Instruct and instruction backtranslation."""


from pathlib import Path

import dagster as dg

from resources.source_files import SourceFiles
from resources.teacher.resource import TeacherResource
from resources.warehouse import Warehouse
from synth_assets.assets.common import (
    FOLLOWS_UPSTREAM,
    WAREHOUSE_POOL,
    RecordingTeacher,
    read_batch,
    reject_samples,
    stage_metadata,
    write_stage,
)
from synth_assets.assets.partitions import SEED_BATCHES
from synth_assets.assets.settings import BacktranslationSettings, EvolutionSettings, SelfInstructSettings
from synth_assets.assets.stage_config import record_settings
from synth_assets.core.attributes import ATTRIBUTES_FILE, AttributeSpace, load_attributes
from synth_assets.core.backtranslation_run import run_backtranslation
from synth_assets.core.evolution import evolve
from synth_assets.core.self_instruct_run import run_self_instruct

GENERATION = "generation"


@dg.asset(group_name=GENERATION, pool=WAREHOUSE_POOL, deps=["seeds"], kinds={"duckdb"},
          partitions_def=SEED_BATCHES, automation_condition=FOLLOWS_UPSTREAM)
def evolved_instructions(
    context: dg.AssetExecutionContext, config: EvolutionSettings, teacher: TeacherResource, source_files: SourceFiles,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    """Evol-Instruct (Xu et al. 2023): each round rewrites every lineage once (in depth or in
    breadth); failed evolutions are eliminated with their reason and the parent stays in the pool.
    With `data/attributes.yaml`, each rewrite prompt is conditioned on a sampled combination."""
    seed_rows = read_batch(warehouse, "seeds", context.partition_key).to_dict("records")
    recorder = RecordingTeacher(teacher)
    attributes = _attributes(source_files)
    outcome = evolve(seed_rows, recorder, recorder.teacher_id, config.to_core(), attributes)
    out, rejects = write_stage(warehouse, "evolved_instructions", outcome.rows, outcome.rejected, batch=context.partition_key)
    by_operation = out["operation"].value_counts().to_dict() if not out.empty else {}
    return dg.MaterializeResult(
        metadata=stage_metadata(
            out, rejects, rows_in=len(outcome.rows) + len(outcome.rejected),
            rejected_samples=dg.MetadataValue.md(reject_samples(rejects)),
            **{f"accepted/{op}": int(n) for op, n in sorted(by_operation.items())},
            attributes=_describe(attributes), **recorder.metadata(), **record_settings(context, config),
        )
    )


@dg.asset(group_name=GENERATION, pool=WAREHOUSE_POOL, deps=["seeds"], kinds={"duckdb"},
          partitions_def=SEED_BATCHES, automation_condition=FOLLOWS_UPSTREAM)
def self_instruct_tasks(
    context: dg.AssetExecutionContext, config: SelfInstructSettings, teacher: TeacherResource, source_files: SourceFiles,
    warehouse: Warehouse,
) -> dg.MaterializeResult:
    """Self-Instruct (Wang et al. 2022): new tasks from prompts of 8 in-context tasks (6 seeds, 2
    generated), kept only if they pass the length, keyword, start and ROUGE-L novelty filters.
    With `data/attributes.yaml`, each prompt is conditioned on a sampled combination."""
    recorder = RecordingTeacher(teacher)
    seed_rows = read_batch(warehouse, "seeds", context.partition_key).to_dict("records")
    attributes = _attributes(source_files)
    outcome = run_self_instruct(seed_rows, recorder, recorder.teacher_id, config.to_core(), attributes)
    out, rejects = write_stage(warehouse, "self_instruct_tasks", outcome.rows, outcome.rejected, batch=context.partition_key)
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(outcome.rows) + len(outcome.rejected),
                                rejected_samples=dg.MetadataValue.md(reject_samples(rejects)),
                                attributes=_describe(attributes), **recorder.metadata(),
                                **record_settings(context, config))
    )


def _attributes(source_files: SourceFiles) -> AttributeSpace | None:
    """The attribute file of the data folder, validated (a bad file fails the asset, naming file,
    line and field); None when there is none."""
    return load_attributes(Path(source_files.root) / ATTRIBUTES_FILE)


def _describe(attributes: AttributeSpace | None) -> str:
    if attributes is None:
        return f"none (no {ATTRIBUTES_FILE} in the data folder)"
    return (f"{attributes.source}: " + ", ".join(f"{a.name} ({len(a.values)})" for a in attributes.attributes)
            + f"; {attributes.combinations} combinations")


@dg.asset(group_name=GENERATION, pool=WAREHOUSE_POOL, deps=["documents"], kinds={"duckdb"},
          automation_condition=FOLLOWS_UPSTREAM)
def backtranslated_pairs(
    context: dg.AssetExecutionContext, config: BacktranslationSettings, teacher: TeacherResource, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Instruction backtranslation (Li et al. 2023): document segments become answers to
    instructions the teacher writes for them; the teacher's 1-5 self-curation keeps the best."""
    recorder = RecordingTeacher(teacher)
    outcome = run_backtranslation(warehouse.read_table("documents").to_dict("records"), recorder,
                                  recorder.teacher_id, config.to_core())
    out, rejects = write_stage(warehouse, "backtranslated_pairs", outcome.rows, outcome.rejected)
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=outcome.segments, segments=outcome.segments,
                                rejected_samples=dg.MetadataValue.md(reject_samples(rejects)), **recorder.metadata(),
                                **record_settings(context, config))
    )
