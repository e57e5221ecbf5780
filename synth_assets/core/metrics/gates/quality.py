"""Quality gates: refusal rate, judge-score distribution, verification pass rate per domain.

Each gate measures one property of a table and returns a `GateResult`. A table with nothing to
measure (no rows, no judged rows) passes and says so in `detail`, with NaN as its value; emptiness
itself is for a row-count check to judge, not for these.
"""

from __future__ import annotations

import math

import pandas as pd

from ..frames import excerpt
from ..refusal import refusal_matches
from ..result import DEFAULT_MAX_OFFENDERS, GateResult, empty_offenders, top_offenders
from ..thresholds import DEFAULT_THRESHOLDS, require_range, threshold_source

__all__ = ["check_judge_scores", "check_pass_rate_per_domain", "check_refusal_rate"]


def check_refusal_rate(
    frame: pd.DataFrame,
    *,
    max_rate: float = DEFAULT_THRESHOLDS["refusal_max_rate"].value,
    column: str = "response",
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when at most `max_rate` of the responses match a refusal pattern (`refusal.REFUSAL_PATTERNS`).

    Offenders: the refusing rows with the pattern that matched and the start of the response.
    """
    require_range("max_rate", max_rate, 0.0, 1.0)
    source = threshold_source("refusal_max_rate", max_rate)
    columns = ["id", "domain", "pattern", "response"]
    if frame.empty:
        return GateResult(
            "refusal_rate",
            True,
            math.nan,
            max_rate,
            "no responses to measure",
            source,
            empty_offenders(columns),
        )
    frame = frame.reset_index(drop=True)
    patterns = refusal_matches(frame[column])
    refusing = patterns.notna()
    count, rows = int(refusing.sum()), len(frame)
    rate = count / rows
    passed = rate <= max_rate
    offenders = frame.loc[refusing].assign(
        pattern=patterns[refusing], response=frame.loc[refusing, column].map(excerpt)
    )
    verb = "is within" if passed else "exceeds"
    detail = f"{count} of {rows} responses refuse: the rate {rate:.3f} {verb} the maximum {max_rate:.3f}"
    if not passed:
        if "domain" in offenders:
            by_domain = offenders["domain"].fillna("(none)").value_counts()
            detail += " (by domain: " + ", ".join(f"{d} {n}" for d, n in by_domain.items()) + ")"
        first = offenders.iloc[0]
        detail += (
            f", e.g. {first.get('id', '')} '{first['response']}' (pattern {first['pattern']}). A model trained "
            "on refusals learns to refuse: the teacher refuses these tasks, so use another teacher or "
            "prompt, or drop the tasks it refuses"
        )
    return GateResult(
        name="refusal_rate",
        passed=passed,
        value=rate,
        threshold=max_rate,
        detail=detail,
        source=source,
        offenders=top_offenders(offenders, columns, max_offenders),
        extra={"refusals": float(count), "rows": float(rows)},
    )


def check_judge_scores(
    frame: pd.DataFrame,
    *,
    min_median: float = DEFAULT_THRESHOLDS["judge_min_median"].value,
    low_score: float = DEFAULT_THRESHOLDS["judge_low_score"].value,
    max_low_fraction: float = DEFAULT_THRESHOLDS["judge_max_low_fraction"].value,
    column: str = "judge_score",
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when the median judge score is at least `min_median` and at most `max_low_fraction` of
    the judged rows score below `low_score`. Rows without a score are not judged and not counted.

    `value` is the median. Offenders, when it fails: the judged rows below `min_median`, lowest first.
    """
    require_range("max_low_fraction", max_low_fraction, 0.0, 1.0)
    source = threshold_source("judge_min_median", min_median)
    columns = ["id", "domain", column, "instruction"]
    frame = frame.reset_index(drop=True)
    scores = (
        pd.to_numeric(frame[column], errors="coerce").dropna() if column in frame.columns else pd.Series()
    )
    if scores.empty:
        return GateResult(
            "judge_scores",
            True,
            math.nan,
            min_median,
            "no judged rows to measure",
            source,
            empty_offenders(columns),
        )
    median = float(scores.median())
    low_fraction = float((scores < low_score).mean())
    passed = median >= min_median and low_fraction <= max_low_fraction
    low = (
        frame.loc[scores.index[scores < min_median]]
        .assign(**{column: scores})
        .sort_values(column, kind="stable")
    )
    low = low.assign(instruction=low["instruction"].map(excerpt)) if "instruction" in low.columns else low
    detail = (
        f"median judge score {median:.2f} against a minimum of {min_median:g}, and {low_fraction:.1%} "
        f"of {len(scores)} judged rows below {low_score:g} against a maximum of {max_low_fraction:.1%}"
    )
    if not passed:
        domains = frame.loc[scores.index, "domain"].fillna("(none)") if "domain" in frame.columns else None
        if domains is not None:
            medians = scores.groupby(domains).median().sort_values()
            detail += "; median by domain, lowest first: " + ", ".join(f"{d} {m:g}" for d, m in medians.items())
        detail += (
            ". The judge finds the kept answers weak: keep only better ones (a higher judge_threshold on "
            "verified_solutions), or use a stronger teacher to answer"
        )
    return GateResult(
        name="judge_scores",
        passed=passed,
        value=median,
        threshold=min_median,
        detail=detail,
        source=source,
        offenders=empty_offenders(columns) if passed else top_offenders(low, columns, max_offenders),
        extra={
            "judged": float(len(scores)),
            "mean": float(scores.mean()),
            "p10": float(scores.quantile(0.10)),
            "low_fraction": low_fraction,
            "low_score": float(low_score),
            "max_low_fraction": float(max_low_fraction),
        },
    )


def check_pass_rate_per_domain(
    candidates: pd.DataFrame,
    *,
    floor: float = DEFAULT_THRESHOLDS["pass_rate_floor"].value,
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when, in every domain, at least `floor` of the candidates passed verification.

    `candidates` has one row per candidate with columns `domain` and `passed` (a missing verdict
    counts as not passed). `value` is the lowest domain's rate. Offenders: the domains below the
    floor, lowest first.
    """
    require_range("floor", floor, 0.0, 1.0)
    source = threshold_source("pass_rate_floor", floor)
    columns = ["domain", "candidates", "passed", "pass_rate"]
    if candidates.empty:
        return GateResult(
            "pass_rate_per_domain",
            True,
            math.nan,
            floor,
            "no candidates to measure",
            source,
            empty_offenders(columns),
        )
    passed_flags = candidates["passed"].astype("boolean").fillna(False).astype(bool)
    table = (
        pd.DataFrame({"domain": candidates["domain"].fillna("(none)"), "passed": passed_flags})
        .groupby("domain", sort=True)
        .agg(candidates=("passed", "size"), passed=("passed", "sum"))
        .reset_index()
    )
    table["pass_rate"] = table["passed"] / table["candidates"]
    table = table.sort_values(["pass_rate", "domain"], kind="stable").reset_index(drop=True)
    worst = table.iloc[0]
    lowest = float(worst["pass_rate"])
    below = table[table["pass_rate"] < floor]
    if below.empty:
        detail = f"every domain passes at least {floor:.2f} of its candidates; the lowest is '{worst['domain']}' at {lowest:.3f}"
    else:
        names = ", ".join(f"'{row.domain}' {row.passed} of {row.candidates} ({row.pass_rate:.3f})" for row in below.itertuples())
        detail = (
            f"{len(below)} domain(s) below the floor {floor:.2f}: {names}. When this few pass, the teacher's "
            "prompt or the verifier is usually broken rather than the tasks hard: read the domain's rejects "
            "(`synth stats` counts them by reason; `synth trace --why-dropped ROW_ID` explains one)"
        )
    return GateResult(
        name="pass_rate_per_domain",
        passed=below.empty,
        value=lowest,
        threshold=floor,
        detail=detail,
        source=source,
        offenders=top_offenders(below, columns, max_offenders),
        extra={f"pass_rate_{row.domain}": float(row.pass_rate) for row in table.itertuples()},
    )
