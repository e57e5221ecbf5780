"""How fast the diversity metrics and the row validation run, measured in one go.

    python bench/metrics_speed.py [--rows 100000] [--vendi-rows 20000] [--naive-rows 2000 4000]

Prints one table: distinct-n (n = 1..4) and the compression ratio on `--rows` rows; TF-IDF vectors
and the Vendi score on `--vendi-rows` rows by the d x d dual, against the naive n x n
eigendecomposition on the smaller `--naive-rows` sizes (the dual on the same sizes, for the same
figure); and Great Expectations validation, first call against cached calls. Short measures are
the best of three runs, since the machine may be shared. The corpus is synthetic and seeded:
Zipf-distributed words, so repeats are realistic.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from synth_assets.core.metrics.diversity import (
    compression_ratio,
    distinct_ns,
    tfidf_vectors,
    vendi_score,
    vendi_score_from_kernel,
)
from synth_assets.core.validation import validate_rows


def corpus(rows: int, seed: int = 0, vocabulary: int = 50_000) -> list[str]:
    """`rows` texts of 20-140 Zipf-distributed words (about 80 on average)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(20, 141, size=rows)
    words = np.minimum(rng.zipf(1.2, size=int(lengths.sum())), vocabulary)
    tokens = np.char.add("w", words.astype(str))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [" ".join(tokens[a:b]) for a, b in itertools.pairwise(bounds)]


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """The best wall time of `repeat` runs (the machine is shared), and the value."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def naive_vendi(vectors: np.ndarray) -> float:
    """The definition: the n x n cosine kernel and its eigendecomposition."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return vendi_score_from_kernel(unit @ unit.T)


def rows_frame(rows: int) -> pd.DataFrame:
    texts = corpus(rows, seed=1)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(rows)],
            "root_id": "seed",
            "origin": np.where(np.arange(rows) % 10 < 7, "human", "synthetic"),
            "generation": np.arange(rows) % 2,
            "domain": "general",
            "instruction": [t[:200] for t in texts],
            "response": texts,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--vendi-rows", type=int, default=20_000)
    parser.add_argument("--naive-rows", type=int, nargs="+", default=[2_000, 4_000])
    parser.add_argument("--validate-rows", type=int, default=10_000)
    args = parser.parse_args()

    table: list[tuple[str, int, float, str]] = []
    texts = corpus(args.rows)
    tokens = sum(len(t.split()) for t in texts)
    seconds, values = timed(lambda: distinct_ns(texts))
    table.append(
        ("distinct-n, n=1..4", args.rows, seconds, ", ".join(f"d{n}={v:.4f}" for n, v in values.items()))
    )
    for level in (6, 9):
        seconds, ratio = timed(lambda level=level: compression_ratio(texts, compresslevel=level))
        table.append((f"compression ratio, gzip level {level}", args.rows, seconds, f"{ratio:.3f}x"))

    vendi_texts = texts[: args.vendi_rows]
    seconds, vectors = timed(lambda: tfidf_vectors(vendi_texts))
    table.append(("TF-IDF + SVD to 256 dims", len(vendi_texts), seconds, f"shape {vectors.shape}"))
    seconds, score = timed(lambda: vendi_score(vectors), repeat=3)
    table.append(("Vendi, d x d dual", len(vendi_texts), seconds, f"{score:.3f}"))
    for n in args.naive_rows:
        dual_seconds, dual = timed(lambda n=n: vendi_score(vectors[:n]), repeat=3)
        naive_seconds, naive = timed(lambda n=n: naive_vendi(vectors[:n]), repeat=3)
        table.append(("Vendi, d x d dual", n, dual_seconds, f"{dual:.6f}"))
        table.append(("Vendi, naive n x n eigendecomposition", n, naive_seconds, f"{naive:.6f}"))
    largest = max(args.naive_rows)
    naive_at_largest = table[-1][2]
    estimate = naive_at_largest * (len(vendi_texts) / largest) ** 3
    gigabytes = len(vendi_texts) ** 2 * 8 / 1e9
    table.append(
        (
            "Vendi, naive n x n (extrapolated n^3)",
            len(vendi_texts),
            estimate,
            f"estimate; kernel alone {gigabytes:.1f} GB",
        )
    )

    frame = rows_frame(args.validate_rows)
    seconds, report = timed(lambda: validate_rows(frame))
    table.append(("GX validate_rows, first call (import + context)", len(frame), seconds, report.detail))
    seconds, report = timed(lambda: validate_rows(frame))
    table.append(("GX validate_rows, cached context and suite", len(frame), seconds, report.detail))
    small = frame.head(100)
    seconds, report = timed(lambda: validate_rows(small), repeat=3)
    table.append(("GX validate_rows, cached context and suite", len(small), seconds, report.detail))

    print(
        f"corpus: {args.rows} rows, {tokens} whitespace tokens, {sum(map(len, texts)) / 1e6:.1f} MB of text"
    )
    width = max(len(row[0]) for row in table)
    print(f"{'measure':<{width}}  {'rows':>7}  {'seconds':>8}  figure")
    for name, rows, seconds, figure in table:
        print(f"{name:<{width}}  {rows:>7}  {seconds:>8.3f}  {figure}")


if __name__ == "__main__":
    main()
