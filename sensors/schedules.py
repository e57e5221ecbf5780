"""A refresh of the whole graph on a cron: the `synthesize` job, nightly by default.

It ships stopped (`DefaultScheduleStatus.STOPPED`): nothing runs by itself until someone turns it
on in the UI (Automation -> `nightly_refresh` -> toggle) with `dagster-daemon` running; see
docs/operations.md. For another cadence or time zone, build one with `refresh_schedule(...)` in
`definitions.py` instead of `nightly_refresh`.
"""

from __future__ import annotations

import dagster as dg

from sensors.file_sensors import REFRESH_TAG

__all__ = ["NIGHTLY_CRON", "nightly_refresh", "refresh_schedule", "schedules"]

NIGHTLY_CRON = "0 3 * * *"  # 03:00 every day


def refresh_schedule(
    cron_schedule: str = NIGHTLY_CRON,
    execution_timezone: str = "UTC",
    name: str = "nightly_refresh",
    default_status: dg.DefaultScheduleStatus = dg.DefaultScheduleStatus.STOPPED,
) -> dg.ScheduleDefinition:
    """A schedule that runs the `synthesize` job (defined in definitions.py) on `cron_schedule`."""
    return dg.ScheduleDefinition(
        name=name,
        job_name="synthesize",
        cron_schedule=cron_schedule,
        execution_timezone=execution_timezone,
        default_status=default_status,
        tags={REFRESH_TAG: name},
        description=f"Refresh the whole graph (the synthesize job) on `{cron_schedule}` ({execution_timezone}).",
    )


nightly_refresh = refresh_schedule()

schedules = [nightly_refresh]
