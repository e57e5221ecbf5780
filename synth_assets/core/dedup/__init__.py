"""Deduplication and decontamination of a corpus: pure functions, no Dagster.

Steps, in the order `deduplicated_corpus` runs them:
- exact: `register_udfs` + `exact_duplicates_sql` (normalised text hashed in DuckDB);
- near: `near_duplicates` (MinHash, LSH, estimated Jaccard, union-find);
- semantic: `semantic_duplicates` over sentence embeddings (blocked products or SimHash LSH);
- decontamination: `BenchmarkIndex` (13-gram overlap with benchmark items).
Rows go in sorted by the survivor policy (`SURVIVOR_ORDER_SQL`, `survivor_sort_key`), so the
row kept in each cluster is the one with the smallest index.
"""

from synth_assets.core.dedup.clusters import Removal, connected_components
from synth_assets.core.dedup.decontamination import BenchmarkIndex, Match, ngram_tokens
from synth_assets.core.dedup.exact import (
    NORMALIZE_UDF,
    exact_duplicates_sql,
    register_udfs,
)
from synth_assets.core.dedup.jaccard import estimated_jaccard, exact_jaccard
from synth_assets.core.dedup.lsh import similar_pairs
from synth_assets.core.dedup.minhash import MinHashConfig, minhash_signatures
from synth_assets.core.dedup.near import near_duplicates
from synth_assets.core.dedup.normalize import normalize_text
from synth_assets.core.dedup.policy import SURVIVOR_ORDER_SQL, survivor_sort_key
from synth_assets.core.dedup.semantic import (
    SemanticConfig,
    semantic_candidate_pairs,
    semantic_duplicates,
)

__all__ = [
    "NORMALIZE_UDF",
    "SURVIVOR_ORDER_SQL",
    "BenchmarkIndex",
    "Match",
    "MinHashConfig",
    "Removal",
    "SemanticConfig",
    "connected_components",
    "estimated_jaccard",
    "exact_duplicates_sql",
    "exact_jaccard",
    "minhash_signatures",
    "near_duplicates",
    "ngram_tokens",
    "normalize_text",
    "register_udfs",
    "semantic_candidate_pairs",
    "semantic_duplicates",
    "similar_pairs",
    "survivor_sort_key",
]
