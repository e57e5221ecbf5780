"""Gaussian refit: under replace the median fitted variance collapses, accumulate holds it."""

import pandas as pd
import pytest

from synth_assets.core.collapse import GaussianRefitConfig, run_gaussian_refit

SMALL = GaussianRefitConfig(generations=20, repetitions=4_000, sample_size=10, real_fraction=0.1, seed=0)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return run_gaussian_refit(SMALL)


def _series(frame: pd.DataFrame, regime: str, metric: str) -> pd.Series:
    return frame[frame["regime"] == regime].set_index("generation")[metric]


def test_one_row_per_generation_and_regime(frame):
    assert list(frame.columns[:2]) == ["generation", "regime"]
    assert len(frame) == 3 * (SMALL.generations + 1)
    assert set(frame["regime"]) == {"replace", "keep_real", "accumulate"}


def test_generation_zero_is_the_same_fit_for_every_regime(frame):
    assert frame[frame["generation"] == 0]["median_variance"].nunique() == 1


def test_replace_collapses_the_median_variance_by_a_large_factor(frame):
    median = _series(frame, "replace", "median_variance")
    assert median[20] < 0.2 * median[0]


def test_replace_keeps_the_mean_variance_near_one(frame):
    # The unbiased estimator keeps E[variance] fixed: collapse only shows in the median.
    assert 0.8 < _series(frame, "replace", "mean_variance")[20] < 1.2


def test_accumulate_stays_within_a_small_band_of_generation_zero(frame):
    median = _series(frame, "accumulate", "median_variance")
    assert (median / median[0]).between(0.75, 1.25).all()


def test_keep_real_lies_between_replace_and_accumulate(frame):
    final = frame[frame["generation"] == 20].set_index("regime")["median_variance"]
    assert final["replace"] < final["keep_real"] < final["accumulate"]
    assert final["keep_real"] > 2 * final["replace"]


def test_same_seed_same_numbers_and_other_seed_other_numbers():
    config = GaussianRefitConfig(generations=3, repetitions=200, seed=5)
    pd.testing.assert_frame_equal(run_gaussian_refit(config), run_gaussian_refit(config))
    other = run_gaussian_refit(GaussianRefitConfig(generations=3, repetitions=200, seed=6))
    assert not other.equals(run_gaussian_refit(config))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("generations", 0),
        ("repetitions", 0),
        ("sample_size", 1),
        ("real_fraction", 0.0),
        ("real_fraction", 1.0),
        ("seed", -1),
    ],
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        GaussianRefitConfig(**{field: value})
