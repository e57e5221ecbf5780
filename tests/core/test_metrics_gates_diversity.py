"""Diversity gates: for each, a table that passes and one that fails, with the figure reported."""

import gzip
import math

import numpy as np
import pandas as pd
import pytest

from synth_assets.core.metrics import DEFAULT_THRESHOLDS
from synth_assets.core.metrics.gates import (
    check_compression,
    check_distinct_n,
    check_relative_diversity,
    check_tail_coverage,
    check_vendi,
)


def _rows(instructions, responses=None, origin="synthetic", prefix="s"):
    responses = responses if responses is not None else [""] * len(instructions)
    return pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(len(instructions))],
            "origin": origin,
            "instruction": instructions,
            "response": responses,
        }
    )


VARIED = _rows(["a b", "c d"], ["e f", "g h"])  # bigrams ab be ef, cd dg gh: all distinct
TEMPLATED = _rows(["x y"] * 4, ["z w"] * 4)  # 12 bigrams, 3 distinct


# --- distinct-n ---


def test_distinct_n_passes_on_varied_rows():
    result = check_distinct_n(VARIED)
    assert result.passed
    assert result.value == 1.0 and result.threshold == DEFAULT_THRESHOLDS["distinct_2_min"].value
    assert result.extra == {
        "distinct_1": 1.0,
        "distinct_2": 1.0,
        "distinct_3": 1.0,
        "distinct_4": 1.0,
        "rows_measured": 2.0,
    }
    assert result.offenders.empty


def test_distinct_n_fails_on_templated_rows_and_shows_the_shared_opening():
    result = check_distinct_n(TEMPLATED, min_distinct_2=0.3)
    assert not result.passed
    assert result.value == 0.25
    assert result.extra["distinct_1"] == 4 / 16
    assert result.detail == "distinct-2 0.250 on 4 rows is below the minimum 0.300"
    assert result.offenders.to_dict("records") == [{"opening": "x y", "rows": 4, "example_id": "s0"}]


def test_distinct_n_measures_a_seeded_sample_of_at_most_max_rows():
    frame = _rows([f"w{i} v{i}" for i in range(50)])
    first = check_distinct_n(frame, max_rows=10, seed=1)
    shuffled = check_distinct_n(frame.sample(frac=1.0, random_state=0), max_rows=10, seed=1)
    assert first.extra["rows_measured"] == 10.0
    assert first.value == shuffled.value == 1.0


def test_distinct_n_fails_when_rows_have_no_bigram():
    result = check_distinct_n(_rows(["one", "two"], ["", ""]))
    assert not result.passed and math.isnan(result.value)
    assert result.detail == "no 2-gram in 2 rows: distinct-2 is undefined"


# --- compression ---


def test_compression_passes_on_short_varied_text():
    result = check_compression(VARIED)
    data = b"a b\ne f\nc d\ng h"
    assert result.passed
    assert result.value == len(data) / len(gzip.compress(data, compresslevel=6, mtime=0))


def test_compression_fails_on_repeated_rows():
    frame = _rows(["Write a function that adds two numbers."] * 200, ["def add(a, b): return a + b"] * 200)
    result = check_compression(frame)
    assert not result.passed
    assert result.value > 20  # 200 copies of one row compress to little more than one copy
    assert result.offenders["rows"].tolist() == [200]
    assert result.detail.startswith("the texts of 200 rows compress")


def test_compression_rejects_a_ratio_below_one():
    with pytest.raises(ValueError, match="max_ratio must be >= 1"):
        check_compression(VARIED, max_ratio=0.5)


# --- Vendi ---


def test_vendi_passes_on_rows_with_disjoint_words():
    frame = _rows(["alpha beta", "gamma delta", "epsilon zeta", "eta theta"])
    result = check_vendi(frame, min_score=3.0)
    assert result.passed
    assert result.value == pytest.approx(4.0)
    assert result.detail == "Vendi score 4.00 of 4 rows (TF-IDF vectors) is at least the minimum 3"


