"""Shared set-up for tests that run the graph: a copy of the shipped data in a temporary folder,
and the one whole-graph run of it that the session shares (`shipped_run` in conftest.py)."""

from __future__ import annotations

import random
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from resources.warehouse import Warehouse
from synth_assets.assets.curation import BENCHMARK_COLUMNS
from synth_assets.core.rows import derived_row, root_row
from synth_assets.core.schema import CORPUS_COLUMNS, TABLE_COLUMNS
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
    instance: dg.DagsterInstance  # the run's events and materialization metadata

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
    instance = dg.DagsterInstance.ephemeral()
    return ShippedRun(data_dir, run_pipeline(resources, SHIPPED_RUN_CONFIG, instance=instance), resources, instance)


# --- a small seeded warehouse: the mix and its gates, without the graph before them --------------

CATEGORIES = {"code": ("lists", "strings"), "math": ("algebra", "rates"), "general": ("writing", "advice")}
WORDS = [f"{a}{b}{c}" for a in "bcdfglmnprst" for b in "aeiou" for c in "klmnrst"]  # 420 made-up words


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def seed_warehouse(resources: Mapping[str, Any]) -> None:
    """Seeds, human rows and a corpus of 180 human and 56 synthetic rows (two of generation 2, made
    from a recycled synthetic seed), all of varied text; a benchmark nothing overlaps."""
    rng = random.Random(7)
    seeds, human, corpus = [], [], []
    for domain, categories in CATEGORIES.items():
        for category in categories:
            for i in range(3):
                seeds.append(root_row("seed", f"{domain}-{category}-{i}", _text(rng, 14), None, domain=domain,
                                      category=category, seed_batch="main"))
            for i in range(30):
                human.append(root_row("human", f"h-{domain}-{category}-{i}", _text(rng, 14), _text(rng, 30),
                                      domain=domain, category=category))
    for seed in seeds:
        for i in range(3):
            corpus.append(derived_row(seed, "evolve", str(i), technique="evol_instruct", operation="deepen",
                                      instruction=_text(rng, 14), response=_text(rng, 30), verified=True,
                                      seed_batch="main"))
    recycled = root_row("seed", "recycled", _text(rng, 14), None, origin="synthetic", generation=1,
                        domain="general", category="writing", seed_batch="main")
    seeds.append(recycled)
    corpus += [derived_row(recycled, "evolve", str(i), technique="evol_instruct", instruction=_text(rng, 14),
                           response=_text(rng, 30), seed_batch="main") for i in range(2)]
    assert {row["generation"] for row in corpus} == {1, 2}
    warehouse = resources["warehouse"]
    warehouse.write_table("seeds", pd.DataFrame(seeds), TABLE_COLUMNS["seeds"])
    warehouse.write_table("human_reference", pd.DataFrame(human), TABLE_COLUMNS["human_reference"])
    warehouse.write_table("deduplicated_corpus", pd.DataFrame([*human, *corpus]).reindex(columns=list(CORPUS_COLUMNS)),
                          CORPUS_COLUMNS)
    warehouse.write_table("benchmark_items", pd.DataFrame([{"id": "b1", "domain": "math", "question": "unrelated",
                                                            "answer": "1", "source_file": "b", "source_line": 1}]),
                          BENCHMARK_COLUMNS)


def seeded_resources(data_dir: Path) -> dict[str, object]:
    """Resources on `data_dir` whose warehouse holds `seed_warehouse`'s rows, as the mix reads them."""
    resources = build_resources(data_dir)
    # The rows are of seed batch `main`: without its seed file, a run deletes them as a removed batch's.
    (data_dir / "seeds").mkdir(parents=True)
    (data_dir / "seeds" / "main.jsonl").touch()
    seed_warehouse(resources)
    return resources
