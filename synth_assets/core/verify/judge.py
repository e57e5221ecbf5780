"""The LLM judge: a rubric prompt scored 1 to 10, parsed robustly, kept above a threshold."""

from __future__ import annotations

import re

__all__ = ["parse_score"]

_SCORE = re.compile(r"score\W{0,4}\s*(?:is\s*)?(\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?", re.I)


def parse_score(text: str, low: int = 1, high: int = 10) -> float | None:
    """The last "Score: n" (also "**Score**: n", "score = n/10") in [low, high]; None otherwise.
    A score out of another scale ("4/5") is rescaled to [low, high]."""
    matches = _SCORE.findall(text)
    if not matches:
        return None
    value, scale = matches[-1]
    score = float(value)
    if scale and float(scale) not in (0.0, float(high)):
        score = low + (score - low) * (high - low) / (float(scale) - low) if float(scale) > low else score
    return score if low <= score <= high else None
