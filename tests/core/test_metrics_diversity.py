"""Diversity metrics on tiny literal inputs, with the exact figures they must give."""

import gzip
import math

import numpy as np
import pytest

from synth_assets.core.metrics import diversity
from synth_assets.core.metrics.diversity import (
    category_coverage,
    compression_ratio,
    distinct_n,
    distinct_ns,
    tfidf_vectors,
    vendi_score,
    vendi_score_from_kernel,
)


def test_distinct_ns_counts_ngrams_within_each_text():
    # "a b c a b": unigrams 5, bigrams ab bc ca ab; "A B": unigrams 2, bigram ab (lower-cased)
    values = distinct_ns(["a b c a b", "A B"])
    assert values == {1: 3 / 7, 2: 3 / 5, 3: 1.0, 4: 1.0}


def test_distinct_n_never_joins_the_end_of_one_text_to_the_next():
    # across the boundary "b c" would be a bigram; inside the texts there are only "a b" twice
    assert distinct_n(["a b", "c", "a b"], 2) == 0.5


def test_distinct_n_is_nan_without_ngrams_of_that_length():
    assert math.isnan(distinct_n(["one", "two"], 2))
    assert math.isnan(distinct_n([], 1))
    assert distinct_ns(["x y"], (2, 3)) == {2: 1.0, 3: pytest.approx(math.nan, nan_ok=True)}


def test_distinct_ns_rejects_non_positive_n():
    with pytest.raises(ValueError, match="ns must be positive"):
        distinct_ns(["a b"], (0, 1))


def test_distinct_ns_agrees_with_tuple_counting_on_random_text():
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(200)]
    for n in (1, 2, 3, 4):
        grams = [tuple(t.split()[i : i + n]) for t in texts for i in range(len(t.split()) - n + 1)]
        assert distinct_n(texts, n) == pytest.approx(len(set(grams)) / len(grams))


def test_compression_ratio_is_raw_bytes_over_gzip_bytes():
    texts = ["the cat sat", "the cat sat", "on the mat"]
    data = b"the cat sat\nthe cat sat\non the mat"
    assert compression_ratio(texts) == len(data) / len(gzip.compress(data, compresslevel=6, mtime=0))


def test_compression_ratio_rises_with_repetition_and_is_nan_when_empty():
    varied = [f"question {i}: what is {i * 7919 % 1000} plus {i * 104729 % 997}?" for i in range(200)]
    repeated = ["what is one plus one?"] * 200
    assert compression_ratio(repeated) > 3 * compression_ratio(varied)
    assert math.isnan(compression_ratio([]))
    assert math.isnan(compression_ratio([""]))


def test_vendi_is_one_for_identical_items_and_n_for_orthogonal_ones():
    assert vendi_score(np.ones((5, 3))) == pytest.approx(1.0)
    assert vendi_score(np.eye(4)) == pytest.approx(4.0)
    # two pairs of duplicates, the pairs orthogonal: an effective number of 2
    assert vendi_score(np.array([[1, 0], [1, 0], [0, 3], [0, 2]])) == pytest.approx(2.0)


def test_vendi_from_the_d_by_d_dual_equals_the_n_by_n_definition():
    x = np.random.default_rng(0).normal(size=(300, 16))  # d < n: the dual path
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    assert vendi_score(x) == pytest.approx(vendi_score_from_kernel(unit @ unit.T), rel=1e-9)
    wide = np.random.default_rng(1).normal(size=(10, 50))  # d >= n: the n x n path
    unit = wide / np.linalg.norm(wide, axis=1, keepdims=True)
    assert vendi_score(wide) == pytest.approx(vendi_score_from_kernel(unit @ unit.T), rel=1e-9)


def test_vendi_leaves_out_zero_rows_and_rejects_bad_shapes():
    assert vendi_score(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])) == pytest.approx(2.0)
    assert math.isnan(vendi_score(np.zeros((3, 2))))
    assert math.isnan(vendi_score(np.zeros((0, 4))))
    with pytest.raises(ValueError, match="2-d"):
        vendi_score(np.ones(3))
    with pytest.raises(ValueError, match="square"):
        vendi_score_from_kernel(np.ones((2, 3)))


def test_tfidf_vectors_of_disjoint_texts_are_orthogonal_unit_rows():
    vectors = tfidf_vectors(["alpha beta", "gamma delta", "epsilon zeta"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vendi_score(vectors) == pytest.approx(3.0)
    assert vendi_score(tfidf_vectors(["same words here"] * 4)) == pytest.approx(1.0)


def test_tfidf_vectors_reduce_to_max_dims_keeping_inner_products_for_few_texts():
    texts = [f"word{i} word{i + 1} shared" for i in range(6)]
    full = tfidf_vectors(texts, max_dims=100)
    reduced = tfidf_vectors(texts, max_dims=6)  # 6 texts: exact reduction
    assert full.shape == (6, 8) and reduced.shape[1] <= 6
    np.testing.assert_allclose(reduced @ reduced.T, full @ full.T, atol=1e-9)


def test_tfidf_vectors_use_truncated_svd_beyond_max_dims_rows():
    texts = [f"word{i} word{i + 1} word{i + 2}" for i in range(12)]
    vectors = tfidf_vectors(texts, max_dims=4, seed=3)
    assert vectors.shape == (12, 4)
    np.testing.assert_array_equal(vectors, tfidf_vectors(texts, max_dims=4, seed=3))
    assert 1.0 < vendi_score(vectors) <= 4.0


def test_tfidf_vectors_of_texts_without_words_are_zero_rows():
    assert tfidf_vectors([]).shape == (0, 0)
    np.testing.assert_array_equal(tfidf_vectors(["", "!!"]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="max_dims"):
        tfidf_vectors(["a"], max_dims=0)


def test_numpy_fallback_gives_the_same_figures_on_small_inputs(monkeypatch):
    monkeypatch.setattr(diversity, "HAVE_SKLEARN", False)
    vectors = tfidf_vectors(["alpha beta", "gamma delta", "epsilon zeta"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert vendi_score(vectors) == pytest.approx(3.0)
    assert vendi_score(tfidf_vectors(["same words here"] * 4)) == pytest.approx(1.0)
    many = tfidf_vectors([f"word{i} word{i + 1}" for i in range(12)], max_dims=4)
    assert many.shape == (12, 4)


def test_category_coverage_is_the_share_of_seed_categories_present():
    assert category_coverage(["a", "a", "b", "z"], {"a", "b", "c", "d"}) == 0.5
    assert category_coverage([("code", "lists")], [("code", "lists"), ("math", "lists")]) == 0.5
    assert math.isnan(category_coverage(["a"], []))
