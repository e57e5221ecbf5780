"""A small language model retrained on its own samples: the language-model case of model collapse.

Shumailov et al. (2024), "Model collapse in language models", fine-tune OPT-125m on wikitext2 for
several generations, each on the previous generation's output, and see perplexity on the real test
set rise, less so when 10 percent of the original data is kept. Gerstgrasser et al. (2024), Sec. 3,
pretrain transformers on TinyStories and find that accumulating data keeps test loss flat.

Here the model is the `KneserNeyTrigram` of `ngram.py`, the real data are the shipped human pairs
(instruction + response), 20 percent of them held out for perplexity. Each generation samples as many
documents as the human training split holds, and the next model trains on them under each regime.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth_assets.core.collapse._validate import require_at_least, require_fraction
from synth_assets.core.collapse.ngram import KneserNeyTrigram, Vocabulary, distinct_n, tokenize
from synth_assets.core.collapse.regimes import REGIMES, Regime, real_share_count
from synth_assets.core.mixing import MixConfig

__all__ = ["LanguageModelCollapse", "NgramCollapseConfig", "run_ngram_collapse"]

_MIN_DOCS = 5


@dataclass(frozen=True)
class NgramCollapseConfig:
    """Knobs of the language-model experiment.

    `real_fraction` defaults to the mix's default human share (`MixConfig.human_fraction`); `distinct_tokens` is
    the number of sampled words distinct-n is measured over, the same for every generation.
    """

    generations: int = 10
    real_fraction: float = MixConfig.human_fraction
    heldout_fraction: float = 0.2
    min_count: int = 2
    distinct_tokens: int = 50_000
    seed: int = 0

    def __post_init__(self) -> None:
        require_at_least("generations", self.generations, 1)
        require_fraction("real_fraction", self.real_fraction)
        require_fraction("heldout_fraction", self.heldout_fraction)
        require_at_least("min_count", self.min_count, 1)
        require_at_least("distinct_tokens", self.distinct_tokens, 1)
        require_at_least("seed", self.seed, 0)


@dataclass(frozen=True)
class LanguageModelCollapse:
    """The per-generation table plus what puts it in context.

    `human_distinct` is distinct-1 and distinct-2 of the human training split over the same word
    budget; `examples` is the start of one document sampled at the last generation, per regime.
    """

    table: pd.DataFrame
    human_distinct: dict[str, float]
    examples: dict[str, str]
    train_docs: int
    heldout_docs: int
    vocab_size: int


def run_ngram_collapse(texts: Sequence[str], config: NgramCollapseConfig) -> LanguageModelCollapse:
    """One row per (generation, regime): held-out perplexity, distinct-1/2 and mean length of the
    model's samples, and the number of word types in that generation's training set."""
    if len(texts) < _MIN_DOCS:
        raise ValueError(f"texts must hold at least {_MIN_DOCS} documents, got {len(texts)}")
    train_tokens, heldout_tokens = _split(texts, config)
    vocab = Vocabulary.build(train_tokens, config.min_count)
    train = [vocab.encode(doc) for doc in train_tokens]
    heldout = [vocab.encode(doc) for doc in heldout_tokens]
    n_docs, max_tokens = len(train), max(len(doc) for doc in train)

    model = KneserNeyTrigram(train, len(vocab))
    first_samples = model.sample(n_docs, np.random.default_rng([config.seed, 0]), max_tokens)
    first_row = _measure(model, train, first_samples, heldout, config)

    rows, examples = [], {}
    for index, regime in enumerate(REGIMES, start=1):
        rng = np.random.default_rng([config.seed, index])
        rows.append({"generation": 0, "regime": regime.value, **first_row})
        samples, pool = first_samples, list(train)
        for generation in range(1, config.generations + 1):
            training_set = _next_training_set(regime, train, samples, pool, config, rng)
            model = KneserNeyTrigram(training_set, len(vocab))
            samples = model.sample(n_docs, rng, max_tokens)
            rows.append(
                {
                    "generation": generation,
                    "regime": regime.value,
                    **_measure(model, training_set, samples, heldout, config),
                }
            )
        examples[regime.value] = vocab.decode(next((d for d in samples if len(d)), samples[0])[:40].tolist())

    human_distinct = {f"distinct_{n}": distinct_n(train, n, config.distinct_tokens) for n in (1, 2)}
    return LanguageModelCollapse(
        table=pd.DataFrame(rows),
        human_distinct=human_distinct,
        examples=examples,
        train_docs=n_docs,
        heldout_docs=len(heldout),
        vocab_size=len(vocab),
    )


def _split(texts: Sequence[str], config: NgramCollapseConfig) -> tuple[list[list[str]], list[list[str]]]:
    """A fixed held-out split: order texts by a seeded hash of their content, hold out the first share.
    The split depends on the texts and the seed only, never on file or line order."""
    order = sorted(range(len(texts)), key=lambda i: hashlib.sha256(f"{config.seed}\0{texts[i]}".encode()).digest())
    n_heldout = min(len(texts) - 2, max(1, round(config.heldout_fraction * len(texts))))
    tokens = [tokenize(text) for text in texts]
    return [tokens[i] for i in order[n_heldout:]], [tokens[i] for i in order[:n_heldout]]


def _next_training_set(
    regime: Regime,
    train: list[np.ndarray],
    samples: list[np.ndarray],
    pool: list[np.ndarray],
    config: NgramCollapseConfig,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    if regime is Regime.REPLACE:
        return samples
    if regime is Regime.ACCUMULATE:
        pool.extend(samples)
        return pool
    n_real = real_share_count(len(train), config.real_fraction)
    picks = rng.choice(len(train), size=n_real, replace=False)
    return [train[i] for i in sorted(picks)] + samples[: len(train) - n_real]


def _measure(
    model: KneserNeyTrigram,
    training_set: list[np.ndarray],
    samples: list[np.ndarray],
    heldout: list[np.ndarray],
    config: NgramCollapseConfig,
) -> dict[str, float]:
    trained_on = np.concatenate(training_set) if training_set else np.zeros(0, dtype=np.int64)
    return {
        "heldout_perplexity": model.perplexity(heldout),
        "distinct_1": distinct_n(samples, 1, config.distinct_tokens),
        "distinct_2": distinct_n(samples, 2, config.distinct_tokens),
        "mean_sample_words": float(np.mean([len(d) for d in samples])),
        "train_word_types": float(np.unique(trained_on[trained_on > 2]).size),
    }
