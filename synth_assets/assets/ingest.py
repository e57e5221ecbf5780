"""Reading the inputs: seed tasks and human reference pairs, with bad lines quarantined."""

from __future__ import annotations

import dagster as dg

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import WAREHOUSE_POOL, stage_metadata, write_stage
from synth_assets.core.ingest import HUMAN_FIELDS, SEED_FIELDS, human_row, read_jsonl_dir, seed_row, validate_seed

INPUTS = "inputs"


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def seeds(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human seed tasks from `data/seeds/*.jsonl`: code with unit tests, math with answers, general."""
    read = read_jsonl_dir(source_files.folder("seeds"), SEED_FIELDS, validate_seed)
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    out, rejects = write_stage(
        warehouse, "seeds", map(seed_row, read.rows), quarantined=[vars(q) for q in read.quarantined]
    )
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(read.rows) + len(read.quarantined), quarantined=len(read.quarantined))
    )


@dg.asset(group_name=INPUTS, pool=WAREHOUSE_POOL, kinds={"duckdb"})
def human_reference(context: dg.AssetExecutionContext, source_files: SourceFiles, warehouse: Warehouse) -> dg.MaterializeResult:
    """Human-written instruction/response pairs from `data/human/*.jsonl`: the human part of the mix."""
    read = read_jsonl_dir(source_files.folder("human"), HUMAN_FIELDS)
    for bad in read.quarantined:
        context.log.warning(f"quarantined {bad}")
    out, rejects = write_stage(
        warehouse, "human_reference", map(human_row, read.rows), quarantined=[vars(q) for q in read.quarantined]
    )
    return dg.MaterializeResult(
        metadata=stage_metadata(out, rejects, rows_in=len(read.rows) + len(read.quarantined), quarantined=len(read.quarantined))
    )
