"""Shared set-up for tests that run the graph: a copy of the shipped data in a temporary folder."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from synth_assets.graph_run import GraphRun, run_graph

REPO = Path(__file__).resolve().parent.parent
INPUT_FOLDERS = ("seeds", "human", "documents", "benchmarks")

# One malformed line, one missing field, one invalid UTF-8 line, between two good ones.
BAD_SEED_LINES = [
    b'{"id": "planted-ok", "domain": "general", "category": "writing", "instruction": "Write a haiku about rain on a tin roof."}',
    b'{"id": "planted-broken", "domain": "general", ',
    b'{"id": "planted-no-tests", "domain": "code", "category": "lists", "instruction": "Write f(x).", "entry_point": "f", "solution": "def f(x):\\n    return x\\n"}',
    b'{"id": "planted-bad-utf8", "domain": "general", "category": "writing", "instruction": "caf\xe9 au lait"}',
]


def copy_inputs(target: Path, plant_bad_seeds: bool = True) -> Path:
    for folder in INPUT_FOLDERS:
        shutil.copytree(REPO / "data" / folder, target / folder, ignore=shutil.ignore_patterns("*.md"))
    if plant_bad_seeds:
        (target / "seeds" / "zz_planted_bad.jsonl").write_bytes(b"\n".join(BAD_SEED_LINES) + b"\n")
    return target


def run_pipeline(resources: Mapping[str, Any], run_config: Mapping[str, Any] | None = None,
                 instance: dg.DagsterInstance | None = None, **options: Any) -> GraphRun:
    """The whole graph as `synth run` runs it (every seed batch, then the rest), on an ephemeral
    instance unless one is given."""
    return run_graph(instance or dg.DagsterInstance.ephemeral(), resources, run_config=run_config, **options)
