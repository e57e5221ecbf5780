"""Read the shipped human instruction/response pairs (`data/human/*.jsonl`) as plain texts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HumanTexts", "load_human_texts"]


@dataclass(frozen=True)
class HumanTexts:
    """One text per pair ("instruction\\n\\nresponse"), in file-name then line order.

    `skipped` lists `file:line: reason` for every line that could not be used, so none is lost silently.
    """

    texts: tuple[str, ...]
    files: tuple[str, ...]
    skipped: tuple[str, ...]


def load_human_texts(directory: str | Path) -> HumanTexts:
    """Every `*.jsonl` file in `directory`; a missing or empty directory is an error naming it."""
    folder = Path(directory)
    paths = sorted(folder.glob("*.jsonl"))
    if not paths:
        raise FileNotFoundError(f"no *.jsonl files in human text directory {str(folder)!r}")
    texts: list[str] = []
    skipped: list[str] = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                skipped.append(f"{path.name}:{number}: invalid JSON ({exc.msg})")
                continue
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("instruction", "response")):
                skipped.append(f"{path.name}:{number}: missing instruction or response")
                continue
            texts.append(f"{row['instruction']}\n\n{row['response']}")
    return HumanTexts(texts=tuple(texts), files=tuple(p.name for p in paths), skipped=tuple(skipped))
