"""The row schema every instruction table shares, and the extra columns of each stage.

Provenance columns (see docs in README "Provenance"):
- `id`: a hash of the row's content and its parent, so a re-run gives the same ids;
- `parent_id`, `root_id`: the row it was derived from, and the seed/document/human row at the root;
- `origin` (`human` | `synthetic`) and `generation`: 0 for human data, 1 for what a teacher makes
  from it in one pass of this pipeline; rows recycled from an earlier synthetic set keep their
  generation and what is made from them is one higher (the collapse guard caps it);
- `technique`, `operation`, `round`: how it was made (`seed`, `evol_instruct/add_constraints`, ...);
- `teacher`, `template_version`: `backend:model` and the hash of the prompt template used;
- `seed_batch`: the seed file (a partition of the graph) the row descends from;
- `attributes`: the attribute combination (persona, audience, ...) the prompt that made the row was
  conditioned on, as JSON (`core.attributes`); NULL when no attribute file was in use.

Rows with these columns are made in `synth_assets.core.rows`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = [
    "DOMAINS",
    "MAX_TEXT_CHARS",
    "ORIGINS",
    "PREFERENCE_COLUMNS",
    "QUARANTINE_COLUMNS",
    "REJECT_COLUMNS",
    "SAMPLE_COLUMNS",
    "TABLE_COLUMNS",
    "empty_frame",
]

DOMAINS = ("code", "math", "general")
ORIGINS = ("human", "synthetic")
# The longest text a row may hold in any of its text fields (instruction, response, tests, ...):
# ingest quarantines longer input, the corpus rejects longer teacher output, and `corpus_schema`
# holds the corpus to it. Configured once, the `source_files` resource's `max_text_chars`
# (SYNTH_MAX_TEXT_CHARS); this is its default, and why it has this value is the `text_max_len`
# threshold's source (`core.metrics.thresholds`).
MAX_TEXT_CHARS = 20_000

# column -> DuckDB type, in table order
SAMPLE_COLUMNS: dict[str, str] = {
    "id": "VARCHAR",
    "parent_id": "VARCHAR",
    "root_id": "VARCHAR",
    "origin": "VARCHAR",
    "generation": "INTEGER",
    "technique": "VARCHAR",
    "operation": "VARCHAR",
    "round": "INTEGER",
    "teacher": "VARCHAR",
    "template_version": "VARCHAR",
    "domain": "VARCHAR",
    "category": "VARCHAR",
    "instruction": "VARCHAR",
    "response": "VARCHAR",
    # What a verifier needs; inherited along evolutions that keep the task's contract.
    "entry_point": "VARCHAR",
    "tests": "VARCHAR",
    "reference_answer": "VARCHAR",
    # Where a row read from a file came from.
    "source_file": "VARCHAR",
    "source_line": "INTEGER",
    "source_key": "VARCHAR",
    # The seed file (its partition of the graph) a row descends from; NULL for human rows and documents.
    "seed_batch": "VARCHAR",
    # The attribute combination its prompt was conditioned on (JSON object), inherited by its answers.
    "attributes": "VARCHAR",
}

CANDIDATE_COLUMNS = {
    **SAMPLE_COLUMNS,
    "sample_index": "INTEGER",
    "finish_reason": "VARCHAR",
    "completion_tokens": "INTEGER",
}

VERIFIED_COLUMNS = {
    **CANDIDATE_COLUMNS,
    "verified": "BOOLEAN",  # passed a real check (tests, answer match); NULL when only judged or voted
    "verifier": "VARCHAR",  # code_tests | math_answer | self_consistency | judge | self_curation
    "verdict_detail": "VARCHAR",
    "judge_score": "DOUBLE",  # 1-10: the mean of the judge's aspects, rescaled (`core.verify.judge`)
    "judge_aspects": "VARCHAR",  # JSON object aspect -> score (1-5); NULL when not judged
    "judge_model": "VARCHAR",  # backend:model of the judge that scored the row; NULL when not judged
    # What decided a judged row: the threshold, and `default`, `calibrated from N decisions` or
    # `human review` (`core.judge_calibration`); NULL for rows a real check or a vote decided.
    "judge_threshold": "DOUBLE",
    "judge_threshold_source": "VARCHAR",
    "task_candidates": "INTEGER",
    "task_passed": "INTEGER",
    "task_pass_rate": "DOUBLE",
    "task_pass_at_k": "DOUBLE",
}

CORPUS_COLUMNS = {
    **SAMPLE_COLUMNS,
    "verified": "BOOLEAN",
    "verifier": "VARCHAR",
    "verdict_detail": "VARCHAR",
    "judge_score": "DOUBLE",  # 1-10: the mean of the judge's aspects, rescaled (`core.verify.judge`)
    "judge_aspects": "VARCHAR",  # JSON object aspect -> score (1-5); NULL when not judged
    "judge_model": "VARCHAR",  # backend:model of the judge that scored the row; NULL when not judged
    "judge_threshold": "DOUBLE",
    "judge_threshold_source": "VARCHAR",
}

# A preference pair (`core.preferences`): `instruction` is the prompt, `response` the chosen answer
# (the pair's parent); the rejected answer and both sides' verdicts, scores and makers beside them.
PREFERENCE_COLUMNS = {
    **SAMPLE_COLUMNS,
    "prompt_id": "VARCHAR",  # the task (seed, evolution, Self-Instruct task) both answers answer
    "prompt_origin": "VARCHAR",  # human when a person wrote the prompt: what the mix's human fraction counts
    "prompt_technique": "VARCHAR",
    "prompt_operation": "VARCHAR",
    "chosen_id": "VARCHAR",
    "chosen_verifier": "VARCHAR",
    "chosen_score": "DOUBLE",  # judge score (judge pairs)
    "chosen_verdict": "VARCHAR",
    "rejected_id": "VARCHAR",
    "rejected_response": "VARCHAR",
    "rejected_teacher": "VARCHAR",
    "rejected_verifier": "VARCHAR",
    "rejected_reason": "VARCHAR",  # why its check failed it (test_failure, wrong_answer, low_judge_score, ...)
    "rejected_verdict": "VARCHAR",
    "rejected_score": "DOUBLE",
    "score_margin": "DOUBLE",  # chosen_score - rejected_score (judge pairs)
    "min_score_margin": "DOUBLE",  # the margin the pair was held to (judge pairs)
    "judge_model": "VARCHAR",  # the judge that scored the two answers, where the rows record it
}

# Questions from a document segment: the segment's character offsets in its document.
DOCUMENT_QA_COLUMNS = {**CORPUS_COLUMNS, "segment_start": "INTEGER", "segment_end": "INTEGER"}

# Every row a stage did not pass on, with the stage and the reason; the content is kept.
REJECT_COLUMNS = {
    "stage": "VARCHAR",
    "reason": "VARCHAR",
    "detail": "VARCHAR",
    "related_id": "VARCHAR",  # the row kept instead, the sibling selected, or the benchmark item matched
    "score": "DOUBLE",  # similarity, judge score, ...: what the decision was measured on
    **CORPUS_COLUMNS,
    "sample_index": "INTEGER",
}

# Input lines that could not be read, with file, line, field and reason.
QUARANTINE_COLUMNS = {
    "stage": "VARCHAR",
    "source_file": "VARCHAR",
    "source_line": "INTEGER",
    "field": "VARCHAR",
    "reason": "VARCHAR",
    "raw": "VARCHAR",
    "seed_batch": "VARCHAR",
}

TABLE_COLUMNS: dict[str, Mapping[str, str]] = {
    "seeds": SAMPLE_COLUMNS,
    "human_reference": SAMPLE_COLUMNS,
    "documents": SAMPLE_COLUMNS,
    "evolved_instructions": SAMPLE_COLUMNS,
    "self_instruct_tasks": SAMPLE_COLUMNS,
    "backtranslated_pairs": CORPUS_COLUMNS,
    "augmented_instructions": SAMPLE_COLUMNS,
    "document_qa_pairs": DOCUMENT_QA_COLUMNS,
    "candidate_solutions": CANDIDATE_COLUMNS,
    "verified_solutions": VERIFIED_COLUMNS,
    "correction_pairs": CORPUS_COLUMNS,
    "deduplicated_corpus": CORPUS_COLUMNS,
    # Rows made for the categories under target (`core.tail_fill`), and the rewrites they answer.
    "tail_fill_instructions": SAMPLE_COLUMNS,
    "tail_fill": CORPUS_COLUMNS,
    "mixed_training_set": CORPUS_COLUMNS,
    "preference_pairs": PREFERENCE_COLUMNS,
    "rejects": REJECT_COLUMNS,
    "quarantine": QUARANTINE_COLUMNS,
}


def empty_frame(columns: Mapping[str, str]) -> pd.DataFrame:
    """An empty DataFrame with the given columns, so an empty stage still has its schema."""
    return pd.DataFrame({name: pd.Series(dtype="object") for name in columns})
