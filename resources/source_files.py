"""Where the input files live: seeds, human pairs, documents and benchmarks under one data folder,
and how much text one of their rows may hold."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field

from synth_assets.core.input_rules import InputLimits

__all__ = ["SourceFiles"]


class SourceFiles(dg.ConfigurableResource):
    """The data folder; each input kind is a subfolder of `*.jsonl` files (see data/README.md).

    `max_text_chars` is the one setting of how long a row's text may be: ingest quarantines input
    lines with a longer field, `deduplicated_corpus` rejects longer teacher output, and the
    `corpus_schema` gate holds the corpus to it."""

    root: str = "data"
    max_text_chars: int = Field(
        default=InputLimits.max_text_chars, ge=1,
        description="The longest text (instruction, response, solution, tests, ...) a row may hold, in characters.",
    )
    max_document_chars: int = Field(
        default=InputLimits.max_document_chars, ge=1,
        description="The longest document text (data/documents), in characters; documents are cut into segments.",
    )

    def folder(self, kind: str) -> Path:
        """`seeds`, `human`, `documents`, `benchmarks`, or an output folder such as `exports`."""
        return Path(self.root) / kind

    def limits(self) -> InputLimits:
        return InputLimits(self.max_text_chars, self.max_document_chars)
