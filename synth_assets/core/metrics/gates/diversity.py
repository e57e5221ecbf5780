"""Diversity gates: distinct-n, compression ratio, Vendi score, tail coverage, relative diversity.

Run them on the synthetic part and on the final mix. Distinct-n and Vendi depend on how many rows
they see, so those gates measure a seeded sample of at most `max_rows` rows (chosen by a hash of
the row ids, not their order), which keeps their figures comparable from run to run. When a
diversity gate fails, its offenders are the instruction openings most rows share: a generator that
collapses onto a few templates shows up there first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..diversity import (
    category_coverage,
    compression_ratio,
    distinct_ns,
    tfidf_vectors,
    vendi_score,
)
from ..frames import TEXT_COLUMNS, repeated_openings, row_texts, stable_sample_positions
from ..result import DEFAULT_MAX_OFFENDERS, GateResult, empty_offenders, top_offenders
from ..thresholds import DEFAULT_THRESHOLDS, require_range, threshold_source

__all__ = [
    "check_compression",
    "check_distinct_n",
    "check_relative_diversity",
    "check_tail_coverage",
    "check_vendi",
]

_OPENING_COLUMNS = ["column", "opening", "rows", "example_id"]
_TEMPLATE_REMEDY = (
    "Rows that open alike come from one template: vary the seeds of that domain, sample the teacher "
    "at a higher temperature, or use another teacher"
)


def _openings(frame: pd.DataFrame, passed: bool, max_offenders: int) -> pd.DataFrame:
    """The instruction and response openings most rows share, most shared first (none when passed)."""
    if passed:
        return empty_offenders(_OPENING_COLUMNS)
    tables = [repeated_openings(frame, column=column).assign(column=column)
              for column in TEXT_COLUMNS if column in frame.columns]
    tables = [table[table["opening"] != ""] for table in tables]  # empty texts share no template
    shared = pd.concat(tables, ignore_index=True) if tables else empty_offenders(_OPENING_COLUMNS)
    shared = shared.sort_values(["rows", "column"], ascending=[False, True], kind="stable")
    return top_offenders(shared, _OPENING_COLUMNS, max_offenders)


def _openings_sentence(openings: pd.DataFrame, rows: str = "rows", shown: int = 3) -> str:
    if openings.empty:
        return f"No opening is shared by two {rows}."
    parts = [f"{row.column} '{row.opening}' ({row.rows} rows, e.g. {row.example_id})"
             for row in openings.head(shown).itertuples()]
    return f"The openings most {rows} share: " + "; ".join(parts) + "."


def _domains(frame: pd.DataFrame) -> pd.Series:
    """Each row's domain ("(none)" when missing): the gates report their figures per domain."""
    if "domain" not in frame.columns:
        return pd.Series("(none)", index=frame.index, dtype=object)
    return frame["domain"].fillna("(none)").astype(str)


def _per_domain(frame: pd.DataFrame, measure) -> pd.DataFrame:
    """`measure(rows)` of each domain's rows: columns domain, rows, value."""
    domains = _domains(frame)
    table = [(domain, int((domains == domain).sum()), measure(frame[domains == domain]))
             for domain in sorted(domains.unique())]
    return pd.DataFrame(table, columns=["domain", "rows", "value"])


def _domain_sentence(table: pd.DataFrame, fmt: str, worst_first_ascending: bool) -> str:
    if len(table) < 2:
        return ""
    ordered = table.sort_values(["value", "domain"], ascending=[worst_first_ascending, True], kind="stable")
    parts = ", ".join(f"{row.domain} {format(row.value, fmt)} ({row.rows} rows)" for row in ordered.itertuples())
    return f" By domain, worst first: {parts}."


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    ids = frame["id"] if "id" in frame.columns else pd.Series(range(len(frame)))
    return frame.iloc[stable_sample_positions(ids, max_rows, seed)]


