"""From verified and human rows to the training set: dedup, decontamination, the mix."""


from functools import partial

import dagster as dg
import pandas as pd

from resources.embedder import EmbeddingModel
from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import (
    FOLLOWS_UPSTREAM,
    WAREHOUSE_POOL,
    stage_metadata,
    write_stage,
)
from synth_assets.assets.partitions import drop_removed_batches
from synth_assets.assets.settings import CurationSettings, MixSettings
from synth_assets.assets.stage_config import record_settings
from synth_assets.core.curation import curate_corpus, unfit_for_corpus
from synth_assets.core.dedup import (
    SURVIVOR_ORDER_SQL,
    BenchmarkIndex,
    exact_duplicates_sql,
    register_udfs,
)
from synth_assets.core.ingest import read_jsonl_dir
from synth_assets.core.input_rules import benchmark_problems
from synth_assets.core.mixing import plan_mix
from synth_assets.core.progress import Progress
from synth_assets.core.schema import CORPUS_COLUMNS, QUARANTINE_COLUMNS, TABLE_COLUMNS

CURATION = "curation"
BENCHMARK_COLUMNS = {"id": "VARCHAR", "domain": "VARCHAR", "question": "VARCHAR", "answer": "VARCHAR",
                     "source_file": "VARCHAR", "source_line": "INTEGER"}
# Tables whose rows are finished instruction/response pairs.
CORPUS_SOURCES = ("verified_solutions", "backtranslated_pairs", "document_qa_pairs", "human_reference", "correction_pairs")


