"""Seed batches: every file under `data/seeds/` is a batch, and the tables that keep rows per batch.

The batch key is the file's name without `.jsonl`; it is also the batch's partition key in the
graph (`synth_assets.assets.partitions`) and the `seed_batch` column of every row it produced.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["BATCH_TABLES", "SHARED_TABLES", "batch_key", "seed_batch_files"]

# Every table holding rows of a seed batch, written per batch by the partitioned assets.
BATCH_TABLES = ("seeds", "evolved_instructions", "self_instruct_tasks", "augmented_instructions", "candidate_solutions",
                "verified_solutions", "correction_pairs")
# Shared tables where the partitioned stages keep their rows per batch too.
SHARED_TABLES = ("rejects", "quarantine")

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def batch_key(path: str | Path) -> str:
    """The batch key of a seed file: its name without `.jsonl`."""
    key = Path(path).name.removesuffix(".jsonl")
    if not _KEY.match(key):
        raise ValueError(
            f"seed file {path}: its name must be letters, digits, '_', '-' or '.' (it becomes the "
            f"partition key {key!r}); rename the file"
        )
    return key


def seed_batch_files(seeds_dir: str | Path) -> dict[str, Path]:
    """Batch key -> seed file, for every `*.jsonl` directly under `seeds_dir`."""
    return {batch_key(path): path for path in sorted(Path(seeds_dir).glob("*.jsonl")) if path.is_file()}
