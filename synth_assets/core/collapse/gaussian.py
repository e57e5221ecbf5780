"""Gaussian refit: fit a mean and variance, sample from the fit, refit, for many generations.

This is the one-dimensional case of Shumailov et al. (2024), "Theoretical intuition: multidimensional
Gaussian". With the unbiased variance estimator and a fixed sample size n, the expected fitted variance
stays at its starting value while the variance itself goes to zero almost surely: log-variance takes a
random walk that drifts down by about 1/(n - 1) a generation. So we report the median over
repetitions, which collapses, next to the mean, which does not.

All repetitions run at once as rows of one numpy array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth_assets.core.collapse._validate import require_at_least, require_fraction
from synth_assets.core.collapse.regimes import REGIMES, Regime, real_share_count

__all__ = ["GaussianRefitConfig", "run_gaussian_refit"]


@dataclass(frozen=True)
class GaussianRefitConfig:
    """Knobs of the Gaussian refit experiment.

    `sample_size` is the number of points each generation is fitted to (collapse speed is about
    1/(sample_size - 1) in log-variance a generation); `real_fraction` is the real share under
    `keep_real`.
    """

    generations: int = 20
    repetitions: int = 10_000
    sample_size: int = 10
    real_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        require_at_least("generations", self.generations, 1)
        require_at_least("repetitions", self.repetitions, 1)
        require_at_least("sample_size", self.sample_size, 2)
        require_fraction("real_fraction", self.real_fraction)
        require_at_least("seed", self.seed, 0)


def run_gaussian_refit(config: GaussianRefitConfig) -> pd.DataFrame:
    """One row per (generation, regime): median and mean fitted variance, median |fitted mean|.

    The real data are `sample_size` draws from N(0, 1) per repetition; generation 0 is the fit to them.
    Every regime starts from the same real data, and each regime draws from its own random stream.
    """
    real = np.random.default_rng([config.seed, 0]).standard_normal((config.repetitions, config.sample_size))
    rows = []
    for index, regime in enumerate(REGIMES, start=1):
        rng = np.random.default_rng([config.seed, index])
        data = real
        for generation in range(config.generations + 1):
            mean = data.mean(axis=1)
            variance = data.var(axis=1, ddof=1)
            rows.append(
                {
                    "generation": generation,
                    "regime": regime.value,
                    "median_variance": float(np.median(variance)),
                    "mean_variance": float(variance.mean()),
                    "median_abs_mean": float(np.median(np.abs(mean))),
                }
            )
            data = _next_training_set(regime, data, real, mean, variance, config, rng)
    return pd.DataFrame(rows)


def _next_training_set(
    regime: Regime,
    data: np.ndarray,
    real: np.ndarray,
    mean: np.ndarray,
    variance: np.ndarray,
    config: GaussianRefitConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    n = config.sample_size
    n_real = real_share_count(n, config.real_fraction) if regime is Regime.KEEP_REAL else 0
    synthetic = mean[:, None] + np.sqrt(variance)[:, None] * rng.standard_normal((len(mean), n - n_real))
    if regime is Regime.REPLACE:
        return synthetic
    if regime is Regime.ACCUMULATE:
        return np.concatenate([data, synthetic], axis=1)
    # keep_real: a fresh random subset (without replacement) of each repetition's real points
    picks = np.argsort(rng.random(real.shape), axis=1)[:, :n_real]
    return np.concatenate([np.take_along_axis(real, picks, axis=1), synthetic], axis=1)
