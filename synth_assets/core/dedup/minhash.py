"""MinHash signatures of word n-gram shingles, vectorised with numpy.

Each text is normalised (`hashing_bytes`), cut into word n-grams (5 by default; a text
shorter than that is one shingle), and each shingle hashed to 32 bits (`ngram_hashes`). Permutation
k maps a shingle hash x to ((a_k * x + b_k) mod 2**64) >> 32, the multiply-add-shift family, which
is strongly universal for 32-bit keys; a_k and b_k come from `seed`. The signature keeps, for each
permutation, the minimum over the text's shingles. A text with no tokens gets `EMPTY` everywhere
and is never matched (the Jaccard similarity of two empty sets is undefined).

Work is laid out permutation-major, (num_perm, shingles), in blocks small enough for the CPU cache:
`np.minimum.reduceat` along the last axis is about 20 times faster than along the first.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from synth_assets.core.dedup.jaccard import ShingleSets
from synth_assets.core.dedup.normalize import hashing_bytes
from synth_assets.core.dedup.shingles import iter_chunks, ngram_hashes

__all__ = [
    "DEFAULT_MINHASH_CONFIG",
    "EMPTY",
    "MinHashConfig",
    "lsh_candidate_probability",
    "minhash_signatures",
    "optimal_bands_rows",
    "signatures_and_shingles",
]

EMPTY = np.uint32(0xFFFFFFFF)
_BLOCK_SHINGLES = 4096  # (num_perm x block) uint32 work array: 2 MB at 128 permutations


def lsh_candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two sets of this Jaccard similarity share at least one LSH band."""
    return 1.0 - (1.0 - similarity**rows) ** bands


