"""Default thresholds of the quality gates, each with where it comes from.

Every gate takes its thresholds as keyword arguments whose defaults are read from here, and reports
the `source` of the threshold it used, so a failed check says not only "0.683 < 0.69" but also why
0.70 is the target. Values marked "project heuristic" are starting points, not findings: calibrate
them on your own data and pass the calibrated value to the check.

A threshold that is also a stage's setting is declared once, on the stage's core config: the mix's
human fraction and generation cap are `MixConfig`'s defaults, and their gates follow the value the
mix was built with (the asset checks read it from the mix's materialization).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType

from synth_assets.core.mixing import MixConfig
from synth_assets.core.schema import MAX_TEXT_CHARS

__all__ = ["DEFAULT_THRESHOLDS", "Threshold", "require_range", "threshold_source"]


@dataclass(frozen=True)
class Threshold:
    """A default threshold and the reason it has that value."""

    value: float
    source: str


DEFAULT_THRESHOLDS: MappingProxyType[str, Threshold] = MappingProxyType(
    {
        "refusal_max_rate": Threshold(
            0.02,
            "project heuristic: at most 2% refusals; refusals teach the student to refuse, which is "
            "why cleaned instruction sets drop 'As an AI language model' rows",
        ),
        "judge_min_median": Threshold(
            6.0,
            "project heuristic on the 1-10 scale of judge_score (the mean of the five 1-5 aspects of "
            "templates/judge_rubric.txt, rescaled): 6 is an aspect mean of 3.2, 'partly correct' or better",
        ),
        "judge_low_score": Threshold(
            4.0, "project heuristic: below 4 of 10 (an aspect mean under 2.3) the judge rubric describes a mostly "
            "wrong or off-topic response"
        ),
        "judge_max_low_fraction": Threshold(
            0.10, "project heuristic: at most one judged row in ten below the low score"
        ),
        "pass_rate_floor": Threshold(
            0.25,
            "project heuristic: when fewer than a quarter of a domain's candidates pass verification, "
            "the teacher prompt or the verifier is usually broken, not the tasks hard",
        ),
        "distinct_2_min": Threshold(
            0.20,
            "project heuristic for corpus-level distinct-2 (Li et al. 2016) on at most 10,000 rows; "
            "templated or collapsed generations fall far below it; the relative guard calibrates "
            "against the human part",
        ),
        "compression_max_ratio": Threshold(
            5.0,
            "project heuristic: gzip compresses varied prose about 2.5-3.5x and code somewhat more; "
            "far above that means repeated boilerplate (compression ratio as a diversity score: "
            "Shaib et al. 2024, 'Standardizing the Measurement of Text Diversity')",
        ),
        "vendi_min": Threshold(
            10.0,
            "project heuristic: a Vendi score (Friedman and Dieng 2023) below 10 means the set is "
            "worth fewer than ten distinct items",
        ),
        "tail_min_rows": Threshold(
            5.0,
            "project heuristic: every seed category keeps at least 5 rows in the mix, so the tail "
            "of the seed distribution is not mixed away",
        ),
        "relative_diversity_fraction": Threshold(
            0.80,
            "the quality-gates issue: the synthetic part keeps at least 80% of the human part's "
            "diversity (distinct-2 and Vendi on equal-size samples of the same domains)",
        ),
        "relative_diversity_min_rows": Threshold(
            10.0,
            "project heuristic: below 10 rows of a part, a domain's distinct-2 and Vendi say more about "
            "the sample than about the domain, so it is reported but not compared",
        ),
        "text_min_len": Threshold(
            1.0, "the row schema: an empty instruction or response is not a training example"
        ),
        "text_max_len": Threshold(
            float(MAX_TEXT_CHARS),
            "project heuristic: 20,000 characters is about 5,000 tokens, beyond the context most "
            "fine-tuning runs train at; longer rows are cut by the trainer or crowd out the rest",
        ),
        "mix_human_target": Threshold(
            MixConfig.human_fraction,
            "MixConfig.human_fraction, the mix's default: the recommendation to keep 60-80% human data "
            "in a mix with synthetic data; 0.70 is its middle",
        ),
        "mix_tolerance": Threshold(
            0.01, "the quality-gates issue: within one percentage point of the target"
        ),
        "max_generation": Threshold(
            MixConfig.max_generation,
            "MixConfig.max_generation, the mix's default: a collapse guard after Shumailov et al. 2024 "
            "('AI models collapse when trained on recursively generated data', Nature): no data made "
            "from synthetic data enters the mix",
        ),
    }
)


def threshold_source(name: str, value: float) -> str:
    """Where `value` comes from: the documented source when it is the default, else 'configured'."""
    default = DEFAULT_THRESHOLDS[name]
    if math.isclose(value, default.value, rel_tol=0.0, abs_tol=1e-12):
        return default.source
    return f"configured (default {default.value:g}: {default.source})"


def require_range(name: str, value: float, low: float, high: float = math.inf) -> None:
    """Raise ValueError naming the parameter when a threshold is outside [low, high]."""
    if not (low <= value <= high):
        bounds = f"[{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
