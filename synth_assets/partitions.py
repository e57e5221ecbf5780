"""Seed batches: every file under `data/seeds/` is a partition of the generation half of the graph.

A new seed file becomes a new partition and generates only its own rows; re-running one partition
replaces that batch's rows and leaves every other batch as it was; the corpus and the mix (not
partitioned) union every batch. The partition key is the file's name without `.jsonl`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from synth_assets.core.schema import TABLE_COLUMNS

__all__ = [
    "BATCH_ASSET_KEYS",
    "BATCH_TABLES",
    "SEED_BATCHES",
    "SHARED_TABLES",
    "UNION_ASSET_KEYS",
    "BatchSync",
    "batch_key",
    "batch_run_requests",
    "batch_stage_rows",
    "drop_batch_rows",
    "seed_batch_files",
    "sync_seed_batches",
]

SEED_BATCHES = dg.DynamicPartitionsDefinition(name="seed_batches")

# Every table holding rows of a seed batch, written per batch by the partitioned assets.
BATCH_TABLES = ("seeds", "evolved_instructions", "self_instruct_tasks", "candidate_solutions", "verified_solutions",
                "correction_pairs")
BATCH_ASSET_KEYS = [dg.AssetKey(table) for table in BATCH_TABLES]  # each asset writes the table of its name
# What unions every batch, downstream of the batch assets: rebuilt after a batch is removed.
UNION_ASSET_KEYS = [dg.AssetKey(name) for name in (
    "deduplicated_corpus", "mixed_training_set", "review_queue", "review_decisions", "reviewed_training_set",
    "training_set_export", "dataset_card",
)]
# Shared tables where the partitioned stages keep their rows per batch too.
SHARED_TABLES = ("rejects", "quarantine")

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def batch_key(path: str | Path) -> str:
    """The partition key of a seed file: its name without `.jsonl`."""
    key = Path(path).name.removesuffix(".jsonl")
    if not _KEY.match(key):
        raise ValueError(
            f"seed file {path}: its name must be letters, digits, '_', '-' or '.' (it becomes the "
            f"partition key {key!r}); rename the file"
        )
    return key


def seed_batch_files(seeds_dir: str | Path) -> dict[str, Path]:
    """Partition key -> seed file, for every `*.jsonl` directly under `seeds_dir`."""
    return {batch_key(path): path for path in sorted(Path(seeds_dir).glob("*.jsonl")) if path.is_file()}


@dataclass(frozen=True)
class BatchSync:
    keys: list[str]  # every batch with a file, in order
    added: list[str]
    removed: list[str]
    rows_deleted: dict[str, int]  # per table, the rows of removed batches


def sync_seed_batches(instance: dg.DagsterInstance, seeds_dir: str | Path, warehouse) -> BatchSync:
    """Make the instance's partitions match the seed files: add a partition per new file; for a
    batch this warehouse holds rows of but whose file is gone, delete its rows and its partition.

    A partition with neither a file here nor rows in this warehouse is left alone: an instance can
    be shared by several data folders (machines running different batches, docs/scaling.md), and
    the partitions of the others are not this folder's to remove."""
    files = seed_batch_files(seeds_dir)
    for table in (*BATCH_TABLES, *SHARED_TABLES):  # each exists with its schema (and `seed_batch`), even with no seed file
        warehouse.ensure_table(table, TABLE_COLUMNS[table])
    legacy = _drop_unbatched_rows(warehouse)
    known = set(instance.get_dynamic_partitions(SEED_BATCHES.name))
    added = [key for key in files if key not in known]
    held = set(warehouse.query("SELECT DISTINCT seed_batch FROM seeds")["seed_batch"].dropna())
    removed = sorted(held - set(files))
    if added:
        instance.add_dynamic_partitions(SEED_BATCHES.name, added)
    deleted: dict[str, int] = {}
    for key in removed:
        if key in known:
            instance.delete_dynamic_partition(SEED_BATCHES.name, key)
        for table, count in drop_batch_rows(warehouse, key).items():
            deleted[table] = deleted.get(table, 0) + count
    if legacy:
        deleted["(written before seed batches)"] = legacy
    return BatchSync(keys=list(files), added=added, removed=removed, rows_deleted=deleted)


def _drop_unbatched_rows(warehouse) -> int:
    """Rows of the batch stages without a batch were written by a version before seed batches; the
    batches' own runs replace them, so they go (once)."""
    with warehouse.connect() as con:  # DuckDB's DELETE returns the number of rows it deleted
        return sum(con.execute(f'DELETE FROM "{table}" WHERE {batch_stage_rows(table, "seed_batch IS NULL")}')
                   .fetchone()[0] for table in (*BATCH_TABLES, *SHARED_TABLES))


def batch_stage_rows(table: str, batch_condition: str = "seed_batch = ?") -> str:
    """The SQL condition for the rows the per-batch stages wrote in `table` for one batch: in the
    shared tables, other stages (dedup, the mix) also keep rows that carry a batch, and are not these."""
    stages = f" AND stage IN {tuple(BATCH_TABLES)}" if table in SHARED_TABLES else ""
    return batch_condition + stages


def batch_run_requests(keys: Sequence[str], tags: Mapping[str, str], run_key: str | None = None) -> list[dg.RunRequest]:
    """Run requests of the `synthesize` job that refresh the seed batches `keys`: one per batch, in
    order. All but the last make only their batch's rows; the last also rebuilds the corpus, mix,
    review and export from every batch (once, not once per batch). With a refresh tag that the
    run queue limits to one run at a time, they run in this order."""
    requests = []
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        requests.append(dg.RunRequest(
            partition_key=key,
            asset_selection=None if last else BATCH_ASSET_KEYS,
            run_key=None if run_key is None else f"{run_key}:{key}",
            tags={**tags, "synth/seed_batch": key},
        ))
    return requests


def drop_batch_rows(warehouse, key: str, tables: Iterable[str] = (*BATCH_TABLES, *SHARED_TABLES)) -> dict[str, int]:
    """Delete every row of one seed batch from the batch tables and the shared ones."""
    return warehouse.delete_rows(tables, seed_batch=key)
