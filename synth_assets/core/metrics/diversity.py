"""Diversity metrics on texts and vectors: distinct-n, compression ratio, Vendi score, coverage.

All functions are pure and vectorised, so the gates can run them on the whole synthetic part:
distinct-n counts n-grams as integer keys with pandas' hash factorisation (no Python tuples), and
the Vendi score takes the eigenvalues of the d x d matrix X^T X / n instead of the n x n kernel.
A metric that is undefined on its input (no n-grams, no rows) returns NaN rather than a neutral
number; the gates turn that into a sentence.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import re
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import count

import numpy as np
import pandas as pd

# scikit-learn is optional (without it, tfidf_vectors falls back to hashed numpy TF-IDF), and it is
# imported only when first used: it costs about two seconds, which every importer would pay otherwise.
HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None

__all__ = [
    "HAVE_SKLEARN",
    "category_coverage",
    "compression_ratio",
    "distinct_n",
    "distinct_ns",
    "tfidf_vectors",
    "vendi_score",
    "vendi_score_from_kernel",
]

TFIDF_TOKEN_PATTERN = r"(?u)\b\w+\b"  # words of one character count too: `x`, `n`, `5`
_HASH_DIMS = 1024  # feature buckets of the numpy fallback


# --- distinct-n ---------------------------------------------------------------------------------


def _token_ids(texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Whitespace tokens of the lower-cased texts as dense integer ids, and each text's length."""
    vocabulary: defaultdict[str, int] = defaultdict(count().__next__)
    ids: list[int] = []
    lengths: list[int] = []
    for text in texts:
        tokens = str(text).lower().split()
        ids.extend(map(vocabulary.__getitem__, tokens))
        lengths.append(len(tokens))
    return np.asarray(ids, dtype=np.int64), np.asarray(lengths, dtype=np.int64)


def distinct_ns(texts: Iterable[str], ns: Sequence[int] = (1, 2, 3, 4)) -> dict[int, float]:
    """Corpus-level distinct-n for each n: unique n-grams / total n-grams (Li et al. 2016).

    Tokens are the whitespace-split, lower-cased texts; n-grams never cross from one text into the
    next. Each n-gram becomes one integer key, built from the (n-1)-gram key and the next token id
    and re-densified by hash factorisation, so keys never overflow and no tuple is ever built.
    A value is NaN when the texts hold no n-gram of that length. Distinct-n falls as the corpus
    grows, so compare it between corpora of similar size.
    """
    wanted = sorted(set(ns))
    if not wanted or wanted[0] < 1:
        raise ValueError(f"ns must be positive integers, got {tuple(ns)}")
    ids, lengths = _token_ids(texts)
    total_tokens = len(ids)
    vocabulary_size = int(ids.max()) + 1 if total_tokens else 1
    doc_end = np.repeat(np.cumsum(lengths), lengths)  # for each token, the end of its text
    positions = np.arange(total_tokens)
    keys = ids
    result: dict[int, float] = {}
    for n in range(1, wanted[-1] + 1):
        starts = total_tokens - n + 1
        if starts <= 0:
            result.update({m: math.nan for m in wanted if m >= n})
            break
        if n > 1:
            # keys[i] < number of distinct (n-1)-grams <= total_tokens, so this stays below 2**63
            keys = keys[:starts] * vocabulary_size + ids[n - 1 :]
        inside = positions[:starts] + n <= doc_end[:starts]
        codes, uniques = pd.factorize(keys[inside])
        keys = np.zeros(starts, dtype=np.int64)
        keys[inside] = codes
        if n in wanted:
            result[n] = len(uniques) / len(codes) if len(codes) else math.nan
    return {n: result[n] for n in wanted}


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct-n of one n; see `distinct_ns`."""
    return distinct_ns(texts, (n,))[n]


# --- compression ratio --------------------------------------------------------------------------


def compression_ratio(texts: Iterable[str], *, compresslevel: int = 6) -> float:
    """Bytes of the newline-joined UTF-8 texts divided by their gzip size.

    Higher means more repetitive: gzip finds the repeats that a narrow generator produces (the same
    openings, templates and phrases), so the ratio works as a cheap diversity score (Shaib et al.
    2024). Level 6 is zlib's default; on 100,000 rows (bench/metrics_speed.py) level 9 took ten
    times as long for a ratio 6% higher. NaN when the texts are empty.
    """
    data = "\n".join(str(text) for text in texts).encode("utf-8")
    if not data:
        return math.nan
    return len(data) / len(gzip.compress(data, compresslevel=compresslevel, mtime=0))


# --- Vendi score --------------------------------------------------------------------------------


def _entropy_exp(eigenvalues: np.ndarray) -> float:
    """exp of the Shannon entropy of the eigenvalues, normalised to sum to one."""
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    total = eigenvalues.sum()
    if total <= 0:
        return math.nan
    p = eigenvalues[eigenvalues > total * 1e-12] / total
    return float(np.exp(-np.sum(p * np.log(p))))


def vendi_score_from_kernel(kernel: np.ndarray) -> float:
    """The Vendi score of an n x n similarity matrix with ones on the diagonal (Friedman and Dieng 2023).

    exp of the entropy of the eigenvalues of K / n: 1 when all items are the same, n when they are
    all orthogonal. This is the definition, kept as the reference `vendi_score` is tested against;
    it costs O(n^3), so use it only on small n.
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be a square matrix, got shape {kernel.shape}")
    if kernel.shape[0] == 0:
        return math.nan
    return _entropy_exp(np.linalg.eigvalsh(kernel))