def check_distinct_n(
    frame: pd.DataFrame,
    *,
    min_distinct_2: float = DEFAULT_THRESHOLDS["distinct_2_min"].value,
    columns: Sequence[str] = TEXT_COLUMNS,
    max_rows: int = 10_000,
    seed: int = 0,
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when corpus-level distinct-2 of the rows' texts is at least `min_distinct_2`.

    The whole frame is measured, every domain together: what a student trained on it sees. `extra`
    has distinct-1 to distinct-4 and each domain's distinct-2 (`distinct_2/<domain>`; a smaller
    domain scores higher, as distinct-n falls with size, so read them as where to look, not as a
    ranking). Texts that hold rows but no 2-gram fail: there is no diversity to speak of.
    """
    require_range("min_distinct_2", min_distinct_2, 0.0, 1.0)
    source = threshold_source("distinct_2_min", min_distinct_2)
    if frame.empty:
        return GateResult(
            "distinct_n",
            True,
            math.nan,
            min_distinct_2,
            "no rows to measure",
            source,
            empty_offenders(_OPENING_COLUMNS),
        )
    sample = _sample(frame, max_rows, seed)
    values = distinct_ns(row_texts(sample, columns))
    value = values[2]
    passed = not math.isnan(value) and value >= min_distinct_2
    by_domain = _per_domain(sample, lambda rows: distinct_ns(row_texts(rows, columns), (2,))[2])
    offenders = _openings(sample, passed, max_offenders)
    if math.isnan(value):
        detail = f"no 2-gram in {len(sample)} rows: distinct-2 is undefined"
    else:
        relation = "at least" if passed else "below"
        detail = (
            f"distinct-2 {value:.3f} on {len(sample)} rows is {relation} the minimum {min_distinct_2:.3f}"
        )
    if not passed:
        detail += f".{_domain_sentence(by_domain, '.3f', True)} {_openings_sentence(offenders)} {_TEMPLATE_REMEDY}."
    return GateResult(
        name="distinct_n",
        passed=passed,
        value=value,
        threshold=min_distinct_2,
        detail=detail,
        source=source,
        offenders=offenders,
        extra={**{f"distinct_{n}": v for n, v in values.items()}, "rows_measured": float(len(sample)),
               **{f"distinct_2/{row.domain}": float(row.value) for row in by_domain.itertuples()}},
    )


def check_compression(
    frame: pd.DataFrame,
    *,
    max_ratio: float = DEFAULT_THRESHOLDS["compression_max_ratio"].value,
    columns: Sequence[str] = TEXT_COLUMNS,
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when the gzip compression ratio of all the rows' texts is at most `max_ratio`.

    The ratio is original bytes over compressed bytes: the more repetitive, the higher. The whole
    frame is measured; `extra` has each domain's ratio (`compression/<domain>`: code compresses
    more than prose, so a code-heavy set runs higher).
    """
    require_range("max_ratio", max_ratio, 1.0)
    source = threshold_source("compression_max_ratio", max_ratio)
    ratio = compression_ratio(row_texts(frame, columns)) if not frame.empty else math.nan
    if math.isnan(ratio):
        return GateResult(
            "compression",
            True,
            math.nan,
            max_ratio,
            "no text to measure",
            source,
            empty_offenders(_OPENING_COLUMNS),
        )
    passed = ratio <= max_ratio
    relation = "within" if passed else "above"
    by_domain = _per_domain(frame, lambda rows: compression_ratio(row_texts(rows, columns)))
    offenders = _openings(frame, passed, max_offenders)
    detail = f"the texts of {len(frame)} rows compress {ratio:.2f}x, {relation} the maximum {max_ratio:.2f}x"
    if not passed:
        detail += f".{_domain_sentence(by_domain, '.2f', False)} {_openings_sentence(offenders)} {_TEMPLATE_REMEDY}."
    return GateResult(
        name="compression",
        passed=passed,
        value=ratio,
        threshold=max_ratio,
        detail=detail,
        source=source,
        offenders=offenders,
        extra={"rows": float(len(frame)), **{f"compression/{row.domain}": float(row.value) for row in by_domain.itertuples()}},
    )


