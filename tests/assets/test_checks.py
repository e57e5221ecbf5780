"""Blocking gates stop the run: a failing corpus gate keeps the mix from being built, a failing
mix gate keeps it from being exported. Each asserts the reported figure and the offending rows.

The corpus gate is tested on a copy of the session's shared run of the shipped data, with the corpus
and everything after it run again (what comes before the corpus does not bear on it); the mix gate
on a small seeded warehouse, with the mix and everything after it run."""

import pytest

from tests.pipeline_fixtures import run_pipeline, seeded_resources

# The corpus and every asset downstream of it: what a gate of the corpus or the mix can stop.
FROM_THE_CORPUS = ["deduplicated_corpus", "mixed_training_set", "review_queue", "review_decisions",
                   "reviewed_training_set", "training_set_export", "dataset_card"]


def check_evaluations(result):
    return {
        e.event_specific_data.check_name: e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def materialized(result):
    return {e.asset_key.path[-1] for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}


def test_contamination_left_in_the_corpus_stops_the_mix(shipped_run, tmp_path):
    _, resources = shipped_run.copy(tmp_path / "data")
    config = {"ops": {"deduplicated_corpus": {"config": {"decontaminate": False, "semantic": False}}}}
    result = run_pipeline(resources, config, select=FROM_THE_CORPUS)
    gate = check_evaluations(result)["corpus_decontaminated"]
    assert not gate.passed
    assert gate.metadata["value"].value == 2.0  # the two planted human rows
    assert "bench-math-06" in gate.metadata["offenders"].value
    assert ("deduplicated_corpus ran with decontaminate = false (set in its run config); set it true with run config "
            "`ops: {deduplicated_corpus: {config: {decontaminate: ...}}}`") in gate.description
    assert "deduplicated_corpus" in materialized(result)
    assert "mixed_training_set" not in materialized(result)
    assert "training_set_export" not in materialized(result)


def test_a_mix_off_target_is_not_exported(tmp_path):
    # The mix is built at 0.5 human, and the check is held to 0.7 by its own config (without it, the
    # check follows the mix's human_fraction: tests/assets/test_settings_reach_gates.py).
    config = {"ops": {"mixed_training_set": {"config": {"human_fraction": 0.5}},
                      "mixed_training_set_mix_ratio": {"config": {"target": 0.7}}}}
    result = run_pipeline(seeded_resources(tmp_path / "data"), config, select=FROM_THE_CORPUS[1:])
    gate = check_evaluations(result)["mix_ratio"]
    assert not gate.passed
    assert gate.metadata["value"].value == pytest.approx(0.5, abs=0.01)
    assert gate.metadata["threshold"].value == 0.7
    assert "mixed_training_set ran with human_fraction = 0.5" in gate.description
    assert "mixed_training_set" in materialized(result)
    assert "training_set_export" not in materialized(result)
