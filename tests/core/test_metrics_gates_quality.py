"""Quality gates: for each, a table that passes and one that fails, with the figure reported."""

import math

import pandas as pd
import pytest

from synth_assets.core.metrics import DEFAULT_THRESHOLDS
from synth_assets.core.metrics.gates import (
    check_judge_scores,
    check_pass_rate_per_domain,
    check_refusal_rate,
)


def _responses(responses):
    return pd.DataFrame(
        {"id": [f"r{i}" for i in range(len(responses))], "domain": "general", "response": responses}
    )


# --- refusal rate ---


def test_refusal_rate_passes_at_the_maximum():
    frame = _responses(["I can't help with that."] + ["Here is the answer."] * 49)  # 1 of 50 = 0.02
    result = check_refusal_rate(frame)
    assert result.passed
    assert result.value == 0.02 and result.threshold == 0.02
    assert result.detail == "1 of 50 responses refuse: the rate 0.020 is within the maximum 0.020"
    assert result.source == DEFAULT_THRESHOLDS["refusal_max_rate"].source


def test_refusal_rate_fails_and_names_the_refusing_rows():
    frame = _responses(
        ["As an AI language model, I can't.", "Fine.", "I'm sorry, but I cannot do that.", "Ok."]
    )
    result = check_refusal_rate(frame, max_rate=0.1)
    assert not result.passed
    assert result.value == 0.5
    assert result.offenders["id"].tolist() == ["r0", "r2"]
    assert result.offenders["pattern"].tolist() == ["as_an_ai", "sorry_cannot"]
    assert result.extra == {"refusals": 2.0, "rows": 4.0}
    assert result.source.startswith("configured (default 0.02")
    # the message: the figure, the threshold, where the refusals are, one of them, and what to do
    assert result.detail.startswith("2 of 4 responses refuse: the rate 0.500 exceeds the maximum 0.100 "
                                    "(by domain: general 2), e.g. r0 'As an AI language model, I can't.' "
                                    "(pattern as_an_ai).")
    assert "use another teacher or prompt, or drop the tasks it refuses" in result.detail


def test_refusal_rate_caps_the_offenders():
    result = check_refusal_rate(_responses(["I cannot help with that."] * 30), max_offenders=5)
    assert result.value == 1.0 and len(result.offenders) == 5


def test_refusal_rate_on_no_rows_passes_with_a_note():
    result = check_refusal_rate(_responses([]))
    assert result.passed and math.isnan(result.value) and result.detail == "no responses to measure"


def test_refusal_rate_rejects_a_rate_outside_zero_one():
    with pytest.raises(ValueError, match="max_rate must be"):
        check_refusal_rate(_responses(["x"]), max_rate=1.5)


# --- judge scores ---


def _judged(scores):
    return pd.DataFrame(
        {
            "id": [f"j{i}" for i in range(len(scores))],
            "domain": "general",
            "instruction": [f"task {i}" for i in range(len(scores))],
            "judge_score": scores,
        }
    )


def test_judge_scores_pass_and_ignore_unjudged_rows():
    result = check_judge_scores(_judged([8.0, 7.0, 9.0, None, 6.0]))
    assert result.passed
    assert result.value == 7.5  # median of 6, 7, 8, 9
    assert result.extra["judged"] == 4.0 and result.extra["low_fraction"] == 0.0
    assert result.offenders.empty


def test_judge_scores_fail_on_a_low_median_and_list_the_lowest_rows():
    result = check_judge_scores(_judged([2.0, 5.0, 9.0, 3.0, 5.5]))
    assert not result.passed
    assert result.value == 5.0
    assert result.extra["low_fraction"] == 0.4  # 2 and 3 are below 4
    assert result.offenders["id"].tolist() == [
        "j0",
        "j3",
        "j1",
        "j4",
    ]  # below the median floor 6, lowest first
    assert result.detail.startswith("median judge score 5.00 against a minimum of 6")
    assert "median by domain, lowest first: general 5" in result.detail
    assert "a higher judge_threshold on verified_solutions" in result.detail


def test_judge_scores_fail_on_too_many_low_scores_despite_a_good_median():
    result = check_judge_scores(_judged([9.0, 9.0, 9.0, 1.0, 9.0]), max_low_fraction=0.1)
    assert not result.passed
    assert result.value == 9.0 and result.extra["low_fraction"] == 0.2
    assert result.offenders["id"].tolist() == ["j3"]


def test_judge_scores_without_judged_rows_pass_with_a_note():
    result = check_judge_scores(_judged([None, None]))
    assert result.passed and result.detail == "no judged rows to measure"


# --- pass rate per domain ---


def _candidates(rows):
    return pd.DataFrame(rows, columns=["domain", "passed"])


def test_pass_rate_per_domain_passes_when_every_domain_is_above_the_floor():
    frame = _candidates([("code", True), ("code", False), ("math", True), ("math", True), ("math", False)])
    result = check_pass_rate_per_domain(frame, floor=0.5)
    assert result.passed
    assert result.value == 0.5  # code: 1 of 2
    assert result.extra == {"pass_rate_code": 0.5, "pass_rate_math": 2 / 3}
    assert result.offenders.empty


def test_pass_rate_per_domain_fails_and_lists_the_domains_below_the_floor():
    frame = _candidates(
        [("code", False), ("code", False), ("code", True), ("code", None), ("math", True), ("general", False)]
    )
    result = check_pass_rate_per_domain(frame)  # floor 0.25
    assert not result.passed
    assert result.value == 0.0
    assert result.offenders.to_dict("records") == [
        {"domain": "general", "candidates": 1, "passed": 0, "pass_rate": 0.0},
    ]
    assert result.extra["pass_rate_code"] == 0.25  # a missing verdict counts as not passed
    assert "1 domain(s) below the floor 0.25: 'general' 0 of 1 (0.000)." in result.detail
    assert "the teacher's prompt or the verifier is usually broken" in result.detail