def test_vendi_fails_on_identical_rows():
    result = check_vendi(TEMPLATED, min_score=3.0)
    assert not result.passed
    assert result.value == pytest.approx(1.0)
    assert result.offenders["opening"].tolist() == ["x y"]


def test_vendi_uses_given_embeddings_row_for_row():
    embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 2.0]])
    result = check_vendi(TEMPLATED, embeddings, min_score=2.0)
    assert result.passed and result.value == pytest.approx(2.0)
    assert "(embeddings)" in result.detail
    with pytest.raises(ValueError, match="embeddings has 2 rows but the frame has 4"):
        check_vendi(TEMPLATED, embeddings[:2])


# --- tail coverage ---


def _mix(pairs):
    return pd.DataFrame(
        [{"id": f"m{i}", "domain": d, "category": c} for i, (d, c, n) in enumerate(pairs) for _ in range(n)]
    )


MIX = _mix([("code", "lists", 5), ("math", "rates", 2), ("general", "writing", 9)])


def test_tail_coverage_passes_when_every_seed_category_keeps_enough_rows():
    result = check_tail_coverage(MIX, {("code", "lists"), ("math", "rates")}, min_rows=2)
    assert result.passed
    assert result.value == 2.0 and result.threshold == 2.0
    assert result.extra["coverage"] == 1.0
    assert result.detail == "all 2 seed categories keep at least 2 rows; the thinnest, math/rates, has 2"


def test_tail_coverage_fails_on_a_thin_or_missing_seed_category():
    seeds = {
        ("code", "lists"): 3,
        ("math", "rates"): 2,
        ("math", "geometry"): 1,
    }  # a Mapping: read by its keys
    result = check_tail_coverage(MIX, seeds)  # min_rows 5
    assert not result.passed
    assert result.value == 0.0
    assert result.extra["coverage"] == pytest.approx(2 / 3)
    assert result.offenders.to_dict("records") == [
        {"domain": "math", "category": "geometry", "rows": 0},
        {"domain": "math", "category": "rates", "rows": 2},
    ]


def test_tail_coverage_accepts_bare_categories():
    assert check_tail_coverage(MIX, ["lists", "writing"], min_rows=5).passed
    assert check_tail_coverage(MIX, ["rates"], min_rows=5).value == 2.0
    with pytest.raises(ValueError, match="mixes"):
        check_tail_coverage(MIX, [("code", "lists"), "rates"])


# --- relative diversity ---


HUMAN = _rows(["h1 h2", "h3 h4", "h5 h6", "h7 h8"], origin="human", prefix="h")


def test_relative_diversity_passes_when_the_synthetic_part_is_as_diverse():
    synthetic = _rows(["s1 s2", "s3 s4", "s5 s6", "s7 s8"])
    result = check_relative_diversity(pd.concat([HUMAN, synthetic]))
    assert result.passed
    assert result.value == pytest.approx(1.0)
    assert result.extra["vendi_human"] == pytest.approx(4.0)
    assert result.extra["rows_per_part"] == 4.0


def test_relative_diversity_fails_when_the_synthetic_part_collapses():
    synthetic = _rows(["s t"] * 4)
    result = check_relative_diversity(pd.concat([HUMAN, synthetic]))  # fraction 0.8
    assert not result.passed
    assert result.value == pytest.approx(0.25)  # distinct-2: 1/4 vs 4/4; Vendi: 1 vs 4
    assert result.extra["distinct_2_ratio"] == 0.25
    assert result.extra["vendi_ratio"] == pytest.approx(0.25)
    assert result.offenders["opening"].tolist() == ["s t"]


def test_relative_diversity_compares_equal_size_samples():
    synthetic = _rows(["s1 s2", "s3 s4"])
    result = check_relative_diversity(pd.concat([HUMAN, synthetic]))
    assert result.extra["rows_per_part"] == 2.0 and result.passed


def test_relative_diversity_without_a_part_passes_with_a_note():
    result = check_relative_diversity(HUMAN)
    assert result.passed and math.isnan(result.value)
    assert result.detail == "nothing to compare: 0 synthetic and 4 human rows"
