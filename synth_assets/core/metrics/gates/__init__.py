"""The quality gates: one function per gate, each returning a `GateResult`.

- quality: refusal rate, judge scores, verification pass rate per domain;
- diversity: distinct-n, compression ratio, Vendi score, tail coverage, relative diversity;
- mix: human/synthetic ratio, provenance, generation cap (collapse guard);
- contamination: no 13-gram shared with a benchmark item.

A gate that fails says in `detail` what failed (the domains, categories or rows), the figure, the
threshold and what to do about the data; the asset checks add which setting holds the threshold and
how to change it.
"""

from .contamination import check_decontamination
from .diversity import (
    check_compression,
    check_distinct_n,
    check_relative_diversity,
    check_tail_coverage,
    check_vendi,
)
from .mix import check_generation_cap, check_mix_ratio, check_provenance
from .quality import check_judge_scores, check_pass_rate_per_domain, check_refusal_rate

__all__ = [
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
]
