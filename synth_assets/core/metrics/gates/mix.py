"""Mix gates: human/synthetic ratio, provenance of every row, and the collapse guard.

These guard the final mix: each names the rows (or domains) that would make it wrong.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import pandas as pd

from ..result import DEFAULT_MAX_OFFENDERS, GateResult, empty_offenders, top_offenders
from ..thresholds import DEFAULT_THRESHOLDS, require_range, threshold_source

__all__ = ["check_generation_cap", "check_mix_ratio", "check_provenance"]

_EPSILON = 1e-9  # "within one point" includes one point exactly, despite binary fractions


def _human_share(frame: pd.DataFrame, scope: str, target: float) -> dict[str, object]:
    rows = len(frame)
    human = int((frame["origin"] == "human").sum()) if rows else 0
    share = human / rows if rows else math.nan
    deviation = abs(share - target) if rows else math.inf
    return {
        "scope": scope,
        "rows": rows,
        "human_rows": human,
        "human_fraction": share,
        "target": target,
        "deviation": deviation,
    }


def check_mix_ratio(
    mix: pd.DataFrame,
    *,
    target: float = DEFAULT_THRESHOLDS["mix_human_target"].value,
    tolerance: float = DEFAULT_THRESHOLDS["mix_tolerance"].value,
    per_domain_targets: Mapping[str, float] | None = None,
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when the human fraction of the mix is within `tolerance` of `target`, overall and in
    every domain named in `per_domain_targets` (a domain with a target but no rows fails).

    `value` is the overall human fraction and `threshold` the target; the tolerance and each
    domain's fraction are in `extra`. Offenders: the scopes (overall or a domain) out of tolerance,
    farthest first.
    """
    require_range("target", target, 0.0, 1.0)
    require_range("tolerance", tolerance, 0.0, 1.0)
    for domain, domain_target in (per_domain_targets or {}).items():
        require_range(f"per_domain_targets[{domain!r}]", domain_target, 0.0, 1.0)
    source = threshold_source("mix_human_target", target)
    columns = ["scope", "rows", "human_rows", "human_fraction", "target", "deviation"]
    if mix.empty:
        return GateResult(
            "mix_ratio", True, math.nan, target, "no rows to measure", source, empty_offenders(columns)
        )
    scopes = [_human_share(mix, "overall", target)]
    domains = mix["domain"] if "domain" in mix.columns else pd.Series(index=mix.index, dtype=object)
    for domain, domain_target in sorted((per_domain_targets or {}).items()):
        scopes.append(_human_share(mix[domains == domain], domain, domain_target))
    table = pd.DataFrame(scopes, columns=columns)
    bad = table[table["deviation"] > tolerance + _EPSILON].sort_values(
        "deviation", ascending=False, kind="stable"
    )
    share = float(table["human_fraction"].iloc[0])
    deviation = abs(share - target)
    overall = table.iloc[0]
    detail = (
        f"human fraction {share:.3f} ({overall['human_rows']} human of {overall['rows']} rows) is "
        f"{deviation * 100:.1f} points from the target {target:.2f} (tolerance {tolerance * 100:.1f})"
    )
    domain_bad = bad[bad["scope"] != "overall"]
    if not domain_bad.empty:
        out = ", ".join(
            f"'{row.scope}' has no rows (target {row.target:.2f})" if row.rows == 0 else
            f"'{row.scope}' {row.human_fraction:.3f} ({row.human_rows} human of {row.rows}, target {row.target:.2f})"
            for row in domain_bad.itertuples()
        )
        detail += f", and {len(domain_bad)} domain(s) are out: {out}"
    if not bad.empty:
        short = "synthetic" if share > target else "human"
        detail += (
            f". The mix takes as many rows as the target allows from the corpus; it misses the target when "
            f"the corpus runs short of {short} rows, or when it was built at another fraction than this "
            f"target. Add {short} rows (more seeds, or data/human), or set the target to what the data holds"
        )
    offenders = bad.assign(deviation=bad["deviation"].where(bad["rows"] > 0))
    extra = {"tolerance": float(tolerance), "deviation": deviation, "rows": float(len(mix))}
    extra.update(
        {f"human_fraction_{row.scope}": float(row.human_fraction) for row in table.iloc[1:].itertuples()}
    )
    return GateResult(
        name="mix_ratio",
        passed=bad.empty,
        value=share,
        threshold=target,
        detail=detail,
        source=source,
        offenders=top_offenders(offenders, columns, max_offenders),
        extra=extra,
    )


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype(str).str.strip() == "")


