"""Preference pairs for DPO: for each prompt, a chosen and a rejected answer from its k candidates.

Two kinds, by what decided the preference (`operation` of the pair row):

- `verifier`: code with unit tests and math with a reference answer. The chosen answer passed a real
  check (`verified` true: the tests ran green, the final answer matched); the rejected one failed it
  (a test failure, a crash, a wrong answer, ...). A truncated answer or one only voted on
  (self-consistency) never makes a verifier pair: its failure says nothing about its content.
- `judge`: the rest (answers the judge scored). UltraFeedback-style: the best-scored answer that
  passed its check is chosen; the rejected one is drawn among those scored at least
  `min_score_margin` lower, so a pair is never a coin toss between two near-equal scores.

Then, in `filter_pairs`, the rules the SFT set is held to: a pair's prompt must have survived
`deduplicated_corpus` (its kept answer is in the corpus, so the prompt passed exact, near and
semantic dedup and benchmark decontamination there); the pair's texts (prompt, chosen and rejected)
must be neither empty nor over the row limit (`curation.unfit_for_corpus`) and share no n-gram with
a benchmark item; and the mix's human fraction and generation cap apply
(`core.mixing.plan_mix`). A pair counts as human when its prompt is human-written (a seed); both
answers are always the teacher's, as in UltraFeedback. Every pair dropped is returned as a reject
row with its reason.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from synth_assets.core.curation import unfit_for_corpus
from synth_assets.core.dedup import BenchmarkIndex
from synth_assets.core.mixing import MixConfig, plan_mix
from synth_assets.core.rows import RejectReason, derived_row, reject_row
from synth_assets.core.values import is_missing

__all__ = [
    "PAIR_TEXT_COLUMNS",
    "REAL_CHECKS",
    "VERIFIER_FAILURES",
    "NoPair",
    "PairOutcome",
    "PreferenceConfig",
    "build_pairs",
    "filter_pairs",
]

# The verifiers that are real checks of an answer's content (not a vote, not a judge).
REAL_CHECKS = frozenset({"code_tests", "math_answer"})
# Failures of a real check that make an answer a fair rejected side: the answer was wrong, not cut off.
VERIFIER_FAILURES = frozenset({
    RejectReason.SYNTAX_ERROR, RejectReason.TEST_FAILURE, RejectReason.TIMEOUT, RejectReason.MEMORY,
    RejectReason.FORBIDDEN, RejectReason.CRASH, RejectReason.NO_CODE, RejectReason.NO_ANSWER,
    RejectReason.WRONG_ANSWER,
})
# The texts a trainer reads of a pair: held to the row limit the corpus holds its rows to.
PAIR_TEXT_COLUMNS = ("instruction", "response", "rejected_response")
# What a pair keeps of its chosen answer, beyond what `derived_row` sets.
_FROM_CHOSEN = ("round", "teacher", "template_version", "seed_batch")


class NoPair(StrEnum):
    """Why a prompt with candidates has no pair (counted, not rows: no pair existed to drop)."""

    NONE_PASSED = "none_passed"  # no candidate passed its check: nothing to choose
    NONE_FAILED = "none_failed"  # no candidate failed the real check on its content: nothing to reject
    NO_SCORE_MARGIN = "no_score_margin"  # no scored answer at least the margin below the best
    NO_REAL_CHECK_OR_SCORE = "no_real_check_or_score"  # only voted on (self-consistency) or cut off


@dataclass(frozen=True)
class PreferenceConfig:
    # Judge pairs: the chosen answer's judge score is at least this much above the rejected one's
    # (scores 1-10). 2 keeps a pair out of the judge's noise: one point is often a re-roll.
    min_score_margin: float = 2.0
    seed: int = 0  # which of the eligible rejected answers a prompt gets (a fixed draw per prompt)

    def __post_init__(self) -> None:
        if not 0 < self.min_score_margin <= 9:
            raise ValueError(f"PreferenceConfig.min_score_margin must be in (0, 9], got {self.min_score_margin}")


@dataclass
class PairOutcome:
    kept: list[dict[str, Any]]
    removed: list[dict[str, Any]]  # reject rows: prompt_not_in_corpus, benchmark_contamination, over_quota, ...
    human: int = 0  # kept pairs on a human-written prompt
    synthetic: int = 0


def build_pairs(
    kept: Iterable[Mapping[str, Any]],
    rejected: Iterable[Mapping[str, Any]],
    human_prompts: Collection[str],
    config: PreferenceConfig,
) -> tuple[list[dict[str, Any]], Counter]:
    """One pair per prompt (task) from `verified_solutions`' kept rows and its rows in `rejects`;
    `human_prompts` holds the ids of the tasks whose instruction a person wrote. Returns the pairs
    and, for the prompts without one, how many of each `NoPair` reason."""
    by_task: dict[str, list[tuple[Mapping[str, Any], bool]]] = defaultdict(list)
    for row in kept:
        by_task[row["parent_id"]].append((row, True))
    for row in rejected:
        by_task[row["parent_id"]].append((row, row.get("reason") == RejectReason.SIBLING_SELECTED))
    pairs: list[dict[str, Any]] = []
    no_pair: Counter = Counter()
    for task in sorted(by_task):
        candidates = by_task[task]
        if any(row.get("verifier") in REAL_CHECKS for row, _ in candidates):
            pair, why = _verifier_pair(task, candidates, config)
        elif any(_score(row) is not None for row, _ in candidates):
            pair, why = _judge_pair(task, candidates, config)
        else:
            pair, why = None, NoPair.NO_REAL_CHECK_OR_SCORE
        if pair is None:
            no_pair[why] += 1
        else:
            pairs.append(_pair_row(task, *pair, task in human_prompts, config))
    return pairs, no_pair


def _verifier_pair(task: str, candidates: Sequence[tuple[Mapping[str, Any], bool]], config: PreferenceConfig):
    passing = [row for row, passed in candidates if passed and _true(row.get("verified"))]
    if not passing:
        return None, NoPair.NONE_PASSED
    chosen = _best(passing)
    failing = [row for row, passed in candidates
               if not passed and row.get("verifier") in REAL_CHECKS and row.get("reason") in VERIFIER_FAILURES
               and row.get("response") != chosen.get("response")]
    if not failing:
        return None, NoPair.NONE_FAILED
    return (chosen, _draw(failing, config.seed, task), "verifier"), None


def _judge_pair(task: str, candidates: Sequence[tuple[Mapping[str, Any], bool]], config: PreferenceConfig):
    scored = [(row, passed) for row, passed in candidates if _score(row) is not None]
    passing = [row for row, passed in scored if passed]
    if not passing:
        return None, NoPair.NONE_PASSED
    chosen = _best(passing)
    worse = [row for row, _ in scored
             if _score(row) <= _score(chosen) - config.min_score_margin and row.get("response") != chosen.get("response")]
    if not worse:
        return None, NoPair.NO_SCORE_MARGIN
    return (chosen, _draw(worse, config.seed, task), "judge"), None


def _true(value: Any) -> bool:
    return not is_missing(value) and bool(value)


def _score(row: Mapping[str, Any]) -> float | None:
    value = row.get("judge_score")
    return None if is_missing(value) else float(value)


def _best(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The answer best-of-k kept (not a sibling), then the highest judge score, then the first sample."""
    return min(rows, key=lambda r: (r.get("reason") == RejectReason.SIBLING_SELECTED, -(_score(r) or 0.0),
                                    r.get("sample_index") or 0, r["id"]))


