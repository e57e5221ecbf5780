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

_OPENING_COLUMNS = ["opening", "rows", "example_id"]


def _openings(frame: pd.DataFrame, passed: bool, max_offenders: int) -> pd.DataFrame:
    if passed:
        return empty_offenders(_OPENING_COLUMNS)
    return top_offenders(repeated_openings(frame), _OPENING_COLUMNS, max_offenders)


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

    `extra` has distinct-1 to distinct-4. Texts that hold rows but no 2-gram fail: there is no
    diversity to speak of.
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
    if math.isnan(value):
        detail = f"no 2-gram in {len(sample)} rows: distinct-2 is undefined"
    else:
        relation = "at least" if passed else "below"
        detail = (
            f"distinct-2 {value:.3f} on {len(sample)} rows is {relation} the minimum {min_distinct_2:.3f}"
        )
    return GateResult(
        name="distinct_n",
        passed=passed,
        value=value,
        threshold=min_distinct_2,
        detail=detail,
        source=source,
        offenders=_openings(sample, passed, max_offenders),
        extra={**{f"distinct_{n}": v for n, v in values.items()}, "rows_measured": float(len(sample))},
    )


def check_compression(
    frame: pd.DataFrame,
    *,
    max_ratio: float = DEFAULT_THRESHOLDS["compression_max_ratio"].value,
    columns: Sequence[str] = TEXT_COLUMNS,
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when the gzip compression ratio of all the rows' texts is at most `max_ratio`.

    The ratio is original bytes over compressed bytes: the more repetitive, the higher.
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
    return GateResult(
        name="compression",
        passed=passed,
        value=ratio,
        threshold=max_ratio,
        detail=f"the texts of {len(frame)} rows compress {ratio:.2f}x, {relation} the maximum {max_ratio:.2f}x",
        source=source,
        offenders=_openings(frame, passed, max_offenders),
        extra={"rows": float(len(frame))},
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
    an effective number of distinct rows, between 1 and the number of rows measured.
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
    return GateResult(
        name="vendi",
        passed=passed,
        value=score,
        threshold=min_score,
        detail=f"Vendi score {score:.2f} of {len(sample)} rows ({kind}) is {relation} the minimum {min_score:g}",
        source=source,
        offenders=_openings(sample, passed, max_offenders),
        extra={"rows_measured": float(len(sample)), "dimensions": float(vectors.shape[1])},
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
        detail = f"{len(below)} of {len(keys)} seed categories have fewer than {min_rows} rows; the thinnest, {name}, has {value}"
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


def check_relative_diversity(
    mix: pd.DataFrame,
    embeddings: np.ndarray | None = None,
    *,
    fraction: float = DEFAULT_THRESHOLDS["relative_diversity_fraction"].value,
    columns: Sequence[str] = TEXT_COLUMNS,
    max_rows: int = 5_000,
    seed: int = 0,
    max_offenders: int = DEFAULT_MAX_OFFENDERS,
) -> GateResult:
    """Pass when the synthetic part's distinct-2 and Vendi score are each at least `fraction` of the human part's.

    Both figures grow or shrink with the number of rows, so both parts are measured on seeded
    samples of the same size (the smaller part's, at most `max_rows`), embedded in one TF-IDF space
    (or given `embeddings`, aligned with `mix`). `value` is the smaller of the two ratios. Without a
    synthetic or a human part there is nothing to compare, and the gate passes saying so.
    """
    require_range("fraction", fraction, 0.0)
    if embeddings is not None and len(embeddings) != len(mix):
        raise ValueError(f"embeddings has {len(embeddings)} rows but the mix has {len(mix)}")
    source = threshold_source("relative_diversity_fraction", fraction)
    mix = mix.reset_index(drop=True)
    origin = mix["origin"] if "origin" in mix.columns else pd.Series(index=mix.index, dtype=object)
    human_rows, synthetic_rows = np.flatnonzero(origin == "human"), np.flatnonzero(origin == "synthetic")
    size = min(len(human_rows), len(synthetic_rows), max_rows)
    if size == 0:
        detail = f"nothing to compare: {len(synthetic_rows)} synthetic and {len(human_rows)} human rows"
        return GateResult(
            "relative_diversity", True, math.nan, fraction, detail, source, empty_offenders(_OPENING_COLUMNS)
        )
    parts = {}
    for name, rows in (("human", human_rows), ("synthetic", synthetic_rows)):
        part = mix.iloc[rows]
        parts[name] = rows[
            stable_sample_positions(part["id"] if "id" in part.columns else pd.Series(rows), size, seed)
        ]
    chosen = np.concatenate([parts["human"], parts["synthetic"]])
    texts = row_texts(mix.iloc[chosen], columns)
    vectors = tfidf_vectors(texts, seed=seed) if embeddings is None else np.asarray(embeddings)[chosen]
    figures = {
        "distinct_2_human": distinct_ns(texts.iloc[:size], (2,))[2],
        "distinct_2_synthetic": distinct_ns(texts.iloc[size:], (2,))[2],
        "vendi_human": vendi_score(vectors[:size]),
        "vendi_synthetic": vendi_score(vectors[size:]),
    }
    ratios = {
        "distinct_2_ratio": _ratio(figures["distinct_2_synthetic"], figures["distinct_2_human"]),
        "vendi_ratio": _ratio(figures["vendi_synthetic"], figures["vendi_human"]),
    }
    value = math.nan if any(math.isnan(r) for r in ratios.values()) else min(ratios.values())
    passed = not math.isnan(value) and value >= fraction
    relation = "at least" if passed else "below"
    detail = (
        f"on {size} rows of each part, synthetic/human distinct-2 is {ratios['distinct_2_ratio']:.2f} "
        f"({figures['distinct_2_synthetic']:.3f} vs {figures['distinct_2_human']:.3f}) and Vendi "
        f"{ratios['vendi_ratio']:.2f} ({figures['vendi_synthetic']:.2f} vs {figures['vendi_human']:.2f}), "
        f"the smaller {relation} the floor {fraction:.2f}"
    )
    return GateResult(
        name="relative_diversity",
        passed=passed,
        value=value,
        threshold=fraction,
        detail=detail,
        source=source,
        offenders=_openings(mix.iloc[parts["synthetic"]], passed, max_offenders),
        extra={**figures, **ratios, "rows_per_part": float(size)},
    )
