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


def _rows(instructions, responses=None, origin="synthetic", prefix="s", domain=None):
    responses = responses if responses is not None else [""] * len(instructions)
    frame = pd.DataFrame(
        {
            "id": [f"{prefix}{i}" for i in range(len(instructions))],
            "origin": origin,
            "instruction": instructions,
            "response": responses,
        }
    )
    return frame if domain is None else frame.assign(domain=domain)


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
        "distinct_2/(none)": 1.0,
    }
    assert result.offenders.empty


def test_distinct_n_fails_on_templated_rows_and_shows_the_shared_opening():
    result = check_distinct_n(TEMPLATED, min_distinct_2=0.3)
    assert not result.passed
    assert result.value == 0.25
    assert result.extra["distinct_1"] == 4 / 16
    assert result.detail.startswith("distinct-2 0.250 on 4 rows is below the minimum 0.300. ")
    assert "The openings most rows share: instruction 'x y' (4 rows, e.g. s0); response 'z w' (4 rows, e.g. s0)." in result.detail
    assert result.offenders.to_dict("records") == [
        {"column": "instruction", "opening": "x y", "rows": 4, "example_id": "s0"},
        {"column": "response", "opening": "z w", "rows": 4, "example_id": "s0"},
    ]


def test_a_failing_diversity_gate_names_the_worst_domain_and_what_to_do():
    template = "write a short answer about the topic at hand and keep it brief"
    frame = pd.concat([_rows([template] * 30, [f"{template} please"] * 30, domain="general"),
                       _rows(_words("c", 30, width=12), _words("r", 30, width=12), prefix="c", domain="code")])
    for gate in (check_distinct_n(frame, min_distinct_2=0.9), check_vendi(frame, min_score=50),
                 check_compression(frame, max_ratio=1.5)):
        assert not gate.passed
        assert "By domain, worst first: general" in gate.detail, gate.name
        assert "instruction 'write a short answer about the' (30 rows, e.g. s0)" in gate.detail, gate.name
        assert "vary the seeds of that domain, sample the teacher at a higher temperature" in gate.detail, gate.name


def test_distinct_n_measures_a_seeded_sample_of_at_most_max_rows():
    frame = _rows([f"w{i} v{i}" for i in range(50)])
    first = check_distinct_n(frame, max_rows=10, seed=1)
    shuffled = check_distinct_n(frame.sample(frac=1.0, random_state=0), max_rows=10, seed=1)
    assert first.extra["rows_measured"] == 10.0
    assert first.value == shuffled.value == 1.0


def test_distinct_n_fails_when_rows_have_no_bigram():
    result = check_distinct_n(_rows(["one", "two"], ["", ""]))
    assert not result.passed and math.isnan(result.value)
    assert result.detail.startswith("no 2-gram in 2 rows: distinct-2 is undefined. ")
    assert "No opening is shared by two rows." in result.detail


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
    assert result.offenders["rows"].tolist() == [200, 200]  # the instruction's opening, then the response's
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
    assert result.offenders["opening"].tolist() == ["x y", "z w"]


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


def _words(prefix, n, width=2, offset=0):
    return [" ".join(f"{prefix}{offset + i}x{j}" for j in range(width)) for i in range(n)]


HUMAN = _rows(_words("h", 4), origin="human", prefix="h")


def test_relative_diversity_passes_when_the_synthetic_part_is_as_diverse():
    synthetic = _rows(_words("s", 4))
    result = check_relative_diversity(pd.concat([HUMAN, synthetic]), min_rows=2)
    assert result.passed
    assert result.value == pytest.approx(1.0)
    assert result.extra["vendi_human"] == pytest.approx(4.0)
    assert result.extra["rows_per_part"] == 4.0


