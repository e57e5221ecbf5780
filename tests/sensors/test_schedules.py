"""The nightly refresh: defined on a cron, shipped stopped, running the `synthesize` job."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from sensors import nightly_refresh, refresh_schedule, schedules
from synth_assets.definitions import defs


def test_the_nightly_refresh_is_on_a_cron_and_stopped_by_default():
    assert schedules == [nightly_refresh]
    assert nightly_refresh.cron_schedule == "0 3 * * *"
    assert nightly_refresh.execution_timezone == "UTC"
    assert nightly_refresh.default_status == dg.DefaultScheduleStatus.STOPPED
    assert nightly_refresh.job_name == "synthesize"


def test_a_tick_refreshes_every_seed_batch_and_rebuilds_the_union_once():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("seed_batches", ["code", "math"])
        context = dg.build_schedule_context(instance=instance, repository_def=defs.get_repository_def(),
                                            scheduled_execution_time=datetime(2026, 1, 2, 3, 0, tzinfo=UTC))
        data = nightly_refresh.evaluate_tick(context)
    assert [r.partition_key for r in data.run_requests] == ["code", "math"]
    assert {k.to_user_string() for k in data.run_requests[0].asset_selection} == {
        "seeds", "evolved_instructions", "self_instruct_tasks", "augmented_instructions", "candidate_solutions", "verified_solutions",
        "correction_pairs"}
    assert data.run_requests[1].asset_selection is None  # the last batch, and everything below
    assert all(r.tags["synth/refresh"] == "nightly_refresh" for r in data.run_requests)


def test_a_tick_before_any_seed_batch_skips_and_says_why():
    with dg.instance_for_test() as instance:
        data = nightly_refresh.evaluate_tick(dg.build_schedule_context(instance=instance))
    assert not data.run_requests
    assert "synth run" in data.skip_message


def test_another_cadence_is_one_call():
    weekly = refresh_schedule("0 4 * * 1", execution_timezone="Europe/Berlin", name="weekly_refresh")
    assert (weekly.name, weekly.cron_schedule, weekly.execution_timezone) == ("weekly_refresh", "0 4 * * 1", "Europe/Berlin")
    assert weekly.default_status == dg.DefaultScheduleStatus.STOPPED
