"""Reading the inputs: seed tasks, human reference pairs and documents, with bad lines quarantined."""

from collections.abc import Callable
from typing import Any

import dagster as dg

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import WAREHOUSE_POOL, stage_metadata, write_stage
from synth_assets.assets.partitions import SEED_BATCHES
from synth_assets.core.batches import seed_batch_files
from synth_assets.core.ingest import (
    ReadResult,
    DOCUMENT_FIELDS,
    HUMAN_FIELDS,
    SEED_FIELDS,
    document_row,
    human_row,
    read_jsonl_dir,
    read_jsonl_files,
    seed_row,
    validate_seed,
)

INPUTS = "inputs"


def _ingest(
    context: dg.AssetExecutionContext, warehouse: Warehouse, read: ReadResult, table: str,
    to_row: Callable[[dict[str, Any]], dict[str, Any]], batch: str | None = None, **metadata: Any,
) -> dg.MaterializeResult:
    """Write the rows read into the stage's table and the bad lines into `quarantine` (each logged)."""
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    out, rejects = write_stage(warehouse, table, map(to_row, read.rows), quarantined=[vars(q) for q in read.quarantined],
                               batch=batch)
    return dg.MaterializeResult(metadata=stage_metadata(
        out, rejects, rows_in=len(read.rows) + len(read.quarantined), quarantined=len(read.quarantined), **metadata
    ))


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"}, partitions_def=SEED_BATCHES)
def seeds(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human seed tasks from one seed file, `data/seeds/<partition>.jsonl`: code with unit tests,
    math with answers, general. Each seed file is a partition (a seed batch)."""
    batch = context.partition_key
    path = seed_batch_files(source_files.folder("seeds")).get(batch)
    if path is None:
        raise dg.Failure(
            f"seed batch {batch!r} has no file {source_files.folder('seeds') / (batch + '.jsonl')}; "
            "`synth run` (or the seed sensor) removes the partitions of deleted files"
        )
    # An id another batch already uses is a duplicate, as it would be within one file.
    taken = warehouse.query("SELECT source_key, source_file FROM seeds WHERE seed_batch <> ?", [batch]) \
        if warehouse.table_exists("seeds") else None
    taken_ids = {} if taken is None else dict(zip(taken["source_key"], taken["source_file"]))
    read = read_jsonl_files([path], SEED_FIELDS, validate_seed, taken_ids)
    return _ingest(context, warehouse, read, "seeds", seed_row, batch=batch, seed_file=str(path))


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def human_reference(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human-written instruction/response pairs from `data/human/*.jsonl`: the human part of the mix."""
    return _ingest(context, warehouse, read_jsonl_dir(source_files.folder("human"), HUMAN_FIELDS), "human_reference",
                   human_row)


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def documents(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Unlabelled documents from `data/documents/*.jsonl`, the answers backtranslation starts from."""
    return _ingest(context, warehouse, read_jsonl_dir(source_files.folder("documents"), DOCUMENT_FIELDS), "documents",
                   document_row)
