"""Model collapse lab: one asset per experiment, each run under replace, keep_real and accumulate.

These assets reproduce the results our mix-ratio and generation-cap gates rest on (see
docs/collapse_lab.md). They need no resource and write nothing but metadata: a markdown table, a plot
and the headline numbers. They are not part of the default job; materialize the group on its own.
"""

import time
from collections.abc import Sequence

import dagster as dg
import pandas as pd

from synth_assets.assets.settings import GaussianRefitLabConfig, NgramLabConfig, ZipfTailLabConfig
from synth_assets.core.collapse import (
    headline_numbers,
    line_plot_png,
    load_human_texts,
    markdown_image,
    markdown_table,
    run_gaussian_refit,
    run_ngram_collapse,
    run_zipf_tail_loss,
)

__all__ = ["COLLAPSE_LAB_GROUP", "collapse_lab_assets"]

COLLAPSE_LAB_GROUP = "collapse_lab"


def _report(
    frame: pd.DataFrame, metrics: Sequence[str], title: str, seconds: float, log_metrics: Sequence[str] = ()
) -> dict[str, dg.MetadataValue]:
    """The metadata every collapse asset shows: table, plot, headline numbers, runtime."""
    metadata: dict[str, dg.MetadataValue] = {
        "table": dg.MetadataValue.md(markdown_table(frame, metrics)),
        "plot": dg.MetadataValue.md(markdown_image(line_plot_png(frame, metrics, title, log_metrics))),
        "runtime_seconds": dg.MetadataValue.float(round(seconds, 2)),
    }
    for key, value in headline_numbers(frame, metrics).items():
        metadata[key] = dg.MetadataValue.float(value)
    return metadata


@dg.asset(group_name=COLLAPSE_LAB_GROUP)
def collapse_gaussian_refit(config: GaussianRefitLabConfig) -> dg.MaterializeResult:
    """A Gaussian refitted to its own samples: median fitted variance per generation and regime."""
    started = time.perf_counter()
    frame = run_gaussian_refit(config.to_core())
    metrics = ["median_variance", "mean_variance", "median_abs_mean"]
    return dg.MaterializeResult(
        metadata=_report(frame, metrics, "Gaussian refit", time.perf_counter() - started, ["median_variance"])
    )


@dg.asset(group_name=COLLAPSE_LAB_GROUP)
def collapse_zipf_tail(config: ZipfTailLabConfig) -> dg.MaterializeResult:
    """A Zipf vocabulary refitted to its own samples: support size and held-out cross-entropy."""
    started = time.perf_counter()
    frame = run_zipf_tail_loss(config.to_core())
    metrics = ["support_size", "cross_entropy", "heldout_unseen_mass"]
    return dg.MaterializeResult(metadata=_report(frame, metrics, "Zipf tail loss", time.perf_counter() - started))


@dg.asset(group_name=COLLAPSE_LAB_GROUP)
def collapse_ngram_lm(config: NgramLabConfig) -> dg.MaterializeResult:
    """A Kneser-Ney trigram model retrained on its own samples of the human text: held-out
    perplexity and distinct-n per generation and regime."""
    started = time.perf_counter()
    human = load_human_texts(config.human_dir)
    result = run_ngram_collapse(human.texts, config.to_core())
    metrics = ["heldout_perplexity", "distinct_1", "distinct_2", "train_word_types"]
    metadata = _report(result.table, metrics, "Trigram LM on its own samples", time.perf_counter() - started)
    examples = "\n".join(f"- **{regime}**: `{text}`" for regime, text in result.examples.items())
    metadata |= {
        "examples_last_generation": dg.MetadataValue.md(examples),
        "human_distinct_1": dg.MetadataValue.float(result.human_distinct["distinct_1"]),
        "human_distinct_2": dg.MetadataValue.float(result.human_distinct["distinct_2"]),
        "train_docs": dg.MetadataValue.int(result.train_docs),
        "heldout_docs": dg.MetadataValue.int(result.heldout_docs),
        "vocab_size": dg.MetadataValue.int(result.vocab_size),
        "skipped_lines": dg.MetadataValue.int(len(human.skipped)),
    }
    if human.skipped:
        metadata["skipped_line_reasons"] = dg.MetadataValue.md("\n".join(f"- {s}" for s in human.skipped[:50]))
    return dg.MaterializeResult(metadata=metadata)


collapse_lab_assets: list[dg.AssetsDefinition] = [collapse_gaussian_refit, collapse_zipf_tail, collapse_ngram_lm]
