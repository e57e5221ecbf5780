"""Handing the training set to a trainer: JSONL and Parquet in the chat `messages` format."""


import dagster as dg

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import FOLLOWS_UPSTREAM
from synth_assets.assets.partitions import drop_removed_batches
from synth_assets.assets.settings import ExportSettings
from synth_assets.assets.stage_config import record_settings
from synth_assets.core.export import to_chat_record, write_jsonl, write_parquet

EXPORT = "export"


@dg.asset(group_name=EXPORT, deps=["reviewed_training_set"], kinds={"parquet"}, automation_condition=FOLLOWS_UPSTREAM)
def training_set_export(
    context: dg.AssetExecutionContext, config: ExportSettings, source_files: SourceFiles, warehouse: Warehouse
) -> dg.MaterializeResult:
    """`data/exports/<name>.jsonl` and `.parquet`: the reviewed mix, one `messages` conversation
    per row, with the provenance columns unless turned off."""
    drop_removed_batches(context.log, source_files, warehouse)
    rows = warehouse.read_table("reviewed_training_set", "ORDER BY id").to_dict("records")
    records = [to_chat_record(row, config.include_provenance) for row in rows]
    folder = source_files.folder("exports")
    jsonl, parquet = folder / f"{config.name}.jsonl", folder / f"{config.name}.parquet"
    write_jsonl(records, jsonl)
    write_parquet(records, parquet)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(records),
            "jsonl": dg.MetadataValue.path(str(jsonl)),
            "parquet": dg.MetadataValue.path(str(parquet)),
            **record_settings(context, config),
        }
    )
