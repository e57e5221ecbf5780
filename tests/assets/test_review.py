"""The human review loop: the sampling, reading and applying rules on literal rows, then a round
trip through the three assets on a small mix in a real warehouse."""

from __future__ import annotations

import json
from collections import Counter

import dagster as dg
import pytest

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import frame
from synth_assets.assets.review import review_assets
from synth_assets.core.review import (
    ReviewSampling,
    agreement_summary,
    apply_decisions,
    read_decisions,
    sample_for_review,
    sample_judged_for_review,
)
from synth_assets.core.rows import row_id
from synth_assets.core.schema import CORPUS_COLUMNS


def _row(i: int, domain: str = "math", technique: str = "evol_instruct", origin: str = "synthetic") -> dict:
    return {"id": f"r{i:03d}", "parent_id": f"p{i:03d}", "root_id": f"s{i:03d}", "origin": origin,
            "generation": 1 if origin == "synthetic" else 0, "technique": technique, "operation": "deepen",
            "round": 1, "teacher": "rules:v1", "template_version": "t1", "domain": domain, "category": "arith",
            "instruction": f"question {i}", "response": f"answer {i}", "verified": True, "verifier": "math_answer",
            "verdict_detail": "ok", "judge_score": None}


def _mix() -> list[dict]:
    rows = [_row(i, "math", "evol_instruct") for i in range(40)]
    rows += [_row(100 + i, "code", "seed") for i in range(15)]
    rows += [_row(200 + i, "general", "backtranslation") for i in range(3)]
    rows += [_row(300 + i, "general", "human", origin="human") for i in range(50)]
    return rows


# --- core: sampling -----------------------------------------------------------------------------


def test_the_sample_is_ten_percent_of_each_synthetic_stratum_and_at_least_one_row():
    sample = sample_for_review(_mix(), ReviewSampling(fraction=0.10, seed=0))
    strata = Counter((r["domain"], r["technique"]) for r in sample)
    # 40 -> 4, 15 -> 1.5 rounded half up -> 2, 3 -> 0.3 but at least 1; no human rows
    assert strata == {("math", "evol_instruct"): 4, ("code", "seed"): 2, ("general", "backtranslation"): 1}


def test_the_same_seed_gives_the_same_sample_whatever_the_row_order():
    mix = _mix()
    first = sample_for_review(mix, ReviewSampling(seed=7))
    again = sample_for_review(list(reversed(mix)), ReviewSampling(seed=7))
    other = sample_for_review(mix, ReviewSampling(seed=8))
    assert [r["id"] for r in first] == [r["id"] for r in again]
    assert {r["id"] for r in first} != {r["id"] for r in other}


def test_a_fraction_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="fraction must be in"):
        ReviewSampling(fraction=0)
    with pytest.raises(ValueError, match="fraction must be in"):
        ReviewSampling(fraction=1.5)


def _judged(domain: str, score: float, i: int) -> dict:
    return {**_row(i, domain), "id": f"{domain}-{score:g}-{i}", "verifier": "judge", "judge_score": score}


def test_judged_rows_are_sampled_across_the_score_range_of_each_domain():
    rows = [_judged("general", s + 0.5 * (i % 2), i) for s in range(1, 11) for i in range(20)]
    rows += [_judged("code", s, i) for s in (4.0, 5.0) for i in range(3)]
    rows.append({**_judged("math", 7.0, 0), "judge_score": None})  # not scored: never sampled
    sample = sample_judged_for_review(rows, ReviewSampling(judged_fraction=0.25, min_per_score_bin=2),
                                      exclude={"general-1-0"})
    bins = Counter((r["domain"], int(r["judge_score"])) for r in sample)
    # a quarter of each whole score of general (20 rows -> 5), at least two of code's 3-row scores
    assert bins == {**{("general", s): 5 for s in range(1, 11)}, ("code", 4): 2, ("code", 5): 2}
    assert "general-1-0" not in {r["id"] for r in sample}
    assert sample_judged_for_review(rows, ReviewSampling(judged_fraction=0)) == []
    again = sample_judged_for_review(list(reversed(rows)), ReviewSampling(judged_fraction=0.25), exclude={"general-1-0"})
    assert [r["id"] for r in again] == [r["id"] for r in sample]


# --- core: reading decisions --------------------------------------------------------------------


