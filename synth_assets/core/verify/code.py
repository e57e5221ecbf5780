"""Getting the program out of a code answer; running it is the sandbox's job."""

from __future__ import annotations

import re

__all__ = ["extract_code"]

_FENCE = re.compile(r"```[ \t]*(?:python|py)?[ \t]*\n(.*?)```", re.S | re.I)


def extract_code(text: str) -> str | None:
    """The last fenced code block, or the whole text when it has no fence but looks like code."""
    blocks = _FENCE.findall(text)
    if blocks:
        return blocks[-1]
    return text if re.search(r"^\s*(def|class|import|from)\s", text, re.M) else None
