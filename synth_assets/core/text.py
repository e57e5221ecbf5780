"""Text helpers the stages share."""

from __future__ import annotations

__all__ = ["shorten"]


def shorten(text: str, limit: int = 120, ellipsis: str = "...") -> str:
    """The text on one line (runs of whitespace as one space), cut to `limit` characters with
    `ellipsis` at the end when it is longer."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - len(ellipsis)] + ellipsis