def _draw(rows: Sequence[Mapping[str, Any]], seed: int, task: str) -> Mapping[str, Any]:
    """One of `rows`, the same for the same seed and task whatever order they came in."""
    return min(rows, key=lambda r: hashlib.sha256(f"{seed}\x1f{task}\x1f{r['id']}".encode()).hexdigest())


def _pair_row(
    task: str, chosen: Mapping[str, Any], rejected: Mapping[str, Any], kind: str, human_prompt: bool,
    config: PreferenceConfig,
) -> dict[str, Any]:
    """The pair as a row: its parent is the chosen answer (so `synth trace` walks to the seed), its
    `instruction` the prompt and `response` the chosen answer; both sides keep their ids, verdicts
    and scores, and the teacher and judge that made them."""
    chosen_score, rejected_score = _score(chosen), _score(rejected)
    judge_models = sorted({str(r["judge_model"]) for r in (chosen, rejected) if not is_missing(r.get("judge_model"))})
    return derived_row(
        chosen, "preference_pair", rejected["id"], **{key: chosen.get(key) for key in _FROM_CHOSEN},
        generation=max(int(chosen["generation"]), int(rejected["generation"])),
        technique="preference", operation=kind, instruction=chosen["instruction"], response=chosen["response"],
        prompt_id=task, prompt_origin="human" if human_prompt else "synthetic",
        prompt_technique=chosen.get("technique"), prompt_operation=chosen.get("operation"),
        chosen_id=chosen["id"], chosen_verifier=chosen.get("verifier"), chosen_score=chosen_score,
        chosen_verdict=chosen.get("verdict_detail"),
        rejected_id=rejected["id"], rejected_response=rejected.get("response"), rejected_teacher=rejected.get("teacher"),
        rejected_verifier=rejected.get("verifier"), rejected_reason=rejected.get("reason"),
        rejected_verdict=rejected.get("detail") or rejected.get("verdict_detail"), rejected_score=rejected_score,
        score_margin=None if kind != "judge" else chosen_score - rejected_score,
        min_score_margin=config.min_score_margin if kind == "judge" else None,
        judge_model=" / ".join(judge_models) or None,
    )


