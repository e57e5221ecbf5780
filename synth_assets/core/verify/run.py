"""Verify every candidate with the strongest check its task allows, then keep the best per task.

- code with unit tests: run in the sandbox (`run_code`), pass only on a positive signal;
- math with a reference answer: symbolic comparison; without one: self-consistency (the answer a
  strict majority of the k samples agree on);
- everything else: the judge (its own teacher role) scores five aspects 1 to 5 as JSON
  (`core.verify.judge`); the mean, on a 1-10 scale, must reach a threshold: the default, or its
  domain's threshold calibrated on review decisions (`core.judge_calibration`); a row a person
  reviewed keeps their decision. A reply that does not validate after one retry is
  `judge_unparseable`, with the raw text.
A truncated answer (finish_reason "length") fails before any check. Every judged row records the
judge's model (`judge_model`), its aspect scores (`judge_aspects`) and the threshold that decided it.
Of the rows kept, best of k per task, each (domain, category) then keeps its best
`keep_top_fraction` (`core.verify.top_fraction`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from synth_assets.core.judge_calibration import JudgeThresholds, ThresholdDecision
from synth_assets.core.requests import Generate
from synth_assets.core.rows import RejectReason, reject_fields
from synth_assets.core.solutions import SelectionConfig, pass_at_k, select_kept
from synth_assets.core.verify.code import extract_code
from synth_assets.core.verify.judge import JudgeError, Judgment, judge_request, parse_judgment, retry_request
from synth_assets.core.verify.math import answers_match, check_answer, extract_final_answer, majority_answer
from synth_assets.core.verify.top_fraction import keep_top_fraction

__all__ = ["CodeResult", "VerificationConfig", "VerificationOutcome", "verify_candidates"]


class CodeResult(Protocol):
    """What the sandbox returns for one (code, tests) job."""

    @property
    def passed(self) -> bool: ...
    @property
    def outcome(self) -> str: ...
    @property
    def message(self) -> str: ...


RunCode = Callable[[Sequence[tuple[str, str]]], Sequence[CodeResult]]


@dataclass(frozen=True)
class VerificationConfig:
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    # On judge_score's 1-10 scale (the mean of the aspects, rescaled): the default; a domain
    # calibrated on review decisions uses its own.
    judge_threshold: float = 6.0
    judge_max_tokens: int = 512  # room for the judge's JSON reply (a rationale and five scores)
    # Of the rows kept, the share of each (domain, category) of a seed batch to keep, best first
    # (`core.verify.top_fraction`); 1.0 keeps every row that passed.
    keep_top_fraction: float = 1.0
    # Apply the judge thresholds the last `judge_calibration` fitted on review decisions, and the
    # reviewers' own decisions to the rows they reviewed; false: the default threshold for every row.
    use_calibration: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.judge_threshold <= 10:
            raise ValueError(f"VerificationConfig.judge_threshold must be in [1, 10], got {self.judge_threshold}")
        if not 0 < self.keep_top_fraction <= 1:
            raise ValueError(f"VerificationConfig.keep_top_fraction must be in (0, 1], got {self.keep_top_fraction}")
        if self.judge_max_tokens < 1:
            raise ValueError(f"VerificationConfig.judge_max_tokens must be >= 1, got {self.judge_max_tokens}")


@dataclass
class VerificationOutcome:
    kept: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # with reason, detail, related_id, score
    verdicts: Counter = field(default_factory=Counter)  # (verifier, passed/reason) counts


@dataclass(slots=True)
class _Checked:
    """What the verifier of one candidate found; `reason` is None when it passed."""

    verifier: str
    passed: bool
    verified: bool | None  # True/False for a real check; None when only judged or voted
    reason: RejectReason | None = None
    detail: str = ""
    judgment: Judgment | None = None
    judge_threshold: float | None = None  # the threshold that decided a judged row (None: a person did)
    judge_threshold_source: str | None = None  # default | calibrated from N decisions | human review

    @property
    def judge_score(self) -> float | None:
        return None if self.judgment is None else self.judgment.overall


def verify_candidates(
    candidates: Sequence[Mapping[str, Any]],
    run_code: RunCode,
    judge: Generate,
    config: VerificationConfig,
    thresholds: JudgeThresholds | None = None,
    *,
    judge_model: str,
) -> VerificationOutcome:
    """Every candidate gets a verdict and lands in `kept` or `rejected`, with the verdict columns
    (and the task stats, or the reject reason) added. `judge` answers the judge's requests;
    `judge_model` (its `backend:model`) is recorded on every row it judged. Judged rows meet
    `thresholds` (the config's `judge_threshold` for every row when None). Candidates that are dicts are extended in
    place and become the outcome's rows (a stage holds millions of them; a copy doubled its
    memory): pass copies to keep the originals untouched. Other mappings are copied."""
    verdicts: dict[str, _Checked] = {}
    code_jobs: list[tuple[str, str, str]] = []  # (candidate id, code, tests)
    judged: list[Mapping[str, Any]] = []
    by_task: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in candidates:
        by_task[row["parent_id"]].append(row)

    for row in candidates:
        if row.get("finish_reason") == "length":
            verdicts[row["id"]] = _Checked(_verifier_for(row), False, False, RejectReason.TRUNCATED, "answer hit max_tokens")
        elif row["domain"] == "code" and row.get("tests"):
            code = extract_code(row["response"] or "")
            if code is None:
                verdicts[row["id"]] = _Checked("code_tests", False, False, RejectReason.NO_CODE, "no code block in the answer")
            else:
                code_jobs.append((row["id"], code, row["tests"]))
        elif row["domain"] == "math" and row.get("reference_answer"):
            result = check_answer(row["response"] or "", str(row["reference_answer"]))
            detail = f"extracted {result.extracted!r}, reference {row['reference_answer']!r}"
            verdicts[row["id"]] = _Checked("math_answer", result.passed, result.passed, result.reason, detail)
        elif row["domain"] == "math":
            pass  # voted per task below
        else:
            judged.append(row)

    if code_jobs:
        # The k samples of a task, and the tasks evolved from one seed, often hold the same program
        # against the same tests: each distinct (code, tests) pair runs once and every candidate
        # that holds it gets the verdict (still one row and one verdict per candidate).
        distinct: dict[tuple[str, str], int] = {}
        for _, code, tests in code_jobs:
            distinct.setdefault((code, tests), len(distinct))
        results = list(run_code(list(distinct)))
        if len(results) != len(distinct):
            raise RuntimeError(
                f"the sandbox returned {len(results)} results for {len(distinct)} programs; every program needs "
                "its own verdict, so no candidate of this batch is verified"
            )
        for cid, code, tests in code_jobs:
            result = results[distinct[(code, tests)]]
            reason = None if result.passed else RejectReason(str(result.outcome))
            verdicts[cid] = _Checked("code_tests", result.passed, result.passed, reason, result.message)

    for task_rows in by_task.values():
        voters = [r for r in task_rows if r["id"] not in verdicts and r["domain"] == "math"]
        if voters:
            _vote(voters, verdicts)

    if judged:
        _judge(judged, judge, config, thresholds or JudgeThresholds(config.judge_threshold), verdicts)

    outcome = _select(by_task, verdicts, config.selection, judge_model)
    outcome.kept, below = keep_top_fraction(outcome.kept, config.keep_top_fraction)
    outcome.rejected += below
    return outcome


def _verifier_for(row: Mapping[str, Any]) -> str:
    if row["domain"] == "code" and row.get("tests"):
        return "code_tests"
    if row["domain"] == "math":
        return "math_answer" if row.get("reference_answer") else "self_consistency"
    return "judge"


def _vote(rows: Sequence[Mapping[str, Any]], verdicts: dict[str, _Checked]) -> None:
    majority = majority_answer([r["response"] or "" for r in rows])
    for row in rows:
        answer = extract_final_answer(row["response"] or "")
        if answer is None:
            verdicts[row["id"]] = _Checked("self_consistency", False, None, RejectReason.NO_ANSWER, "no final answer")
        elif majority is not None and answers_match(answer, majority):
            verdicts[row["id"]] = _Checked("self_consistency", True, None, None, f"agrees with majority answer {majority!r}")
        else:
            verdicts[row["id"]] = _Checked(
                "self_consistency", False, None, RejectReason.DISAGREES_WITH_MAJORITY,
                f"answer {answer!r}, majority {majority!r}",
            )


def _judge(
    rows: Sequence[Mapping[str, Any]], generate: Generate, config: VerificationConfig, thresholds: JudgeThresholds,
    verdicts: dict[str, _Checked],
) -> None:
    requests = [judge_request(r["instruction"], r["response"] or "", config.judge_max_tokens) for r in rows]
    replies = [answers[0].text for answers in generate(requests)]
    judgments: list[Judgment | JudgeError] = [_parsed(text) for text in replies]
    # One retry for each reply that did not validate, all in one call: the failed reply and what
    # was wrong with it go back to the judge (a backend that cannot constrain its output, or a
    # server that ignored the schema, gets a second chance; a third would rarely help).
    failed = [i for i, j in enumerate(judgments) if isinstance(j, JudgeError)]
    retries = generate([retry_request(requests[i], replies[i], str(judgments[i])) for i in failed]) if failed else []
    first_replies = dict.fromkeys(failed, "")
    for i, answers in zip(failed, retries, strict=True):
        first_replies[i] = replies[i]
        replies[i] = answers[0].text
        judgments[i] = _parsed(replies[i])
    for i, (row, judgment) in enumerate(zip(rows, judgments, strict=True)):
        if isinstance(judgment, JudgeError):
            detail = (f"not a valid judgment after one retry: {judgment}; raw reply: {replies[i]!r}; "
                      f"first reply: {first_replies[i]!r}")
            verdicts[row["id"]] = _Checked("judge", False, None, RejectReason.JUDGE_UNPARSEABLE, detail)
            continue
        verdicts[row["id"]] = _judged(judgment, thresholds.decide(row["id"], row["domain"], judgment.overall))


def _judged(judgment: Judgment, decided: ThresholdDecision) -> _Checked:
    """The verdict on a judged row from what decided it: a threshold (default or calibrated) or a person."""
    score, aspects = judgment.overall, judgment.aspects_json()
    if decided.threshold is None:
        reason = None if decided.keep else RejectReason.HUMAN_REJECTED
        detail = f"score {score:g} {aspects}; {'accepted' if decided.keep else 'rejected'} in human review"
    else:
        reason = None if decided.keep else RejectReason.LOW_JUDGE_SCORE
        detail = f"score {score:g} {'>=' if decided.keep else '<'} {decided.threshold:g} ({decided.source}) {aspects}"
    return _Checked("judge", decided.keep, None, reason, detail, judgment, decided.threshold, decided.source)


def _parsed(text: str) -> Judgment | JudgeError:
    try:
        return parse_judgment(text)
    except JudgeError as exc:
        return exc


def _select(
    by_task: Mapping[str, Sequence[Mapping[str, Any]]],
    verdicts: Mapping[str, _Checked],
    selection: SelectionConfig,
    judge_model: str,
) -> VerificationOutcome:
    outcome = VerificationOutcome()
    for task_rows in by_task.values():
        n = len(task_rows)
        annotated = [_annotate(r, verdicts[r["id"]], judge_model) for r in task_rows]
        passed = [r for r in annotated if verdicts[r["id"]].passed]
        task_stats = {
            "task_candidates": n,
            "task_passed": len(passed),
            "task_pass_rate": len(passed) / n,
            "task_pass_at_k": pass_at_k(n, len(passed), min(selection.pass_at_k, n)),
        }
        kept, _ = select_kept(passed, selection.policy)
        kept_ids = {r["id"] for r in kept}
        for row in annotated:
            verdict = verdicts[row["id"]]
            outcome.verdicts[(verdict.verifier, "passed" if verdict.passed else str(verdict.reason))] += 1
            # `row` is the annotated candidate (from `_annotate`): extended in place, not copied again.
            if row["id"] in kept_ids:
                row.update(task_stats)
                outcome.kept.append(row)
            elif verdict.passed:
                row.update(reject_fields(RejectReason.SIBLING_SELECTED, "passed; best-of-k kept a sibling",
                                         related_id=kept[0]["id"], score=verdict.judge_score))
                outcome.rejected.append(row)
            else:
                row.update(reject_fields(verdict.reason, verdict.detail, score=verdict.judge_score))
                outcome.rejected.append(row)
    return outcome


def _annotate(row: Mapping[str, Any], verdict: _Checked, judge_model: str) -> dict[str, Any]:
    # A dict candidate is extended in place (see `verify_candidates`): a copy per candidate was a
    # second copy of the whole stage in memory.
    out = row if isinstance(row, dict) else dict(row)
    judged = verdict.verifier == "judge" and verdict.reason is not RejectReason.TRUNCATED
    out.update(verified=verdict.verified, verifier=verdict.verifier, verdict_detail=verdict.detail,
               judge_score=verdict.judge_score,
               judge_aspects=None if verdict.judgment is None else verdict.judgment.aspects_json(),
               judge_model=judge_model if judged else None, judge_threshold=verdict.judge_threshold,
               judge_threshold_source=verdict.judge_threshold_source)
    return out
