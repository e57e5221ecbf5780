"""Discrete tail loss: a Zipf-distributed vocabulary refitted from its own samples.

This is Shumailov et al. (2024), "Theoretical intuition: discrete distributions with exact
approximation": the model is the empirical distribution of its training sample (counts / total), so
the only error is finite sampling. A token that draws zero samples gets probability zero and can never
come back, so under `replace` the support shrinks generation after generation, rare tokens first.

Cross-entropy is measured on a held-out real sample. An unsmoothed model gives a held-out token it has
lost probability zero, so the evaluation (only) mixes the model with a uniform floor of weight
`eval_smoothing`; `heldout_unseen_mass` reports the held-out share that the model itself has lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth_assets.core.collapse._validate import require_at_least, require_fraction, require_positive
from synth_assets.core.collapse.regimes import REGIMES, Regime, real_share_count

__all__ = ["ZipfTailConfig", "run_zipf_tail_loss", "zipf_probabilities"]


@dataclass(frozen=True)
class ZipfTailConfig:
    """Knobs of the discrete tail-loss experiment: p(rank k) is proportional to k^-exponent."""

    generations: int = 20
    repetitions: int = 200
    vocab_size: int = 1_000
    exponent: float = 1.1
    sample_size: int = 1_000
    heldout_size: int = 20_000
    real_fraction: float = 0.1
    eval_smoothing: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        require_at_least("generations", self.generations, 1)
        require_at_least("repetitions", self.repetitions, 1)
        require_at_least("vocab_size", self.vocab_size, 2)
        require_positive("exponent", self.exponent)
        require_at_least("sample_size", self.sample_size, 2)
        require_at_least("heldout_size", self.heldout_size, 1)
        require_fraction("real_fraction", self.real_fraction)
        require_fraction("eval_smoothing", self.eval_smoothing)
        require_at_least("seed", self.seed, 0)


def zipf_probabilities(vocab_size: int, exponent: float) -> np.ndarray:
    weights = np.arange(1, vocab_size + 1, dtype=float) ** -exponent
    return weights / weights.sum()


def run_zipf_tail_loss(config: ZipfTailConfig) -> pd.DataFrame:
    """One row per (generation, regime): median support size, mean held-out cross-entropy (nats per
    token) and mean held-out unseen mass, over repetitions. Generation 0 is the fit to the real sample.
    """
    truth = zipf_probabilities(config.vocab_size, config.exponent)
    data_rng = np.random.default_rng([config.seed, 0])
    real = data_rng.choice(config.vocab_size, size=(config.repetitions, config.sample_size), p=truth)
    heldout = np.bincount(
        data_rng.choice(config.vocab_size, size=config.heldout_size, p=truth), minlength=config.vocab_size
    )
    real_counts = _row_counts(real, config.vocab_size)

    rows = []
    for index, regime in enumerate(REGIMES, start=1):
        rng = np.random.default_rng([config.seed, index])
        counts = real_counts
        for generation in range(config.generations + 1):
            model = counts / counts.sum(axis=1, keepdims=True)
            rows.append({"generation": generation, "regime": regime.value, **_evaluate(model, heldout, config)})
            counts = _next_counts(regime, counts, model, real, config, rng)
    return pd.DataFrame(rows)


def _evaluate(model: np.ndarray, heldout: np.ndarray, config: ZipfTailConfig) -> dict[str, float]:
    smoothed = (1.0 - config.eval_smoothing) * model + config.eval_smoothing / config.vocab_size
    weights = heldout / heldout.sum()
    return {
        "support_size": float(np.median((model > 0).sum(axis=1))),
        "cross_entropy": float(np.mean(-(np.log(smoothed) * weights).sum(axis=1))),
        "heldout_unseen_mass": float(np.mean(((model == 0) * weights).sum(axis=1))),
    }


def _next_counts(
    regime: Regime,
    counts: np.ndarray,
    model: np.ndarray,
    real: np.ndarray,
    config: ZipfTailConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    n = config.sample_size
    n_real = real_share_count(n, config.real_fraction) if regime is Regime.KEEP_REAL else 0
    synthetic = rng.multinomial(n - n_real, model)
    if regime is Regime.REPLACE:
        return synthetic
    if regime is Regime.ACCUMULATE:
        return counts + synthetic
    picks = np.argsort(rng.random(real.shape), axis=1)[:, :n_real]
    return synthetic + _row_counts(np.take_along_axis(real, picks, axis=1), config.vocab_size)


def _row_counts(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Per-row bincount of a (rows, n) array of token ids, as a (rows, vocab_size) array."""
    offsets = np.arange(ids.shape[0])[:, None] * vocab_size
    return np.bincount((ids + offsets).ravel(), minlength=ids.shape[0] * vocab_size).reshape(ids.shape[0], vocab_size)
