"""A setting changed once in run config reaches every gate and the dataset card: the checks hold the
mix to the human fraction and generation cap it was built with, a check's own override wins and says
so, and the card prints the values in force with where each came from.

These run the mix, its checks, review, export and card on a small seeded warehouse
(`seed_warehouse` in tests/pipeline_fixtures.py: varied random text, so only the settings under test
decide the gates), not the whole graph."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from synth_assets.assets.card import _settings, card_assets
from synth_assets.assets.checks import MIX_CHECKS, THRESHOLDS_KEY
from synth_assets.assets.curation import mixed_training_set
from synth_assets.assets.export import training_set_export
from synth_assets.assets.generation import evolved_instructions
from synth_assets.assets.partitions import SEED_BATCHES
from synth_assets.assets.review import review_assets
from synth_assets.assets.settings import EvolutionSettings
from synth_assets.core.schema import TABLE_COLUMNS
from tests.pipeline_fixtures import seeded_resources


@pytest.fixture
def resources(tmp_path):
    return seeded_resources(tmp_path / "data")


def run(resources, run_config, *assets, instance=None):
    return dg.materialize([mixed_training_set, *MIX_CHECKS, *assets], resources=resources, run_config=run_config,
                          instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=False)


def evaluations(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def in_force(evaluation, name: str) -> dict:
    return evaluation.metadata[THRESHOLDS_KEY].value[name]


def test_by_default_the_gates_hold_the_mix_to_its_default_settings(resources):
    checks = evaluations(run(resources, {}))
    assert all(e.passed for name, e in checks.items() if name != "generation_cap"), {
        n: e.description for n, e in checks.items() if not e.passed}
    target = in_force(checks["mix_ratio"], "target")
    assert target["value"] == 0.7 and target["origin"] == "default of mixed_training_set's human_fraction"
    assert "MixConfig.human_fraction" in target["source"]
    assert checks["mix_ratio"].metadata["threshold_source"].value == target["source"]
    assert in_force(checks["tail_coverage"], "min_rows") == {
        "value": 5, "origin": "default", "source": checks["tail_coverage"].metadata["threshold_source"].value,
        "change": "run config `ops: {mixed_training_set_tail_coverage: {config: {min_rows: ...}}}`"}
    assert checks["generation_cap"].passed  # the mix left the generation-2 rows out at its default cap


def test_a_configured_human_fraction_is_what_mix_ratio_enforces(resources):
    checks = evaluations(run(resources, {"ops": {"mixed_training_set": {"config": {"human_fraction": 0.8}}}}))
    gate = checks["mix_ratio"]
    assert gate.passed, gate.description
    assert gate.metadata["threshold"].value == 0.8 and gate.metadata["value"].value == pytest.approx(0.8, abs=0.01)
    target = in_force(gate, "target")
    assert target["origin"] == "configured in mixed_training_set's run config (human_fraction)"
    assert "`ops: {mixed_training_set: {config: {human_fraction: ...}}}` (the check follows it)" in target["change"]


def test_the_checks_own_target_overrides_the_stage_and_the_failure_says_what_to_change(resources):
    config = {"ops": {"mixed_training_set": {"config": {"human_fraction": 0.8}},
                      "mixed_training_set_mix_ratio": {"config": {"target": 0.7}}}}
    result = run(resources, config)
    gate = evaluations(result)["mix_ratio"]
    assert not gate.passed and gate.metadata["threshold"].value == 0.7
    assert gate.description.startswith("human fraction 0.80")
    assert "points from the target 0.70 (tolerance 1.0)" in gate.description
    assert ("target = 0.7 (check override in mixed_training_set_mix_ratio's run config; mixed_training_set ran "
            "with human_fraction = 0.8); change it with run config `ops: {mixed_training_set_mix_ratio: {config: "
            "{target: ...}}}`, or remove it to follow mixed_training_set's human_fraction") in gate.description


def test_a_configured_max_generation_is_what_generation_cap_enforces(resources):
    checks = evaluations(run(resources, {"ops": {"mixed_training_set": {"config": {"max_generation": 2}}}}))
    gate = checks["generation_cap"]
    assert gate.passed and gate.metadata["threshold"].value == 2.0 and gate.metadata["value"].value == 2.0
    assert in_force(gate, "max_generation")["origin"] == "configured in mixed_training_set's run config (max_generation)"

    held = evaluations(run(resources, {"ops": {
        "mixed_training_set": {"config": {"max_generation": 2}},
        "mixed_training_set_generation_cap": {"config": {"max_generation": 1}}}}))["generation_cap"]
    assert not held.passed
    assert held.description.startswith("2 of ")
    assert "are above generation 1 (highest 2), e.g. " in held.description
    assert "built with a max_generation no higher than this cap" in held.description
    assert "change it with run config `ops: {mixed_training_set_generation_cap: {config: {max_generation: ...}}}`" \
        in held.description


def test_a_failed_gate_names_the_categories_the_value_the_threshold_and_the_setting(resources):
    config = {"ops": {"mixed_training_set_tail_coverage": {"config": {"min_rows": 40}}}}
    gate = evaluations(run(resources, config))["tail_coverage"]
    assert not gate.passed
    assert gate.description.startswith("6 of 6 seed categories have fewer than 40 rows in the mix: ")
    assert "Add seed tasks in those categories" in gate.description
    assert ("Thresholds: min_rows = 40 (check override in mixed_training_set_tail_coverage's run config); change it "
            "with run config `ops: {mixed_training_set_tail_coverage: {config: {min_rows: ...}}}`.") in gate.description


def test_the_card_prints_the_values_in_force_and_where_they_came_from(resources, tmp_path):
    data = tmp_path / "data"
    config = {"ops": {
        "mixed_training_set": {"config": {"human_fraction": 0.8, "max_generation": 2}},
        "mixed_training_set_tail_coverage": {"config": {"min_rows": 3}},
        "review_queue": {"config": {"fraction": 0.5}},
        "review_decisions": {"config": {"edit_credit": 0.25}},
        "training_set_export": {"config": {"name": "my_set"}},
        "dataset_card": {"config": {"pretty_name": "Tiny set", "languages": ["en", "fr"]}},
    }}
    instance = dg.DagsterInstance.ephemeral()
    everything = [*review_assets, training_set_export, *card_assets]
    first = run(resources, config, *everything, instance=instance)
    assert first.success
    queued = json.loads((data / "review" / "review_queue.jsonl").read_text().splitlines()[0])
    decision = {**queued, "decision": "edit", "corrected_response": "A better answer."}
    (data / "review" / "decisions.jsonl").write_text(json.dumps(decision) + "\n")
    rerun = ["review_decisions", "reviewed_training_set", "dataset_card"]  # the mix stays as it was built
    again = dg.materialize(everything, resources=resources, instance=instance, selection=rerun,
                           run_config={"ops": {op: c for op, c in config["ops"].items() if op in rerun}})
    assert again.success
    card = (data / "exports" / "README.md").read_text(encoding="utf-8")
    assert "path: my_set.parquet" in card  # the card found the export under the name it was given
    assert "pretty_name: Tiny set" in card and "- fr" in card
    assert "(target 80% human)" in card
    assert "`human_fraction` = 0.8 (set for this run)" in card and "`max_generation` = 2 (set for this run)" in card
    queued = len((data / "review" / "review_queue.jsonl").read_text().splitlines())
    assert queued >= 0.5 * 45 and f"{queued} synthetic rows were queued for review" in card  # half, not 10%
    assert "| mix_ratio | mixed_training_set | passed | 0." in card
    assert "| target | 0.8 | configured in mixed_training_set's run config (human_fraction) |" in card
    assert "| max_generation | 2 | configured in mixed_training_set's run config (max_generation) |" in card
    assert "| min_rows | 3 | check override in mixed_training_set_tail_coverage's run config |" in card
    assert "| tolerance | 0.01 | default: the quality-gates issue" in card
    # an edit counts the configured 0.25, not the default 0.5
    assert "Agreement with the automatic gates: 25.0% (an accept counts 1, an edit 0.25, a reject 0)" in card


def test_the_card_shows_a_setting_per_seed_batch_when_batches_ran_with_different_values(resources):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SEED_BATCHES.name, ["main", "other"])
    warehouse = resources["warehouse"]
    seeds = warehouse.read_table("seeds")
    warehouse.write_table("seeds", pd.concat([seeds, seeds.head(3).assign(seed_batch="other", id=lambda f: f["id"] + "o")]),
                          TABLE_COLUMNS["seeds"])
    for batch, rounds in (("main", 1), ("other", 2)):
        result = dg.materialize([evolved_instructions], resources=resources, partition_key=batch, instance=instance,
                                run_config={"ops": {"evolved_instructions": {"config": {"rounds": rounds}}}})
        assert result.success
    values, overridden = _settings(instance, "evolved_instructions", EvolutionSettings)
    assert values["rounds"] == "1 (seed batch main); 2 (seed batch other)"
    assert values["temperature"] == 0.7 and "rounds" in overridden and "temperature" not in overridden
