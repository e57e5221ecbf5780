"""Preference pairs from verdict rows: which prompts make one, which side is which, and the rules
(corpus survival, decontamination, the mix's human fraction and generation cap) they are held to."""

from __future__ import annotations

import pytest

from synth_assets.core.dedup import BenchmarkIndex
from synth_assets.core.export import to_preference_record
from synth_assets.core.mixing import MixConfig
from synth_assets.core.preferences import NoPair, PreferenceConfig, build_pairs, filter_pairs

CONFIG = PreferenceConfig()


def candidate(task: str, index: int, **fields) -> dict:
    return {"id": f"{task}-c{index}", "parent_id": task, "root_id": f"{task}-root", "origin": "synthetic",
            "generation": 1, "round": 0, "teacher": "rules:gen", "template_version": "v", "technique": "evol_instruct",
            "operation": "deepen", "domain": "code", "category": "lists", "seed_batch": "code",
            "instruction": f"Write f for {task}.", "response": f"def f(): return {index}", "sample_index": index,
            "verified": None, "verifier": "code_tests", "verdict_detail": "", "judge_score": None, **fields}


def judged(task: str, index: int, score: float | None, passed: bool, **fields) -> dict:
    row = candidate(task, index, **{"domain": "general", "verifier": "judge", "judge_score": score,
                                    "response": f"answer {index} of {task}", **fields})
    if not passed:
        row.update(reason="low_judge_score" if score is not None else "truncated", detail=f"score {score}")
    return row


def test_a_passing_and_a_failing_candidate_make_a_verifier_pair_with_both_provenances():
    kept = [candidate("t1", 2, verified=True, verdict_detail="4 tests passed")]
    rejected = [candidate("t1", 0, verified=False, reason="test_failure", detail="assert f() == 1 -> got 0"),
                candidate("t1", 1, verified=False, reason="truncated", detail="answer hit max_tokens"),
                candidate("t1", 3, verified=True, reason="sibling_selected")]
    pairs, no_pair = build_pairs(kept, rejected, {"t1"}, CONFIG)
    [pair] = pairs
    assert no_pair == {}
    assert pair["operation"] == "verifier" and pair["technique"] == "preference"
    assert pair["chosen_id"] == "t1-c2" and pair["parent_id"] == "t1-c2"  # the answer best-of-k kept
    assert pair["rejected_id"] == "t1-c0"  # the only real-check failure: truncation and siblings never reject
    assert pair["rejected_reason"] == "test_failure" and pair["rejected_verdict"] == "assert f() == 1 -> got 0"
    assert pair["instruction"] == "Write f for t1." and pair["response"] == "def f(): return 2"
    assert pair["rejected_response"] == "def f(): return 0"
    assert pair["prompt_id"] == "t1" and pair["prompt_origin"] == "human" and pair["root_id"] == "t1-root"
    assert pair["prompt_technique"] == "evol_instruct" and pair["teacher"] == "rules:gen"
    assert pair["rejected_teacher"] == "rules:gen" and pair["score_margin"] is None
    assert build_pairs(kept, list(reversed(rejected)), {"t1"}, CONFIG)[0][0]["id"] == pair["id"]  # stable


def test_no_verifier_pair_without_both_a_pass_and_a_real_failure():
    passed = [candidate("t2", 0, verified=True)]
    assert build_pairs(passed, [candidate("t2", 1, reason="truncated")], set(), CONFIG) == ([], {NoPair.NONE_FAILED: 1})
    failed = [candidate("t3", 0, verified=False, reason="wrong_answer", domain="math", verifier="math_answer")]
    assert build_pairs([], failed, set(), CONFIG) == ([], {NoPair.NONE_PASSED: 1})
    voted = [candidate("t4", 0, verifier="self_consistency", domain="math")]
    voted_out = [candidate("t4", 1, verifier="self_consistency", domain="math", reason="disagrees_with_majority")]
    assert build_pairs(voted, voted_out, set(), CONFIG) == ([], {NoPair.NO_REAL_CHECK_OR_SCORE: 1})


def test_a_judge_pair_is_the_best_against_one_at_least_the_margin_lower():
    kept = [judged("g1", 0, 9.0, True, judge_model="rules:judge")]
    rejected = [judged("g1", 1, 8.0, True, reason="sibling_selected"), judged("g1", 2, 1.0, False, judge_model="rules:judge"),
                judged("g1", 3, None, False)]
    [pair], _ = build_pairs(kept, rejected, set(), PreferenceConfig(min_score_margin=2))
    assert pair["operation"] == "judge" and pair["chosen_id"] == "g1-c0" and pair["rejected_id"] == "g1-c2"
    assert pair["chosen_score"] == 9.0 and pair["rejected_score"] == 1.0 and pair["score_margin"] == 8.0
    assert pair["min_score_margin"] == 2 and pair["judge_model"] == "rules:judge"
    assert pair["prompt_origin"] == "synthetic"
    # With a margin of 1 the 8 qualifies too: the rejected side is a fixed draw among the two.
    drawn = {build_pairs(kept, rejected, set(), PreferenceConfig(min_score_margin=1, seed=s))[0][0]["rejected_id"]
             for s in range(12)}
    assert drawn == {"g1-c1", "g1-c2"}


