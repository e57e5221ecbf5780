"""Locality-sensitive hashing: rows that share a band key become candidate pairs.

`bucket_pairs` serves MinHash bands and the random-hyperplane tables of semantic search alike.
Rows with equal keys are sorted together; each row is paired with the next `window - 1` rows of
its bucket, which gives all pairs in buckets of up to `window` rows and, in bigger buckets (many
copies of one template), a connected chain of O(rows * window) pairs instead of a quadratic blow-up.
"""

from __future__ import annotations

import numpy as np

from synth_assets.core.dedup.jaccard import (
    ShingleSets,
    estimated_jaccard,
    exact_jaccard,
)
from synth_assets.core.dedup.minhash import EMPTY, MinHashConfig
from synth_assets.core.dedup.shingles import mix64

__all__ = ["band_keys", "bucket_pairs", "candidate_pairs", "distinct_pairs", "similar_pairs"]


def bucket_pairs(keys: np.ndarray, rows: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j), i < j, of `rows` whose `keys` are equal, as described in the module docstring."""
    order = np.argsort(keys)
    sorted_keys = keys[order]
    same_as_next = sorted_keys[1:] == sorted_keys[:-1]
    if not same_as_next.any():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # keep only rows in buckets of two or more, then pair each with its followers in the bucket
    in_bucket = np.zeros(len(keys), dtype=bool)
    in_bucket[:-1] |= same_as_next
    in_bucket[1:] |= same_as_next
    members = rows[order[in_bucket]]
    member_keys = sorted_keys[in_bucket]
    firsts, seconds = [], []
    for offset in range(1, window):
        if offset >= len(members):
            break
        same = member_keys[offset:] == member_keys[:-offset]
        if not same.any():
            break
        firsts.append(members[:-offset][same])
        seconds.append(members[offset:][same])
    first = np.concatenate(firsts)
    second = np.concatenate(seconds)
    return np.minimum(first, second), np.maximum(first, second)


def distinct_pairs(firsts: list[np.ndarray], seconds: list[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pairs among several lists of (i, j), sorted by i then j (indices below n)."""
    if not firsts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    packed = np.concatenate(firsts) * n + np.concatenate(seconds)
    packed.sort()
    if len(packed):
        packed = packed[np.concatenate(([True], packed[1:] != packed[:-1]))]
    return packed // n, packed % n


def band_keys(signatures: np.ndarray, band: int, rows: int) -> np.ndarray:
    """A 64-bit key per row for the `band`-th group of `rows` signature columns."""
    columns = signatures[:, band * rows : (band + 1) * rows].astype(np.uint64)
    key = np.full(len(signatures), band, dtype=np.uint64)
    for column in columns.T:
        key *= np.uint64(0x100000001B3)
        key ^= column
        mix64(key)
    return key


def candidate_pairs(signatures: np.ndarray, config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Distinct pairs (i, j), i < j, sharing at least one LSH band; empty signatures never pair."""
    rows = np.flatnonzero(~(signatures == EMPTY).all(axis=1))
    usable = signatures[rows]
    firsts, seconds = [], []
    for band in range(config.lsh_bands):
        first, second = bucket_pairs(band_keys(usable, band, config.lsh_rows), rows, config.bucket_window)
        firsts.append(first)
        seconds.append(second)
    return distinct_pairs(firsts, seconds, len(signatures))


def similar_pairs(
    signatures: np.ndarray, config: MinHashConfig, shingles: ShingleSets | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate pairs whose Jaccard reaches the threshold: (left, right, similarity). The
    similarity is estimated from the signatures, or exact when `shingles` are given."""
    left, right = candidate_pairs(signatures, config)
    if shingles is None:
        similarity = estimated_jaccard(signatures, left, right)
    else:
        similarity = exact_jaccard(shingles, left, right)
    keep = similarity >= config.threshold
    return left[keep], right[keep], similarity[keep]