def test_relative_diversity_fails_when_the_synthetic_part_collapses():
    synthetic = _rows(["s t"] * 4)
    result = check_relative_diversity(pd.concat([HUMAN, synthetic]), min_rows=2)  # fraction 0.8
    assert not result.passed
    assert result.value == pytest.approx(0.25)  # distinct-2: 1/4 vs 4/4; Vendi: 1 vs 4
    assert result.extra["distinct_2_ratio"] == 0.25
    assert result.extra["vendi_ratio"] == pytest.approx(0.25)
    assert result.offenders["domain"].tolist() == ["(none)"]
    assert "instruction 's t' (4 rows, e.g. s0)" in result.detail


def test_relative_diversity_compares_equal_size_samples():
    synthetic = _rows(_words("s", 2))
    result = check_relative_diversity(pd.concat([HUMAN, synthetic]), min_rows=2)
    assert result.extra["rows_per_part"] == 2.0 and result.passed


def test_relative_diversity_compares_each_domain_with_its_own_human_rows():
    # Synthetic code is templated like the human code (each row repeats "def f return"), and the human
    # prose varies freely. Against the pooled human rows, the code would fail; against human code it passes.
    code = lambda prefix, n, offset=0: [f"def f{offset + i} ( x ) : return x + {prefix}{offset + i}"  # noqa: E731
                                        for i in range(n)]
    mix = pd.concat([
        _rows(code("h", 12), origin="human", prefix="hc", domain="code"),
        _rows(_words("p", 40, width=4), origin="human", prefix="hp", domain="general"),
        _rows(code("s", 12, offset=100), prefix="sc", domain="code"),
    ])
    result = check_relative_diversity(mix, min_rows=10)
    assert result.passed, result.detail
    assert result.extra["rows_per_part"] == 12.0 and result.extra["domains_compared"] == 1.0
    assert "matched by domain (code 12)" in result.detail
    pooled = check_relative_diversity(mix.assign(domain="all"), min_rows=10)
    assert not pooled.passed  # the same rows held against prose


def test_relative_diversity_names_the_failing_domain_and_says_what_to_do():
    mix = pd.concat([
        _rows(_words("h", 12), origin="human", prefix="hg", domain="general"),
        _rows(_words("m", 12), origin="human", prefix="hm", domain="math"),
        _rows(["Here is a short answer. Do it."] * 12, prefix="sg", domain="general"),
        _rows(_words("n", 12), prefix="sm", domain="math"),
    ])
    result = check_relative_diversity(mix, min_rows=10)
    assert not result.passed
    assert result.offenders["domain"].tolist() == ["general", "math"]  # worst first
    assert result.extra["ratio/math"] == pytest.approx(1.0)
    assert "the smaller below the floor 0.80. By domain, worst first: general" in result.detail
    assert "The openings most synthetic general rows share: instruction 'here is a short answer. do' (12 rows" in result.detail
    assert "add human rows like the seeds" in result.detail


def test_relative_diversity_reports_the_domains_it_cannot_compare():
    mix = pd.concat([
        _rows(_words("h", 12), origin="human", prefix="hg", domain="general"),
        _rows(_words("s", 12), prefix="sg", domain="general"),
        _rows(_words("c", 30), prefix="sc", domain="code"),  # no human code at all
        _rows(_words("m", 3), origin="human", prefix="hm", domain="math"),
        _rows(_words("n", 12), prefix="sm", domain="math"),  # too few human rows
    ])
    result = check_relative_diversity(mix, min_rows=10)
    assert result.passed and result.extra["domains_compared"] == 1.0
    assert result.extra["domains_not_compared"] == 2.0
    assert ("Not compared: code: 30 synthetic and 0 human rows (each part needs 10); "
            "math: 12 synthetic and 3 human rows (each part needs 10).") in result.detail


def test_relative_diversity_without_a_part_passes_with_a_note():
    result = check_relative_diversity(HUMAN)
    assert result.passed and math.isnan(result.value)
    assert result.detail.startswith("nothing to compare: 0 synthetic and 4 human rows")
