"""The augmentation assets, materialized for real on a small copy of the shipped data with the
rules teacher, the embedding model, the sandbox and a DuckDB warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from synth_assets.assets.augmentation import augmented_instructions, document_qa_pairs
from synth_assets.assets.ingest import documents, seeds
from synth_assets.assets.verification import candidate_solutions, verified_solutions
from synth_assets.core.document_qa import grounding_score
from synth_assets.core.rouge import rouge_l_f, tokenize
from synth_assets.definitions import build_resources

REPO = Path(__file__).resolve().parents[2]
AUGMENT_REASONS = {"wording_unchanged", "meaning_not_preserved", "entry_point_missing", "off_topic", "not_novel",
                   "empty_instruction"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    (data / "seeds").mkdir()
    (data / "documents").mkdir()
    lines = []
    for domain, count in (("code", 6), ("math", 6), ("general", 10)):
        lines += (REPO / "data" / "seeds" / f"{domain}.jsonl").read_text(encoding="utf-8").splitlines()[:count]
    (data / "seeds" / "mini.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    docs = (REPO / "data" / "documents" / "docs.jsonl").read_text(encoding="utf-8").splitlines()[:4]
    (data / "documents" / "docs.jsonl").write_text("\n".join(docs) + "\n", encoding="utf-8")
    resources = build_resources(data)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("seed_batches", ["mini"])
    every = ["paraphrase", "formal", "casual", "technical", "round_trip", "seed_expansion"]
    config = {"ops": {"augmented_instructions": {"config": {"operations": every, "per_seed": 3}}}}
    batch = dg.materialize([seeds, augmented_instructions, candidate_solutions, verified_solutions],
                           partition_key="mini", instance=instance, resources=resources, run_config=config)
    docs_run = dg.materialize([documents, document_qa_pairs], instance=instance, resources=resources)
    return resources["warehouse"], batch, docs_run, instance, resources, [json.loads(d) for d in docs]


def test_augmented_rows_trace_to_their_seed_and_pass_their_rules(world):
    warehouse, batch, *_ = world
    assert batch.success
    augmented = warehouse.read_table("augmented_instructions")
    seed_rows = warehouse.read_table("seeds").set_index("id")
    assert len(augmented) > 0 and set(augmented["seed_batch"]) == {"mini"}
    assert set(augmented["technique"]) >= {"paraphrase", "style_transfer", "round_trip_translation"}
    assert augmented["parent_id"].isin(seed_rows.index).all()
    assert (augmented["generation"] == 1).all() and augmented["template_version"].notna().all()
    for row in augmented.itertuples():
        seed = seed_rows.loc[row.parent_id]
        if row.technique != "seed_expansion":
            assert rouge_l_f(tokenize(seed["instruction"]), tokenize(row.instruction)) < 0.85
            assert row.tests == seed["tests"] or (row.tests is None and seed["tests"] is None)
    rejects = warehouse.read_table("rejects", "WHERE stage = 'augmented_instructions'")
    assert set(rejects["reason"]) <= AUGMENT_REASONS
    metadata = batch.asset_materializations_for_node("augmented_instructions")[0].metadata
    assert metadata["rows_in"].value == len(augmented) + len(rejects) == 3 * 22
    assert metadata["settings"].value["per_seed"] == {"value": 3, "source": "run config"}


def test_augmented_instructions_are_answered_and_verified_like_their_seed(world):
    warehouse, *_ = world
    augmented = warehouse.read_table("augmented_instructions").set_index("id")
    verified = warehouse.read_table("verified_solutions")
    from_augmented = verified[verified["parent_id"].isin(augmented.index)]
    assert len(from_augmented) > 0
    code = from_augmented[from_augmented["domain"] == "code"]
    assert len(code) > 0 and (code["verifier"] == "code_tests").all() and code["verified"].all()


def test_document_questions_carry_their_segment_and_are_grounded(world):
    warehouse, _, docs_run, _, _, docs = world
    assert docs_run.success
    rows = warehouse.read_table("document_qa_pairs")
    texts = {d["id"]: d["text"] for d in docs}
    assert set(rows["operation"]) == {"qa", "edge_case_qa", "multiple_choice"}
    for row in rows.itertuples():
        key, span = row.source_key.rsplit("@", 1)
        assert span == f"{row.segment_start}:{row.segment_end}"
        segment = texts[key][row.segment_start:row.segment_end]
        answer = row.response.split(") ", 1)[1] if row.operation == "multiple_choice" else row.response
        assert grounding_score(answer, segment) >= 0.6
    rejects = warehouse.read_table("rejects", "WHERE stage = 'document_qa_pairs'")
    assert "ungrounded_answer" in set(rejects["reason"])


def test_the_grounding_threshold_comes_from_run_config(world):
    warehouse, _, _, instance, resources, _ = world
    before = warehouse.read_table("rejects", "WHERE stage = 'document_qa_pairs'")
    ungrounded = int((before["reason"] == "ungrounded_answer").sum())
    kept = len(warehouse.read_table("document_qa_pairs"))
    result = dg.materialize([document_qa_pairs], instance=instance, resources=resources,
                            run_config={"ops": {"document_qa_pairs": {"config": {"min_grounding": 0.0}}}})
    assert result.success
    after = warehouse.read_table("rejects", "WHERE stage = 'document_qa_pairs'")
    assert "ungrounded_answer" not in set(after["reason"])
    assert ungrounded > 0 and len(warehouse.read_table("document_qa_pairs")) == kept + ungrounded