def check_vendi(
    frame: pd.DataFrame,
    embeddings: np.ndarray | None = None,
    *,
    min_score: float = DEFAULT_THRESHOLDS["vendi_min"].value,
    columns: Sequence[str] = TEXT_COLUMNS,
    max_rows: int = 20_000,
    seed: int = 0,
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when the Vendi score of the rows is at least `min_score`.

    `embeddings` are sentence embeddings, one row per row of `frame` in the same order; without
    them the rows' texts are embedded as TF-IDF vectors (`diversity.tfidf_vectors`). The score is
    an effective number of distinct rows, between 1 and the number of rows measured. The whole frame
    is measured; `extra` has each domain's score on the same vectors (`vendi/<domain>`).
    """
    require_range("min_score", min_score, 0.0)
    if embeddings is not None and len(embeddings) != len(frame):
        raise ValueError(f"embeddings has {len(embeddings)} rows but the frame has {len(frame)}")
    source = threshold_source("vendi_min", min_score)
    if frame.empty:
        return GateResult(
            "vendi",
            True,
            math.nan,
            min_score,
            "no rows to measure",
            source,
            empty_offenders(_OPENING_COLUMNS),
        )
    ids = frame["id"] if "id" in frame.columns else pd.Series(range(len(frame)))
    positions = stable_sample_positions(ids, max_rows, seed)
    sample = frame.iloc[positions]
    if embeddings is None:
        vectors, kind = tfidf_vectors(row_texts(sample, columns), seed=seed), "TF-IDF vectors"
    else:
        vectors, kind = np.asarray(embeddings)[positions], "embeddings"
    score = vendi_score(vectors)
    passed = not math.isnan(score) and score >= min_score
    relation = "at least" if passed else "below"
    domains = _domains(sample).to_numpy()
    by_domain = pd.DataFrame(
        [(d, int((domains == d).sum()), vendi_score(vectors[domains == d])) for d in sorted(set(domains))],
        columns=["domain", "rows", "value"],
    )
    offenders = _openings(sample, passed, max_offenders)
    detail = f"Vendi score {score:.2f} of {len(sample)} rows ({kind}) is {relation} the minimum {min_score:g}"
    if not passed:
        detail += f".{_domain_sentence(by_domain, '.2f', True)} {_openings_sentence(offenders)} {_TEMPLATE_REMEDY}."
    return GateResult(
        name="vendi",
        passed=passed,
        value=score,
        threshold=min_score,
        detail=detail,
        source=source,
        offenders=offenders,
        extra={"rows_measured": float(len(sample)), "dimensions": float(vectors.shape[1]),
               **{f"vendi/{row.domain}": float(row.value) for row in by_domain.itertuples()}},
    )


def _category_keys(seed_categories: Iterable[object]) -> tuple[list[object], list[str]]:
    """The seed keys as a list, and the mix columns they are read from: (domain, category) or category."""
    keys = list(dict.fromkeys(seed_categories))
    pairs = [key for key in keys if isinstance(key, tuple)]
    if pairs and len(pairs) != len(keys):
        raise ValueError("seed_categories mixes (domain, category) pairs with bare categories")
    if pairs and any(len(key) != 2 for key in pairs):
        raise ValueError("seed_categories pairs must be (domain, category)")
    return keys, (["domain", "category"] if pairs else ["category"])


def check_tail_coverage(
    mix: pd.DataFrame,
    seed_categories: Iterable[object],
    *,
    min_rows: int = int(DEFAULT_THRESHOLDS["tail_min_rows"].value),
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when every category present among the seeds keeps at least `min_rows` rows in the mix.

    `seed_categories` holds (domain, category) pairs or bare categories; a Mapping (such as seed
    counts per category) is read by its keys. `value` is the row count of the thinnest seed
    category; `extra` has the coverage (share of seed categories present at all). Offenders: the
    seed categories below `min_rows`, thinnest first.
    """
    require_range("min_rows", min_rows, 0)
    source = threshold_source("tail_min_rows", min_rows)
    keys, key_columns = _category_keys(seed_categories)
    columns = [*key_columns, "rows"]
    if not keys:
        return GateResult(
            "tail_coverage",
            True,
            math.nan,
            min_rows,
            "no seed categories to cover",
            source,
            empty_offenders(columns),
        )
    if mix.empty:
        present: pd.Series = pd.Series(dtype="int64")
    else:
        present = mix.groupby(key_columns if len(key_columns) > 1 else key_columns[0], dropna=True).size()
    table = pd.DataFrame(
        [(*(key if isinstance(key, tuple) else (key,)), int(present.get(key, 0))) for key in keys],
        columns=columns,
    ).sort_values(["rows", *key_columns], kind="stable")
    thinnest = table.iloc[0]
    value = int(thinnest["rows"])
    below = table[table["rows"] < min_rows]
    coverage = category_coverage(present.index, keys)
    name = "/".join(str(thinnest[c]) for c in key_columns)
    if below.empty:
        detail = f"all {len(keys)} seed categories keep at least {min_rows} rows; the thinnest, {name}, has {value}"
    else:
        shown = ", ".join(f"{'/'.join(str(row[c]) for c in key_columns)} {row['rows']}"
                          for _, row in below.head(max(1, min(10, max_offenders))).iterrows())
        more = f" and {len(below) - 10} more" if len(below) > 10 else ""
        detail = (
            f"{len(below)} of {len(keys)} seed categories have fewer than {min_rows} rows in the mix: "
            f"{shown}{more}. Add seed tasks in those categories (a category keeps only the rows that pass "
            "verification and dedup; `synth trace --why-dropped` shows why one was dropped)"
        )
    return GateResult(
        name="tail_coverage",
        passed=below.empty,
        value=float(value),
        threshold=float(min_rows),
        detail=detail,
        source=source,
        offenders=top_offenders(below, columns, max_offenders),
        extra={
            "coverage": coverage,
            "seed_categories": float(len(keys)),
            "categories_below": float(len(below)),
        },
    )


def _ratio(synthetic: float, human: float) -> float:
    if math.isnan(synthetic) or math.isnan(human) or human <= 0:
        return math.nan
    return synthetic / human


def _matched_sizes(human: pd.Series, synthetic: pd.Series, min_rows: int, max_rows: int) -> tuple[dict[str, int], dict[str, str]]:
    """Rows to draw from each part per domain (the smaller part's count, scaled down so the total is
    at most `max_rows`), and why the other domains are not compared."""
    sizes, skipped = {}, {}
    for domain in sorted(set(human.index) | set(synthetic.index)):
        h, s = int(human.get(domain, 0)), int(synthetic.get(domain, 0))
        if s == 0:
            continue  # nothing synthetic to judge
        if min(h, s) < min_rows:
            skipped[domain] = f"{s} synthetic and {h} human rows (each part needs {min_rows})"
        else:
            sizes[domain] = min(h, s)
    total = sum(sizes.values())
    if total > max_rows:
        sizes = {d: max(min_rows, n * max_rows // total) for d, n in sizes.items()}
    return sizes, skipped


def check_relative_diversity(
    mix: pd.DataFrame,
    embeddings: np.ndarray | None = None,
    *,
    fraction: float = DEFAULT_THRESHOLDS["relative_diversity_fraction"].value,
    min_rows: int = int(DEFAULT_THRESHOLDS["relative_diversity_min_rows"].value),
    columns: Sequence[str] = TEXT_COLUMNS,
    max_rows: int = 5_000,
    seed: int = 0,
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when the synthetic part's distinct-2 and Vendi score are each at least `fraction` of the
    human part's, comparing like with like: each domain's synthetic rows with the same domain's
    human rows.

    Per domain, as many rows are drawn from each part as the smaller part has (seeded by row id),
    so both parts have the same size and the same domains in the same proportions; the draws are
    pooled over the domains, embedded in one TF-IDF space (or given `embeddings`, aligned with
    `mix`) and measured. Synthetic code is thus held against human code, never against human prose.
    A domain with fewer than `min_rows` rows in either part is not compared and is named in
    `detail` and `extra["domains_not_compared"]`; without any domain to compare the gate passes and
    says so. `value` is the smaller of the two pooled ratios; each domain's own ratios are in
    `extra` (`ratio/<domain>`) and, when the gate fails, in `offenders`, worst first.
    """
    require_range("fraction", fraction, 0.0)
    require_range("min_rows", min_rows, 1)
    if embeddings is not None and len(embeddings) != len(mix):
        raise ValueError(f"embeddings has {len(embeddings)} rows but the mix has {len(mix)}")
    source = threshold_source("relative_diversity_fraction", fraction)
    columns_out = ["domain", "rows_per_part", "ratio", "distinct_2_synthetic", "distinct_2_human",
                   "vendi_synthetic", "vendi_human"]
    mix = mix.reset_index(drop=True)
    origin = mix["origin"] if "origin" in mix.columns else pd.Series(index=mix.index, dtype=object)
    domains = _domains(mix)
    sizes, skipped = _matched_sizes(domains[origin == "human"].value_counts(),
                                    domains[origin == "synthetic"].value_counts(), min_rows, max_rows)
    not_compared = "; ".join(f"{d}: {why}" for d, why in skipped.items())
    note = f" Not compared: {not_compared}." if skipped else ""
    if not sizes:
        detail = (f"nothing to compare: {int((origin == 'synthetic').sum())} synthetic and "
                  f"{int((origin == 'human').sum())} human rows, no domain with {min_rows} rows of each.{note}")
        return GateResult("relative_diversity", True, math.nan, fraction, detail, source,
                          empty_offenders(columns_out), extra={"domains_not_compared": float(len(skipped))})
    chosen: dict[str, list[np.ndarray]] = {"human": [], "synthetic": []}
    for domain, size in sizes.items():
        for part in chosen:
            rows = np.flatnonzero((origin == part) & (domains == domain))
            ids = mix["id"].iloc[rows] if "id" in mix.columns else pd.Series(rows)
            chosen[part].append(rows[stable_sample_positions(ids, size, seed)])
    human_rows, synthetic_rows = np.concatenate(chosen["human"]), np.concatenate(chosen["synthetic"])
    size = len(human_rows)
    order = np.concatenate([human_rows, synthetic_rows])
    texts = row_texts(mix.iloc[order], columns).reset_index(drop=True)
    vectors = tfidf_vectors(texts, seed=seed) if embeddings is None else np.asarray(embeddings)[order]
    measured_domains = domains.iloc[order].to_numpy()
    is_human = np.arange(len(order)) < size

    def figures(mask: np.ndarray) -> dict[str, float]:
        return {
            "distinct_2_human": distinct_ns(texts[mask & is_human], (2,))[2],
            "distinct_2_synthetic": distinct_ns(texts[mask & ~is_human], (2,))[2],
            "vendi_human": vendi_score(vectors[mask & is_human]),
            "vendi_synthetic": vendi_score(vectors[mask & ~is_human]),
        }

    def ratios(f: dict[str, float]) -> dict[str, float]:
        return {"distinct_2_ratio": _ratio(f["distinct_2_synthetic"], f["distinct_2_human"]),
                "vendi_ratio": _ratio(f["vendi_synthetic"], f["vendi_human"])}

    pooled = figures(np.ones(len(order), dtype=bool))
    pooled_ratios = ratios(pooled)
    value = math.nan if any(math.isnan(r) for r in pooled_ratios.values()) else min(pooled_ratios.values())
    per_domain = []
    for domain, n in sizes.items():
        f = figures(measured_domains == domain)
        per_domain.append({"domain": domain, "rows_per_part": n, "ratio": min(ratios(f).values()), **f})
    table = pd.DataFrame(per_domain, columns=columns_out).sort_values(["ratio", "domain"], kind="stable")
    passed = not math.isnan(value) and value >= fraction
    relation = "at least" if passed else "below"
    matched = ", ".join(f"{d} {n}" for d, n in sizes.items())
    detail = (
        f"on {size} rows of each part, matched by domain ({matched}), synthetic/human distinct-2 is "
        f"{pooled_ratios['distinct_2_ratio']:.2f} ({pooled['distinct_2_synthetic']:.3f} vs "
        f"{pooled['distinct_2_human']:.3f}) and Vendi {pooled_ratios['vendi_ratio']:.2f} "
        f"({pooled['vendi_synthetic']:.2f} vs {pooled['vendi_human']:.2f}), the smaller {relation} the floor "
        f"{fraction:.2f}.{note}"
    )
    offenders = empty_offenders(columns_out)
    if not passed:
        worst = table.iloc[0]
        by_domain = ", ".join(f"{row.domain} {row.ratio:.2f} (distinct-2 {row.distinct_2_synthetic:.3f} vs "
                              f"{row.distinct_2_human:.3f}, Vendi {row.vendi_synthetic:.1f} vs {row.vendi_human:.1f})"
                              for row in table.itertuples())
        worst_rows = mix.iloc[synthetic_rows[measured_domains[size:] == worst["domain"]]]
        detail += (
            f" By domain, worst first: {by_domain}. "
            f"{_openings_sentence(_openings(worst_rows, False, max_offenders), 'synthetic ' + worst['domain'] + ' rows')} "
            f"{_TEMPLATE_REMEDY}; or, when "
            "a domain's human rows are of another kind than its seeds (prose-style code against "
            "docstring-and-doctest code), add human rows like the seeds, so like is compared with like."
        )
        offenders = top_offenders(table, columns_out, max_offenders)
    return GateResult(
        name="relative_diversity",
        passed=passed,
        value=value,
        threshold=fraction,
        detail=detail,
        source=source,
        offenders=offenders,
        extra={**pooled, **pooled_ratios, "rows_per_part": float(size), "domains_compared": float(len(sizes)),
               "domains_not_compared": float(len(skipped)),
               **{f"ratio/{row.domain}": float(row.ratio) for row in table.itertuples()}},
    )
