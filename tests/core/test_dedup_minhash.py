"""MinHash signatures, their configuration, LSH candidates and Jaccard estimates."""

from __future__ import annotations

import random

import numpy as np
import pytest

from synth_assets.core.dedup.jaccard import estimated_jaccard, exact_jaccard
from synth_assets.core.dedup.lsh import bucket_pairs, candidate_pairs
from synth_assets.core.dedup.minhash import (
    EMPTY,
    MinHashConfig,
    lsh_candidate_probability,
    minhash_signatures,
    optimal_bands_rows,
    signatures_and_shingles,
)


def _words(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [f"w{rng.randrange(100_000)}" for _ in range(count)]


def _shingles(text: str, n: int = 5) -> set[str]:
    tokens = text.lower().split()
    return {" ".join(tokens[k : k + n]) for k in range(len(tokens) - n + 1)}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_perm": 0}, "num_perm"),
        ({"ngram": 0}, "ngram"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"false_negative_weight": 2.0}, "false_negative_weight"),
        ({"bucket_window": 1}, "bucket_window"),
        ({"bands": 4}, "bands and rows"),
        ({"bands": 20, "rows": 8}, "bands \\* rows"),
        ({"bands": 0, "rows": 8}, "bands and rows"),
        ({"confirm": "maybe"}, "confirm"),
    ],
)
def test_config_validation_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        MinHashConfig(**kwargs)


def test_bands_and_rows_are_chosen_for_the_threshold() -> None:
    default = MinHashConfig()
    assert (default.lsh_bands, default.lsh_rows) == (16, 8)
    assert lsh_candidate_probability(0.8, 16, 8) > 0.94
    strict = MinHashConfig(threshold=0.95)
    assert strict.lsh_rows > default.lsh_rows  # a higher threshold wants longer bands
    assert (MinHashConfig(bands=8, rows=16).lsh_bands, MinHashConfig(bands=8, rows=16).lsh_rows) == (8, 16)
    assert "16 bands x 8 rows" in str(default) and "Jaccard >= 0.8" in str(default)
    assert optimal_bands_rows(128, 0.8, 0.5) == (9, 13)  # datasketch's equal weights give its choice


def test_signatures_shape_determinism_and_seed() -> None:
    texts = [" ".join(_words(i, 40)) for i in range(5)] + [""]
    first = minhash_signatures(texts)
    assert first.shape == (6, 128) and first.dtype == np.uint32
    np.testing.assert_array_equal(first, minhash_signatures(texts))
    other = minhash_signatures(texts, MinHashConfig(seed=2))
    assert (other[:5] != first[:5]).mean() > 0.9
    assert (first[5] == EMPTY).all() and not (first[:5] == EMPTY).all(axis=1).any()


def test_normalisation_makes_signatures_equal() -> None:
    base = " ".join(_words(1, 30))
    variants = [base, base.upper(), "  " + base.replace(" ", " \t ") + "!!", base.replace(" ", ", ")]
    signatures = minhash_signatures(variants)
    assert (signatures == signatures[0]).all()


def test_estimate_tracks_exact_jaccard() -> None:
    rng = random.Random(5)
    base = _words(2, 400)
    pairs_true, pairs_estimated = [], []
    texts = []
    for edits in range(0, 60, 4):
        copy = list(base)
        for _ in range(edits):
            copy[rng.randrange(len(copy))] = f"x{rng.randrange(10**6)}"
        texts += [" ".join(base), " ".join(copy)]
    signatures, shingles = signatures_and_shingles(texts)
    left, right = np.arange(0, len(texts), 2), np.arange(1, len(texts), 2)
    estimated = estimated_jaccard(signatures, left, right)
    exact = exact_jaccard(shingles, left, right)
    for k in range(len(left)):
        a, b = _shingles(texts[left[k]]), _shingles(texts[right[k]])
        pairs_true.append(len(a & b) / len(a | b))
        pairs_estimated.append(estimated[k])
    np.testing.assert_allclose(exact, pairs_true)
    # 128 permutations: standard error at most 0.045; allow 4 of them
    assert np.max(np.abs(np.array(pairs_estimated) - np.array(pairs_true))) < 0.18
    assert abs(np.mean(np.array(pairs_estimated) - np.array(pairs_true))) < 0.03


def test_exact_jaccard_of_empty_sets_is_zero() -> None:
    _, shingles = signatures_and_shingles(["", "", "a b c d e"])
    assert exact_jaccard(shingles, np.array([0, 0]), np.array([1, 2])).tolist() == [0.0, 0.0]


def test_bucket_pairs_all_pairs_in_small_buckets_and_a_window_in_big_ones() -> None:
    keys = np.array([7, 3, 7, 9, 7, 3], dtype=np.uint64)
    left, right = bucket_pairs(keys, np.arange(6), window=16)
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 2), (0, 4), (1, 5), (2, 4)]
    big = np.zeros(10, dtype=np.uint64)
    left, right = bucket_pairs(big, np.arange(10), window=3)
    assert len(left) == 9 + 8  # each row with its next two


def test_candidates_skip_empty_texts() -> None:
    texts = ["", "", "...", " ".join(_words(3, 20)), " ".join(_words(3, 20))]
    left, right = candidate_pairs(minhash_signatures(texts), MinHashConfig())
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == [(3, 4)]


def test_chunking_and_blocking_do_not_change_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    from synth_assets.core.dedup import minhash, shingles

    rng = random.Random(9)
    texts = [" ".join(_words(k, rng.randrange(0, 120))) for k in range(40)] + [" ".join(_words(99, 3000))]
    reference = minhash_signatures(texts)
    monkeypatch.setattr(shingles, "_CHUNK_BYTES", 300)
    monkeypatch.setattr(minhash, "_BLOCK_SHINGLES", 7)
    np.testing.assert_array_equal(minhash_signatures(texts), reference)
    _, sets = signatures_and_shingles(texts)
    assert sets.offsets[-1] == len(sets.keys) and len(sets.offsets) == len(texts) + 1
