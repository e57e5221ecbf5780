"""ROUGE-L F-measure, and a growing pool that finds a text's most similar member fast.

`rouge_l_f` gives the same numbers as the `rouge-score` package (`RougeScorer(["rougeL"])` with its
default tokenizer: lower-case, every run of characters outside ``[a-z0-9]`` becomes a space, no
stemming), down to the last bit of the float.

`NoveltyIndex` answers "what is the highest ROUGE-L F between this text and any pool member?" without
scoring every pair, so the Self-Instruct novelty filter stays usable on pools of 10,000+ tasks:

1. An inverted index (token -> pool members and how often each holds it) gives, for every member
   that shares a token with the query, the size of the multiset intersection of their tokens.
2. The LCS of two sequences is at most that intersection, and ROUGE-L F = 2 * LCS / (m + n), so
   ``2 * overlap / (m + n)`` bounds a member's score from above. Members are visited in decreasing
   order of that bound, and the scan stops as soon as the bound falls below the best exact score.
3. The exact LCS of the survivors is computed with the bit-parallel algorithm of Hyyrö (2004):
   one big-integer add, subtract, and, or per token of the pool member.

The result is exactly the naive all-pairs maximum; ties go to the member added first, as a scan in
insertion order keeping the first maximum would give.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["NoveltyIndex", "lcs_length", "rouge_l_f", "tokenize"]

_NON_ALPHANUM = re.compile(r"[^a-z0-9]+")

# Bounds within this distance of the best score are still scored exactly. Distinct ROUGE-L values
# of texts under ~10,000 tokens differ by far more, so this only absorbs float rounding.
_BOUND_SLACK = 1e-9
# How many of the highest-bound members are scored before the rest are pruned against the best.
_FIRST_BATCH = 16


def tokenize(text: str) -> list[str]:
    """Tokens as rouge-score's default tokenizer makes them: lower-cased ``[a-z0-9]+`` runs."""
    return _NON_ALPHANUM.sub(" ", text.lower()).split()


def _f_measure(lcs: int, len_target: int, len_prediction: int) -> float:
    # The same operations, in the same order, as rouge_score._score_lcs and scoring.fmeasure.
    if lcs == 0 or len_target == 0 or len_prediction == 0:
        return 0.0
    precision = lcs / len_prediction
    recall = lcs / len_target
    return 2 * precision * recall / (precision + recall)


def _match_masks(tokens: Sequence[object]) -> dict[object, int]:
    masks: dict[object, int] = {}
    for position, token in enumerate(tokens):
        masks[token] = masks.get(token, 0) | (1 << position)
    return masks


def _lcs_with_masks(masks: dict[object, int], length: int, other: Iterable[object]) -> int:
    """Hyyrö's bit-parallel LCS: bit i of `v` is cleared when the LCS grows at position i."""
    full = (1 << length) - 1
    v = full
    get = masks.get
    for token in other:
        match = get(token)
        if match:
            u = v & match
            v = ((v + u) | (v - u)) & full
    return length - v.bit_count()


def lcs_length(a_tokens: Sequence[object], b_tokens: Sequence[object]) -> int:
    """Length of the longest common subsequence of two token sequences."""
    if not a_tokens or not b_tokens:
        return 0
    return _lcs_with_masks(_match_masks(a_tokens), len(a_tokens), b_tokens)


def rouge_l_f(a_tokens: Sequence[object], b_tokens: Sequence[object]) -> float:
    """ROUGE-L F-measure of two token sequences (symmetric; 0.0 when either is empty)."""
    return _f_measure(lcs_length(a_tokens, b_tokens), len(a_tokens), len(b_tokens))


class _Postings:
    """The pool members holding one token, and how many times each holds it; grows by doubling."""

    __slots__ = ("counts", "members", "size")

    def __init__(self) -> None:
        self.members = np.empty(4, dtype=np.int64)
        self.counts = np.empty(4, dtype=np.int64)
        self.size = 0

    def append(self, member: int, count: int) -> None:
        if self.size == len(self.members):
            self.members = np.resize(self.members, 2 * self.size)
            self.counts = np.resize(self.counts, 2 * self.size)
        self.members[self.size] = member
        self.counts[self.size] = count
        self.size += 1