def check_provenance(
    mix: pd.DataFrame, root_ids: Collection[str], *, max_offenders: int = DEFAULT_MAX_OFFENDERS
) -> GateResult:
    """Pass when every row has an origin, a generation, and a root_id found in `root_ids` (the ids
    of the seeds, documents and human rows a chain can start from).

    `value` is the number of rows that fail, against a threshold of 0. Offenders: those rows with
    the first reason each fails: `no_origin`, `no_generation`, `no_root_id` or `unknown_root_id`.
    """
    columns = ["id", "origin", "generation", "root_id", "reason"]
    source = "the provenance rule: a user must be able to follow any row of the mix back to its seed"
    if mix.empty:
        return GateResult("provenance", True, 0.0, 0.0, "no rows to check", source, empty_offenders(columns))
    mix = mix.reset_index(drop=True)
    missing_column = pd.Series(True, index=mix.index)
    no_origin = _blank(mix["origin"]) if "origin" in mix.columns else missing_column
    no_generation = (
        pd.to_numeric(mix["generation"], errors="coerce").isna()
        if "generation" in mix.columns
        else missing_column
    )
    no_root = _blank(mix["root_id"]) if "root_id" in mix.columns else missing_column
    unknown_root = (
        ~no_root & ~mix["root_id"].isin(set(root_ids)) if "root_id" in mix.columns else ~missing_column
    )
    reason = pd.Series(None, index=mix.index, dtype=object)
    for name, flags in (
        ("unknown_root_id", unknown_root),
        ("no_root_id", no_root),
        ("no_generation", no_generation),
        ("no_origin", no_origin),
    ):  # later assignments win: a row shows the first reason in the docstring's order
        reason[flags] = name
    failing = reason.notna()
    count = int(failing.sum())
    counts = reason[failing].value_counts()
    if count:
        parts = ", ".join(f"{n} {r}" for r, n in counts.sort_index().items())
        ids = ", ".join(map(str, mix.loc[failing, "id"].head(5))) if "id" in mix.columns else "(no id column)"
        detail = (
            f"{count} of {len(mix)} rows cannot be traced to a seed, document or human row ({parts}), e.g. "
            f"{ids}. A root that no longer resolves means its seed, human row or document was removed or "
            "changed after the row was made: re-run the graph from its inputs (`synth run`), so the rows "
            "of what is gone go too"
        )
    else:
        detail = f"all {len(mix)} rows have an origin, a generation and a root_id that resolves"
    offenders = mix.loc[failing].assign(reason=reason[failing])
    return GateResult(
        name="provenance",
        passed=count == 0,
        value=float(count),
        threshold=0.0,
        detail=detail,
        source=source,
        offenders=top_offenders(offenders, columns, max_offenders),
        extra={"rows": float(len(mix)), **{f"rows_{r}": float(n) for r, n in counts.items()}},
    )


def check_generation_cap(
    mix: pd.DataFrame,
    *,
    max_generation: int = int(DEFAULT_THRESHOLDS["max_generation"].value),
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when no synthetic row of the mix has a generation above `max_generation` (the collapse guard).

    `value` is the highest generation among synthetic rows. Offenders: the synthetic rows above
    the cap, highest generation first, with their parent and root to follow the chain.
    """
    require_range("max_generation", max_generation, 0)
    source = threshold_source("max_generation", max_generation)
    columns = ["id", "generation", "technique", "parent_id", "root_id"]
    synthetic = mix[mix["origin"] == "synthetic"] if not mix.empty else mix
    generations = (
        pd.to_numeric(synthetic["generation"], errors="coerce")
        if not synthetic.empty
        else pd.Series(dtype=float)
    )
    if generations.dropna().empty:
        return GateResult(
            "generation_cap",
            True,
            math.nan,
            float(max_generation),
            "no synthetic rows with a generation to check",
            source,
            empty_offenders(columns),
        )
    highest = float(generations.max())
    over = synthetic.assign(generation=generations)[generations > max_generation]
    over = over.sort_values("generation", ascending=False, kind="stable")
    if over.empty:
        detail = f"all {len(synthetic)} synthetic rows are at generation {max_generation} or below (highest {highest:g})"
    else:
        ids = ", ".join(map(str, over["id"].head(5))) if "id" in over.columns else ""
        detail = (
            f"{len(over)} of {len(synthetic)} synthetic rows are above generation {max_generation} (highest "
            f"{highest:g}), e.g. {ids}. They descend from recycled synthetic data (seed lines with "
            "\"origin\": \"synthetic\"); training on them risks model collapse. The mix leaves them out when "
            "it is built with a max_generation no higher than this cap"
        )
    return GateResult(
        name="generation_cap",
        passed=over.empty,
        value=highest,
        threshold=float(max_generation),
        detail=detail,
        source=source,
        offenders=top_offenders(over, columns, max_offenders),
        extra={"synthetic_rows": float(len(synthetic)), "rows_over": float(len(over))},
    )
