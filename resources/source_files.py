"""Where the input files live: seeds, human pairs, documents and benchmarks under one data folder."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

__all__ = ["SourceFiles"]


class SourceFiles(dg.ConfigurableResource):
    """The data folder; each input kind is a subfolder of `*.jsonl` files (see data/README.md)."""

    root: str = "data"

    def folder(self, kind: str) -> Path:
        """`seeds`, `human`, `documents`, `benchmarks`, or an output folder such as `exports`."""
        return Path(self.root) / kind
