"""Union-find clusters and the removals they imply."""

from __future__ import annotations

import numpy as np

from synth_assets.core.dedup.clusters import (
    Removal,
    connected_components,
    removals_from_pairs,
)


def _reference(n: int, edges: list[tuple[int, int]]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return [min(i for i in range(n) if find(i) == find(x)) for x in range(n)]


def test_matches_a_plain_union_find_on_random_graphs() -> None:
    rng = np.random.default_rng(3)
    for n, m in [(1, 0), (10, 0), (10, 5), (60, 40), (200, 150), (200, 400)]:
        left, right = rng.integers(0, n, m), rng.integers(0, n, m)
        expected = _reference(n, list(zip(left.tolist(), right.tolist(), strict=True)))
        assert connected_components(n, left, right).tolist() == expected


def test_long_chain_and_star() -> None:
    n = 1000
    chain = np.arange(n - 1)
    assert (connected_components(n, chain[::-1] + 1, chain[::-1]) == 0).all()
    star = np.full(n - 1, n - 1)
    assert (connected_components(n, star, np.arange(n - 1)) == 0).all()


def test_removals_keep_the_smallest_index() -> None:
    left, right = np.array([1, 4, 3, 6]), np.array([2, 3, 5, 7])
    removals = removals_from_pairs(8, left, right, lambda removed, kept: (removed * 10 + kept) / 100)
    assert removals == [
        Removal(2, 1, 0.21),
        Removal(4, 3, 0.43),
        Removal(5, 3, 0.53),
        Removal(7, 6, 0.76),
    ]


def test_no_pairs_no_removals() -> None:
    assert removals_from_pairs(3, np.array([], int), np.array([], int), lambda a, b: a * 0.0) == []
