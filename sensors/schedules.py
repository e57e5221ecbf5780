"""A refresh of the whole graph on a cron: the `synthesize` job for every seed batch, nightly by default.

It ships stopped (`DefaultScheduleStatus.STOPPED`): nothing runs by itself until someone turns it
on in the UI (Automation -> `nightly_refresh` -> toggle) with `dagster-daemon` running; see
docs/operations.md. For another cadence or time zone, build one with `refresh_schedule(...)` in
`definitions.py` instead of `nightly_refresh`.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from sensors.runs import REFRESH_TAG, batch_run_requests
from synth_assets.assets.partitions import SEED_BATCHES

__all__ = ["NIGHTLY_CRON", "nightly_refresh", "refresh_schedule", "schedules"]

NIGHTLY_CRON = "0 3 * * *"  # 03:00 every day


def refresh_schedule(
    cron_schedule: str = NIGHTLY_CRON,
    execution_timezone: str = "UTC",
    name: str = "nightly_refresh",
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """A schedule that refreshes every seed batch with the `synthesize` job on `cron_schedule`:
    one run per batch, the last one also rebuilding the corpus, mix and export."""

    def refresh(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        keys = context.instance.get_dynamic_partitions(SEED_BATCHES.name)
        if not keys:
            yield dg.SkipReason("no seed batches registered yet: run `synth run` once, or turn on seed_files_sensor")
            return
        # Several requests per tick need run keys; the tick's time makes them unique per tick.
        tick = context.scheduled_execution_time.isoformat()
        yield from batch_run_requests(keys, {REFRESH_TAG: name}, run_key=f"{name}:{tick}")

    return dg.ScheduleDefinition(
        name=name,
        job_name="synthesize",
        cron_schedule=cron_schedule,
        execution_timezone=execution_timezone,
        default_status=default_status,
        execution_fn=refresh,
        description=f"Refresh every seed batch and the graph below them on `{cron_schedule}` ({execution_timezone}).",
    )


nightly_refresh = refresh_schedule()

schedules = [nightly_refresh]
