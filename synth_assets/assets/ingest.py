"""Reading the inputs: seed tasks and human reference pairs, with bad lines quarantined."""


import dagster as dg

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import WAREHOUSE_POOL, stage_metadata, write_stage
from synth_assets.core.backtranslation_run import document_row
from synth_assets.core.ingest import (
    DOCUMENT_FIELDS,
    HUMAN_FIELDS,
    SEED_FIELDS,
    human_row,
    read_jsonl_dir,
    seed_row,
    validate_seed,
)

INPUTS = "inputs"


def _ingest(context, source_files, warehouse, folder, table, required, to_row, validate=None) -> dg.MaterializeResult:
    read = read_jsonl_dir(source_files.folder(folder), required, validate)
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    out, rejects = write_stage(warehouse, table, map(to_row, read.rows), quarantined=[vars(q) for q in read.quarantined])
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(read.rows) + len(read.quarantined), quarantined=len(read.quarantined))
    )


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def seeds(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human seed tasks from `data/seeds/*.jsonl`: code with unit tests, math with answers, general."""
    return _ingest(context, source_files, warehouse, "seeds", "seeds", SEED_FIELDS, seed_row, validate_seed)


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def human_reference(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human-written instruction/response pairs from `data/human/*.jsonl`: the human part of the mix."""
    return _ingest(context, source_files, warehouse, "human", "human_reference", HUMAN_FIELDS, human_row)


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def documents(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Unlabelled documents from `data/documents/*.jsonl`, the answers backtranslation starts from."""
    return _ingest(context, source_files, warehouse, "documents", "documents", DOCUMENT_FIELDS, document_row)
