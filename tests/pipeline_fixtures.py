"""Shared set-up for tests that run the graph: a copy of the shipped data in a temporary folder,
and the one whole-graph run of it that the session shares (`shipped_run` in conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from resources.warehouse import Warehouse
from synth_assets.definitions import build_resources
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

# The shared run sets the semantic threshold in its run config, at its default value: the card
# tests see a setting marked "set for this run", and the rows are those a plain `synth run` makes.
SHIPPED_RUN_CONFIG = {"ops": {"deduplicated_corpus": {"config": {"semantic_config": {"threshold": 0.95}}}}}


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


@dataclass(frozen=True)
class ShippedRun:
    """The whole graph, run once on the shipped data with the planted bad seed lines, as `synth run`
    runs it. Every test of the session reads the same folder: read it, never write to it (a run, a
    decisions file); `copy` gives a test a folder of its own, warehouse, exports and review included."""

    data_dir: Path
    result: GraphRun
    resources: Mapping[str, Any]

    @property
    def warehouse(self) -> Warehouse:
        return self.resources["warehouse"]

    def copy(self, target: Path) -> tuple[Path, dict[str, object]]:
        """The data folder as the run left it, copied to `target`, and resources that use the copy."""
        shutil.copytree(self.data_dir, target)
        return target, build_resources(target)


def run_shipped(target: Path) -> ShippedRun:
    data_dir = copy_inputs(target)
    resources = build_resources(data_dir)
    return ShippedRun(data_dir, run_pipeline(resources, SHIPPED_RUN_CONFIG), resources)
