"""The row schema every instruction table shares, and the extra columns of each stage.

Provenance columns (see docs in README "Provenance"):
- `id`: a hash of the row's content and its parent, so a re-run gives the same ids;
- `parent_id`, `root_id`: the row it was derived from, and the seed/document/human row at the root;
- `origin` (`human` | `synthetic`) and `generation`: 0 for human data, 1 for what a teacher makes
  from it in one pass of this pipeline; rows recycled from an earlier synthetic set keep their
  generation and what is made from them is one higher (the collapse guard caps it);
- `technique`, `operation`, `round`: how it was made (`seed`, `evol_instruct/add_constraints`, ...);
- `teacher`, `template_version`: `backend:model` and the hash of the prompt template used;
- `seed_batch`: the seed file (a partition of the graph) the row descends from.

Rows with these columns are made in `synth_assets.core.rows`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = [
    "DOMAINS",
    "MAX_TEXT_CHARS",
    "ORIGINS",
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
    "judge_score": "DOUBLE",
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
    "judge_score": "DOUBLE",
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
    "mixed_training_set": CORPUS_COLUMNS,
    "rejects": REJECT_COLUMNS,
    "quarantine": QUARANTINE_COLUMNS,
}


def empty_frame(columns: Mapping[str, str]) -> pd.DataFrame:
    """An empty DataFrame with the given columns, so an empty stage still has its schema."""
    return pd.DataFrame({name: pd.Series(dtype="object") for name in columns})