@functools.lru_cache(maxsize=64)
def optimal_bands_rows(num_perm: int, threshold: float, false_negative_weight: float) -> tuple[int, int]:
    """(bands, rows), bands * rows <= num_perm, minimising the weighted areas under the LSH
    S-curve: false positives below the threshold, false negatives above it (datasketch's rule)."""
    below = np.linspace(0.0, threshold, 1001)
    above = np.linspace(threshold, 1.0, 1001)
    pairs = [(bands, rows) for bands in range(1, num_perm + 1) for rows in range(1, num_perm // bands + 1)]
    bands = np.array([b for b, _ in pairs], dtype=np.float64)[:, None]
    rows = np.array([r for _, r in pairs], dtype=np.float64)[:, None]
    false_positive = np.trapezoid(1.0 - (1.0 - below**rows) ** bands, below, axis=1)
    false_negative = np.trapezoid((1.0 - above**rows) ** bands, above, axis=1)
    error = (1.0 - false_negative_weight) * false_positive + false_negative_weight * false_negative
    return pairs[int(np.argmin(error))]


@dataclass(frozen=True)
class MinHashConfig:
    """MinHash and LSH settings. Leave `bands` and `rows` unset to have them chosen for the
    threshold, weighing missed pairs by `false_negative_weight` (candidates are confirmed by their
    estimated Jaccard afterwards, so a false positive costs only a comparison). A bucket holding
    more than `bucket_window` rows compares each row with the next `bucket_window - 1` only.
    `confirm="estimate"` keeps a candidate pair whose estimated Jaccard (share of equal signature
    columns) reaches the threshold; `confirm="exact"` computes the exact Jaccard of the two shingle
    sets instead, which keeps every text's shingle hashes in memory (4 bytes per shingle)."""

    num_perm: int = 128
    ngram: int = 5
    threshold: float = 0.8
    seed: int = 1
    bands: int | None = None
    rows: int | None = None
    false_negative_weight: float = 0.95
    bucket_window: int = 16
    confirm: str = "estimate"
    _chosen: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {self.num_perm}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 <= self.false_negative_weight <= 1.0:
            raise ValueError(f"false_negative_weight must be in [0, 1], got {self.false_negative_weight}")
        if self.bucket_window < 2:
            raise ValueError(f"bucket_window must be >= 2, got {self.bucket_window}")
        if self.confirm not in ("estimate", "exact"):
            raise ValueError(f"confirm must be 'estimate' or 'exact', got {self.confirm!r}")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("bands and rows must be given together, or both left unset")
        if self.bands is not None and self.rows is not None:
            if self.bands < 1 or self.rows < 1:
                raise ValueError(f"bands and rows must be >= 1, got bands={self.bands}, rows={self.rows}")
            if self.bands * self.rows > self.num_perm:
                raise ValueError(f"bands * rows must be <= num_perm ({self.num_perm}), got {self.bands} * {self.rows}")
            chosen = (self.bands, self.rows)
        else:
            chosen = optimal_bands_rows(self.num_perm, self.threshold, self.false_negative_weight)
        object.__setattr__(self, "_chosen", chosen)

    @property
    def lsh_bands(self) -> int:
        """Bands used: the configured number, or the one chosen for the threshold."""
        return self._chosen[0]

    @property
    def lsh_rows(self) -> int:
        """Rows per band used: the configured number, or the one chosen for the threshold."""
        return self._chosen[1]

    def __str__(self) -> str:
        chance = lsh_candidate_probability(self.threshold, self.lsh_bands, self.lsh_rows)
        return (
            f"MinHash {self.num_perm} permutations of word {self.ngram}-grams (seed {self.seed}); "
            f"LSH {self.lsh_bands} bands x {self.lsh_rows} rows, a pair at Jaccard {self.threshold} "
            f"becomes a candidate with probability {chance:.3f}; kept if {'estimated' if self.confirm == 'estimate' else 'exact'} Jaccard >= {self.threshold}"
        )


DEFAULT_MINHASH_CONFIG = MinHashConfig()


def _permutations(config: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(config.seed)
    a = rng.integers(0, 2**32, size=config.num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    b = rng.integers(0, 2**32, size=config.num_perm, dtype=np.uint64).astype(np.uint32)
    return a[:, None], b[:, None]


def minhash_signatures(texts: Sequence[str], config: MinHashConfig = DEFAULT_MINHASH_CONFIG) -> np.ndarray:
    """Signatures, shape (len(texts), num_perm), dtype uint32; `EMPTY` rows for texts without tokens."""
    return _signatures(texts, config, keep_shingles=False)[0]


def signatures_and_shingles(
    texts: Sequence[str], config: MinHashConfig = DEFAULT_MINHASH_CONFIG
) -> tuple[np.ndarray, ShingleSets]:
    """`minhash_signatures`, and each text's set of 32-bit shingle hashes for exact Jaccard."""
    signatures, shingles = _signatures(texts, config, keep_shingles=True)
    assert shingles is not None
    return signatures, shingles


def _signatures(
    texts: Sequence[str], config: MinHashConfig, keep_shingles: bool
) -> tuple[np.ndarray, ShingleSets | None]:
    signatures = np.full((len(texts), config.num_perm), EMPTY, dtype=np.uint32)
    a, b = _permutations(config)
    work = np.empty((config.num_perm, _BLOCK_SHINGLES), dtype=np.uint32)
    kept_keys, kept_counts = [], []
    for start, stop in iter_chunks(texts):  # normalised a chunk at a time, to bound memory
        docs = [hashing_bytes(text) for text in texts[start:stop]]
        hashes, counts = ngram_hashes(docs, config.ngram, short_docs="whole")
        keys = (hashes >> np.uint64(32)).astype(np.uint32)
        _fill_signatures(signatures[start:stop], keys, counts, a, b, work)
        if keep_shingles:
            distinct, distinct_counts = _distinct_per_doc(keys, counts)
            kept_keys.append(distinct)
            kept_counts.append(distinct_counts)
    if not keep_shingles:
        return signatures, None
    counts = np.concatenate(kept_counts) if kept_counts else np.empty(0, np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts)))
    keys = np.concatenate(kept_keys) if kept_keys else np.empty(0, np.uint32)
    return signatures, ShingleSets(keys, offsets)


def _distinct_per_doc(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys of each document, and how many each has."""
    docs = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    combined = (docs << np.uint64(32)) | keys.astype(np.uint64)
    combined.sort()
    if len(combined):
        combined = combined[np.concatenate(([True], combined[1:] != combined[:-1]))]
    per_doc = np.bincount((combined >> np.uint64(32)).astype(np.int64), minlength=len(counts))
    return (combined & np.uint64(0xFFFFFFFF)).astype(np.uint32), per_doc.astype(np.int64)


def _fill_signatures(
    out: np.ndarray, keys: np.ndarray, counts: np.ndarray, a: np.ndarray, b: np.ndarray, work: np.ndarray
) -> None:
    """Minimum of each permutation over each document's shingles, in cache-sized blocks."""
    nonempty = np.flatnonzero(counts)
    ends = np.cumsum(counts[nonempty])
    starts = ends - counts[nonempty]
    first = 0
    while first < len(nonempty):
        # documents [first, last) whose shingles fit one block (at least one document)
        limit = starts[first] + work.shape[1]
        last = max(first + 1, int(np.searchsorted(ends, limit, side="right")))
        lo, hi = int(starts[first]), int(ends[last - 1])
        block = work[:, : hi - lo] if hi - lo <= work.shape[1] else np.empty((len(a), hi - lo), np.uint32)
        np.multiply(a, keys[lo:hi], out=block)
        block += b
        minima = np.minimum.reduceat(block, starts[first:last] - lo, axis=1)
        out[nonempty[first:last]] = minima.T
        first = last
