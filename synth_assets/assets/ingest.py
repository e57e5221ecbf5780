"""Reading the inputs: seed tasks, human reference pairs and documents, with bad lines quarantined."""

from collections import Counter
from collections.abc import Callable
from typing import Any

import dagster as dg

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import WAREHOUSE_POOL, stage_metadata, write_stage
from synth_assets.assets.partitions import SEED_BATCHES, drop_removed_batches
from synth_assets.core.batches import seed_batch_files
from synth_assets.core.ingest import ReadResult, document_row, human_row, read_jsonl_dir, read_jsonl_files, seed_row
from synth_assets.core.input_rules import document_problems, human_problems, seed_problems
from synth_assets.core.seed_coverage import TAIL_MIN_ROWS, thin_categories, thin_categories_table

INPUTS = "inputs"


def _ingest(
    context: dg.AssetExecutionContext, warehouse: Warehouse, read: ReadResult, table: str,
    to_row: Callable[[dict[str, Any]], dict[str, Any]], batch: str | None = None, **metadata: Any,
) -> dg.MaterializeResult:
    """Write the rows read into the stage's table and the bad lines into `quarantine` (each logged)."""
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    out, rejects = write_stage(warehouse, table, map(to_row, read.rows), quarantined=[q.as_row() for q in read.quarantined],
                               batch=batch)
    return dg.MaterializeResult(metadata=stage_metadata(
        out, rejects, rows_in=len(read.rows) + len(read.quarantined), quarantined=len(read.quarantined), **metadata
    ))


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"}, partitions_def=SEED_BATCHES)
def seeds(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human seed tasks from one seed file, `data/seeds/<partition>.jsonl`: code with unit tests,
    math with answers, general. Each seed file is a partition (a seed batch). Warns about a
    category with too few seeds to keep `tail_coverage`'s minimum of rows in the mix."""
    batch = context.partition_key
    drop_removed_batches(context.log, source_files, warehouse)  # their ids are free again
    path = seed_batch_files(source_files.folder("seeds")).get(batch)
    if path is None:
        raise dg.Failure(
            f"seed batch {batch!r} has no file {source_files.folder('seeds') / (batch + '.jsonl')}; "
            "`synth run` (or the seed sensor) removes the partitions of deleted files"
        )
    # An id another batch already uses is a duplicate, as it would be within one file.
    taken = warehouse.query("SELECT source_key, source_file FROM seeds WHERE seed_batch <> ?", [batch]) \
        if warehouse.table_exists("seeds") else None
    taken_ids = {} if taken is None else dict(zip(taken["source_key"], taken["source_file"], strict=True))
    read = read_jsonl_files([path], seed_problems, source_files.limits(), taken_ids)
    return _ingest(context, warehouse, read, "seeds", seed_row, batch=batch, seed_file=str(path),
                   **_thin_category_warnings(context, warehouse, batch, read))


def _thin_category_warnings(context: dg.AssetExecutionContext, warehouse: Warehouse, batch: str,
                            read: ReadResult) -> dict[str, Any]:
    """Warn now, not at the end of the run, about this batch's categories that have fewer seeds
    (in every seed file together) than `tail_coverage` asks rows of in the mix."""
    here = Counter((str(r["domain"]), str(r["category"])) for r in read.rows)
    others = warehouse.query("SELECT domain, category, count(*) AS n FROM seeds WHERE seed_batch <> ? GROUP BY ALL",
                             [batch]) if warehouse.table_exists("seeds") else None
    elsewhere = {} if others is None else {(r.domain, r.category): int(r.n) for r in others.itertuples()}
    thin = thin_categories({key: count + elsewhere.get(key, 0) for key, count in here.items()})
    for category in thin:
        context.log.warning(category.warning())
    return {"thin_categories": len(thin), "thin_categories_table": dg.MetadataValue.md(thin_categories_table(thin)),
            "tail_coverage_min_rows": TAIL_MIN_ROWS}


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def human_reference(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human-written instruction/response pairs from `data/human/*.jsonl`: the human part of the mix."""
    read = read_jsonl_dir(source_files.folder("human"), human_problems, source_files.limits())
    return _ingest(context, warehouse, read, "human_reference", human_row)


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def documents(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Unlabelled documents from `data/documents/*.jsonl`, the answers backtranslation starts from."""
    read = read_jsonl_dir(source_files.folder("documents"), document_problems, source_files.limits())
    return _ingest(context, warehouse, read, "documents", document_row)
