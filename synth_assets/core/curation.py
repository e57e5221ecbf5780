"""Turning verified synthetic rows and human rows into one clean corpus.

First, rows the `corpus_schema` gate would refuse (`unfit_for_corpus`: an empty instruction or
response, or one longer than the row limit) are rejected, so one over-long teacher answer costs
its own row, not everyone's export. Then the steps, in order, each optional: exact duplicates (normalised text, found in DuckDB SQL by the
caller: `dedup.exact_duplicates_sql`), near duplicates (MinHash LSH), semantic duplicates (sentence
embeddings), benchmark decontamination (13-gram overlap). Rows are sorted by the survivor policy
(human, verified, judge score, generation, id), so in every cluster the row that stays is the one
the policy prefers. Every removal names the row kept instead (or the benchmark item matched) and
the similarity it was measured at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synth_assets.core.dedup import (
    BenchmarkIndex,
    MinHashConfig,
    SemanticConfig,
    near_duplicates,
    semantic_duplicates,
    survivor_sort_key,
)
from synth_assets.core.input_rules import LIMIT_VARIABLES
from synth_assets.core.rows import RejectReason, reject_row

__all__ = ["CORPUS_TEXT_COLUMNS", "CurationConfig", "CurationOutcome", "curate_corpus", "unfit_for_corpus"]

# The text columns the corpus_schema gate holds to a length: what `unfit_for_corpus` checks.
CORPUS_TEXT_COLUMNS = ("instruction", "response")

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class CurationConfig:
    exact: bool = True
    near: bool = True
    semantic: bool = True  # skipped when no embedding model is available
    decontaminate: bool = True
    # LSH candidates are confirmed by the exact Jaccard of the shingle sets: it meets recall and
    # precision >= 0.95 at 10x datasketch's speed (docs/dedup.md); the MinHash estimate
    # (confirm="estimate") is faster but cannot separate 0.78 from 0.82.
    minhash: MinHashConfig = field(default_factory=lambda: MinHashConfig(confirm="exact"))
    semantic_config: SemanticConfig = field(default_factory=SemanticConfig)


@dataclass
class CurationOutcome:
    kept: list[dict[str, Any]]
    removed: list[dict[str, Any]]  # each row with reason, detail, related_id, score
    steps_run: list[str]


def curate_corpus(
    rows: Sequence[Mapping[str, Any]],
    config: CurationConfig,
    exact_duplicates: Mapping[str, str] | None = None,
    benchmark: BenchmarkIndex | None = None,
    embed: Embed | None = None,
    *,
    existing: Sequence[Mapping[str, Any]] = (),
) -> CurationOutcome:
    """`exact_duplicates` maps each exact duplicate's id to the id kept instead (None: step off).

    `existing` are rows already in a corpus that `rows` join (`tail_fill` adds rows to the
    deduplicated corpus): they come first in every cluster, so a new row that duplicates one of
    them is the one removed; they are never removed themselves and are not in the outcome."""
    alive = sorted((dict(r) for r in rows), key=survivor_sort_key)
    removed: list[dict[str, Any]] = []
    steps: list[str] = []

    if config.exact and exact_duplicates is not None:
        steps.append("exact")
        for row in alive:
            if row["id"] in exact_duplicates:
                removed.append(_removal(row, RejectReason.EXACT_DUPLICATE, exact_duplicates[row["id"]], 1.0, "same normalised instruction"))
        alive = [row for row in alive if row["id"] not in exact_duplicates]

    if config.near and alive:
        steps.append("near")
        found = near_duplicates([r["instruction"] for r in (*existing, *alive)], config.minhash)
        alive = _apply(alive, found, RejectReason.NEAR_DUPLICATE, removed, f"MinHash Jaccard >= {config.minhash.threshold}",
                       existing)

    if config.semantic and embed is not None and alive:
        steps.append("semantic")
        vectors = embed([r["instruction"] for r in (*existing, *alive)])
        found = semantic_duplicates(vectors, config.semantic_config)
        alive = _apply(alive, found, RejectReason.SEMANTIC_DUPLICATE, removed, f"cosine >= {config.semantic_config.threshold}",
                       existing)

    if config.decontaminate and benchmark is not None and len(benchmark) and alive:
        steps.append("decontaminate")
        matches = benchmark.match_many([f"{r['instruction']}\n{r.get('response') or ''}" for r in alive])
        survivors = []
        for row, match in zip(alive, matches, strict=True):
            if match is None:
                survivors.append(row)
            else:
                removed.append(_removal(row, RejectReason.BENCHMARK_CONTAMINATION, match.benchmark_id, 1.0, f"shares 13-gram {match.ngram!r}"))
        alive = survivors

    return CurationOutcome(alive, removed, steps)


def unfit_for_corpus(
    rows: Sequence[Mapping[str, Any]], max_text_chars: int, columns: Sequence[str] = CORPUS_TEXT_COLUMNS
) -> list[dict[str, Any]]:
    """The rows whose instruction or response (or other text `columns`) is empty (missing or only
    whitespace) or longer than `max_text_chars`, as reject rows naming the column and its length."""
    rejected = []
    for row in rows:
        for column in columns:
            text = row.get(column)
            if not isinstance(text, str) or not text.strip():
                rejected.append(reject_row(row, RejectReason.EMPTY_TEXT, f"{column} is empty"))
                break
            if len(text) > max_text_chars:
                rejected.append(reject_row(row, RejectReason.TEXT_TOO_LONG,
                                           f"{column} has {len(text):,} characters, over the limit of "
                                           f"{max_text_chars:,} ({LIMIT_VARIABLES['max_text_chars']})",
                                           score=float(len(text))))
                break
    return rejected


def _apply(
    alive: list[dict[str, Any]], found: Sequence[Any], reason: RejectReason, removed: list, detail: str,
    existing: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Remove the rows of `alive` that `found` names; indices count `existing` first (never removed)."""
    offset = len(existing)
    gone = set()
    for removal in found:
        if removal.index < offset:
            continue  # a row of the corpus that new rows join stays, whatever it clusters with
        row = alive[removal.index - offset]
        kept = existing[removal.kept_index] if removal.kept_index < offset else alive[removal.kept_index - offset]
        removed.append(_removal(row, reason, kept["id"], float(removal.similarity), detail))
        gone.add(removal.index - offset)
    return [row for i, row in enumerate(alive) if i not in gone]


def _removal(row: Mapping[str, Any], reason: RejectReason, related: str, score: float, detail: str) -> dict[str, Any]:
    return reject_row(row, reason, detail, related_id=related, score=score)
