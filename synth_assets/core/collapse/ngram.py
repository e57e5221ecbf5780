"""A word trigram language model with interpolated Kneser-Ney smoothing, in numpy.

Small enough to train many times on CPU, smooth enough that held-out perplexity is always finite.
Counts are kept as sorted integer keys (u, v, w) -> (u * V + v) * V + w, so fitting and scoring are a
few `np.unique` and `np.searchsorted` calls. Interpolated Kneser-Ney is a mixture (the discounted
trigram counts, else the bigram level, else the unigram level, else uniform), so sampling walks down
the levels with one uniform draw instead of building a full distribution per token.

Chen and Goodman (1998), "An empirical study of smoothing techniques for language modeling", Sec. 3.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = [
    "BOS",
    "BOS_ID",
    "EOS",
    "EOS_ID",
    "UNK",
    "UNK_ID",
    "KneserNeyTrigram",
    "Vocabulary",
    "distinct_n",
    "tokenize",
]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
BOS_ID, EOS_ID, UNK_ID = 0, 1, 2
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with an inner apostrophe) and single punctuation marks."""
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """A fixed word list; ids 0, 1, 2 are BOS, EOS and UNK. Fixed for all generations of an
    experiment, so every generation's perplexity is measured over the same events."""

    words: tuple[str, ...]

    @classmethod
    def build(cls, token_docs: Iterable[Sequence[str]], min_count: int) -> Vocabulary:
        """Words seen at least `min_count` times, most frequent first (ties alphabetical)."""
        counts = Counter(token for doc in token_docs for token in doc)
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(words=(BOS, EOS, UNK, *kept))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        index = self._index
        return np.fromiter((index.get(t, UNK_ID) for t in tokens), dtype=np.int64, count=len(tokens))

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(self.words[i] for i in ids)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def _discount(counts: np.ndarray) -> float:
    """Absolute discount D = n1 / (n1 + 2 n2) (Ney et al. 1994), kept inside [0.05, 0.95]."""
    n1 = int(np.count_nonzero(counts == 1))
    n2 = int(np.count_nonzero(counts == 2))
    if n1 + 2 * n2 == 0:
        return 0.5
    return float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95))


class _Level:
    """One order of the model: sorted (context, word) keys with their discounted counts.

    `keys` are context * V + word, sorted, so each context owns a contiguous slice.
    """

    def __init__(self, keys: np.ndarray, counts: np.ndarray, vocab_size: int) -> None:
        self.keys = keys
        self.counts = counts
        self.discount = _discount(counts)
        contexts = keys // vocab_size
        self.context_keys, self.starts, self.types = np.unique(contexts, return_index=True, return_counts=True)
        self.totals = np.add.reduceat(counts, self.starts).astype(float)
        self.backoff = self.discount * self.types / self.totals  # gamma(context)
        self.words = keys % vocab_size
        self._sampler: tuple[dict[int, int], list[int], list[float], list[float], list[int]] | None = None

    def probability(self, contexts: np.ndarray, words: np.ndarray, lower: np.ndarray, vocab_size: int) -> np.ndarray:
        """P(word | context) for arrays, interpolating with the lower order's `lower` probabilities."""
        c = np.clip(np.searchsorted(self.context_keys, contexts), 0, len(self.context_keys) - 1)
        has_context = self.context_keys[c] == contexts
        query = contexts * vocab_size + words
        k = np.clip(np.searchsorted(self.keys, query), 0, len(self.keys) - 1)
        seen = self.keys[k] == query
        discounted = np.where(seen, np.maximum(self.counts[k] - self.discount, 0.0), 0.0) / self.totals[c]
        return np.where(has_context, discounted + self.backoff[c] * lower, lower)

    def sampler(self) -> tuple[dict[int, int], list[int], list[float], list[float], list[int]]:
        """Python lists for the per-token sampling loop: context -> slice, cumulative weights."""
        if self._sampler is None:
            cumulative = np.cumsum(self.counts - self.discount)
            self._sampler = (
                {key: i for i, key in enumerate(self.context_keys.tolist())},
                self.starts.tolist(),
                self.backoff.tolist(),
                cumulative.tolist(),
                self.words.tolist(),
            )
        return self._sampler


