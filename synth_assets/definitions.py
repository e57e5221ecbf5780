"""The code location: every asset, check, job, schedule and resource. `workspace.yaml` points here.

Paths are relative to the project root (where `workspace.yaml` is); `dagster dev` and `synth` run
from there. The deployment is chosen here and only here, from the environment: `SYNTH_DATA_DIR`
(default `data`) holds inputs, warehouse and exports (the sensors watch it through the
`source_files` resource); `SYNTH_WAREHOUSE` picks the warehouse, `duckdb` (one file, the default)
or `ducklake` (many writers: `SYNTH_LAKE_CATALOG`, a SQLite file or `postgres:` and a DSN, and
`SYNTH_LAKE_DATA_PATH`, default under the data folder; docs/scaling.md); `SYNTH_MAX_TEXT_CHARS` and `SYNTH_MAX_DOCUMENT_CHARS` are the longest
text a row and a document may hold (the `source_files` resource: ingest, deduplicated_corpus and
the corpus_schema gate read the one value); `TEACHER_*` pick the generating teacher, `ANSWER_*` the
answering one and `JUDGE_*` the judge (each role unset shares the generator's; docs/teachers.md). The one exception is a
secret: the alert webhook's URL, which `sensors/alerts.py` reads when a run fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from resources.embedder import EmbeddingModel
from resources.sandbox.resource import CodeSandbox
from resources.source_files import SourceFiles
from resources.teacher.resource import TeacherResource, as_role, teacher_from_env
from resources.warehouse import Warehouse
from sensors import schedules, sensors
from synth_assets.assets.augmentation import augmented_instructions, document_qa_pairs
from synth_assets.assets.card import card_assets
from synth_assets.assets.checks import ALL_CHECKS
from synth_assets.assets.collapse_lab import collapse_lab_assets
from synth_assets.assets.curation import benchmark_index, deduplicated_corpus, mixed_training_set
from synth_assets.assets.export import training_set_export
from synth_assets.assets.generation import backtranslated_pairs, evolved_instructions, self_instruct_tasks
from synth_assets.assets.ingest import documents, human_reference, seeds
from synth_assets.assets.partitions import SEED_BATCHES
from synth_assets.assets.preferences import preference_assets
from synth_assets.assets.review import review_assets
from synth_assets.assets.tails import TAIL_CHECKS, tail_fill
from synth_assets.assets.verification import candidate_solutions, correction_pairs, verified_solutions
from synth_assets.core.input_rules import LIMIT_VARIABLES, InputLimits

__all__ = [
    "BATCH_ASSETS",
    "PIPELINE",
    "PIPELINE_ASSETS",
    "build_resources",
    "defs",
    "input_limits_from_env",
    "synthesize_job",
    "warehouse_from_env",
]

PIPELINE_ASSETS = [
    seeds,
    human_reference,
    documents,
    evolved_instructions,
    self_instruct_tasks,
    backtranslated_pairs,
    augmented_instructions,
    document_qa_pairs,
    candidate_solutions,
    verified_solutions,
    correction_pairs,
    benchmark_index,
    deduplicated_corpus,
    tail_fill,
    mixed_training_set,
    *review_assets,
    training_set_export,
    *preference_assets,
    *card_assets,
]

# Partitioned by seed batch (one per seed file): the rest of the graph unions every batch.
BATCH_ASSETS = [seeds, evolved_instructions, self_instruct_tasks, augmented_instructions, candidate_solutions,
                verified_solutions, correction_pairs]

# The graph with its quality gates: what tests and scripts materialize (`graph_run.run_graph`).
PIPELINE = [*PIPELINE_ASSETS, *ALL_CHECKS, *TAIL_CHECKS]

# The whole synthetic-data graph for one seed batch; the collapse lab's experiments stay out of it.
synthesize_job = dg.define_asset_job(
    "synthesize",
    selection=dg.AssetSelection.assets(*PIPELINE_ASSETS),
    partitions_def=SEED_BATCHES,
    description="One seed batch (partition) from seed file to verified solutions, then the corpus, mix, review "
    "and export rebuilt from every batch. `synth run` runs every batch (docs/operations.md).",
)


def build_resources(
    data_dir: str | Path = "data",
    teacher: TeacherResource | None = None,
    limits: InputLimits | None = None,
    *,
    answerer: TeacherResource | None = None,
    judge: TeacherResource | None = None,
    warehouse: Warehouse | None = None,
) -> dict[str, object]:
    """Every resource the graph needs, with all files under `data_dir` and texts held to `limits`;
    the warehouse is the file under `data_dir` unless one is given.

    One teacher per role: `teacher` generates, `answerer` answers, `judge` judges. Each not given
    comes from the environment; a given `teacher` is also the other roles' default (as
    `teacher_from_env` shares the generator's settings with a role that sets none of its own)."""
    limits = limits or InputLimits()
    warehouse = warehouse or Warehouse.in_folder(data_dir)

    def role(given: TeacherResource | None, name: str) -> TeacherResource:
        if given is not None:
            return given
        return as_role(teacher, name) if teacher is not None else teacher_from_env(warehouse, role=name)

    return {
        "warehouse": warehouse,
        "source_files": SourceFiles(root=str(data_dir), max_text_chars=limits.max_text_chars,
                                    max_document_chars=limits.max_document_chars),
        "teacher": teacher or teacher_from_env(warehouse),
        "answerer": role(answerer, "answering"),
        "judge": role(judge, "judging"),
        "sandbox": CodeSandbox(),
        "embedding_model": EmbeddingModel(warehouse=warehouse),
    }


def warehouse_from_env(data_dir: str | Path) -> Warehouse:
    """`SYNTH_WAREHOUSE` (`duckdb`, the default, or `ducklake`) and, for the lake,
    `SYNTH_LAKE_CATALOG` and `SYNTH_LAKE_DATA_PATH` (default: under `data_dir/warehouse`)."""
    return Warehouse.in_folder(data_dir, backend=os.environ.get("SYNTH_WAREHOUSE", "").strip() or "duckdb",
                               catalog=os.environ.get("SYNTH_LAKE_CATALOG", "").strip(),
                               data_path=os.environ.get("SYNTH_LAKE_DATA_PATH", "").strip())


def input_limits_from_env() -> InputLimits:
    """`SYNTH_MAX_TEXT_CHARS` and `SYNTH_MAX_DOCUMENT_CHARS`, where set; the defaults otherwise. A
    deployment setting, not a run's: every run (a seed batch's, the union's) must hold rows to the
    same limit, or a row one run let in would stop another at the corpus gate."""
    defaults = InputLimits()

    def read(field: str) -> int:
        name = LIMIT_VARIABLES[field]
        raw = os.environ.get(name, "").strip()
        if not raw:
            return getattr(defaults, field)
        try:
            return int(raw.replace("_", ""))
        except ValueError:
            raise ValueError(f"{name} must be a whole number of characters, got {raw!r}") from None

    return InputLimits(read("max_text_chars"), read("max_document_chars"))


defs = dg.Definitions(
    assets=[*PIPELINE_ASSETS, *collapse_lab_assets],
    asset_checks=[*ALL_CHECKS, *TAIL_CHECKS],
    jobs=[synthesize_job],
    schedules=schedules,
    sensors=sensors,
    resources=build_resources(os.environ.get("SYNTH_DATA_DIR", "data"), limits=input_limits_from_env(),
                              warehouse=warehouse_from_env(os.environ.get("SYNTH_DATA_DIR", "data"))),
)
