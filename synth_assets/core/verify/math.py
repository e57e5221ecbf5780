"""Checking a math answer against the reference.

The final answer is taken from, in order: the last `\\boxed{...}`, the last "Answer:" line, the last
number. Comparison is symbolic through math-verify (Hugging Face's checker, built on sympy), so
`3/4`, `0.75`, `\\frac{3}{4}` and `75%` agree.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from synth_assets.core.rows import RejectReason

__all__ = [
    "MathVerdict",
    "answers_match",
    "check_answer",
    "extract_final_answer",
    "majority_answer",
    "reference_problem",
]

_ANSWER_LINE = re.compile(r"answer\s*(?:is)?\s*[:=]\s*(.+)", re.I)
_MAX_ANSWER_CHARS = 200  # bound the symbolic work on hostile text
_PARSE_SECONDS = 5
# math-verify times out through SIGALRM, which only the main thread may use; elsewhere it runs
# without a timeout (and says so at WARNING level for every call, hence the quieter logger).
logging.getLogger("math_verify").setLevel(logging.ERROR)
# Few enough digits that math-verify's numeric comparison (15 significant digits) is exact.
_PLAIN_INTEGER = re.compile(r"-?[0-9]{1,12}")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?%?")


@dataclass(frozen=True)
class MathVerdict:
    passed: bool
    extracted: str | None
    reason: RejectReason | None


def extract_final_answer(text: str) -> str | None:
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    lines = _ANSWER_LINE.findall(text)
    if lines:
        return lines[-1].strip().rstrip(".").strip("$ ")
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _last_boxed(text: str) -> str | None:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 1, start + len("\\boxed{")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def answers_match(candidate: str, reference: str) -> bool:
    seconds = _PARSE_SECONDS if threading.current_thread() is threading.main_thread() else None
    return _match(candidate[:_MAX_ANSWER_CHARS], reference[:_MAX_ANSWER_CHARS], seconds)


# Memos: a symbolic parse costs about a millisecond, and the same strings recur all the time (the k
# samples of a task share its reference, and mostly its answer; evolved tasks share their seed's).
# Parsed values are immutable sympy objects, so sharing them between comparisons is safe.
@lru_cache(maxsize=1 << 18)
def _match(candidate: str, reference: str, seconds: int | None) -> bool:
    if _PLAIN_INTEGER.fullmatch(candidate) and _PLAIN_INTEGER.fullmatch(reference):
        # What math-verify concludes for two plain integers of this size (exact, equal values
        # agree: "007" and "7"), without a sympy parse.
        return int(candidate) == int(reference)
    # math-verify (with sympy and its LaTeX parser) is imported where it is used: 0.6 s that every
    # process importing the graph would otherwise pay, most of them never parsing an answer.
    from math_verify import verify

    gold = _parsed(reference, seconds)
    guess = _parsed(candidate, seconds)
    return bool(gold and guess and verify(list(gold), list(guess), timeout_seconds=seconds))


@lru_cache(maxsize=1 << 16)
def _parsed(text: str, seconds: int | None) -> tuple:
    from math_verify import parse

    return tuple(parse(text, parsing_timeout=seconds))


def reference_problem(reference: str) -> str | None:
    """Why `answers_match` could never accept an answer against `reference`, or None when it can:
    the one definition of "an answer the math checker can parse", which ingest applies to seeds."""
    if len(reference) > _MAX_ANSWER_CHARS:
        return f"{len(reference)} characters; the math checker reads the first {_MAX_ANSWER_CHARS}"
    seconds = _PARSE_SECONDS if threading.current_thread() is threading.main_thread() else None
    if _PLAIN_INTEGER.fullmatch(reference) or _parsed(reference, seconds):
        return None
    return (f"the math checker cannot parse {reference!r}: write a number (42, 0.25, -3), a fraction (3/4), "
            "a percentage (12%) or LaTeX (\\frac{3}{4})")


def check_answer(text: str, reference: str) -> MathVerdict:
    extracted = extract_final_answer(text)
    if extracted is None:
        return MathVerdict(False, None, RejectReason.NO_ANSWER)
    if answers_match(extracted, reference):
        return MathVerdict(True, extracted, None)
    return MathVerdict(False, extracted, RejectReason.WRONG_ANSWER)


def majority_answer(texts: Sequence[str]) -> str | None:
    """Self-consistency for tasks with no reference: the answer most samples agree on, if a
    strict majority does; None otherwise."""
    answers = [a for a in map(extract_final_answer, texts) if a is not None]
    if not answers:
        return None
    clusters: list[tuple[str, int]] = []
    for answer in answers:
        for index, (representative, count) in enumerate(clusters):
            if answers_match(answer, representative):
                clusters[index] = (representative, count + 1)
                break
        else:
            clusters.append((answer, 1))
    representative, count = max(clusters, key=lambda rc: rc[1])
    return representative if count * 2 > len(texts) else None
