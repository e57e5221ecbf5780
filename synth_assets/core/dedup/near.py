"""Near-duplicate removal: MinHash signatures, LSH candidates, confirmation by Jaccard (estimated
by default), union-find clusters; the smallest index of each cluster survives."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synth_assets.core.dedup.clusters import Removal, removals_from_pairs
from synth_assets.core.dedup.jaccard import estimated_jaccard, exact_jaccard
from synth_assets.core.dedup.lsh import similar_pairs
from synth_assets.core.dedup.minhash import (
    DEFAULT_MINHASH_CONFIG,
    MinHashConfig,
    minhash_signatures,
    signatures_and_shingles,
)

__all__ = ["near_duplicates"]


def near_duplicates(texts: Sequence[str], config: MinHashConfig = DEFAULT_MINHASH_CONFIG) -> list[Removal]:
    """Rows to remove as near-duplicates of an earlier row, with their Jaccard similarity to the
    kept row (estimated or exact, as `config.confirm` says). Rows come sorted by the survivor policy."""
    if config.confirm == "exact":
        signatures, shingles = signatures_and_shingles(texts, config)
        left, right, _ = similar_pairs(signatures, config, shingles)

        def similarity(removed: np.ndarray, kept: np.ndarray) -> np.ndarray:
            return exact_jaccard(shingles, removed, kept)
    else:
        signatures = minhash_signatures(texts, config)
        left, right, _ = similar_pairs(signatures, config)

        def similarity(removed: np.ndarray, kept: np.ndarray) -> np.ndarray:
            return estimated_jaccard(signatures, removed, kept)

    return removals_from_pairs(len(texts), left, right, similarity)
