"""Prompt templates: versioned files, one per operation, under `synth_assets/templates/`.

A row's `template_version` is the hash of the template file that produced it, so a changed prompt
is visible in the data and never mixes silently with rows made by the old one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["TEMPLATE_DIR", "PromptTemplate", "load_template"]

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str
    version: str  # first 12 hex digits of the sha256 of the file's bytes

    def render(self, **fields: str) -> str:
        return self.text.format(**fields)


@cache
def load_template(name: str) -> PromptTemplate:
    """Load `templates/<name>.txt`; a missing template is a clear error naming the path."""
    path = TEMPLATE_DIR / f"{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"prompt template {name!r} not found at {path}")
    raw = path.read_bytes()
    return PromptTemplate(name=name, text=raw.decode("utf-8"), version=hashlib.sha256(raw).hexdigest()[:12])
