"""Seed batches as partitions: every file under `data/seeds/` is a partition of the generation half
of the graph.

A new seed file becomes a new partition and generates only its own rows; re-running one partition
replaces that batch's rows and leaves every other batch as it was; the corpus and the mix (not
partitioned) union every batch. The partition key is the file's name without `.jsonl`
(`synth_assets.core.batches.batch_key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from resources.batch_rows import drop_rows_of_other_batches, drop_unbatched_rows, held_batches
from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.core.batches import BATCH_TABLES, SHARED_TABLES, seed_batch_files
from synth_assets.core.schema import TABLE_COLUMNS

__all__ = [
    "BATCH_ASSET_KEYS",
    "SEED_BATCHES",
    "UNION_ASSET_KEYS",
    "BatchSync",
    "drop_removed_batches",
    "sync_seed_batches",
]

SEED_BATCHES = dg.DynamicPartitionsDefinition(name="seed_batches")

BATCH_ASSET_KEYS = [dg.AssetKey(table) for table in BATCH_TABLES]  # each asset writes the table of its name
# What unions every batch, downstream of the batch assets: rebuilt after a batch is removed.
UNION_ASSET_KEYS = [dg.AssetKey(name) for name in (
    "deduplicated_corpus", "tail_fill", "mixed_training_set", "review_queue", "review_decisions", "reviewed_training_set",
    "training_set_export", "preference_pairs", "preference_pairs_export", "dataset_card",
)]


@dataclass(frozen=True)
class BatchSync:
    keys: list[str]  # every batch with a file, in order
    added: list[str]
    removed: list[str]
    rows_deleted: dict[str, int]  # per table, the rows of removed batches


def _present_seed_files(seeds_dir: str | Path) -> dict[str, Path]:
    """The seed files, for deciding which batches' rows to delete. A missing folder (a mistyped
    SYNTH_DATA_DIR, an unmounted share) is an error, not "every batch was removed": read as an empty
    folder it would delete every batch's rows. An existing empty folder does remove every batch."""
    if not Path(seeds_dir).is_dir():
        raise FileNotFoundError(
            f"the seeds folder {seeds_dir} does not exist, so no seed batch's rows were touched. Point "
            "SYNTH_DATA_DIR (or source_files' data_dir) at the data folder that holds seeds/, or create "
            "an empty seeds/ folder there to remove every batch on purpose.")
    return seed_batch_files(seeds_dir)


def sync_seed_batches(instance: dg.DagsterInstance, seeds_dir: str | Path, warehouse: Warehouse) -> BatchSync:
    """Make the instance's partitions match the seed files: add a partition per new file; for a
    batch this warehouse holds rows of but whose file is gone, delete its rows and its partition.

    A partition with neither a file here nor rows in this warehouse is left alone: an instance can
    be shared by several data folders (machines running different batches, docs/scaling.md), and
    the partitions of the others are not this folder's to remove."""
    files = _present_seed_files(seeds_dir)
    for table in (*BATCH_TABLES, *SHARED_TABLES):  # each exists with its schema (and `seed_batch`), even with no seed file
        warehouse.ensure_table(table, TABLE_COLUMNS[table])
    legacy = drop_unbatched_rows(warehouse)
    known = set(instance.get_dynamic_partitions(SEED_BATCHES.name))
    added = [key for key in files if key not in known]
    removed = sorted(held_batches(warehouse) - set(files))
    if added:
        instance.add_dynamic_partitions(SEED_BATCHES.name, added)
    for key in removed:
        if key in known:
            instance.delete_dynamic_partition(SEED_BATCHES.name, key)
    deleted = drop_rows_of_other_batches(warehouse, files)
    if legacy:
        deleted["(written before seed batches)"] = legacy
    return BatchSync(keys=list(files), added=added, removed=removed, rows_deleted=deleted)


def drop_removed_batches(log: dg.DagsterLogManager, source_files: SourceFiles, warehouse: Warehouse) -> dict[str, int]:
    """Delete, from every table, the rows of seed batches whose file is gone, and say so in the log.

    Every asset that reads rows of several batches (and `seeds`, which checks ids against the
    other batches) calls this first, so a run of any kind (a sensor's, `synth run`, one asset
    materialized in the UI) leaves the rows of a removed seed file out of everything it reads and
    writes, and no gate after it counts them. `synth run` and the sensors also remove the batch's
    partition; the rows go here, whichever run comes first. Costs one read of the `seed_batch`
    columns when nothing is to be deleted."""
    files = _present_seed_files(source_files.folder("seeds"))
    deleted = drop_rows_of_other_batches(warehouse, files)
    if deleted:
        log.warning(f"deleted the rows of seed batches whose file under {source_files.folder('seeds')} is gone: "
                    + ", ".join(f"{table} {count}" for table, count in sorted(deleted.items()))
                    + f"; the seed batches now: {sorted(files) or 'none'}")
    return deleted