class KneserNeyTrigram:
    """Interpolated Kneser-Ney trigram model over a fixed `Vocabulary`.

    Top level: raw trigram counts. Middle: continuation counts N1+(. v w). Bottom: continuation counts
    N1+(. w), interpolated with a uniform distribution over every id except BOS, so no event that the
    vocabulary can express ever has probability zero.
    """

    def __init__(self, docs: Sequence[np.ndarray], vocab_size: int) -> None:
        if not docs:
            raise ValueError("docs must hold at least one document")
        self.vocab_size = v_size = vocab_size
        u, v, w = _trigram_columns(docs)
        tri_keys, tri_counts = np.unique((u * v_size + v) * v_size + w, return_counts=True)
        self.trigram = _Level(tri_keys, tri_counts, v_size)
        bi_keys, bi_counts = np.unique(tri_keys % (v_size * v_size), return_counts=True)
        self.bigram = _Level(bi_keys, bi_counts, v_size)

        continuation = np.bincount(bi_keys % v_size, minlength=v_size).astype(float)
        uniform = np.full(v_size, 1.0 / (v_size - 1))
        uniform[BOS_ID] = 0.0
        d1 = _discount(continuation[continuation > 0])
        total = continuation.sum()
        self.unigram = (
            np.maximum(continuation - d1, 0.0) / total + d1 * np.count_nonzero(continuation) / total * uniform
        )
        self._unigram_cumulative = np.cumsum(self.unigram).tolist()

    def distribution(self, u: int, v: int) -> np.ndarray:
        """P(w | u, v) for every id w: the full next-token distribution after the ids u, v."""
        words = np.arange(self.vocab_size)
        return self._probability(np.full_like(words, u), np.full_like(words, v), words)

    def log_probs(self, docs: Sequence[np.ndarray]) -> np.ndarray:
        """Natural-log probability of every predicted token (each word and the closing EOS)."""
        return np.log(self._probability(*_trigram_columns(docs)))

    def _probability(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        p1 = self.unigram[w]
        p2 = self.bigram.probability(v, w, p1, self.vocab_size)
        return self.trigram.probability(u * self.vocab_size + v, w, p2, self.vocab_size)

    def perplexity(self, docs: Sequence[np.ndarray]) -> float:
        return float(np.exp(-self.log_probs(docs).mean()))

    def sample(self, n_docs: int, rng: np.random.Generator, max_tokens: int) -> list[np.ndarray]:
        """`n_docs` documents, each ended by EOS or cut at `max_tokens` words (EOS not included)."""
        v_size = self.vocab_size
        tri_index, tri_starts, tri_backoff, tri_cum, tri_words = self.trigram.sampler()
        bi_index, bi_starts, bi_backoff, bi_cum, bi_words = self.bigram.sampler()
        tri_types, bi_types = self.trigram.types.tolist(), self.bigram.types.tolist()
        uni_cum = self._unigram_cumulative
        last_id = len(uni_cum) - 1
        uniforms: list[float] = []
        docs = []
        for _ in range(n_docs):
            u, v, doc = BOS_ID, BOS_ID, []
            while len(doc) < max_tokens:
                if not uniforms:
                    uniforms = rng.random(65_536).tolist()
                r = uniforms.pop()
                word = _draw(tri_index.get(u * v_size + v), r, tri_starts, tri_types, tri_backoff, tri_cum, tri_words)
                if word < 0:
                    r = _rescale(tri_index.get(u * v_size + v), r, tri_backoff)
                    word = _draw(bi_index.get(v), r, bi_starts, bi_types, bi_backoff, bi_cum, bi_words)
                    if word < 0:
                        r = _rescale(bi_index.get(v), r, bi_backoff)
                        word = min(bisect_right(uni_cum, r * uni_cum[-1]), last_id)
                if word == EOS_ID:
                    break
                doc.append(word)
                u, v = v, word
            docs.append(np.asarray(doc, dtype=np.int64))
        return docs


def _draw(
    context: int | None,
    r: float,
    starts: list[int],
    types: list[int],
    backoff: list[float],
    cumulative: list[float],
    words: list[int],
) -> int:
    """A word from this level's discounted counts, or -1 to back off (with probability gamma)."""
    if context is None or r < backoff[context]:
        return -1
    gamma = backoff[context]
    start, end = starts[context], starts[context] + types[context]
    base = cumulative[start - 1] if start else 0.0
    target = base + (r - gamma) / (1.0 - gamma) * (cumulative[end - 1] - base)
    return words[min(bisect_right(cumulative, target, start, end), end - 1)]


def _rescale(context: int | None, r: float, backoff: list[float]) -> float:
    """Given r < gamma (we backed off), r / gamma is again uniform on [0, 1)."""
    return r if context is None else r / backoff[context]


def _trigram_columns(docs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v, w) id columns of every trigram in BOS BOS doc EOS, over all documents."""
    padded = [np.concatenate(([BOS_ID, BOS_ID], doc, [EOS_ID])) for doc in docs]
    u = np.concatenate([p[:-2] for p in padded])
    v = np.concatenate([p[1:-1] for p in padded])
    w = np.concatenate([p[2:] for p in padded])
    return u.astype(np.int64), v.astype(np.int64), w.astype(np.int64)


def distinct_n(docs: Sequence[np.ndarray], n: int, max_tokens: int | None = None) -> float:
    """Unique n-grams / all n-grams, counting n-grams inside documents only.

    Documents are taken in order until `max_tokens` words are used, so corpora of different sizes
    are compared over the same number of words.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    grams: list[tuple[int, ...]] = []
    used = 0
    for doc in docs:
        if max_tokens is not None and used >= max_tokens:
            break
        ids = doc.tolist() if max_tokens is None else doc[: max_tokens - used].tolist()
        used += len(ids)
        grams.extend(zip(*(ids[i:] for i in range(n)), strict=False))  # windows: shorter tails end the zip
    return len(set(grams)) / len(grams) if grams else 0.0
