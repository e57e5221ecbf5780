"""near_duplicates on planted near-duplicates: exactly which rows go and which stay."""

from __future__ import annotations

import random

import pytest

from synth_assets.core.dedup.clusters import Removal
from synth_assets.core.dedup.minhash import MinHashConfig
from synth_assets.core.dedup.near import near_duplicates


def _doc(seed: int, count: int = 60) -> list[str]:
    rng = random.Random(seed)
    return [f"word{rng.randrange(50_000)}" for _ in range(count)]


def _jaccard(a: str, b: str, n: int = 5) -> float:
    def grams(text: str) -> set[tuple[str, ...]]:
        tokens = text.lower().replace(",", "").replace(".", "").split()
        return {tuple(tokens[k : k + n]) for k in range(len(tokens) - n + 1)}

    x, y = grams(a), grams(b)
    return len(x & y) / len(x | y)


def _edit(words: list[str], positions: list[int]) -> list[str]:
    copy = list(words)
    for position in positions:
        copy[position] = f"edit{position}"
    return copy


@pytest.fixture
def corpus() -> list[str]:
    a, b, c = _doc(1, 100), _doc(2, 100), _doc(3, 100)
    return [
        " ".join(a),  # 0 kept
        " ".join(b),  # 1 kept
        " ".join(_edit(a, [50])),  # 2 near-copy of 0: one word changed, J = 91/101
        " ".join(a).upper().replace(" ", ", ") + ".",  # 3 copy of 0 up to case and punctuation
        " ".join(_edit(b, [20, 40, 60])),  # 4 three words changed, J = 81/111: stays
        " ".join(c),  # 5 kept
        "Hello world",  # 6 short text: one whole shingle
        "hello,   WORLD!",  # 7 same short text
        "",  # 8 empty: never a duplicate
        "...",  # 9 empty after normalisation
        " ".join(_edit(c, [0, 99])),  # 10 near-copy of 5: first and last words changed, J = 94/98
    ]


def test_planted_near_duplicates(corpus: list[str]) -> None:
    assert _jaccard(corpus[0], corpus[2]) == pytest.approx(91 / 101)
    assert _jaccard(corpus[1], corpus[4]) == pytest.approx(81 / 111)
    assert _jaccard(corpus[5], corpus[10]) == pytest.approx(94 / 98)
    removals = near_duplicates(corpus)
    assert [(r.index, r.kept_index) for r in removals] == [(2, 0), (3, 0), (7, 6), (10, 5)]
    assert removals[1].similarity == 1.0 and removals[2].similarity == 1.0
    assert all(0.8 <= r.similarity <= 1.0 for r in removals)


def test_same_seed_same_result(corpus: list[str]) -> None:
    assert near_duplicates(corpus, MinHashConfig(seed=7)) == near_duplicates(corpus, MinHashConfig(seed=7))


def test_exact_confirmation_decides_at_the_threshold() -> None:
    a, b = _doc(4, 60), _doc(5, 60)
    texts = [
        " ".join(a),
        " ".join(b),
        " ".join(_edit(a, [10, 11])),  # J = 50/62 = 0.806: goes
        " ".join(_edit(b, [10, 12])),  # J = 49/63 = 0.778: stays
    ]
    assert _jaccard(texts[0], texts[2]) == pytest.approx(50 / 62)
    assert _jaccard(texts[1], texts[3]) == pytest.approx(49 / 63)
    assert near_duplicates(texts, MinHashConfig(confirm="exact")) == [Removal(2, 0, 50 / 62)]


def test_chained_cluster_keeps_its_first_row() -> None:
    # 0 ~ 1 and 1 ~ 2 at J >= 0.8, but 0 and 2 are further apart: one cluster, row 0 kept.
    base = _doc(11, 100)
    middle = _edit(base, [20])
    far = _edit(middle, [80])
    texts = [" ".join(base), " ".join(middle), " ".join(far)]
    assert _jaccard(texts[0], texts[2]) == pytest.approx(86 / 106)
    removals = near_duplicates(texts, MinHashConfig(confirm="exact", threshold=0.85))
    assert [(r.index, r.kept_index) for r in removals] == [(1, 0), (2, 0)]
    assert removals[0].similarity == pytest.approx(91 / 101)
    assert removals[1].similarity == pytest.approx(86 / 106) and removals[1].similarity < 0.85


def test_order_decides_the_survivor(corpus: list[str]) -> None:
    reordered = [corpus[2], corpus[3], corpus[0]]
    assert [(r.index, r.kept_index) for r in near_duplicates(reordered)] == [(1, 0), (2, 0)]


def test_nothing_to_do() -> None:
    assert near_duplicates([]) == []
    assert near_duplicates(["only one text here"]) == []
    assert near_duplicates(["", "...", ""], MinHashConfig(confirm="exact")) == []
