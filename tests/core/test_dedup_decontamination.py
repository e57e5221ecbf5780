"""Benchmark decontamination: planted 13-grams are found, a 12-gram control is not."""

from __future__ import annotations

import random

import pytest

from synth_assets.core.dedup import shingles
from synth_assets.core.dedup.decontamination import BenchmarkIndex, Match, ngram_tokens

GSM = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May?"
)
HUMANEVAL = 'def add(a, b):\n    """Add two numbers a and b and return the sum of both of them."""\n    return a + b'
SHARED = "one two three four five six seven eight nine ten eleven twelve thirteen"


@pytest.fixture
def index() -> BenchmarkIndex:
    return BenchmarkIndex.build(
        [
            ("gsm8k/0", GSM),
            ("humaneval/0", HUMANEVAL),
            ("tiny/0", "What is 2+2?"),  # 4 tokens: no 13-gram, can never match
            ("first/0", "prefix " + SHARED),
            ("second/0", SHARED + " suffix"),
        ]
    )


def _window(text: str, start: int, length: int) -> str:
    return " ".join(text.split()[start : start + length])


def test_ngram_tokens() -> None:
    assert ngram_tokens("Hello, WORLD! It's   2+2.") == ["hello", "world", "its", "22"]


def test_index_contents(index: BenchmarkIndex) -> None:
    assert len(index) == 4
    assert index.skipped == ["tiny/0"]
    assert index.ngram_count == len(ngram_tokens(GSM)) - 12 + len(ngram_tokens(HUMANEVAL)) - 12 + 2 + 1


def test_planted_13_gram_is_flagged_and_12_gram_control_is_not(index: BenchmarkIndex) -> None:
    thirteen = _window(GSM, 5, 13)  # "her friends in April, ... sold half"
    twelve = _window(GSM, 5, 12)
    texts = [
        f"Here is a word problem. {thirteen.upper()} Please solve it step by step.",  # 0 flagged
        f"Here is a word problem. {twelve} Please solve it step by step.",  # 1 control: 12 tokens only
        "Write a Python function that adds two numbers and returns the sum.",  # 2 clean
        "Quick quiz: what is 2+2? Answer with one number only, please, and nothing more at all.",  # 3 short item
        f"Lead in: {SHARED} and more",  # 4 in two items: the first wins
        "add two numbers a and b and return the sum of both of them, said the docstring",  # 5 code item
    ]
    assert ngram_tokens(twelve) == ngram_tokens(thirteen)[:12]
    results = index.match_many(texts)
    assert results[0] == Match("gsm8k/0", " ".join(ngram_tokens(thirteen)))
    assert results[1] is None
    assert results[2] is None
    assert results[3] is None
    assert results[4] == Match("first/0", SHARED)
    assert results[5] == Match("humaneval/0", "add two numbers a and b and return the sum of both of")
    assert [index.match(text) for text in texts] == results


def test_whole_item_copied_reports_its_first_ngram(index: BenchmarkIndex) -> None:
    assert index.match(GSM) == Match("gsm8k/0", " ".join(ngram_tokens(GSM)[:13]))


def test_many_texts_across_chunks(index: BenchmarkIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(4)
    texts = [" ".join(f"w{rng.randrange(1000)}" for _ in range(rng.randrange(0, 40))) for _ in range(300)]
    planted = {17, 150, 299}
    for k in planted:
        texts[k] = texts[k] + " " + _window(GSM, 10, 13) + " " + texts[k]
    one_chunk = index.match_many(texts)
    monkeypatch.setattr(shingles, "_CHUNK_BYTES", 256)
    many_chunks = index.match_many(texts)
    assert many_chunks == one_chunk
    assert {k for k, m in enumerate(one_chunk) if m is not None} == planted


def test_other_n_and_validation() -> None:
    small = BenchmarkIndex.build([("b/1", "the cat sat on the mat")], n=3)
    assert small.match("a dog sat on the mat") == Match("b/1", "sat on the")
    assert small.match("the cat ran") is None
    with pytest.raises(ValueError, match="n must be"):
        BenchmarkIndex.build([], n=0)
    empty = BenchmarkIndex.build([])
    assert len(empty) == 0 and empty.match_many(["anything at all"]) == [None]
