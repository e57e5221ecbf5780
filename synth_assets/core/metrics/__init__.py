"""Quality and diversity metrics and the gates built on them. Pure Python: no Dagster here.

The metric functions (`diversity`, `refusal`) measure; the gates (`gates`) compare a measure with a
documented threshold (`thresholds.DEFAULT_THRESHOLDS`) and return a `GateResult` that the asset
checks turn into check results.
"""

from .diversity import (
    category_coverage,
    compression_ratio,
    distinct_n,
    distinct_ns,
    tfidf_vectors,
    vendi_score,
    vendi_score_from_kernel,
)
from .gates import (
    check_compression,
    check_decontamination,
    check_distinct_n,
    check_generation_cap,
    check_judge_scores,
    check_mix_ratio,
    check_pass_rate_per_domain,
    check_provenance,
    check_refusal_rate,
    check_relative_diversity,
    check_tail_coverage,
    check_vendi,
)
from .refusal import REFUSAL_PATTERNS, matched_refusal, refusal_matches
from .result import DEFAULT_MAX_OFFENDERS, GateResult
from .thresholds import DEFAULT_THRESHOLDS, Threshold, threshold_source

__all__ = [
    "DEFAULT_MAX_OFFENDERS",
    "DEFAULT_THRESHOLDS",
    "REFUSAL_PATTERNS",
    "GateResult",
    "Threshold",
    "category_coverage",
    "check_compression",
    "check_decontamination",
    "check_distinct_n",
    "check_generation_cap",
    "check_judge_scores",
    "check_mix_ratio",
    "check_pass_rate_per_domain",
    "check_provenance",
    "check_refusal_rate",
    "check_relative_diversity",
    "check_tail_coverage",
    "check_vendi",
    "compression_ratio",
    "distinct_n",
    "distinct_ns",
    "matched_refusal",
    "refusal_matches",
    "tfidf_vectors",
    "threshold_source",
    "vendi_score",
    "vendi_score_from_kernel",
]
