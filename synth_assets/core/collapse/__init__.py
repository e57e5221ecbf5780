"""Model collapse lab: models refitted on their own samples, under three data regimes.

Pure Python (numpy, pandas; matplotlib only to draw plots), no dagster. Three experiments, each
returning one row per (generation, regime):

- `run_gaussian_refit`: fitted variance of a Gaussian refitted to its own samples.
- `run_zipf_tail_loss`: support size and held-out cross-entropy of a refitted Zipf vocabulary.
- `run_ngram_collapse`: held-out perplexity and distinct-n of a Kneser-Ney trigram model retrained on
  its own samples of the shipped human text.
"""

from synth_assets.core.collapse.gaussian import GaussianRefitConfig, run_gaussian_refit
from synth_assets.core.collapse.human_text import HumanTexts, load_human_texts
from synth_assets.core.collapse.language_model import LanguageModelCollapse, NgramCollapseConfig, run_ngram_collapse
from synth_assets.core.collapse.ngram import KneserNeyTrigram, Vocabulary, distinct_n, tokenize
from synth_assets.core.collapse.regimes import REGIMES, Regime, real_share_count
from synth_assets.core.collapse.report import headline_numbers, line_plot_png, markdown_image, markdown_table
from synth_assets.core.collapse.zipf import ZipfTailConfig, run_zipf_tail_loss, zipf_probabilities

__all__ = [
    "REGIMES",
    "GaussianRefitConfig",
    "HumanTexts",
    "KneserNeyTrigram",
    "LanguageModelCollapse",
    "NgramCollapseConfig",
    "Regime",
    "Vocabulary",
    "ZipfTailConfig",
    "distinct_n",
    "headline_numbers",
    "line_plot_png",
    "load_human_texts",
    "markdown_image",
    "markdown_table",
    "real_share_count",
    "run_gaussian_refit",
    "run_ngram_collapse",
    "run_zipf_tail_loss",
    "tokenize",
    "zipf_probabilities",
]