def _write_lines(path, lines):
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines) + b"\n")
    return path


def test_bad_decision_lines_are_quarantined_with_line_and_field(tmp_path):
    path = _write_lines(tmp_path / "decisions.jsonl", [
        {"id": "a", "decision": "accept"},
        b'{"id": "b", "decision": ',
        {"id": "c", "decision": "maybe"},
        {"id": "d", "decision": "edit", "corrected_response": "  "},
        {"id": "a", "decision": "reject"},
        {"decision": "accept"},
        {"id": "e", "decision": ""},
        {"id": "f", "decision": " Reject ", "reviewer_note": "off topic"},
    ])
    read = read_decisions(path)
    assert [(q.source_line, q.field) for q in read.quarantined] == [
        (2, ""), (3, "decision"), (4, "corrected_response"), (5, "id"), (6, "id")]
    assert "first decided at line 1" in read.quarantined[3].reason
    assert [(d["id"], d["decision"], d["source_line"]) for d in read.decisions] == [("a", "accept", 1), ("f", "reject", 8)]
    assert read.decisions[1]["reviewer_note"] == "off topic"
    assert read.undecided == 1


def test_a_decision_line_with_several_faults_names_every_one(tmp_path):
    path = _write_lines(tmp_path / "decisions.jsonl", [
        {"decision": "maybe", "reviewer_note": 3},
        {"id": "x", "decision": "edit", "corrected_response": 7},
        {"id": "", "decision": "edit"},
    ])
    read = read_decisions(path)
    assert [q.field for q in read.quarantined] == [
        "id, reviewer_note, decision", "corrected_response", "id, corrected_response"]
    assert [q.reason for q in read.quarantined] == [
        "field 'id': required field is missing or empty; field 'reviewer_note': expected text, got int; "
        "field 'decision': must be one of accept, reject, edit or empty, got 'maybe'",
        "field 'corrected_response': expected text, got int",
        "field 'id': required field is missing or empty; field 'corrected_response': an edit needs the corrected "
        "response"]
    assert read.decisions == []


def test_a_missing_decisions_file_means_nothing_decided(tmp_path):
    read = read_decisions(tmp_path / "decisions.jsonl")
    assert (read.decisions, read.quarantined, read.undecided) == ([], [], 0)


# --- core: applying decisions and agreement -----------------------------------------------------


def test_rejected_rows_leave_and_edited_rows_are_replaced_by_a_child_row():
    mix = [_row(1), _row(2), _row(3)]
    outcome = apply_decisions(mix, [
        {"id": "r001", "decision": "reject", "reviewer_note": "wrong"},
        {"id": "r002", "decision": "edit", "corrected_response": "better", "reviewer_note": None},
        {"id": "gone", "decision": "accept"},
    ])
    assert [r["id"] for r in outcome.rejected] == ["r001"]
    assert outcome.rejected[0]["reason"] == "human_rejected" and outcome.rejected[0]["detail"] == "wrong"
    edited, untouched = outcome.kept
    assert edited["id"] == row_id("edited_by_human", "r002", "better")
    assert (edited["parent_id"], edited["root_id"], edited["origin"], edited["technique"], edited["operation"]) == (
        "r002", "s002", "synthetic", "evol_instruct", "edited_by_human")
    assert edited["response"] == "better" and edited["verified"] is None
    assert untouched == _row(3)
    assert (outcome.edited, outcome.not_in_mix) == (1, 1)


def test_agreement_counts_accepts_fully_and_edits_partly():
    decisions = [{"decision": d, "domain": "math", "technique": "seed", "in_mix": True}
                 for d in ("accept", "accept", "accept", "reject", "edit")]
    decisions.append({"decision": "reject", "domain": "math", "technique": "seed", "in_mix": False})
    summary = agreement_summary(decisions, edit_credit=0.5)
    assert (summary.decided, summary.accepted, summary.rejected, summary.edited) == (5, 3, 1, 1)
    assert summary.agreement == pytest.approx(3.5 / 5)
    assert summary.strict_agreement == pytest.approx(3 / 5)
    assert agreement_summary([]).agreement is None


