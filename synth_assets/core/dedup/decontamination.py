"""Benchmark decontamination by word 13-gram overlap (the GPT-3 rule).

Text is tokenised by `ngram_tokens`: `normalize_text` (NFKC, case folded, punctuation removed)
split on whitespace. A training text is contaminated when any n consecutive tokens of it also occur
consecutively in a benchmark item. A benchmark item shorter than n tokens has no n-gram, so it can
never match; `BenchmarkIndex.skipped` lists such items so a run can report them.

The index keeps the sorted 64-bit hashes of the benchmark n-grams (`ngram_hashes`); a text is
hashed the same way and looked up with a binary search, and a hit is confirmed against the
benchmark item's text, so a hash collision can never remove a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from synth_assets.core.dedup.normalize import hashing_bytes, normalize_text
from synth_assets.core.dedup.shingles import iter_chunks, ngram_hashes

__all__ = ["BenchmarkIndex", "Match", "ngram_tokens"]


def ngram_tokens(text: str) -> list[str]:
    """Lower-cased (case-folded, NFKC), punctuation-stripped, whitespace-split tokens."""
    return normalize_text(text).split()


@dataclass(frozen=True)
class Match:
    """The benchmark item a text overlaps, and the first shared n-gram (normalised tokens)."""

    benchmark_id: str
    ngram: str


class BenchmarkIndex:
    """The n-grams of a set of benchmark items, to find texts that share one."""

    def __init__(
        self,
        n: int,
        item_ids: list[str],
        item_texts: list[str],
        hashes: np.ndarray,
        owners: np.ndarray,
        skipped: list[str],
    ):
        self.n = n
        self._item_ids = item_ids
        self._item_texts = item_texts  # normalised, padded with spaces for whole-token search
        self._hashes = hashes  # sorted, distinct
        self._owners = owners  # index of the first item holding each hash
        self.skipped = skipped
        self._indexed_items = len(np.unique(owners))

    @classmethod
    def build(cls, items: Iterable[tuple[str, str]], n: int = 13) -> BenchmarkIndex:
        """Index `(benchmark_id, text)` items; an n-gram shared by several items maps to the first."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        ids, texts = [], []
        for item_id, text in items:
            ids.append(str(item_id))
            texts.append(hashing_bytes(text))
        hashes, counts = ngram_hashes(texts, n, short_docs="skip")
        owners = np.repeat(np.arange(len(ids), dtype=np.int64), counts)
        order = np.argsort(hashes, kind="stable")  # stable: the first item wins a shared n-gram
        hashes, owners = hashes[order], owners[order]
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = hashes[1:] != hashes[:-1]
        skipped = [item_id for item_id, count in zip(ids, counts, strict=True) if count == 0]
        padded = [" " + " ".join(text.decode("utf-8", "surrogatepass").split()) + " " for text in texts]
        return cls(n, ids, padded, hashes[first], owners[first], skipped)

    def __len__(self) -> int:
        """Number of benchmark items that have at least one n-gram (those that can match)."""
        return self._indexed_items

    @property
    def ngram_count(self) -> int:
        """Number of distinct n-grams indexed."""
        return len(self._hashes)

    def match(self, text: str) -> Match | None:
        """The first n-gram of `text` found in a benchmark item, or None."""
        return self.match_many([text])[0]

    def match_many(self, texts: Sequence[str]) -> list[Match | None]:
        """`match` for each text, hashing all of them with numpy."""
        results: list[Match | None] = [None] * len(texts)
        if not len(self._hashes):
            return results
        for start, stop in iter_chunks(texts):
            docs = [hashing_bytes(text) for text in texts[start:stop]]
            hashes, counts = ngram_hashes(docs, self.n, short_docs="skip")
            position = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
            hits = np.flatnonzero(self._hashes[position] == hashes)
            if not len(hits):
                continue
            first_gram = np.cumsum(counts) - counts
            doc_of_hit = np.searchsorted(first_gram, hits, side="right") - 1
            for doc in np.unique(doc_of_hit):
                doc_hits = hits[doc_of_hit == doc]
                results[start + int(doc)] = self._confirm(docs[doc], doc_hits - first_gram[doc], position[doc_hits])
        return results

    def _confirm(self, doc: bytes, gram_numbers: np.ndarray, positions: np.ndarray) -> Match | None:
        """The first hit whose n-gram really occurs in its benchmark item."""
        tokens = doc.decode("utf-8", "surrogatepass").split()
        for gram_number, position in zip(gram_numbers, positions, strict=True):
            ngram = " ".join(tokens[gram_number : gram_number + self.n])
            owner = int(self._owners[position])
            if f" {ngram} " in self._item_texts[owner]:
                return Match(self._item_ids[owner], ngram)
        return None
