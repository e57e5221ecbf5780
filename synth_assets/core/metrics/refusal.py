"""Refusal detection: a short, named list of regular expressions.

A response that refuses ("I'm sorry, but I can't help with that") or talks about itself as an AI
teaches the student to do the same, so the refusal gate counts them. Each pattern has a name, and the
gate reports which pattern matched each offending row. The list is deliberately small and specific:
"I cannot" alone is common in honest answers ("I cannot stress this enough"), so it counts only
when followed by a verb of helping or complying.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

__all__ = ["REFUSAL_PATTERNS", "matched_refusal", "refusal_matches"]

REFUSAL_PATTERNS: dict[str, re.Pattern[str]] = {
    name: re.compile(pattern, re.IGNORECASE)
    for name, pattern in {
        "as_an_ai": r"\bas (?:an ai|a language model)(?: language model| model| assistant)?,? i\b",
        "sorry_cannot": r"\b(?:i'm|i am) sorry,? (?:but )?(?:i|we)(?: can ?not| can't| won't| am unable|'m unable| am not able|'m not able)",
        "apologize_but": r"\bi (?:apologi[sz]e|regret),? but\b",
        "cannot_help": r"\bi(?: can ?not| can't| won't| will not| am unable to|'m unable to| am not able to|'m not able to) "
        r"(?:help|assist|comply|fulfil|fulfill|provide|complete|answer|do that|engage)\b",
        "no_access": r"\bi (?:do not|don't) have (?:access to|the ability to) (?:real-time|the internet|browse|personal)",
        "against_policy": r"\b(?:against|violates?) (?:my|the|our) (?:\w+ )?(?:guidelines|polic(?:y|ies)|programming)\b",
    }.items()
}


def _normalise(text: str) -> str:
    """Fold typographic apostrophes, so "I’m sorry" matches like "I'm sorry"."""
    return text.replace("\u2019", "'").replace("\u2018", "'")


def matched_refusal(text: object) -> str | None:
    """The name of the first refusal pattern that `text` matches, or None (also for a missing text)."""
    if not isinstance(text, str):
        return None
    text = _normalise(text)
    for name, pattern in REFUSAL_PATTERNS.items():
        if pattern.search(text):
            return name
    return None


def refusal_matches(texts: Iterable[object]) -> pd.Series:
    """For each text, the name of the refusal pattern it matches, or None; indexed like `texts`."""
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    return series.map(matched_refusal).astype(object)
