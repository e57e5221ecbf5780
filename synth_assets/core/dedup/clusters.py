"""Clusters of duplicates by union-find, and the rows each cluster removes.

Rows arrive sorted by the survivor policy, so the row kept in a cluster is its smallest index.
`connected_components` is a union-find run on all edges at once with numpy: every root is hooked
under the smallest root it shares an edge with, then paths are compressed until each row points
at its root; this repeats until every edge joins rows with the same root. Because a row only ever
points at a smaller index, the root of a cluster is its smallest member.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Removal", "connected_components", "removals_from_pairs"]


@dataclass(frozen=True)
class Removal:
    """Row `index` is removed as a duplicate of row `kept_index`, at this similarity."""

    index: int
    kept_index: int
    similarity: float


def connected_components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """For each of `n` rows, the smallest index of the cluster the edges (left[k], right[k]) put it in."""
    parent = np.arange(n, dtype=np.int64)
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    while len(left):
        root_left, root_right = parent[left], parent[right]
        differ = root_left != root_right
        if not differ.any():
            break
        low = np.minimum(root_left[differ], root_right[differ])
        high = np.maximum(root_left[differ], root_right[differ])
        np.minimum.at(parent, high, low)
        while True:  # path compression: point every row at its root
            grandparent = parent[parent]
            if np.array_equal(grandparent, parent):
                break
            parent = grandparent
    return parent


def removals_from_pairs(
    n: int,
    left: np.ndarray,
    right: np.ndarray,
    similarity: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> list[Removal]:
    """One `Removal` per row that is not the smallest index of its cluster, in index order.

    `similarity(removed, kept)` scores each removed row against the row kept for it; in a chained
    cluster (a~b, b~c) that score can fall below the threshold that linked the rows.
    """
    roots = connected_components(n, left, right)
    removed = np.flatnonzero(roots != np.arange(n))
    kept = roots[removed]
    scores = similarity(removed, kept) if len(removed) else np.empty(0)
    return [Removal(int(r), int(k), float(s)) for r, k, s in zip(removed, kept, scores, strict=True)]
