"""The runs that schedules and sensors request: the refresh tag, and one run per seed batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg

from synth_assets.assets.partitions import BATCH_ASSET_KEYS

__all__ = ["REFRESH_TAG", "batch_run_requests"]

# Every run a sensor or schedule requests carries this tag, so the run queue can hold them to one
# at a time (they all write the one DuckDB file): see docs/operations.md.
REFRESH_TAG = "synth/refresh"


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