def vendi_score(vectors: np.ndarray) -> float:
    """The Vendi score of n items given as rows of an n x d matrix, under the cosine kernel.

    Rows are L2-normalised here (rows of zeros, such as empty texts, are left out). The nonzero
    eigenvalues of K / n = X X^T / n are those of X^T X / n, so when d < n the score comes from the
    d x d matrix: 20,000 rows of 256 dimensions cost one 256 x 256 eigendecomposition and never an
    n x n matrix. When d >= n the n x n side is the smaller one and is used instead.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"vectors must be a 2-d array, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1)
    x = x[norms > 0] / norms[norms > 0, None]
    n, d = x.shape
    if n == 0:
        return math.nan
    gram = x.T @ x if d < n else x @ x.T
    return _entropy_exp(np.linalg.eigvalsh(gram))


# --- TF-IDF vectors -----------------------------------------------------------------------------


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _exact_rows(x: np.ndarray) -> np.ndarray:
    """Coordinates of the rows of a dense n x V matrix (V > n) in n dims, with the same inner products."""
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    return u * s


def _sklearn_tfidf(texts: list[str], max_dims: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(
        token_pattern=TFIDF_TOKEN_PATTERN, sublinear_tf=True, dtype=np.float64
    ).fit_transform(texts)
    n, vocabulary = matrix.shape
    if vocabulary <= max_dims:
        return matrix.toarray()
    if n <= max_dims:
        return _exact_rows(matrix.toarray())
    return TruncatedSVD(n_components=max_dims, random_state=seed).fit_transform(matrix)


def _numpy_tfidf(texts: list[str], max_dims: int) -> np.ndarray:
    """Hashed TF-IDF in numpy: sublinear tf, smoothed idf, words hashed into 1,024 buckets."""
    pattern = re.compile(TFIDF_TOKEN_PATTERN)
    counts = np.zeros((len(texts), _HASH_DIMS), dtype=np.float64)
    for row, text in enumerate(texts):
        for token in pattern.findall(text.lower()):
            counts[row, zlib.crc32(token.encode("utf-8")) % _HASH_DIMS] += 1.0
    document_frequency = (counts > 0).sum(axis=0)
    idf = np.log((1 + len(texts)) / (1 + document_frequency)) + 1.0
    present = counts > 0
    counts[present] = 1.0 + np.log(counts[present])  # sublinear tf, as scikit-learn's
    x = _l2_normalise(counts * idf)
    if x.shape[0] <= max_dims < _HASH_DIMS:
        return _exact_rows(x)
    if max_dims < _HASH_DIMS:
        _, vectors = np.linalg.eigh(x.T @ x)  # principal directions, ascending
        return x @ vectors[:, ::-1][:, :max_dims]
    return x


def tfidf_vectors(texts: Iterable[str], *, max_dims: int = 256, seed: int = 0) -> np.ndarray:
    """L2-normalised TF-IDF vectors of the texts in at most `max_dims` dimensions.

    The stand-in for sentence embeddings when no embedding model is available. With scikit-learn,
    TfidfVectorizer (words of any length, sublinear tf) then, when the vocabulary is larger than
    `max_dims`, truncated SVD (seeded): exact when there are at most `max_dims` texts, an LSA
    approximation beyond. Without scikit-learn, a numpy TF-IDF whose words are hashed into 1,024
    buckets, reduced the same way. Because of the reduction a Vendi score on these vectors is at
    most `max_dims`. Texts with no word give a row of zeros.
    """
    if max_dims < 1:
        raise ValueError(f"max_dims must be >= 1, got {max_dims}")
    texts = [str(text) for text in texts]
    if not texts:
        return np.zeros((0, 0), dtype=np.float64)
    if not any(re.search(TFIDF_TOKEN_PATTERN, text) for text in texts):
        return np.zeros((len(texts), 1), dtype=np.float64)
    x = _sklearn_tfidf(texts, max_dims, seed) if HAVE_SKLEARN else _numpy_tfidf(texts, max_dims)
    return _l2_normalise(x)


# --- coverage -----------------------------------------------------------------------------------


def category_coverage(categories_in_mix: Iterable[object], seed_categories: Iterable[object]) -> float:
    """Fraction of the seed categories that appear at least once in the mix; NaN without seeds.

    Categories are any hashable keys: a slug, or a (domain, category) pair.
    """
    wanted = set(seed_categories)
    if not wanted:
        return math.nan
    return len(wanted & set(categories_in_mix)) / len(wanted)