@dg.asset(group_name=CURATION, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def benchmark_index(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Held-out benchmark items from `data/benchmarks/*.jsonl`, to keep out of the training set."""
    read = read_jsonl_dir(source_files.folder("benchmarks"), benchmark_problems, source_files.limits())
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    items = pd.DataFrame(
        [{**{k: r.get(k) for k in ("id", "domain", "question", "answer")}, "source_file": r["_file"], "source_line": r["_line"]}
         for r in read.rows],
        columns=list(BENCHMARK_COLUMNS),
    ).astype({"id": str, "answer": str})
    warehouse.write_table("benchmark_items", items, BENCHMARK_COLUMNS)
    quarantined = pd.DataFrame([q.as_row() for q in read.quarantined], columns=[c for c in QUARANTINE_COLUMNS if c != "stage"])
    warehouse.replace_stage_rows("quarantine", "benchmark_index", quarantined, QUARANTINE_COLUMNS)
    return dg.MaterializeResult(metadata={"dagster/row_count": len(items), "rows_quarantined": len(read.quarantined)})


@dg.asset(group_name=CURATION, pool=WAREHOUSE_POOL, deps=[*CORPUS_SOURCES, "benchmark_index"], kinds={"duckdb"},
          automation_condition=FOLLOWS_UPSTREAM)
def deduplicated_corpus(
    context: dg.AssetExecutionContext, config: CurationSettings, embedding_model: EmbeddingModel,
    source_files: SourceFiles, warehouse: Warehouse,
) -> dg.MaterializeResult:
    """Verified synthetic rows and human rows, deduplicated (exact, MinHash, semantic) and
    decontaminated against the benchmarks; every removal names the row kept or the item matched.
    Rows the `corpus_schema` gate would refuse (an empty or over-long instruction or response) are
    rejected first, so one bad row never blocks the gate for everyone."""
    drop_removed_batches(context.log, source_files, warehouse)
    sources = CORPUS_SOURCES if config.include_corrections else tuple(t for t in CORPUS_SOURCES if t != "correction_pairs")
    rows, unfit, exact = _stage_corpus(warehouse, sources, source_files.max_text_chars)
    benchmark = BenchmarkIndex.build(warehouse.query("SELECT id, question FROM benchmark_items").itertuples(index=False))
    settings = config.to_core()
    embed = None
    if config.semantic and embedding_model.available:
        embed = partial(embedding_model.encode, progress=partial(_log_progress, context.log, "texts embedded"))
    if config.semantic and embed is None:
        context.log.warning(f"semantic dedup skipped: {embedding_model.unavailable_reason}")
    outcome = curate_corpus(rows, settings, exact if config.exact else None, benchmark, embed)
    out, rejects = write_stage(warehouse, "deduplicated_corpus", outcome.kept, [*unfit, *outcome.removed])
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(rows) + len(unfit), steps_run=", ".join(outcome.steps_run),
                                benchmark_items=len(benchmark), embedding_model=embedding_model.describe(),
                                max_text_chars=source_files.max_text_chars, **embedding_model.cache_counts,
                                **record_settings(context, config))
    )


def _log_progress(log, what: str, done: int, total: int) -> None:
    log.info(f"{done}/{total} {what}", extra=Progress(what, done, total).log_extra())


def _stage_corpus(
    warehouse: Warehouse, sources: tuple[str, ...], max_text_chars: int
) -> tuple[list[dict], list[dict], dict[str, str]]:
    """Union the sources into `corpus_input`, take out the rows unfit for the corpus (returned as
    rejects), and find exact duplicates among the rest, in SQL: an unfit row is never the one an
    exact duplicate is dropped for."""
    columns = ", ".join(f'"{c}"' for c in CORPUS_COLUMNS)
    union = " UNION ALL ".join(
        f"SELECT {', '.join(_column_or_null(c, TABLE_COLUMNS[t]) for c in CORPUS_COLUMNS)} FROM \"{t}\"" for t in sources
    )
    for table in sources:  # a source with no run yet (no seed batch at all) is empty
        warehouse.ensure_table(table, TABLE_COLUMNS[table])
    with warehouse.connect() as con:
        con.execute(f"CREATE OR REPLACE TABLE corpus_input AS SELECT {columns} FROM ({union})")
        rows = con.execute(f"SELECT * FROM corpus_input ORDER BY {SURVIVOR_ORDER_SQL}").df().to_dict("records")
        unfit = unfit_for_corpus(rows, max_text_chars)
        if unfit:
            gone = {row["id"] for row in unfit}
            con.execute("DELETE FROM corpus_input WHERE list_contains($ids::VARCHAR[], id)", {"ids": sorted(gone)})
            rows = [row for row in rows if row["id"] not in gone]
        register_udfs(con)
        exact = dict(con.execute(exact_duplicates_sql("corpus_input", "instruction")).fetchall())
    return rows, unfit, exact


def _column_or_null(column: str, available: dict[str, str]) -> str:
    return f'"{column}"' if column in available else f'CAST(NULL AS {CORPUS_COLUMNS[column]}) AS "{column}"'


@dg.asset(group_name=CURATION, pool=WAREHOUSE_POOL, deps=["deduplicated_corpus", "tail_fill"], kinds={"duckdb"},
          automation_condition=FOLLOWS_UPSTREAM)
def mixed_training_set(
    context: dg.AssetExecutionContext, config: MixSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """Human and synthetic rows at the target human fraction (default 70%), stratified by domain
    and category so rare categories keep their rows; no synthetic row above the generation cap.
    The corpus is `deduplicated_corpus` with the rows `tail_fill` made for thin categories."""
    drop_removed_batches(context.log, source_files, warehouse)
    corpus = warehouse.read_table("deduplicated_corpus")
    if warehouse.table_exists("tail_fill"):
        corpus = pd.concat([corpus, warehouse.read_table("tail_fill")], ignore_index=True)
    plan = plan_mix(corpus.to_dict("records"), config.to_core())
    by_id = corpus.set_index("id", drop=False)
    selected = by_id.loc[plan.selected].to_dict("records") if plan.selected else []
    # One lookup for every dropped row, not one per row (that is minutes at 200,000 rows).
    dropped = by_id.loc[list(plan.dropped)].assign(
        reason=[str(reason) for reason in plan.dropped.values()], detail=f"target human fraction {config.human_fraction}"
    ).to_dict("records") if plan.dropped else []
    out, rejects = write_stage(warehouse, "mixed_training_set", selected, dropped)
    return dg.MaterializeResult(
        metadata=stage_metadata(
            out, rejects, rows_in=len(corpus), human_rows=plan.human, synthetic_rows=plan.synthetic,
            human_fraction=round(plan.human_fraction, 4), target_human_fraction=config.human_fraction,
            **record_settings(context, config),
        )
    )
