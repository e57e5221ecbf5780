"""Why a row left the corpus in `deduplicated_corpus`: one reason per step, for the
dedup_clusters and rejects tables."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DedupReason"]


class DedupReason(StrEnum):
    EXACT_DUPLICATE = "exact_duplicate"  # same normalised text as the kept row
    NEAR_DUPLICATE = "near_duplicate"  # MinHash Jaccard >= threshold (clustered)
    SEMANTIC_DUPLICATE = "semantic_duplicate"  # embedding cosine >= threshold (clustered)
    BENCHMARK_CONTAMINATION = "benchmark_contamination"  # shares a 13-gram with a benchmark item
