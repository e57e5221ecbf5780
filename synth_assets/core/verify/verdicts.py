"""The reason codes of verification, one `StrEnum`, named for the failure."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["FailureClass"]


class FailureClass(StrEnum):
    # code, from the sandbox
    SYNTAX_ERROR = "syntax_error"
    TEST_FAILURE = "test_failure"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    FORBIDDEN = "forbidden"
    CRASH = "crash"
    NO_CODE = "no_code"
    # math
    NO_ANSWER = "no_answer"
    WRONG_ANSWER = "wrong_answer"
    DISAGREES_WITH_MAJORITY = "disagrees_with_majority"
    # judge and generic
    LOW_JUDGE_SCORE = "low_judge_score"
    UNPARSEABLE_JUDGE_SCORE = "unparseable_judge_score"
    TRUNCATED = "truncated"
    # passed, but a sibling was kept instead under the best-of-k policy
    SIBLING_SELECTED = "sibling_selected"
