"""The filter calibrated by people, through real Dagster runs on a real warehouse: the rules
teacher judges a batch of answers, the review queue samples the judged rows across the score
range, a planted reviewer accepts exactly the rows scoring at least a threshold near 8 (a score
the rubric judge gives), `judge_calibration` recovers it, and the next `verified_solutions` run applies it to the rows nobody reviewed,
recording per row which threshold decided it."""

from __future__ import annotations

import json
import math

import dagster as dg
import pytest

from resources.sandbox.resource import CodeSandbox
from resources.source_files import SourceFiles
from resources.teacher.resource import JudgingTeacher, TeacherResource
from resources.warehouse import Warehouse
from synth_assets.assets.common import frame
from synth_assets.assets.partitions import SEED_BATCHES
from synth_assets.assets.review import judge_calibration, judged_rows, review_decisions, review_queue
from synth_assets.assets.verification import verified_solutions
from synth_assets.core.schema import CANDIDATE_COLUMNS, CORPUS_COLUMNS

BATCH = "general"
# The planted reviewer accepts a row exactly when the judge scored it at least the lowest queued
# score from this value up (the rubric judge's scores are means of five aspects, rescaled to 1-10).
REVIEWER_NEAR = 7.5
TOPIC = "Describe the harbour, lighthouse, fishermen, market, weather and festival of a coastal village."
TOPIC_WORDS = ["harbour", "lighthouse", "fishermen", "market", "weather", "festival"]


def _candidates() -> list[dict]:
    """Answers the rules teacher's heuristic judge scores across its range: a refusal (1), short or
    long (20+ words), covering none to all of the task's content words."""
    rows = []
    for i in range(84):
        covered, long_answer = TOPIC_WORDS[: i % 7], (i // 7) % 2 == 1
        words = covered + ["the", "village", "is", "quiet"] + (["and", "calm"] * 12 if long_answer else [])
        response = "Sorry, I can't help with that." if i % 12 == 11 else " ".join(words) + "."
        rows.append({"id": f"cand-{i:03d}", "parent_id": f"task-{i:03d}", "root_id": f"seed-{i:03d}",
                     "origin": "synthetic", "generation": 1, "technique": "seed", "operation": "seed", "round": 0,
                     "teacher": "rules:v1", "template_version": "t", "domain": "general",
                     "category": ("writing", "advice")[i % 2], "instruction": f"{TOPIC} (variant {i})",
                     "response": response, "seed_batch": BATCH, "sample_index": 0, "finish_reason": "stop"})
    return rows


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("calibration-data")
    # The batch's seed file: a run deletes the rows of a batch whose file is gone.
    (data_dir / "seeds").mkdir()
    (data_dir / "seeds" / f"{BATCH}.jsonl").write_text(json.dumps(
        {"id": "village", "domain": "general", "category": "writing", "instruction": TOPIC}) + "\n")
    warehouse = Warehouse(path=str(data_dir / "warehouse" / "synth.duckdb"))
    warehouse.write_table("candidate_solutions", frame(_candidates(), CANDIDATE_COLUMNS), CANDIDATE_COLUMNS)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SEED_BATCHES.name, [BATCH])
    verify = {"teacher": TeacherResource(warehouse=warehouse), "judge": JudgingTeacher(warehouse=warehouse),
              "sandbox": CodeSandbox(workers=1), "warehouse": warehouse}
    review = {"source_files": SourceFiles(root=str(data_dir)), "warehouse": warehouse}

    first = dg.materialize([verified_solutions], partition_key=BATCH, resources=verify, instance=instance)
    before = judged_rows(warehouse)
    # The mix stands in for the corpus and mix stages: the rows the first run kept.
    kept = warehouse.read_table("verified_solutions")
    warehouse.write_table("mixed_training_set", frame(kept.to_dict("records"), CORPUS_COLUMNS), CORPUS_COLUMNS)
    queued = dg.materialize([review_queue], resources=review, instance=instance, run_config={
        "ops": {"review_queue": {"config": {"judged_fraction": 0.3, "min_per_score_bin": 3}}}})

    queue = [json.loads(line) for line in (data_dir / "review" / "review_queue.jsonl").read_text().splitlines()]
    score = dict(zip(before["id"], before["judge_score"], strict=True))
    threshold = min(score[line["id"]] for line in queue if score[line["id"]] >= REVIEWER_NEAR)
    decisions = [{**line, "decision": "accept" if score[line["id"]] >= threshold else "reject"}
                 for line in queue]
    (data_dir / "review" / "decisions.jsonl").write_text("".join(json.dumps(d) + "\n" for d in decisions))
    fitted = dg.materialize([review_decisions, judge_calibration], resources=review, instance=instance, run_config={
        "ops": {"judge_calibration": {"config": {"min_decisions": 15}}}})

    second = dg.materialize([verified_solutions], partition_key=BATCH, resources=verify, instance=instance)
    after = judged_rows(warehouse).set_index("id")
    after_rows = {
        "kept": warehouse.read_table("verified_solutions"),
        "rejected": warehouse.read_table("rejects", "WHERE stage = 'verified_solutions'"),
    }
    off = dg.materialize([verified_solutions], partition_key=BATCH, resources=verify, instance=instance, run_config={
        "ops": {"verified_solutions": {"config": {"use_calibration": False}}}})
    return {"threshold": threshold, "first": first, "queued": queued, "fitted": fitted, "second": second, "off": off, "before": before,
            "after": after, "after_rows": after_rows, "queue": queue, "decisions": decisions, "warehouse": warehouse}


