"""The nightly refresh: defined on a cron, shipped stopped, running the `synthesize` job."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from sensors import nightly_refresh, refresh_schedule, schedules


def test_the_nightly_refresh_is_on_a_cron_and_stopped_by_default():
    assert schedules == [nightly_refresh]
    assert nightly_refresh.cron_schedule == "0 3 * * *"
    assert nightly_refresh.execution_timezone == "UTC"
    assert nightly_refresh.default_status == dg.DefaultScheduleStatus.STOPPED
    assert nightly_refresh.job_name == "synthesize"


def test_a_tick_requests_one_run_of_the_whole_job():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 1, 2, 3, 0, tzinfo=UTC))
    data = nightly_refresh.evaluate_tick(context)
    assert len(data.run_requests) == 1
    assert data.run_requests[0].asset_selection is None
    assert data.run_requests[0].tags["synth/refresh"] == "nightly_refresh"


def test_another_cadence_is_one_call():
    weekly = refresh_schedule("0 4 * * 1", execution_timezone="Europe/Berlin", name="weekly_refresh")
    assert (weekly.name, weekly.cron_schedule, weekly.execution_timezone) == ("weekly_refresh", "0 4 * * 1", "Europe/Berlin")
    assert weekly.default_status == dg.DefaultScheduleStatus.STOPPED
