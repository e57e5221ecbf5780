"""ROUGE-L and the novelty index: the same numbers as rouge-score, the same maximum as a naive scan."""

from __future__ import annotations

import random

import pytest

from synth_assets.core.rouge import NoveltyIndex, lcs_length, rouge_l_f, tokenize


def dp_lcs(a: list[str], b: list[str]) -> int:
    """Textbook dynamic-programming LCS, the reference for the bit-parallel one."""
    previous = [0] * (len(b) + 1)
    for token_a in a:
        current = [0]
        for j, token_b in enumerate(b):
            current.append(previous[j] + 1 if token_a == token_b else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def naive_f(a: list[str], b: list[str]) -> float:
    lcs = dp_lcs(a, b)
    if not lcs:
        return 0.0
    precision, recall = lcs / len(b), lcs / len(a)
    return 2 * precision * recall / (precision + recall)


def naive_max(pool: list[str], text: str) -> tuple[float, str | None]:
    """All-pairs scan in insertion order, keeping the first maximum."""
    query = tokenize(text)
    best, best_text = 0.0, None
    for member in pool:
        score = naive_f(tokenize(member), query)
        if score > best:
            best, best_text = score, member
    return best, best_text


def random_text(rng: random.Random, vocabulary: list[str], max_words: int = 14) -> str:
    words = [rng.choice(vocabulary) for _ in range(rng.randint(0, max_words))]
    punctuation = rng.choice(["", ".", "?", "!", " -- ", ", "])
    return (" ".join(words) + punctuation).capitalize()


def test_tokenize_lowercases_and_splits_on_non_alphanumerics() -> None:
    assert tokenize("Write a C++ program, e.g. 'hello-world'!") == [
        "write",
        "a",
        "c",
        "program",
        "e",
        "g",
        "hello",
        "world",
    ]
    assert tokenize("Café №5") == ["caf", "5"]
    assert tokenize("...") == []


def test_tokenize_matches_rouge_score() -> None:
    rouge_tokenize = pytest.importorskip("rouge_score.tokenize")
    for text in ["Write a C++ program, e.g. 'hello-world'!", "Café №5 ÄÖÜ", "  MiXeD   case\tand\nlines  ", ""]:
        assert tokenize(text) == rouge_tokenize.tokenize(text, None)


def test_rouge_l_f_known_values() -> None:
    assert rouge_l_f(["the", "cat", "sat"], ["the", "cat", "on", "sat"]) == pytest.approx(6 / 7)
    assert rouge_l_f(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert rouge_l_f(["a", "b", "c"], ["d", "e", "f"]) == 0.0
    assert rouge_l_f([], ["a"]) == 0.0
    assert rouge_l_f(["a"], []) == 0.0


def test_lcs_length_matches_dynamic_programming_on_random_sequences() -> None:
    rng = random.Random(1)
    for _ in range(500):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]  # past 64 positions too
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]
        assert lcs_length(a, b) == dp_lcs(a, b)
        assert rouge_l_f(a, b) == rouge_l_f(b, a)


def test_rouge_l_f_is_bit_identical_to_rouge_score() -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(2)
    vocabulary = ["the", "a", "write", "list", "of", "poem", "sea", "code", "Python", "sort", "numbers"]
    for _ in range(300):
        target, prediction = random_text(rng, vocabulary), random_text(rng, vocabulary)
        expected = scorer.score(target, prediction)["rougeL"].fmeasure
        assert rouge_l_f(tokenize(target), tokenize(prediction)) == expected


def test_empty_index_and_disjoint_text_score_zero() -> None:
    assert NoveltyIndex().max_rouge_l("Write a poem.") == (0.0, None)
    index = NoveltyIndex(["Write a poem about the sea."])
    assert index.max_rouge_l("Sort numbers quickly") == (0.0, None)
    assert index.max_rouge_l("!!!") == (0.0, None)


def test_index_finds_the_most_similar_member() -> None:
    index = NoveltyIndex(["Write a poem about the sea.", "Sort a list of numbers.", "Write a poem about the sun."])
    assert index.max_rouge_l("write a poem about the SEA!") == (1.0, "Write a poem about the sea.")
    score, text = index.max_rouge_l("Sort a list of numbers in Python.")
    assert text == "Sort a list of numbers."
    assert score == pytest.approx(2 * 5 / (5 + 7))


def test_ties_go_to_the_member_added_first() -> None:
    index = NoveltyIndex(["a b c x", "a b c y", "a b d"])
    assert index.max_rouge_l("a b c z") == (0.75, "a b c x")


def test_index_gives_exactly_the_naive_maximum_on_random_pools() -> None:
    """Small vocabularies make many overlaps and ties; the pool grows between queries."""
    rng = random.Random(3)
    for vocabulary_size in (4, 12, 60):
        vocabulary = [f"w{i}" for i in range(vocabulary_size)]
        pool: list[str] = []
        index = NoveltyIndex()
        for step in range(240):
            text = random_text(rng, vocabulary, max_words=rng.choice([6, 20, 70]))
            if step % 2:
                assert index.max_rouge_l(text) == naive_max(pool, text)
            index.add(text)
            pool.append(text)
        assert len(index) == len(pool) and index.texts == pool


def test_index_agrees_with_rouge_score_scan() -> None:
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rng = random.Random(4)
    vocabulary = ["write", "a", "poem", "about", "the", "sea", "sort", "list", "of", "numbers", "in", "python", "explain", "why", "sky", "is", "blue"]
    pool = [random_text(rng, vocabulary) for _ in range(300)]
    index = NoveltyIndex(pool)
    for _ in range(100):
        text = random_text(rng, vocabulary)
        expected = max(scorer.score(member, text)["rougeL"].fmeasure for member in pool)
        assert index.max_rouge_l(text)[0] == expected


def test_index_prunes_on_a_large_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 10,000-member pool only a small share of members gets an exact LCS, and the result is exact."""
    from synth_assets.core import rouge

    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(2000)] + ["the", "a", "of", "write", "explain"] * 40
    pool = [random_text(rng, vocabulary, max_words=20) for _ in range(10_000)]
    index = NoveltyIndex(pool)
    queries = [random_text(rng, vocabulary, max_words=20) for _ in range(100)] + pool[:5]

    exact_lcs_calls = 0
    real_lcs = rouge._lcs_with_masks

    def counting_lcs(*args):  # type: ignore[no-untyped-def]
        nonlocal exact_lcs_calls
        exact_lcs_calls += 1
        return real_lcs(*args)

    monkeypatch.setattr(rouge, "_lcs_with_masks", counting_lcs)
    results = [index.max_rouge_l(text) for text in queries]
    assert exact_lcs_calls < 0.05 * len(pool) * len(queries)
    assert [r[0] for r in results[-5:]] == [1.0] * 5
    assert results[0] == naive_max(pool, queries[0])
