"""Verification shortcuts keep the verdicts: distinct (code, tests) pairs run once, the math
memos and the plain-integer comparison agree with math-verify."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from math_verify import parse, verify

from synth_assets.core.verify import math as vmath
from synth_assets.core.verify.run import VerificationConfig, verify_candidates


def math_verify_says(candidate: str, reference: str) -> bool:
    gold, guess = parse(reference), parse(candidate)
    return bool(gold and guess and verify(gold, guess))


def test_plain_integers_compare_as_math_verify_does() -> None:
    rng = random.Random(0)
    pairs = [("007", "7"), ("-0", "0"), ("0", "00"), ("-12", "12"), ("999999999999", "999999999998"), ("5", "5")]
    for _ in range(150):
        a = rng.choice([rng.randint(-50, 50), rng.randint(-10**12 + 1, 10**12 - 1)])
        b = rng.choice([a, a + 1, -a, a * 10, rng.randint(-999, 999)])
        pairs.append((str(a), str(b)))
    vmath._match.cache_clear()
    for candidate, reference in pairs:
        assert vmath.answers_match(candidate, reference) == math_verify_says(candidate, reference), (candidate, reference)


def test_other_answers_still_go_through_math_verify_and_are_memoised() -> None:
    pairs = [("3/4", "0.75"), ("\\frac{3}{4}", "3/4"), ("75%", "3/4"), ("1,000", "1000"), ("+5", "5"), ("x+1", "1+x"),
             ("12.0", "12"), ("7/9", "7/8"), ("", "3")]
    vmath._match.cache_clear()
    first = [vmath.answers_match(c, r) for c, r in pairs]
    hits_before = vmath._match.cache_info().hits
    second = [vmath.answers_match(c, r) for c, r in pairs]

    assert first == second == [math_verify_says(c, r) for c, r in pairs]
    assert vmath._match.cache_info().hits == hits_before + len(pairs)


@dataclass
class Result:
    passed: bool
    outcome: str
    message: str


def candidate(cid: str, task: str, code: str, index: int) -> dict:
    return {"id": cid, "parent_id": task, "domain": "code", "instruction": "Write f.", "tests": "assert f() == 1",
            "response": f"```python\n{code}```" if code else "I would rather not.", "finish_reason": "stop", "sample_index": index}


def test_identical_programs_run_once_and_every_candidate_keeps_its_own_verdict() -> None:
    good, bad = "def f():\n    return 1\n", "def f():\n    return 2\n"
    rows = [candidate("a0", "a", good, 0), candidate("a1", "a", bad, 1), candidate("a2", "a", good, 2),
            candidate("b0", "b", bad, 0), candidate("b1", "b", bad, 1), candidate("c0", "c", "", 0)]
    ran: list[list[tuple[str, str]]] = []

    def run_code(jobs):  # type: ignore[no-untyped-def]
        ran.append(list(jobs))
        return [Result(True, "passed", "ok") if "return 1" in code else Result(False, "test_failure", "line 1")
                for code, _ in jobs]

    def no_teacher(requests):  # type: ignore[no-untyped-def]
        assert not requests
        return []

    outcome = verify_candidates(rows, run_code, no_teacher, VerificationConfig(), judge_model="scripted:judge")

    assert len(ran) == 1 and sorted(code for code, _ in ran[0]) == [good, bad]
    kept = {r["id"] for r in outcome.kept}
    rejected = {r["id"]: r["reason"] for r in outcome.rejected}
    assert kept == {"a0"}
    assert rejected == {"a1": "test_failure", "a2": "sibling_selected", "b0": "test_failure", "b1": "test_failure",
                        "c0": "no_code"}
    assert all(r["verdict_detail"] == "line 1" for r in outcome.rejected if r["reason"] == "test_failure")
    assert outcome.verdicts[("code_tests", "passed")] == 2 and outcome.verdicts[("code_tests", "test_failure")] == 3
    assert outcome.kept[0]["task_candidates"] == 3 and outcome.kept[0]["task_passed"] == 2


def test_dict_candidates_become_the_outcome_rows_and_other_mappings_are_copied() -> None:
    from types import MappingProxyType

    rows = [candidate("a0", "a", "def f():\n    return 1\n", 0), candidate("a1", "a", "", 1)]
    frozen = MappingProxyType(candidate("b0", "b", "", 0))

    def run_code(jobs):  # type: ignore[no-untyped-def]
        return [Result(True, "passed", "ok") for _ in jobs]

    outcome = verify_candidates([*rows, frozen], run_code, lambda requests: [], VerificationConfig(), judge_model="scripted:judge")

    assert outcome.kept[0] is rows[0] and rows[0]["verifier"] == "code_tests" and rows[0]["task_passed"] == 1
    assert outcome.rejected[0] is rows[1] and rows[1]["reason"] == "no_code"
    assert outcome.rejected[1]["id"] == "b0" and "reason" not in frozen


def test_a_sandbox_that_returns_too_few_results_is_an_error_not_a_missing_verdict() -> None:
    rows = [candidate("a0", "a", "def f():\n    return 1\n", 0), candidate("b0", "b", "def f():\n    return 2\n", 0)]

    def run_code(jobs):  # type: ignore[no-untyped-def]
        return [Result(True, "passed", "ok")]  # one result for two programs

    with pytest.raises(RuntimeError, match="the sandbox returned 1 results for 2 programs"):
        verify_candidates(rows, run_code, lambda requests: [], VerificationConfig(), judge_model="scripted:judge")


def test_reference_problem_is_what_the_checker_can_parse():
    from synth_assets.core.verify.math import answers_match, reference_problem

    for good in ("42", "3/4", "0.75", "75%", "\\frac{3}{4}"):
        assert reference_problem(good) is None, good
        assert answers_match("3/4" if good != "42" else "42", good)
    for bad in ("four-ish??", "", "n/a"):
        assert "cannot parse" in reference_problem(bad), bad
        assert not answers_match("4", bad)  # nothing could ever match it