# --- the assets: a round trip on a small mix ----------------------------------------------------


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("review-data")
    (data_dir / "seeds").mkdir()  # a data folder: its mix rows have no seed batch, so none is removed
    warehouse = Warehouse(path=str(data_dir / "warehouse" / "synth.duckdb"))
    warehouse.write_table("mixed_training_set", frame(_mix(), CORPUS_COLUMNS), CORPUS_COLUMNS)
    resources = {"warehouse": warehouse, "source_files": SourceFiles(root=str(data_dir))}
    first = dg.materialize(review_assets, resources=resources)
    queue = [json.loads(line) for line in (data_dir / "review" / "review_queue.jsonl").read_text().splitlines()]
    reviewed_before = warehouse.read_table("reviewed_training_set")

    # A person decides on five queued rows, leaves one open and writes two bad lines.
    a, b, c, d, e, f = queue[:6]
    decided = [
        {**a, "decision": "accept"},
        {**b, "decision": "accept"},
        {**c, "decision": "reject", "reviewer_note": "the answer is wrong"},
        {**d, "decision": "edit", "corrected_response": "A corrected answer.", "reviewer_note": "fixed the units"},
        {**e, "decision": "accept"},
        f,
        {**a, "id": "not-a-row", "decision": "reject"},
        {"id": "x", "decision": "yes"},
        b"not json",
    ]
    _write_lines(data_dir / "review" / "decisions.jsonl", decided)
    second = dg.materialize(review_assets, resources=resources, selection=["review_decisions", "reviewed_training_set"])
    return {"first": first, "second": second, "queue": queue, "before": reviewed_before, "warehouse": warehouse,
            "decided": decided, "data_dir": data_dir}


def test_the_queue_is_a_stratified_sample_with_empty_decision_fields(round_trip):
    queue = round_trip["queue"]
    assert round_trip["first"].success
    assert len(queue) == 7
    assert all(list(line) == ["id", "domain", "technique", "instruction", "response", "decision",
                              "corrected_response", "reviewer_note"] for line in queue)
    assert all(line["decision"] == line["corrected_response"] == line["reviewer_note"] == "" for line in queue)
    assert {line["technique"] for line in queue} == {"evol_instruct", "seed", "backtranslation"}


def test_without_decisions_the_reviewed_set_is_the_mix(round_trip):
    assert sorted(round_trip["before"]["id"]) == sorted(r["id"] for r in _mix())


def test_the_reviewed_set_applies_the_decisions(round_trip):
    warehouse, decided = round_trip["warehouse"], round_trip["decided"]
    assert round_trip["second"].success
    reviewed = warehouse.read_table("reviewed_training_set").set_index("id")
    rejected, edited = decided[2]["id"], decided[3]["id"]
    new_id = row_id("edited_by_human", edited, "A corrected answer.")
    assert rejected not in reviewed.index and edited not in reviewed.index
    assert len(reviewed) == len(_mix()) - 1
    child = reviewed.loc[new_id]
    assert (child["parent_id"], child["operation"], child["response"]) == (edited, "edited_by_human", "A corrected answer.")
    assert child["root_id"] == next(r["root_id"] for r in _mix() if r["id"] == edited)
    rejects = warehouse.read_table("rejects", "WHERE stage = 'reviewed_training_set'")
    assert list(rejects["id"]) == [rejected]
    assert list(rejects["reason"]) == ["human_rejected"] and list(rejects["detail"]) == ["the answer is wrong"]


def test_the_decisions_table_and_quarantine_say_what_was_read(round_trip):
    warehouse = round_trip["warehouse"]
    table = warehouse.read_table("review_decisions", "ORDER BY source_line")
    assert list(table["decision"]) == ["accept", "accept", "reject", "edit", "accept", "reject"]
    assert list(table["in_mix"]) == [True] * 5 + [False]
    quarantine = warehouse.read_table("quarantine", "WHERE stage = 'review_decisions' ORDER BY source_line")
    assert list(quarantine["source_line"]) == [8, 9]
    assert list(quarantine["field"]) == ["decision", ""]


def test_the_agreement_figure_counts_decisions_on_rows_in_the_mix(round_trip):
    metadata = round_trip["second"].asset_materializations_for_node("review_decisions")[0].metadata
    assert metadata["review/decided"].value == 5
    assert metadata["review/agreement"].value == pytest.approx((3 + 0.5) / 5)
    assert metadata["review/strict_agreement"].value == pytest.approx(3 / 5)
    assert metadata["undecided"].value == 1 and metadata["not_in_mix"].value == 1
    assert metadata["rows_quarantined"].value == 2
