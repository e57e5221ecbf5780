"""normalize_text and the byte form the hashing steps use."""

from __future__ import annotations

import numpy as np
import pytest

from synth_assets.core.dedup.normalize import (
    hashing_bytes,
    is_punctuation,
    normalize_text,
)
from synth_assets.core.dedup.shingles import ngram_hashes

TRICKY = [
    "Hello, World!",
    "  leading\tand\ttrailing \n",
    "Ｆｕｌｌｗｉｄｔｈ　ＴＥＸＴ！",  # NFKC: fullwidth letters, ideographic space, fullwidth "!"
    "ﬁne ﬂour",  # ligatures
    "Straße STRASSE",  # casefold: ß -> ss
    "“Curly” ‘quotes’ — and – dashes…",
    "price: $5 + 3 = <8> ^ `x` | ~y",  # ASCII symbols count as punctuation
    "¿Qué? ¡Sí! «vale»",
    "中文，标点。测试",
    "e\u0301cole école",  # combining accent composes under NFKC
    "a\x1cb\x1dc\x1ed\x1fe",  # separators str.split() treats as whitespace
    "nbsp\u00a0here\u2003em\u2028line",
    "ΣΊΣΥΦΟΣ",  # final sigma under casefold
    "math ≤ 5 × 3 → ∞ €",  # symbols outside ASCII are kept
    "!!! ... ???",
    "",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello,   World!", "hello world"),
        ("Ｆｕｌｌｗｉｄｔｈ　ＴＥＸＴ！", "fullwidth text"),
        ("ﬁne ﬂour", "fine flour"),
        ("Straße", "strasse"),
        ("“Curly” ‘quotes’ — dashes…", "curly quotes dashes"),
        ("don't stop-me", "dont stopme"),
        ("price: $5 + 3 = <8>", "price 5 3 8"),
        ("e\u0301cole", "école"),
        ("a\x1cb", "a b"),
        ("math ≤ 5 × 3", "math ≤ 5 × 3"),
        ("!!! ... ???", ""),
        ("", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize("text", TRICKY)
def test_normalize_text_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_ascii_fast_path_matches_the_unicode_path() -> None:
    # Append a non-ASCII letter that normalisation keeps, to force the general path, then compare.
    for text in ["Hello, World!", "a\tb\x0bc\x0cd\re\x1cf", "x = (a+b)*c; // done!", "  UPPER lower  "]:
        assert normalize_text(text + " é") == normalize_text(text) + " é"


def test_punctuation_is_category_p_plus_ascii_symbols() -> None:
    assert all(is_punctuation(c) for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~“”«»¿¡—…、。，")
    assert not any(is_punctuation(c) for c in "aZ09 €≤×∞")


@pytest.mark.parametrize("text", TRICKY)
def test_hashing_bytes_hash_like_the_normalised_text(text: str) -> None:
    # hashing_bytes may leave whitespace runs; the n-gram hashes must not see them.
    loose = ngram_hashes([hashing_bytes(text)], 2)
    exact = ngram_hashes([normalize_text(text).encode("utf-8")], 2)
    np.testing.assert_array_equal(loose[0], exact[0])
    np.testing.assert_array_equal(loose[1], exact[1])


def test_ngram_hashes_are_the_same_in_any_document_and_chunk() -> None:
    hashes, counts = ngram_hashes([b"a b c", b"", b"x a b c y", b"a   b  c "], 3)
    assert counts.tolist() == [1, 0, 3, 1]
    first, third_doc, fourth = hashes[0], hashes[1:4], hashes[4]
    assert third_doc[1] == first and fourth == first
    assert len(set(third_doc.tolist())) == 3
    alone, _ = ngram_hashes([b"a b c"], 3)
    assert alone[0] == first


def test_short_documents_are_whole_or_skipped() -> None:
    whole, whole_counts = ngram_hashes([b"one two", b"one two three"], 5, short_docs="whole")
    skipped, skipped_counts = ngram_hashes([b"one two", b"one two three"], 5, short_docs="skip")
    assert whole_counts.tolist() == [1, 1] and whole[0] != whole[1]
    assert skipped_counts.tolist() == [0, 0] and len(skipped) == 0
    with pytest.raises(ValueError, match="short_docs"):
        ngram_hashes([b"a"], 5, short_docs="drop")
