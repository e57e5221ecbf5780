"""The refusal patterns: what they catch, what they leave alone, and which name they report."""

import pandas as pd
import pytest

from synth_assets.core.metrics.refusal import (
    REFUSAL_PATTERNS,
    matched_refusal,
    refusal_matches,
)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("As an AI language model, I cannot browse the web.", "as_an_ai"),
        ("As an AI, I don't have feelings.", "as_an_ai"),
        ("I'm sorry, but I can't help with that.", "sorry_cannot"),
        ("I’m sorry, but I cannot do this.", "sorry_cannot"),  # typographic apostrophe
        ("I apologize, but that request is unclear.", "apologize_but"),
        ("I cannot assist with creating malware.", "cannot_help"),
        ("Unfortunately I'm unable to provide that information.", "cannot_help"),
        ("I don't have access to real-time data.", "no_access"),
        ("That would go against my guidelines.", "against_policy"),
    ],
)
def test_refusals_are_caught_by_name(text, pattern):
    assert matched_refusal(text) == pattern


@pytest.mark.parametrize(
    "text",
    [
        "I cannot stress this enough: test your code.",
        "def f(x):\n    return x * 2",
        "Sorry is a word; the answer is 42.",
        "Train it as an AI model would be trained: with data.",
        "The policy of the library is to deprecate before removing.",
    ],
)
def test_honest_answers_are_not_refusals(text):
    assert matched_refusal(text) is None


def test_missing_texts_are_not_refusals():
    assert matched_refusal(None) is None
    assert matched_refusal(float("nan")) is None


def test_refusal_matches_keeps_the_index():
    series = pd.Series(["ok", "I can't help with that."], index=[10, 20])
    matches = refusal_matches(series)
    assert matches.to_dict() == {10: None, 20: "cannot_help"}
    assert refusal_matches(["ok"]).tolist() == [None]


def test_every_pattern_has_a_test_case():
    names = {"as_an_ai", "sorry_cannot", "apologize_but", "cannot_help", "no_access", "against_policy"}
    assert set(REFUSAL_PATTERNS) == names
