"""Making rows: the provenance columns of every row a stage writes, and the reject rows it records.

Every stage builds its rows here, so ids are computed one way and every row carries the same
provenance (README "Provenance"):

- `root_row`: a row read from outside (a seed, a human pair, a document) starts a chain; its id is
  the hash of its kind, its key in the file and its content, and it is its own root.
- `derived_row`: a row made from a parent; its id is the hash of what kind of step made it, the
  parent's id and what the step produced, so a re-run gives the same ids. It inherits the parent's
  root, domain and category, and its generation (`derived_generation`).
- `reject_row` / `reject_fields`: a row a stage did not pass on, with a `RejectReason`, what the
  rule saw, the row kept instead (or the item matched) and the number the decision was measured on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

__all__ = [
    "INPUT_TECHNIQUES",
    "PASSED_BUT_NOT_KEPT",
    "RejectReason",
    "derived_generation",
    "derived_row",
    "reject_fields",
    "reject_row",
    "root_row",
    "row_id",
]

# Rows read from outside (seeds, human pairs, documents) start a new pass of the pipeline.
INPUT_TECHNIQUES = frozenset({"seed", "human", "document"})


class RejectReason(StrEnum):
    """Why a stage did not pass a row on: every reason any stage records in `rejects`, named for the
    failure. The stage that uses each is in the comment above its group."""

    # evolved_instructions: the Evol-Instruct paper's elimination rules (`core.elimination`);
    # verified_solutions: the rubric judge's reply did not validate, even after one retry
    NO_INFORMATION_GAIN = "no_information_gain"
    JUDGE_UNPARSEABLE = "judge_unparseable"
    SORRY_SHORT_RESPONSE = "sorry_short_response"
    STOPWORDS_ONLY_RESPONSE = "stopwords_only_response"
    COPIED_PROMPT_WORDS = "copied_prompt_words"
    # self_instruct_tasks: the Self-Instruct filters (`core.self_instruct`)
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    STARTS_WITH_PUNCTUATION = "starts_with_punctuation"
    STARTS_NON_ASCII = "starts_non_ascii"
    STARTS_WRITE_A_PROGRAM = "starts_write_a_program"
    BANNED_KEYWORD = "banned_keyword"
    NOT_NOVEL = "not_novel"
    # backtranslated_pairs: self-curation (`core.backtranslation`)
    SCORE_BELOW_THRESHOLD = "score_below_threshold"
    SCORE_UNPARSEABLE = "score_unparseable"
    EMPTY_INSTRUCTION = "empty_instruction"  # the teacher's reply held no instruction
    # augmented_instructions: the augmentation operators' rules (`core.augment`); also empty_instruction, not_novel
    WORDING_UNCHANGED = "wording_unchanged"  # a rewording whose ROUGE-L with the original is at or above max_rouge_l
    MEANING_NOT_PRESERVED = "meaning_not_preserved"  # a rewording whose embedding cosine is below min_similarity
    ENTRY_POINT_MISSING = "entry_point_missing"  # a reworded code task no longer names the function its tests call
    OFF_TOPIC = "off_topic"  # a seed expansion whose cosine with its seed is below expansion_min_similarity
    # document_qa_pairs: questions from documents (`core.document_qa`); also empty_instruction
    NO_QUESTIONS = "no_questions"  # the teacher's reply held no question and answer
    UNGROUNDED_ANSWER = "ungrounded_answer"  # the answer's n-gram overlap with its segment is below min_grounding
    MALFORMED_CHOICES = "malformed_choices"  # a multiple-choice item without a question, 4 options and an answer
    ANSWER_NOT_AN_OPTION = "answer_not_an_option"  # no option matches the answer
    AMBIGUOUS_ANSWER = "ambiguous_answer"  # more than one option matches the answer
    DUPLICATE_DISTRACTORS = "duplicate_distractors"  # two wrong options say the same thing
    # verified_solutions, code: the sandbox's outcomes (`resources.sandbox.Outcome` uses the same names)
    SYNTAX_ERROR = "syntax_error"
    TEST_FAILURE = "test_failure"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    FORBIDDEN = "forbidden"
    CRASH = "crash"
    NO_CODE = "no_code"
    # verified_solutions, math
    NO_ANSWER = "no_answer"
    WRONG_ANSWER = "wrong_answer"
    DISAGREES_WITH_MAJORITY = "disagrees_with_majority"
    # verified_solutions, judge and any domain
    LOW_JUDGE_SCORE = "low_judge_score"
    TRUNCATED = "truncated"
    SIBLING_SELECTED = "sibling_selected"  # passed, but best-of-k kept a sibling instead
    BELOW_TOP_FRACTION = "below_top_fraction"  # passed, but not among its (domain, category)'s best keep_top_fraction
    # deduplicated_corpus (`core.curation`): rows the corpus_schema gate would refuse, before dedup
    EMPTY_TEXT = "empty_text"  # an instruction or response that is missing or only whitespace
    TEXT_TOO_LONG = "text_too_long"  # an instruction or response over max_text_chars
    # deduplicated_corpus (`core.curation`): dedup and decontamination
    EXACT_DUPLICATE = "exact_duplicate"  # same normalised text as the kept row
    NEAR_DUPLICATE = "near_duplicate"  # MinHash Jaccard >= threshold (clustered)
    SEMANTIC_DUPLICATE = "semantic_duplicate"  # embedding cosine >= threshold (clustered)
    BENCHMARK_CONTAMINATION = "benchmark_contamination"  # shares a 13-gram with a benchmark item
    # mixed_training_set (`core.mixing`)
    OVER_QUOTA = "over_quota"
    ABOVE_GENERATION_CAP = "above_generation_cap"
    # preference_pairs (`core.preferences`): a pair whose prompt's answers did not survive deduplicated_corpus
    PROMPT_NOT_IN_CORPUS = "prompt_not_in_corpus"
    # reviewed_training_set (`core.review`), and verified_solutions for a judged row a person rejected
    HUMAN_REJECTED = "human_rejected"


# verified_solutions: candidates that passed their check but were not kept (a pass rate counts them).
PASSED_BUT_NOT_KEPT = frozenset({RejectReason.SIBLING_SELECTED, RejectReason.BELOW_TOP_FRACTION})


def row_id(kind: str, parent: str | None, *content: str | None) -> str:
    """A stable id: the hash of what kind of row it is, its parent and its content."""
    material = "\x1f".join([kind, parent or "", *[c or "" for c in content]])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:20]


def derived_generation(parent: Mapping[str, Any]) -> int:
    """The generation of a row a teacher makes from `parent` in this pass of the pipeline.

    Everything made from input of generation g in one pass is g + 1, however many evolution rounds
    it went through (those are counted in `round`): the collapse guard is about recycling data
    through training sets, not about rewriting steps within one pass.
    """
    generation = int(parent["generation"])
    return generation + 1 if parent["technique"] in INPUT_TECHNIQUES else generation


def root_row(
    technique: str,
    key: str,
    instruction: str,
    response: str | None,
    *,
    origin: str = "human",
    generation: int = 0,
    **columns: Any,
) -> dict[str, Any]:
    """A row read from outside: its own root, `operation` and `technique` alike, round 0. `key` is
    its id in the input file; `columns` adds the rest (domain, category, source_file, ...)."""
    rid = row_id(technique, key, instruction, response)
    return {
        "id": rid,
        "parent_id": None,
        "root_id": rid,
        "origin": origin,
        "generation": generation,
        "technique": technique,
        "operation": technique,
        "round": 0,
        "instruction": instruction,
        "response": response,
        "source_key": key,
        **columns,
    }


def derived_row(
    parent: Mapping[str, Any], kind: str, *content: str | None, inherit: Iterable[str] = (), **changed: Any
) -> dict[str, Any]:
    """A row a step made from `parent`: the columns named in `inherit` copied from the parent; then
    the id (`row_id(kind, parent id, *content)`), the parent and its root, origin `synthetic`, the
    derived generation, the parent's domain and category; then `changed`, which wins over both."""
    row = {column: parent.get(column) for column in inherit}
    row.update(id=row_id(kind, parent["id"], *content), parent_id=parent["id"], root_id=parent["root_id"],
               origin="synthetic")
    if "generation" not in changed:  # a step that sets its own generation need not know the parent's technique
        row["generation"] = derived_generation(parent)
    row.update(domain=parent["domain"], category=parent["category"])
    row.update(changed)
    return row


def reject_fields(
    reason: RejectReason | str, detail: str = "", *, related_id: str | None = None, score: float | None = None
) -> dict[str, Any]:
    """The columns `rejects` adds to a row. A reason that is not a `RejectReason` is an error."""
    try:
        reason = RejectReason(reason)
    except ValueError:
        raise ValueError(
            f"reject reason {reason!r} is not a RejectReason; add it to synth_assets/core/rows.py"
        ) from None
    return {"reason": str(reason), "detail": detail, "related_id": related_id, "score": score}


def reject_row(
    row: Mapping[str, Any],
    reason: RejectReason | str,
    detail: str = "",
    *,
    related_id: str | None = None,
    score: float | None = None,
) -> dict[str, Any]:
    """`row` as a row of `rejects`: a copy with the reason, what the rule saw (`detail`), the row
    kept instead or the item matched (`related_id`) and what the decision was measured on (`score`)."""
    return {**row, **reject_fields(reason, detail, related_id=related_id, score=score)}
