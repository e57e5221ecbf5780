"""Keep the best, not only the passable: the top fraction of each (domain, category), ranked by
verifier, judge score, judge aspects and pass rate; and verification applying it after the
threshold (default, calibrated or a person's decision), recording which one decided each row."""

from __future__ import annotations

import json

import pytest

from synth_assets.core.judge_calibration import CALIBRATED, JudgeThresholds
from synth_assets.core.verify.judge import ASPECTS
from synth_assets.core.verify.run import VerificationConfig, verify_candidates
from synth_assets.core.verify.top_fraction import aspect_mean, keep_top_fraction
from tests.core.teachers import ScriptedTeacher


def _row(i: int, score: float | None, category: str = "writing", domain: str = "general", **extra) -> dict:
    return {"id": f"r{i:02d}", "domain": domain, "category": category, "judge_score": score,
            "verified": None, **extra}


def test_each_group_keeps_its_best_fraction_rounded_up_and_the_rest_say_why():
    rows = [_row(i, float(s)) for i, s in enumerate([9, 4, 7, 8, 6])] + [_row(10, 5.0, "advice")]
    kept, dropped = keep_top_fraction(rows, 0.5)
    # writing: 5 rows -> ceil(2.5) = 3 kept (9, 8, 7); advice: 1 row -> 1 kept
    assert [r["id"] for r in kept] == ["r00", "r02", "r03", "r10"]  # input order kept
    assert [(r["id"], r["reason"], r["related_id"], r["score"]) for r in dropped] == [
        ("r01", "below_top_fraction", "r02", 4.0), ("r04", "below_top_fraction", "r02", 6.0)]
    assert dropped[1]["detail"] == "rank 4 of 5 in general/writing; keep_top_fraction 0.5 keeps 3"


def test_a_real_check_outranks_a_judge_and_aspects_then_pass_rate_break_ties():
    rows = [
        _row(1, 9.0),
        _row(2, None, verified=True, task_pass_rate=0.25),
        _row(3, 9.0, judge_aspects=json.dumps({"correctness": 5, "coherence": 3})),
        _row(4, 9.0, judge_aspects=json.dumps({"correctness": 5, "coherence": 5})),
        _row(5, None, verified=True, task_pass_rate=1.0),
    ]
    kept, dropped = keep_top_fraction(rows, 0.6)  # 3 of 5
    assert {r["id"] for r in kept} == {"r05", "r02", "r04"}
    assert [r["detail"].split(";")[0] for r in sorted(dropped, key=lambda r: r["id"])] == [
        "rank 5 of 5 in general/writing", "rank 4 of 5 in general/writing"]


def test_aspects_that_are_absent_or_not_numbers_do_not_rank():
    assert aspect_mean({"judge_aspects": json.dumps({"a": 4, "b": 2, "note": "x", "flag": True})}) == 3.0
    assert aspect_mean({}) is None
    assert aspect_mean({"judge_aspects": "not json"}) is None
    assert aspect_mean({"judge_aspects": json.dumps([1, 2])}) is None


def test_a_fraction_of_one_keeps_everything_and_a_bad_one_is_refused():
    rows = [_row(i, float(i)) for i in range(4)]
    assert keep_top_fraction(rows, 1.0) == (rows, [])
    with pytest.raises(ValueError, match="keep_top_fraction"):
        keep_top_fraction(rows, 0)
    with pytest.raises(ValueError, match="keep_top_fraction"):
        VerificationConfig(keep_top_fraction=1.5)


# --- verification: threshold, then best of k, then the top fraction ------------------------------


def _candidates() -> list[dict]:
    """Ten general tasks (one sample each); the judge scores task i at 1 + 0.9 (i - 1) (`_judge`)."""
    return [{"id": f"c{i}", "parent_id": f"t{i}", "domain": "general", "category": "writing",
             "instruction": f"task {i}", "response": f"answer worth {i}", "finish_reason": "stop", "sample_index": 0}
            for i in range(1, 11)]


def _judge() -> ScriptedTeacher:
    """A rubric judge whose five aspects sum to 5 + 2 (i - 1) for "answer worth i": an overall of
    1 + 0.9 (i - 1) on the 1-10 scale (1, 1.9, ..., 6.4, 7.3, 8.2, 9.1)."""
    def reply(hints, _):
        total = 5 + 2 * (int(hints["response"].split()[-1]) - 1)
        base, extra = divmod(total, len(ASPECTS))
        return json.dumps({"rationale": "scripted", **{a: base + (k < extra) for k, a in enumerate(ASPECTS)}})
    return ScriptedTeacher(judge_rubric=reply)


def test_verification_records_the_threshold_and_its_source_for_each_judged_row():
    fits = [{"domain": "general", "status": CALIBRATED, "threshold": 7.0, "decisions": 30}]
    thresholds = JudgeThresholds.from_calibration(6.0, fits, reviewed={"c3": True, "c9": False})
    outcome = verify_candidates(_candidates(), lambda jobs: [], _judge(), VerificationConfig(), thresholds,
                                judge_model="scripted:judge")
    kept = {r["id"]: r for r in outcome.kept}
    rejected = {r["id"]: r for r in outcome.rejected}
    assert sorted(kept) == ["c10", "c3", "c8"]
    assert (kept["c8"]["judge_threshold"], kept["c8"]["judge_threshold_source"]) == (7.0, "calibrated from 30 decisions")
    assert (kept["c3"]["judge_threshold"], kept["c3"]["judge_threshold_source"]) == (None, "human review")
    assert rejected["c7"]["reason"] == "low_judge_score"
    assert rejected["c7"]["verdict_detail"].startswith("score 6.4 < 7 (calibrated from 30 decisions) {")
    assert (rejected["c9"]["reason"], rejected["c9"]["score"]) == ("human_rejected", pytest.approx(8.2))


def test_without_calibration_the_default_decides_and_the_top_fraction_trims_what_passed():
    config = VerificationConfig(judge_threshold=5.5, keep_top_fraction=0.5)
    outcome = verify_candidates(_candidates(), lambda jobs: [], _judge(), config, judge_model="scripted:judge")
    # 6..10 (5.5 to 9.1) pass the default threshold; the best ceil(0.5 x 5) = 3 of them stay.
    assert sorted(r["id"] for r in outcome.kept) == ["c10", "c8", "c9"]
    assert {r["judge_threshold_source"] for r in outcome.kept} == {"default"}
    reasons = {r["id"]: r["reason"] for r in outcome.rejected}
    assert [reasons[f"c{i}"] for i in range(1, 8)] == ["low_judge_score"] * 5 + ["below_top_fraction"] * 2