def test_no_judge_pair_within_the_margin_or_when_nothing_passed():
    kept = [judged("g2", 0, 7.0, True)]
    close = [judged("g2", 1, 6.0, True, reason="sibling_selected")]
    assert build_pairs(kept, close, set(), CONFIG) == ([], {NoPair.NO_SCORE_MARGIN: 1})
    same_text = [judged("g2", 1, 2.0, False, response="answer 0 of g2")]  # a repeat of the chosen answer
    assert build_pairs(kept, same_text, set(), CONFIG) == ([], {NoPair.NO_SCORE_MARGIN: 1})
    failed = [judged("g3", 0, 5.0, False), judged("g3", 1, 1.0, False)]
    assert build_pairs([], failed, set(), CONFIG) == ([], {NoPair.NONE_PASSED: 1})


def test_the_margin_is_checked():
    with pytest.raises(ValueError, match="min_score_margin"):
        PreferenceConfig(min_score_margin=0)


def _pairs(n: int, human: bool, category: str = "lists", generation: int = 1) -> list[dict]:
    pairs = []
    for i in range(n):
        task = f"{'h' if human else 's'}{category}{generation}-{i}"
        kept = [candidate(task, 0, verified=True, category=category, generation=generation)]
        rejected = [candidate(task, 1, reason="test_failure", category=category, generation=generation)]
        pairs += build_pairs(kept, rejected, {task} if human else set(), CONFIG)[0]
    return pairs


def test_only_prompts_that_survived_the_corpus_are_kept_and_the_rest_say_why():
    pairs = _pairs(3, human=False)
    survived = {pairs[0]["prompt_id"]}
    why = {pairs[1]["prompt_id"]: {"reason": "near_duplicate", "related_id": "kept-row"}}
    outcome = filter_pairs(pairs, survived, MixConfig(human_fraction=0.0), None, why)
    assert [p["prompt_id"] for p in outcome.kept] == [pairs[0]["prompt_id"]]
    reasons = {r["prompt_id"]: (r["reason"], r["detail"], r["related_id"]) for r in outcome.removed}
    assert reasons[pairs[1]["prompt_id"]] == ("prompt_not_in_corpus",
                                               "deduplicated_corpus removed its answer: near_duplicate (related kept-row)",
                                               "kept-row")
    assert reasons[pairs[2]["prompt_id"]][1] == "its answers never reached the corpus"


def test_a_pair_whose_rejected_answer_holds_a_benchmark_ngram_is_removed():
    pairs = _pairs(2, human=False)
    leak = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat today"
    pairs[1]["rejected_response"] = f"def f(): pass  # {leak}"
    benchmark = BenchmarkIndex.build([("bench-1", leak)])
    outcome = filter_pairs(pairs, {p["prompt_id"] for p in pairs}, MixConfig(human_fraction=0.0), benchmark)
    assert [p["id"] for p in outcome.kept] == [pairs[0]["id"]]
    [removed] = outcome.removed
    assert removed["reason"] == "benchmark_contamination" and removed["related_id"] == "bench-1"


def test_a_pair_with_an_empty_or_over_long_text_is_removed_as_the_corpus_would_remove_it():
    pairs = _pairs(3, human=False)
    pairs[1]["rejected_response"] = "x" * 101
    pairs[2]["rejected_response"] = "  "
    outcome = filter_pairs(pairs, {p["prompt_id"] for p in pairs}, MixConfig(human_fraction=0.0), max_text_chars=100)
    assert [p["id"] for p in outcome.kept] == [pairs[0]["id"]]
    reasons = {r["id"]: (r["reason"], r["detail"]) for r in outcome.removed}
    assert reasons[pairs[1]["id"]][0] == "text_too_long" and "rejected_response has 101 characters" in reasons[pairs[1]["id"]][1]
    assert reasons[pairs[2]["id"]] == ("empty_text", "rejected_response is empty")


def test_the_mix_human_fraction_and_generation_cap_apply_on_the_prompts_origin():
    pairs = _pairs(6, human=True) + _pairs(10, human=False) + _pairs(2, human=False, generation=2)
    outcome = filter_pairs(pairs, {p["prompt_id"] for p in pairs}, MixConfig(human_fraction=0.6, max_generation=1))
    assert (outcome.human, outcome.synthetic) == (6, 4)
    assert sum(p["prompt_origin"] == "human" for p in outcome.kept) == 6
    reasons = sorted(r["reason"] for r in outcome.removed)
    assert reasons == ["above_generation_cap"] * 2 + ["over_quota"] * 6
    assert all(p["origin"] == "synthetic" for p in outcome.kept)  # the answers are the teacher's either way


def test_the_export_record_is_trl_conversational_preference_format():
    [pair] = _pairs(1, human=True)
    record = to_preference_record(pair)
    assert record["prompt"] == [{"role": "user", "content": pair["instruction"]}]
    assert record["chosen"] == [{"role": "assistant", "content": pair["response"]}]
    assert record["rejected"] == [{"role": "assistant", "content": pair["rejected_response"]}]
    assert record["chosen_id"] == pair["chosen_id"] and record["rejected_id"] == pair["rejected_id"]
    assert record["operation"] == "verifier" and record["prompt_origin"] == "human"
