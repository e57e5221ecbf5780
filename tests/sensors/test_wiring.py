"""The schedules and sensors load in a code location with the graph, and each sensor targets what
its files affect. This builds the location the way definitions.py is asked to wire it."""

from __future__ import annotations

import dagster as dg
import pytest

from sensors import schedules, sensors
from synth_assets.assets.card import card_assets
from synth_assets.assets.checks import ALL_CHECKS
from synth_assets.assets.collapse_lab import collapse_lab_assets
from synth_assets.assets.review import review_assets
from synth_assets.definitions import BATCH_ASSETS, PIPELINE_ASSETS, build_resources, synthesize_job


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    assets = [*PIPELINE_ASSETS, *(a for a in (*review_assets, *card_assets) if a not in PIPELINE_ASSETS)]
    defs = dg.Definitions(
        assets=[*assets, *collapse_lab_assets], asset_checks=ALL_CHECKS, jobs=[synthesize_job], schedules=schedules,
        sensors=sensors, resources=build_resources(tmp_path_factory.mktemp("data")),
    )
    dg.Definitions.validate_loadable(defs)
    return defs


def _targets(defs: dg.Definitions, sensor_name: str) -> set[str]:
    job = defs.resolve_job_def(defs.resolve_sensor_def(sensor_name).job_name)
    return {key.to_user_string() for key in job.asset_layer.executable_asset_keys}


def test_everything_loads_and_ships_stopped(defs):
    names = {s.name for s in sensors}
    assert names == {"seed_files_sensor", "human_files_sensor", "review_decisions_sensor", "run_failure_alert",
                     "follow_upstream"}
    for name in names:
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.STOPPED, name
    assert defs.resolve_schedule_def("nightly_refresh").job_name == "synthesize"


def test_seed_changes_run_the_synthesize_job(defs):
    assert defs.resolve_sensor_def("seed_files_sensor").job_name == "synthesize"


def test_human_changes_run_human_reference_and_what_is_downstream_of_it(defs):
    targets = _targets(defs, "human_files_sensor")
    assert {"human_reference", "deduplicated_corpus", "mixed_training_set", "review_queue",
            "reviewed_training_set", "training_set_export", "dataset_card"} <= targets
    assert not targets & {"seeds", "evolved_instructions", "candidate_solutions", "verified_solutions"}
    assert not targets & {key.to_user_string() for lab in collapse_lab_assets for key in lab.keys}


def test_review_decisions_rebuild_the_reviewed_mix_and_the_card(defs):
    targets = _targets(defs, "review_decisions_sensor")
    # and the export, once it reads the reviewed set, and the judge's calibration (the next run of
    # verified_solutions reads it); never the mix or anything above it
    assert {"review_decisions", "reviewed_training_set", "judge_calibration", "dataset_card"} <= targets
    assert targets <= {"review_decisions", "reviewed_training_set", "judge_calibration", "training_set_export",
                       "dataset_card"}


def test_derived_assets_follow_upstream_once_their_blocking_checks_pass(defs):
    graph = defs.resolve_asset_graph()
    follow = defs.resolve_sensor_def("follow_upstream")
    targeted = follow.asset_selection.resolve(graph)
    roots = {"seeds", "human_reference", "documents", "benchmark_index"}
    for asset in PIPELINE_ASSETS:
        name = asset.key.to_user_string()
        condition = graph.get(asset.key).automation_condition
        if name in roots:
            assert condition is None, name  # files change them: the sensors and schedule start those
            continue
        assert asset.key in targeted, name
        labels = {c.get_label() for c in condition.children}
        assert {"eager", "all_deps_blocking_checks_passed"} <= labels, name
    assert not targeted & {key for lab in collapse_lab_assets for key in lab.keys}


def test_the_batch_assets_are_partitioned_by_seed_file_and_the_rest_is_not(defs):
    graph = defs.resolve_asset_graph()
    batch = {a.key for a in BATCH_ASSETS}
    for asset in PIPELINE_ASSETS:
        partitions = graph.get(asset.key).partitions_def
        assert (partitions.name if partitions else None) == ("seed_batches" if asset.key in batch else None)