class NoveltyIndex:
    """A growing pool of texts that returns the highest ROUGE-L F of a query against any member.

    >>> index = NoveltyIndex(["Write a poem about the sea."])
    >>> index.max_rouge_l("Write a poem about the mountains.")
    (0.8333333333333334, 'Write a poem about the sea.')
    """

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self._texts: list[str] = []
        self._sequences: list[list[int]] = []  # each member's tokens, as vocabulary ids
        self._lengths = np.empty(64, dtype=np.int64)
        self._vocabulary: dict[str, int] = {}
        self._postings: list[_Postings] = []  # by vocabulary id
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def texts(self) -> list[str]:
        """The pool members, in the order they were added (a copy)."""
        return list(self._texts)

    def add(self, text: str) -> int:
        """Add a text to the pool and return its position."""
        member = len(self._texts)
        sequence = []
        for token in tokenize(text):
            token_id = self._vocabulary.get(token)
            if token_id is None:
                token_id = self._vocabulary[token] = len(self._postings)
                self._postings.append(_Postings())
            sequence.append(token_id)
        for token_id, count in Counter(sequence).items():
            self._postings[token_id].append(member, count)
        if member == len(self._lengths):
            self._lengths = np.resize(self._lengths, 2 * member)
        self._lengths[member] = len(sequence)
        self._texts.append(text)
        self._sequences.append(sequence)
        return member

    def max_rouge_l(self, text: str) -> tuple[float, str | None]:
        """The highest ROUGE-L F of `text` against the pool, and the first member that reaches it.

        Returns ``(0.0, None)`` when the pool is empty or no member shares a token with `text`.
        """
        score, member = self._best_member(tokenize(text))
        return score, (None if member is None else self._texts[member])

    def _best_member(self, tokens: list[str]) -> tuple[float, int | None]:
        query_length = len(tokens)
        query_counts = Counter(self._vocabulary.get(token, -1) for token in tokens)
        query_counts.pop(-1, None)  # tokens no member holds still count in the query's length
        if not query_counts:
            return 0.0, None

        # Multiset intersection with every member sharing a token: sum of min(count in query, count in member).
        member_parts, weight_parts = [], []
        for token_id, query_count in query_counts.items():
            postings = self._postings[token_id]
            member_parts.append(postings.members[: postings.size])
            weight_parts.append(np.minimum(postings.counts[: postings.size], query_count))
        pool_size = len(self._texts)
        overlap = np.bincount(np.concatenate(member_parts), weights=np.concatenate(weight_parts), minlength=pool_size)
        candidates = np.flatnonzero(overlap)
        bounds = 2.0 * overlap[candidates] / (query_length + self._lengths[candidates])

        masks = _match_masks([self._vocabulary.get(token, -1) for token in tokens])
        best_score, best_member = 0.0, None

        def score(member: int) -> None:
            nonlocal best_score, best_member
            sequence = self._sequences[member]
            lcs = _lcs_with_masks(masks, query_length, sequence)
            value = _f_measure(lcs, len(sequence), query_length)
            if value > best_score or (value == best_score and best_member is not None and member < best_member):
                best_score, best_member = value, member

        # Score the highest bounds first to get a good best score, then prune everything below it.
        if len(candidates) > _FIRST_BATCH:
            first = np.argpartition(-bounds, _FIRST_BATCH)[:_FIRST_BATCH]
        else:
            first = np.arange(len(candidates))
        for position in first:
            score(int(candidates[position]))
        rest = bounds >= best_score - _BOUND_SLACK
        rest[first] = False
        rest_members, rest_bounds = candidates[rest], bounds[rest]
        for position in np.lexsort((rest_members, -rest_bounds)):
            if rest_bounds[position] < best_score - _BOUND_SLACK:
                break
            score(int(rest_members[position]))
        return best_score, best_member
