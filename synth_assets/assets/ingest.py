"""Reading the inputs: seed tasks and human reference pairs, with bad lines quarantined."""


import dagster as dg

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import WAREHOUSE_POOL, stage_metadata, write_stage
from synth_assets.core.ingest import (
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
from synth_assets.assets.partitions import SEED_BATCHES
from synth_assets.core.batches import seed_batch_files

INPUTS = "inputs"


def _ingest(context, source_files, warehouse, folder, table, required, to_row) -> dg.MaterializeResult:
    read = read_jsonl_dir(source_files.folder(folder), required)
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    out, rejects = write_stage(warehouse, table, map(to_row, read.rows), quarantined=[vars(q) for q in read.quarantined])
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(read.rows) + len(read.quarantined), quarantined=len(read.quarantined))
    )


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
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    out, rejects = write_stage(warehouse, "seeds", map(seed_row, read.rows),
                               quarantined=[vars(q) for q in read.quarantined], batch=batch)
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(read.rows) + len(read.quarantined),
                                quarantined=len(read.quarantined), seed_file=str(path))
    )


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def human_reference(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human-written instruction/response pairs from `data/human/*.jsonl`: the human part of the mix."""
    return _ingest(context, source_files, warehouse, "human", "human_reference", HUMAN_FIELDS, human_row)


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def documents(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Unlabelled documents from `data/documents/*.jsonl`, the answers backtranslation starts from."""
    return _ingest(context, source_files, warehouse, "documents", "documents", DOCUMENT_FIELDS, document_row)
