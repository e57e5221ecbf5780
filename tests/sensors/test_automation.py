"""Declarative automation on the real asset graph, evaluated with Dagster's own tester: a new seed
batch brings only its own partition of the batch assets along, the union waits for every batch,
and a failed blocking check holds back what is downstream of it. Materializations and check
results are reported to a real (temporary) instance; nothing is generated."""

from __future__ import annotations

import dagster as dg
import pytest

from synth_assets.definitions import BATCH_ASSETS, PIPELINE, PIPELINE_ASSETS, build_resources, synthesize_job

CORPUS = dg.AssetKey("deduplicated_corpus")
CORPUS_GATES = ("corpus_decontaminated", "corpus_schema", "corpus_provenance")


@pytest.fixture
def world(tmp_path):
    defs = dg.Definitions(assets=PIPELINE, jobs=[synthesize_job], resources=build_resources(tmp_path))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("seed_batches", ["a", "b"])
        yield defs, instance


def materialized(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))


def gate(instance: dg.DagsterInstance, name: str, passed: bool) -> None:
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=CORPUS, check_name=name, passed=passed, severity=dg.AssetCheckSeverity.ERROR)
    )


def requested(result) -> dict[str, set]:
    return {a.key.to_user_string(): result.get_requested_partitions(a.key)
            for a in PIPELINE_ASSETS if result.get_num_requested(a.key)}


def tick(defs, instance, previous=None):
    return dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=previous and previous.cursor)


def everything_materialized(instance: dg.DagsterInstance) -> None:
    batch = {a.key for a in BATCH_ASSETS}
    for asset in PIPELINE_ASSETS:
        for partition in (["a", "b"] if asset.key in batch else [None]):
            materialized(instance, asset.key, partition)


def test_nothing_is_requested_while_the_inputs_are_missing_or_unchanged(world):
    defs, instance = world
    first = tick(defs, instance)
    assert first.total_requested == 0
    everything_materialized(instance)
    settled = tick(defs, instance, tick(defs, instance, first))
    assert settled.total_requested == 0


def test_a_new_seed_batch_brings_only_its_own_partition_along(world):
    defs, instance = world
    everything_materialized(instance)
    before = tick(defs, instance, tick(defs, instance))
    instance.add_dynamic_partitions("seed_batches", ["c"])
    materialized(instance, dg.AssetKey("seeds"), "c")
    after = tick(defs, instance, before)
    derived = ("evolved_instructions", "self_instruct_tasks", "augmented_instructions", "candidate_solutions", "verified_solutions",
               "correction_pairs")
    assert requested(after) == {name: {"c"} for name in derived}

    # Once the batch is through, the union follows: the corpus, and the mix only past its gates.
    for name in derived:
        materialized(instance, dg.AssetKey(name), "c")
    union = tick(defs, instance, after)
    assert requested(union) == {"deduplicated_corpus": {None}}


def test_a_failed_blocking_gate_holds_back_what_is_below_it(world):
    defs, instance = world
    everything_materialized(instance)
    state = tick(defs, instance, tick(defs, instance))
    materialized(instance, CORPUS)
    gate(instance, "corpus_decontaminated", passed=False)
    blocked = tick(defs, instance, state)
    assert "mixed_training_set" not in requested(blocked)

    materialized(instance, CORPUS)
    for name in CORPUS_GATES:
        gate(instance, name, passed=True)
    released = tick(defs, instance, blocked)
    assert requested(released) == {"tail_fill": {None}}  # the rows for thin categories join the corpus first

    materialized(instance, dg.AssetKey("tail_fill"))
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("tail_fill"), check_name="tail_fill_schema", passed=True,
        severity=dg.AssetCheckSeverity.ERROR))
    assert requested(tick(defs, instance, released)) == {"mixed_training_set": {None}}
