"""Jaccard similarity of pairs of rows: estimated from MinHash signatures, or exact from the
rows' shingle-hash sets, for many pairs at once with numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ShingleSets", "estimated_jaccard", "exact_jaccard"]

_PAIRS_PER_BLOCK = 65536
_KEYS_PER_BLOCK = 1 << 22


@dataclass(frozen=True)
class ShingleSets:
    """Sorted distinct 32-bit shingle hashes of every row, concatenated; row i's are
    keys[offsets[i]:offsets[i + 1]]."""

    keys: np.ndarray
    offsets: np.ndarray


def estimated_jaccard(signatures: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Share of equal signature columns for each pair (left[k], right[k])."""
    out = np.empty(len(left), dtype=np.float64)
    for start in range(0, len(left), _PAIRS_PER_BLOCK):
        stop = start + _PAIRS_PER_BLOCK
        equal = signatures[left[start:stop]] == signatures[right[start:stop]]
        out[start:stop] = equal.mean(axis=1)
    return out


def _gather(sets: ShingleSets, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The keys of `rows`, concatenated, tagged with the position of their row in `rows`."""
    starts = sets.offsets[rows]
    lengths = sets.offsets[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows), dtype=np.uint64), lengths)
    index = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
    return (owner << np.uint64(32)) | sets.keys[index].astype(np.uint64), lengths


def exact_jaccard(sets: ShingleSets, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """|A & B| / |A | B| of the shingle sets of each pair; 0 when both are empty.

    Both sets of a pair are tagged with the pair's number and sorted together: a key present in
    both shows up twice in a row, so counting equal neighbours per pair gives the intersection."""
    out = np.empty(len(left), dtype=np.float64)
    start = 0
    mean_size = max(1.0, len(sets.keys) / max(len(sets.offsets) - 1, 1))
    step = max(1, min(_PAIRS_PER_BLOCK, int(_KEYS_PER_BLOCK / (2 * mean_size))))
    while start < len(left):
        stop = min(start + step, len(left))
        tagged_left, size_left = _gather(sets, np.asarray(left[start:stop]))
        tagged_right, size_right = _gather(sets, np.asarray(right[start:stop]))
        tagged = np.concatenate((tagged_left, tagged_right))
        tagged.sort()
        repeated = tagged[1:][tagged[1:] == tagged[:-1]]
        inter = np.bincount((repeated >> np.uint64(32)).astype(np.int64), minlength=stop - start)
        union = size_left + size_right - inter
        out[start:stop] = np.divide(inter, union, out=np.zeros(stop - start), where=union > 0)
        start = stop
    return out
