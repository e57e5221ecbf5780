"""Incremental refresh: each seed file is a partition. A new file generates only its own rows, a
re-run of one batch leaves the others as they were, the mix unions every batch, and a removed file
takes its rows with it. Real runs of the graph on a small sample of the shipped seeds."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest

from synth_assets.core.batches import BATCH_TABLES
from synth_assets.definitions import build_resources
from tests.pipeline_fixtures import REPO, run_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Small and fast: one evolution round, no semantic dedup; the diversity gate is about the shipped
# data (test_pipeline.py), not about 24 seeds. One augmentation operator, round trip, which every
# seed can take (seed expansion only takes general seeds), so every batch table holds rows of each batch.
RUN_CONFIG = {"ops": {"evolved_instructions": {"config": {"rounds": 1}},
                      "augmented_instructions": {"config": {"operations": ["round_trip"]}},
                      "deduplicated_corpus": {"config": {"semantic": False}},
                      "mixed_training_set_relative_diversity": {"config": {"fraction": 0.5}}}}


def seed_lines(domain: str, count: int) -> list[str]:
    lines = (REPO / "data" / "seeds" / f"{domain}.jsonl").read_text(encoding="utf-8").splitlines()
    return lines[:: len(lines) // count][:count]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("batches")
    (data / "seeds").mkdir()
    for domain in ("code", "math"):
        (data / "seeds" / f"{domain}.jsonl").write_text("\n".join(seed_lines(domain, 12)) + "\n", encoding="utf-8")
    for folder in ("human", "documents", "benchmarks"):
        shutil.copytree(REPO / "data" / folder, data / folder, ignore=shutil.ignore_patterns("*.md"))
    instance = dg.DagsterInstance.ephemeral()
    resources = build_resources(data)
    first = run_pipeline(resources, RUN_CONFIG, instance)
    return {"data": data, "instance": instance, "resources": resources, "warehouse": resources["warehouse"],
            "first": first}


def snapshot(warehouse, batch: str) -> dict[str, list]:
    """Every row of one batch in every batch table, as sorted JSON: to compare for equality."""
    return {table: sorted(json.dumps(r, sort_keys=True, default=str) for r in
                          warehouse.read_table(table, "WHERE seed_batch = ?", [batch]).to_dict("records"))
            for table in BATCH_TABLES}


def test_one_run_per_batch_then_one_for_the_union(world):
    first = world["first"]
    assert first.success
    assert first.sync.keys == ["code", "math"]
    partitions = [r.dagster_run.tags.get("dagster/partition") for r in first.results]
    assert partitions == ["code", "math", None]
    assert len(first.asset_materializations_for_node("evolved_instructions")) == 2
    assert len(first.asset_materializations_for_node("mixed_training_set")) == 1
    for table in BATCH_TABLES:
        batches = set(world["warehouse"].read_table(table)["seed_batch"])
        assert batches == {"code", "math"}, table


def test_a_new_seed_file_generates_only_its_own_rows_and_joins_the_mix(world):
    data, warehouse = world["data"], world["warehouse"]
    before = {batch: snapshot(warehouse, batch) for batch in ("code", "math")}
    (data / "seeds" / "general.jsonl").write_text("\n".join(seed_lines("general", 12)) + "\n", encoding="utf-8")

    run = run_pipeline(world["resources"], RUN_CONFIG, world["instance"], batches=["general"])
    assert run.success and run.sync.added == ["general"]
    assert [r.dagster_run.tags.get("dagster/partition") for r in run.results] == ["general", None]
    # The other batches were not touched, row for row; the new one was made.
    assert {batch: snapshot(warehouse, batch) for batch in ("code", "math")} == before
    assert len(warehouse.read_table("seeds", "WHERE seed_batch = 'general'")) == 12
    evolved = run.asset_materializations_for_node("evolved_instructions")
    assert [m.partition for m in evolved] == ["general"]
    assert evolved[0].metadata["teacher/cache_misses"].value > 0  # new rows asked the teacher
    mix = warehouse.read_table("mixed_training_set")
    assert {"code", "math", "general"} <= set(mix["seed_batch"].dropna())


def test_rerunning_a_changed_batch_replaces_its_rows_and_no_others(world):
    data, warehouse = world["data"], world["warehouse"]
    path = data / "seeds" / "math.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    dropped = json.loads(lines[0])["id"]
    path.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")
    code_before = snapshot(warehouse, "code")

    run = run_pipeline(world["resources"], RUN_CONFIG, world["instance"], batches=["math"])
    assert run.success
    assert snapshot(warehouse, "code") == code_before
    seeds = warehouse.read_table("seeds", "WHERE seed_batch = 'math'")
    assert len(seeds) == 11 and dropped not in set(seeds["source_key"])
    kept_roots = set(seeds["id"])
    for table in ("evolved_instructions", "candidate_solutions", "verified_solutions"):
        roots = set(warehouse.read_table(table, "WHERE seed_batch = 'math'")["root_id"])
        assert roots and roots <= kept_roots, table  # nothing is left of the removed seed


def test_a_removed_seed_file_takes_its_partition_and_rows_away(world):
    data, warehouse, instance = world["data"], world["warehouse"], world["instance"]
    (data / "seeds" / "code.jsonl").unlink()
    run = run_pipeline(world["resources"], RUN_CONFIG, instance)
    assert run.success
    assert run.sync.removed == ["code"] and run.sync.rows_deleted["seeds"] == 12
    assert "code" not in instance.get_dynamic_partitions("seed_batches")
    for table in (*BATCH_TABLES, "mixed_training_set", "deduplicated_corpus"):
        assert "code" not in set(warehouse.read_table(table)["seed_batch"].dropna()), table


def test_a_seed_id_used_by_another_batch_is_quarantined_with_both_places(world):
    data, warehouse = world["data"], world["warehouse"]
    taken = json.loads(seed_lines("general", 12)[0])
    (data / "seeds" / "copy.jsonl").write_text(json.dumps(taken) + "\n", encoding="utf-8")
    run = run_pipeline(world["resources"], RUN_CONFIG, world["instance"], batches=["copy"], select=["seeds"])
    assert run.success
    quarantined = warehouse.read_table("quarantine", "WHERE seed_batch = 'copy'")
    assert list(quarantined["field"]) == ["id"]
    assert "general.jsonl" in quarantined["reason"].iloc[0]
    assert quarantined["source_file"].iloc[0] == str(data / "seeds" / "copy.jsonl")
    assert warehouse.read_table("seeds", "WHERE seed_batch = 'copy'").empty


def test_error_correction_pairs_pair_a_failed_candidate_with_a_passing_one_and_join_the_corpus_when_asked(world):
    warehouse = world["warehouse"]
    pairs = warehouse.read_table("correction_pairs")
    assert len(pairs) > 0 and set(pairs["technique"]) == {"error_correction"}
    failed = warehouse.read_table("rejects", "WHERE stage = 'verified_solutions'").set_index("id")
    assert set(pairs["operation"]) <= {"test_failure", "syntax_error", "crash", "timeout", "wrong_answer"}
    assert all(failed.loc[p.parent_id, "reason"] == p.operation for p in pairs.itertuples())
    corpus = warehouse.read_table("deduplicated_corpus")
    assert "error_correction" not in set(corpus["technique"])  # off by default

    config = {"ops": {"deduplicated_corpus": {"config": {"semantic": False, "include_corrections": True}}}}
    run = run_pipeline(world["resources"], config, world["instance"], select=["deduplicated_corpus"])
    assert run.success
    corpus = warehouse.read_table("deduplicated_corpus")
    assert "error_correction" in set(corpus["technique"])
