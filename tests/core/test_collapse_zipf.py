"""Discrete tail loss: under replace the Zipf support shrinks and held-out cross-entropy rises."""

import numpy as np
import pandas as pd
import pytest

from synth_assets.core.collapse import ZipfTailConfig, run_zipf_tail_loss, zipf_probabilities

SMALL = ZipfTailConfig(generations=20, repetitions=60, vocab_size=1_000, sample_size=1_000, heldout_size=5_000, seed=0)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return run_zipf_tail_loss(SMALL)


def _final(frame: pd.DataFrame, metric: str) -> pd.Series:
    return frame[frame["generation"] == SMALL.generations].set_index("regime")[metric]


def _first(frame: pd.DataFrame, metric: str) -> float:
    return float(frame[frame["generation"] == 0][metric].iloc[0])


def test_zipf_probabilities_sum_to_one_and_fall_with_rank():
    p = zipf_probabilities(50, 1.1)
    assert p.sum() == pytest.approx(1.0)
    assert np.all(np.diff(p) < 0)


def test_replace_shrinks_the_support_by_a_large_factor(frame):
    assert _final(frame, "support_size")["replace"] < 0.3 * _first(frame, "support_size")


def test_replace_support_never_grows(frame):
    support = frame[frame["regime"] == "replace"]["support_size"]
    assert support.is_monotonic_decreasing


def test_accumulate_keeps_the_whole_support(frame):
    support = frame[frame["regime"] == "accumulate"]["support_size"]
    assert (support == _first(frame, "support_size")).all()


def test_keep_real_lies_between(frame):
    support = _final(frame, "support_size")
    entropy = _final(frame, "cross_entropy")
    assert support["replace"] < support["keep_real"] < support["accumulate"]
    assert entropy["replace"] > entropy["keep_real"] > entropy["accumulate"]


def test_cross_entropy_rises_under_replace_and_stays_flat_under_accumulate(frame):
    first = _first(frame, "cross_entropy")
    assert _final(frame, "cross_entropy")["replace"] > first + 1.0
    assert _final(frame, "cross_entropy")["accumulate"] < first * 1.02


def test_lost_tail_mass_grows_under_replace(frame):
    unseen = _final(frame, "heldout_unseen_mass")
    assert unseen["replace"] > 2 * _first(frame, "heldout_unseen_mass")
    assert unseen["accumulate"] == pytest.approx(_first(frame, "heldout_unseen_mass"))


def test_same_seed_same_numbers():
    config = ZipfTailConfig(generations=3, repetitions=10, vocab_size=100, sample_size=200, heldout_size=500, seed=3)
    pd.testing.assert_frame_equal(run_zipf_tail_loss(config), run_zipf_tail_loss(config))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("vocab_size", 1),
        ("exponent", 0.0),
        ("sample_size", 1),
        ("heldout_size", 0),
        ("real_fraction", 1.5),
        ("eval_smoothing", 0.0),
    ],
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ZipfTailConfig(**{field: value})
