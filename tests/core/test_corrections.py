"""Error-and-correction pairs from real verdict rows: which tasks make one, and what it holds."""

from __future__ import annotations

from synth_assets.core.corrections import correction_pairs


def candidate(task: str, index: int, **fields) -> dict:
    return {"id": f"{task}-c{index}", "parent_id": task, "root_id": f"{task}-root", "origin": "synthetic",
            "generation": 1, "round": 0, "teacher": "rules:x", "domain": "code", "category": "lists",
            "instruction": f"Write f for {task}.", "response": f"def f(): return {index}", "sample_index": index,
            "tests": "assert f() == 1", "verified": None, "verifier": "code_tests", **fields}


def test_a_failed_and_a_passing_candidate_make_one_pair_with_the_verifiers_message():
    kept = [candidate("t1", 1, verified=True)]
    rejected = [
        candidate("t1", 3, reason="test_failure", detail="line 1: assert f() == 1"),
        candidate("t1", 0, reason="test_failure", detail="line 1: assert f() == 1 -> got 0"),
        candidate("t1", 2, reason="sibling_selected", detail="passed; best-of-k kept a sibling"),
    ]
    [pair] = correction_pairs(kept, rejected)
    assert pair["parent_id"] == "t1-c0"  # the first failure by sample index
    assert pair["technique"] == "error_correction" and pair["operation"] == "test_failure"
    assert "Write f for t1." in pair["instruction"] and "def f(): return 0" in pair["instruction"]
    assert "test_failure: line 1: assert f() == 1 -> got 0" in pair["instruction"]
    assert pair["response"] == "def f(): return 1"
    assert pair["root_id"] == "t1-root" and pair["verified"] is True
    assert correction_pairs(kept, rejected)[0]["id"] == pair["id"]  # stable


def test_no_pair_without_a_real_pass_or_without_a_correctable_failure():
    judged = [candidate("t2", 0, verified=None, verifier="judge")]  # passed a judge, not a check
    assert correction_pairs(judged, [candidate("t2", 1, reason="test_failure", detail="x")]) == []
    passed = [candidate("t3", 0, verified=True)]
    for reason in ("truncated", "no_code", "low_judge_score", "sibling_selected"):
        assert correction_pairs(passed, [candidate("t3", 1, reason=reason, detail="x")]) == [], reason
    assert correction_pairs(passed, []) == []


def test_math_wrong_answers_are_corrected_too():
    kept = [candidate("m1", 0, verified=True, domain="math", verifier="math_answer", response="Answer: 12")]
    rejected = [candidate("m1", 1, reason="wrong_answer", detail="extracted '13', reference '12'",
                          domain="math", response="Answer: 13")]
    [pair] = correction_pairs(kept, rejected)
    assert pair["domain"] == "math" and "wrong_answer: extracted '13', reference '12'" in pair["instruction"]
