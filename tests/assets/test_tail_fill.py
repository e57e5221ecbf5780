"""Tail filling for real: a planted thin category filled by the rules teacher in a Dagster run.

The warehouse is small: the shipped math seeds (10 per category) and a planted category with two
seeds, no evolution and no Self-Instruct, so each category's corpus rows are its verified seeds
and the planted one is under the tail_coverage minimum until `tail_fill` fills it."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest

from resources.lineage import trace_row
from synth_assets.assets.tails import _corpus_curation
from synth_assets.definitions import build_resources
from tests.pipeline_fixtures import REPO, run_pipeline

PLANTED = [
    {"id": "ratio-paint", "domain": "math", "category": "ratios",
     "instruction": "Paint is mixed 3 parts blue to 2 parts white. How many litres of blue are in 15 litres of the mix?",
     "answer": "9", "solution": "Blue is 3 of every 5 parts: 15 * 3 / 5 = 9 litres."},
    {"id": "ratio-flour", "domain": "math", "category": "ratios",
     "instruction": "A recipe uses flour and sugar in the ratio 5 to 1. How much flour goes with 40 grams of sugar?",
     "answer": "200", "solution": "Flour is 5 times the sugar: 5 * 40 = 200 grams."},
]
SELECT = ["seeds", "human_reference", "documents", "evolved_instructions", "self_instruct_tasks",
          "backtranslated_pairs", "candidate_solutions", "verified_solutions", "correction_pairs", "benchmark_index",
          "deduplicated_corpus", "tail_fill", "mixed_training_set"]
RUN_CONFIG = {"ops": {"evolved_instructions": {"config": {"rounds": 0}},
                      "self_instruct_tasks": {"config": {"steps": 0}},
                      "deduplicated_corpus": {"config": {"minhash": {"threshold": 0.85}}}}}


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    for folder in ("seeds", "human", "benchmarks", "documents"):
        (data / folder).mkdir()
    shutil.copy(REPO / "data" / "seeds" / "math.jsonl", data / "seeds" / "math.jsonl")
    shutil.copy(REPO / "data" / "human" / "math.jsonl", data / "human" / "math.jsonl")
    shutil.copy(REPO / "data" / "benchmarks" / "heldout.jsonl", data / "benchmarks" / "heldout.jsonl")
    (data / "seeds" / "planted.jsonl").write_text("".join(json.dumps(s) + "\n" for s in PLANTED), encoding="utf-8")
    resources = build_resources(data)
    instance = dg.DagsterInstance.ephemeral()
    result = run_pipeline(resources, RUN_CONFIG, instance, select=SELECT)
    return result, resources["warehouse"], instance


def _materialization(result, asset: str):
    for run in result.results:
        for event in run.get_asset_materialization_events():
            if event.asset_key.to_user_string() == asset:
                return event.materialization
    raise AssertionError(f"{asset} was not materialized")


def test_the_planted_thin_category_is_filled_and_joins_the_mix(filled):
    result, warehouse, _ = filled
    assert result.success
    corpus = warehouse.read_table("deduplicated_corpus")
    before = int(((corpus["category"] == "ratios") & (corpus["origin"] == "synthetic")).sum())
    assert before < 5  # the gate's minimum: thin before filling
    rows = warehouse.read_table("tail_fill")
    ratios = rows[rows["category"] == "ratios"]
    assert before + len(ratios) >= 5
    assert set(ratios["technique"]) == {"tail_fill"}
    assert set(ratios["operation"]) <= {"edge_case", "rare_scenario"}
    assert set(ratios["root_id"]) <= set(warehouse.read_table("seeds", "WHERE category = 'ratios'")["id"])
    assert ratios["verified"].all()  # checked against the seed's answer, as every math candidate is
    assert (ratios["generation"] == 1).all() and (ratios["seed_batch"] == "planted").all()
    # Categories at their target are left alone.
    assert set(rows["category"]) == {"ratios"}
    mix = warehouse.read_table("mixed_training_set")
    assert set(ratios["id"]) & set(mix["id"])


def test_the_metadata_shows_coverage_before_and_after(filled):
    result, *_ = filled
    metadata = _materialization(result, "tail_fill").metadata
    assert metadata["categories_under_before"].value == 1
    assert metadata["categories_under_after"].value == 0
    table = metadata["coverage"].value
    line = next(line for line in table.splitlines() if "| ratios |" in line)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert int(cells[3]) < 5 <= int(cells[5]) and cells[-1] == "no"
    assert 0 < metadata["teacher_calls"].value <= metadata["max_teacher_calls"].value


def test_every_candidate_is_kept_or_rejected_with_a_reason_and_traces_to_its_seed(filled):
    _, warehouse, _ = filled
    instructions = warehouse.read_table("tail_fill_instructions")
    rejects = warehouse.read_table("rejects", "WHERE stage = 'tail_fill'")
    kept = warehouse.read_table("tail_fill")
    answered = set(kept["parent_id"]) | set(rejects["parent_id"])
    assert set(instructions["id"]) <= answered
    assert rejects["reason"].notna().all()
    chain = trace_row(warehouse, kept["id"].iloc[0])
    assert "tail_fill" in chain[0].kept_in
    assert [step.kept_in for step in chain[1:]] == [["tail_fill_instructions"], ["seeds"]]


def test_a_budget_of_zero_makes_nothing(tmp_path):
    data = tmp_path / "data"
    for folder in ("seeds", "human", "benchmarks", "documents"):
        (data / folder).mkdir(parents=True)
    (data / "seeds" / "planted.jsonl").write_text("".join(json.dumps(s) + "\n" for s in PLANTED), encoding="utf-8")
    resources = build_resources(data)
    config = {"ops": {**RUN_CONFIG["ops"], "tail_fill": {"config": {"max_teacher_calls": 0}}}}
    result = run_pipeline(resources, config, select=SELECT[:-1])
    assert result.success
    assert resources["warehouse"].read_table("tail_fill").empty
    metadata = _materialization(result, "tail_fill").metadata
    assert metadata["categories_under_after"].value == 1 and metadata["teacher_calls"].value == 0


def test_dedup_follows_the_settings_the_corpus_ran_with(filled):
    *_, instance = filled
    curation, source = _corpus_curation(instance)
    assert source == "as deduplicated_corpus last ran" and curation.minhash.threshold == 0.85
    curation, source = _corpus_curation(dg.DagsterInstance.ephemeral())
    assert "recorded no settings" in source and curation.minhash.threshold == 0.8