def filter_pairs(
    pairs: Sequence[Mapping[str, Any]],
    corpus_prompts: Collection[str],
    mix: MixConfig,
    benchmark: BenchmarkIndex | None = None,
    corpus_removals: Mapping[str, Mapping[str, Any]] | None = None,
    max_text_chars: int | None = None,
) -> PairOutcome:
    """Keep the pairs whose prompt survived the corpus (`corpus_prompts`: the task ids of its rows),
    whose texts are neither empty nor over `max_text_chars` (None: no limit) and share no n-gram
    with a benchmark item (`benchmark`; None: decontamination off), at the mix's human fraction and
    under its generation cap. `corpus_removals` maps a task id to one of its answers' rows in
    `rejects` of `deduplicated_corpus` (reason, related_id), to say why a prompt is not there."""
    removed = unfit_for_corpus(pairs, max_text_chars, PAIR_TEXT_COLUMNS) if max_text_chars is not None else []
    unfit = {row["id"] for row in removed}
    alive = []
    for pair in (p for p in pairs if p["id"] not in unfit):
        if pair["prompt_id"] in corpus_prompts:
            alive.append(pair)
            continue
        why = (corpus_removals or {}).get(pair["prompt_id"])
        detail = ("its answers never reached the corpus" if why is None
                  else f"deduplicated_corpus removed its answer: {why['reason']}"
                  + ("" if is_missing(why.get("related_id")) else f" (related {why['related_id']})"))
        related = None if why is None or is_missing(why.get("related_id")) else why["related_id"]
        removed.append(reject_row(pair, RejectReason.PROMPT_NOT_IN_CORPUS, detail, related_id=related))

    if benchmark is not None and len(benchmark) and alive:
        matches = benchmark.match_many([f"{p['instruction']}\n{p['response'] or ''}\n{p['rejected_response'] or ''}"
                                        for p in alive])
        clean = []
        for pair, match in zip(alive, matches, strict=True):
            if match is None:
                clean.append(pair)
            else:
                removed.append(reject_row(pair, RejectReason.BENCHMARK_CONTAMINATION, f"shares 13-gram {match.ngram!r}",
                                          related_id=match.benchmark_id, score=1.0))
        alive = clean

    # The mix's rule, read on the prompt's origin: a pair is human data when a person wrote its prompt.
    plan = plan_mix([{**pair, "origin": pair["prompt_origin"]} for pair in alive], mix)
    by_id = {pair["id"]: pair for pair in alive}
    for pair_id, reason in plan.dropped.items():
        detail = (f"generation {by_id[pair_id]['generation']} > cap {mix.max_generation}"
                  if reason == RejectReason.ABOVE_GENERATION_CAP else f"target human fraction {mix.human_fraction}")
        removed.append(reject_row(by_id[pair_id], reason, detail))
    return PairOutcome([dict(by_id[pair_id]) for pair_id in plan.selected], removed, plan.human, plan.synthetic)