def test_the_queue_samples_judged_rows_across_the_score_range_kept_or_not(calibrated):
    assert calibrated["first"].success and calibrated["queued"].success
    before, queue = calibrated["before"], calibrated["queue"]
    scores = set(before["judge_score"])
    # The planted answers span the judge's range: refusals score about 3, full answers 8 and up.
    assert {3, 4, 5, 6, 7, 8} <= {math.floor(s) for s in scores}
    by_id = dict(zip(before["id"], before["judge_score"], strict=True))
    queued_bins = {math.floor(by_id[line["id"]]) for line in queue}
    assert queued_bins == {math.floor(s) for s in scores}  # every whole score of the domain is in the queue
    kept = set(calibrated["warehouse"].read_table("mixed_training_set")["id"])
    assert any(line["id"] not in kept for line in queue)  # not only rows the filter kept
    assert all("judge_score" not in line for line in queue)  # the reviewer does not see the score


def test_calibration_recovers_the_reviewers_threshold(calibrated):
    assert calibrated["fitted"].success
    table = calibrated["warehouse"].read_table("judge_calibration").set_index("domain")
    fit = table.loc["general"]
    assert fit["status"] == "calibrated"
    assert fit["threshold"] == calibrated["threshold"]
    assert fit["default_threshold"] == 6.0
    assert fit["decisions"] == len(calibrated["decisions"])
    assert fit["agreement"] == 1.0 and fit["agreement_default"] < 1.0
    assert fit["agreement_ci_low"] < 1.0 and fit["threshold_ci_low"] <= calibrated["threshold"] <= fit["threshold_ci_high"]
    metadata = calibrated["fitted"].asset_materializations_for_node("judge_calibration")[0].metadata
    assert metadata["domains_calibrated"].value == 1
    assert metadata["settings"].value["min_decisions"] == {"value": 15, "source": "run config"}


def test_the_next_run_applies_the_calibrated_threshold_to_the_unreviewed_rest(calibrated):
    assert calibrated["second"].success
    after, reviewed = calibrated["after"], {d["id"]: d["decision"] for d in calibrated["decisions"]}
    threshold = calibrated["threshold"]
    decisions = len(calibrated["decisions"])
    unreviewed = after.loc[~after.index.isin(list(reviewed))]
    assert len(unreviewed) > 0
    kept, rejected = calibrated["after_rows"]["kept"].set_index("id"), calibrated["after_rows"]["rejected"].set_index("id")
    for row_id, row in unreviewed.iterrows():
        source = (kept if row_id in kept.index else rejected).loc[row_id]
        assert (source["judge_threshold"], source["judge_threshold_source"]) == (
            threshold, f"calibrated from {decisions} decisions")
        assert (row_id in kept.index) == (row["judge_score"] >= threshold)
    # Rows scoring from 6 up to the threshold passed the default; unreviewed, the calibrated threshold now rejects them.
    before = calibrated["before"].set_index("id")
    newly_rejected = [i for i in unreviewed.index if 6 <= before.loc[i, "judge_score"] < threshold]
    assert newly_rejected and all(rejected.loc[i, "reason"] == "low_judge_score" for i in newly_rejected)
    # A reviewed row keeps its reviewer's decision.
    for row_id, decision in reviewed.items():
        table = kept if decision == "accept" else rejected
        assert table.loc[row_id, "judge_threshold_source"] == "human review"
    metadata = calibrated["second"].asset_materializations_for_node("verified_solutions")[0].metadata
    assert metadata["judged_by/calibrated"].value == len(unreviewed)
    assert metadata["judged_by/human review"].value == decisions


def test_with_calibration_off_the_default_decides_every_row(calibrated):
    assert calibrated["off"].success
    metadata = calibrated["off"].asset_materializations_for_node("verified_solutions")[0].metadata
    assert metadata["judged_by/default"].value == len(calibrated["before"])
    assert "judged_by/calibrated" not in metadata
