"""Tail filling: more rows for the (domain, category) pairs the deduplicated corpus holds too few of.

`tail_fill` sits between `deduplicated_corpus` and `mixed_training_set`: it measures the corpus
against its targets, makes and verifies rows for the categories under target (`core.tail_fill`),
and its rows join the corpus in the mix. Its blocking check holds them to the corpus's schema.
"""

from typing import Any

import dagster as dg

from resources.embedder import EmbeddingModel
from resources.sandbox.resource import CodeSandbox
from resources.source_files import SourceFiles
from resources.teacher.resource import TeacherResource
from resources.warehouse import Warehouse
from synth_assets.assets.common import (
    FOLLOWS_UPSTREAM,
    WAREHOUSE_POOL,
    RecordingTeacher,
    frame,
    reject_samples,
    stage_metadata,
    write_stage,
)
from synth_assets.assets.settings import CurationSettings, TailFillSettings
from synth_assets.assets.stage_config import record_settings, recorded_settings
from synth_assets.core.curation import CurationConfig
from synth_assets.core.dedup import BenchmarkIndex
from synth_assets.core.schema import TABLE_COLUMNS
from synth_assets.core.tail_fill import TailTeachers, coverage_table, fill_tails
from synth_assets.core.validation import validate_rows

__all__ = ["TAIL_CHECKS", "tail_fill", "tail_fill_schema"]

CURATION = "curation"
INSTRUCTIONS = "tail_fill_instructions"


@dg.asset(group_name=CURATION, pool=WAREHOUSE_POOL, deps=["deduplicated_corpus", "seeds", "benchmark_index"],
          kinds={"duckdb"}, automation_condition=FOLLOWS_UPSTREAM)
def tail_fill(
    context: dg.AssetExecutionContext, config: TailFillSettings, teacher: TeacherResource, answerer: TeacherResource,
    judge: TeacherResource, sandbox: CodeSandbox,
    embedding_model: EmbeddingModel, source_files: SourceFiles, warehouse: Warehouse,
) -> dg.MaterializeResult:
    """Rows for the seed categories whose share of the corpus's synthetic rows is under target (the
    seed distribution, or `targets`): edge-case and rare-scenario rewrites of their seeds, answered,
    verified and deduplicated against the corpus as every other row, for up to `rounds` rounds and
    `max_teacher_calls` completions. Its rows join the corpus in `mixed_training_set`."""
    curation, curation_source = _corpus_curation(context.instance)
    benchmark = None
    if curation.decontaminate:
        benchmark = BenchmarkIndex.build(warehouse.query("SELECT id, question FROM benchmark_items").itertuples(index=False))
    embed = embedding_model.encode if curation.semantic and embedding_model.available else None
    if curation.semantic and embed is None:
        context.log.warning(f"semantic dedup skipped: {embedding_model.unavailable_reason}")
    recorders = [RecordingTeacher(role) for role in (teacher, answerer, judge)]
    teachers = TailTeachers(*recorders, *(r.teacher_id for r in recorders))
    seeds = warehouse.read_table("seeds").to_dict("records") if warehouse.table_exists("seeds") else []
    outcome = fill_tails(warehouse.read_table("deduplicated_corpus").to_dict("records"), seeds, teachers,
                         sandbox.run_many, config.to_core(), curation=curation,
                         max_text_chars=source_files.max_text_chars, benchmark=benchmark, embed=embed)
    warehouse.write_table(INSTRUCTIONS, frame(outcome.instructions, TABLE_COLUMNS[INSTRUCTIONS]), TABLE_COLUMNS[INSTRUCTIONS])
    out, rejects = write_stage(warehouse, "tail_fill", outcome.rows, outcome.rejected)
    if outcome.without_seeds:
        context.log.warning("under target with no seed to rewrite: "
                            + ", ".join("/".join(key) for key in outcome.without_seeds))
    by_operation = out["operation"].value_counts().to_dict() if not out.empty else {}
    return dg.MaterializeResult(metadata=stage_metadata(
        out, rejects, rows_in=len(out) + len(rejects),
        coverage=dg.MetadataValue.md(coverage_table(outcome.before, outcome.after)),
        categories_under_before=sum(c.under for c in outcome.before),
        categories_under_after=sum(c.under for c in outcome.after),
        rounds_run=outcome.rounds_run, instructions=len(outcome.instructions),
        teacher_calls=outcome.teacher_calls, max_teacher_calls=config.max_teacher_calls,
        under_target_without_seeds=", ".join("/".join(key) for key in outcome.without_seeds) or "none",
        dedup_settings=curation_source,
        verdicts=dg.MetadataValue.md(
            "| verifier | verdict | candidates |\n| --- | --- | ---: |\n"
            + "\n".join(f"| {v} | {r} | {n} |" for (v, r), n in sorted(outcome.verdicts.items()))),
        rejected_samples=dg.MetadataValue.md(reject_samples(rejects)),
        **{f"accepted/{op}": int(n) for op, n in sorted(by_operation.items())},
        **recorders[0].metadata(),  # the generator's; the answerer's and the judge's under their role
        **{f"{role}/{key}": value for role, recorder in zip(("answerer", "judge"), recorders[1:], strict=True)
           for key, value in recorder.metadata().items()},
        **record_settings(context, config),
    ))


def _corpus_curation(instance: dg.DagsterInstance) -> tuple[CurationConfig, str]:
    """The dedup settings `deduplicated_corpus` last ran with, so filled rows are held to the same
    rules as the corpus they join; its defaults when it recorded none."""
    recorded = recorded_settings(instance, "deduplicated_corpus")
    if not recorded:
        return CurationConfig(), "deduplicated_corpus's defaults (it recorded no settings)"
    nested: dict[str, Any] = {}
    for path, entry in recorded.items():
        *parents, leaf = path.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = entry["value"]
    return CurationSettings(**nested).to_core(), "as deduplicated_corpus last ran"


@dg.asset_check(asset="tail_fill", blocking=True,
                description="The filled rows meet the corpus's schema (columns, allowed values, lengths, unique ids).")
def tail_fill_schema(source_files: SourceFiles, warehouse: Warehouse) -> dg.AssetCheckResult:
    # The rows skip deduplicated_corpus's gates on their way to the mix, so they meet the same schema
    # here, at the row limit the corpus is held to.
    report = validate_rows(warehouse.read_table("tail_fill"), max_len=source_files.max_text_chars)
    metadata: dict[str, Any] = {"detail": report.detail, "rows": report.rows, "expectations": report.expectations}
    if report.failures:
        metadata["failures"] = dg.MetadataValue.md(report.failures_frame().to_markdown(index=False))
    return dg.AssetCheckResult(passed=report.passed, metadata=metadata, description=report.detail)


TAIL_CHECKS = [tail_fill_schema]
