"""64-bit hashes of word n-grams, computed over raw bytes with numpy.

Input documents come from `hashing_bytes`: normalised except that whitespace runs remain as runs
of spaces. A chunk of documents is joined with b"\\n" and the runs are collapsed with numpy. The hash
of an n-gram is a polynomial hash of its bytes, "w1 w2 ... wn", taken from prefix sums modulo 2**64
and finished with the splitmix64 mixer; so no Python object is made per token or per n-gram, and
the same n-gram hashes alike in any document, chunk or run.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["iter_chunks", "mix64", "ngram_hashes"]

_BASE = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64
_BASE_INVERSE = pow(_BASE, -1, 1 << 64)
_CHUNK_BYTES = 1 << 20


def mix64(values: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, in place on a uint64 array; returns it."""
    values ^= values >> np.uint64(30)
    values *= np.uint64(0xBF58476D1CE4E5B9)
    values ^= values >> np.uint64(27)
    values *= np.uint64(0x94D049BB133111EB)
    values ^= values >> np.uint64(31)
    return values


@functools.lru_cache(maxsize=2)
def _power_table(base: int, size: int) -> np.ndarray:
    powers = np.full(size, base, dtype=np.uint64)
    powers[0] = 1
    np.cumprod(powers, out=powers)  # wraps modulo 2**64
    powers.flags.writeable = False
    return powers


def _powers(base: int, length: int) -> np.ndarray:
    """base**0 .. base**(length-1) modulo 2**64, from a table sized to the next power of two."""
    return _power_table(base, 1 << max(length - 1, 1).bit_length())[:length]


def iter_chunks(docs: Sequence[str | bytes], max_bytes: int | None = None) -> Iterator[tuple[int, int]]:
    """(start, stop) ranges of documents holding about `max_bytes` (default 1 MiB) of text each;
    text is measured by len(), so characters stand in for bytes when given strings."""
    max_bytes = _CHUNK_BYTES if max_bytes is None else max_bytes
    start, size = 0, 0
    for stop, doc in enumerate(docs):
        if size and size + len(doc) > max_bytes:
            yield start, stop
            start, size = stop, 0
        size += len(doc) + 1
    if start < len(docs):
        yield start, len(docs)


def _has_stray_spaces(data: np.ndarray, token_byte: np.ndarray) -> bool:
    """Whether a space is not between two token bytes: leading, trailing or repeated."""
    if not len(data):
        return False
    space = data == 32
    return bool(space[0] or space[-1] or (space[1:] & ~token_byte[:-1]).any() or (space[:-1] & ~token_byte[1:]).any())


def _collapse_spaces(data: np.ndarray) -> np.ndarray:
    """Drop leading, trailing and repeated spaces of each b"\\n"-separated document."""
    token_byte = (data != 32) & (data != 10)
    after_token = np.concatenate(([False], token_byte[:-1]))
    data = data[token_byte | (data == 10) | after_token]  # a run keeps its first space
    before_break = np.concatenate((data[1:] == 10, [True]))
    return data[~((data == 32) & before_break)]  # and loses it at the end of a document


def ngram_hashes(docs: Sequence[bytes], n: int, *, short_docs: str = "whole") -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every word n-gram of each document, and how many each document has.

    A document with fewer than `n` tokens counts as one n-gram (its whole text) when
    `short_docs="whole"` (MinHash), and has none with `short_docs="skip"` (decontamination).
    Empty documents have none. Returns (hashes: uint64[total], counts: int64[len(docs)]), the
    hashes of document d being the `counts[d]` after those of the documents before it.
    """
    if short_docs not in ("whole", "skip"):
        raise ValueError(f"short_docs must be 'whole' or 'skip', got {short_docs!r}")
    if not docs:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    data = np.frombuffer(b"\n".join(docs), np.uint8)
    token_byte = (data != 32) & (data != 10)
    if _has_stray_spaces(data, token_byte):
        data = _collapse_spaces(data)
        token_byte = (data != 32) & (data != 10)
    edges = np.diff(token_byte.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    token_start = np.flatnonzero(edges == 1)
    token_end = np.flatnonzero(edges == -1)
    breaks = np.flatnonzero(data == 10)
    if len(breaks) != len(docs) - 1:
        raise ValueError("documents must not contain b'\\n': build them with hashing_bytes")
    doc_of_token = np.searchsorted(breaks, token_start)
    tokens = np.bincount(doc_of_token, minlength=len(docs)).astype(np.int64)
    if short_docs == "whole":
        counts = np.where(tokens >= n, tokens - n + 1, np.minimum(tokens, 1))
    else:
        counts = np.maximum(tokens - n + 1, 0)
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.uint64), counts

    first_token = np.cumsum(tokens) - tokens
    first_gram = np.cumsum(counts) - counts
    doc_of_gram = np.repeat(np.arange(len(docs)), counts)
    start_token = first_token[doc_of_gram] + (np.arange(total) - first_gram[doc_of_gram])
    last_token = (first_token + tokens - 1)[doc_of_gram]
    end_token = np.minimum(start_token + (n - 1), last_token)
    byte_start = token_start[start_token]
    byte_end = token_end[end_token]

    # prefix[i] = sum_{j<i} (byte_j + 1) * BASE**j; an n-gram's hash is its slice of the prefix
    # sums shifted back to position 0 by BASE**-start, so equal n-grams hash alike anywhere.
    prefix = np.zeros(len(data) + 1, np.uint64)
    weighted = data.astype(np.uint64)
    weighted += np.uint64(1)
    weighted *= _powers(_BASE, len(data))
    np.cumsum(weighted, out=prefix[1:])
    del weighted
    hashes = prefix[byte_end] - prefix[byte_start]
    hashes *= _powers(_BASE_INVERSE, len(data))[byte_start]
    return mix64(hashes), counts
