"""Text normalisation shared by exact dedup, MinHash shingles and benchmark n-grams.

`normalize_text` applies, in order: Unicode NFKC, case folding, removal of punctuation, and
collapsing of whitespace runs into one ASCII space (leading and trailing whitespace dropped).
Punctuation means every character of Unicode general category P (``P*``) plus the ASCII symbols
of ``string.punctuation`` (``$+<=>^`|~``), so ASCII text follows the usual GPT-3 decontamination
rule exactly and non-ASCII quotes, dashes and CJK marks go too. Removed characters are deleted,
not replaced by a space: "don't" and "dont" normalise alike.

ASCII text (most of a corpus) takes a byte-level path that gives the same result faster.
`hashing_bytes` stops short of collapsing whitespace (every whitespace byte becomes one space),
which `ngram_hashes` does for a whole chunk of documents at once with numpy.
"""

from __future__ import annotations

import functools
import re
import string
import sys
import unicodedata

__all__ = ["hashing_bytes", "is_punctuation", "normalize_text"]

# Upper case to lower, and every ASCII byte str.split() treats as whitespace to a space.
_ASCII_WHITESPACE = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
_ASCII_TABLE = bytes.maketrans(
    bytes(range(ord("A"), ord("Z") + 1)) + _ASCII_WHITESPACE,
    bytes(range(ord("a"), ord("z") + 1)) + b" " * len(_ASCII_WHITESPACE),
)
_ASCII_PUNCTUATION = string.punctuation.encode("ascii")


def is_punctuation(char: str) -> bool:
    """Whether one character is removed by normalisation (category P*, or ASCII punctuation)."""
    return char in string.punctuation or unicodedata.category(char).startswith("P")


@functools.cache
def _punctuation_pattern() -> re.Pattern[str]:
    """A character class of every punctuation code point, built once (about 0.3 s)."""
    ranges: list[str] = []
    start = previous = None
    for code in range(sys.maxunicode + 1):
        if not is_punctuation(chr(code)):
            continue
        if previous is not None and code == previous + 1:
            previous = code
            continue
        if start is not None:
            ranges.append(_char_range(start, previous))
        start = previous = code
    if start is not None:
        ranges.append(_char_range(start, previous))
    return re.compile("[" + "".join(ranges) + "]+")


def _char_range(first: int, last: int) -> str:
    if first == last:
        return re.escape(chr(first))
    return f"{re.escape(chr(first))}-{re.escape(chr(last))}"


def _normalize_ascii(data: bytes) -> bytes:
    return b" ".join(data.translate(_ASCII_TABLE, _ASCII_PUNCTUATION).split())


def normalize_text(text: str) -> str:
    """NFKC, casefold, punctuation removed, whitespace collapsed to single spaces."""
    if text.isascii():
        return _normalize_ascii(text.encode("ascii")).decode("ascii")
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_punctuation_pattern().sub("", folded).split())


def hashing_bytes(text: str) -> bytes:
    """`normalize_text` as UTF-8, except that whitespace runs may remain (as runs of spaces).

    The output has no byte other than b" " that str.split() would split on, and no b"\\n"; lone
    surrogates pass through. `ngram_hashes` collapses the runs."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_TABLE, _ASCII_PUNCTUATION)
    return normalize_text(text).encode("utf-8", "surrogatepass")
