"""Running the whole graph in process: every seed batch, then the corpus, the mix and the export.

The generation half of the graph is partitioned by seed file, so "the whole graph" is one run per
seed batch (its partition of the batch assets) followed by one run of the unpartitioned rest,
which unions every batch. `synth run`, the tests and the benchmarks all go through `run_graph`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import dagster as dg

from synth_assets.assets.partitions import BatchSync, sync_seed_batches

__all__ = ["GraphRun", "StartingRun", "refresh_plan", "run_graph"]


@dataclass(frozen=True)
class PlannedRun:
    partition_key: str | None  # None: the unpartitioned rest of the graph
    assets: list[dg.AssetKey]


def refresh_plan(
    batch_keys: Sequence[str], batch_assets: Iterable[dg.AssetKey], other_assets: Iterable[dg.AssetKey]
) -> list[PlannedRun]:
    """One run per seed batch for the batch assets, then one run of the other assets, if any."""
    batch_assets, other_assets = list(batch_assets), list(other_assets)
    plan = [PlannedRun(key, batch_assets) for key in batch_keys if batch_assets]
    if other_assets:
        plan.append(PlannedRun(None, other_assets))
    return plan


@dataclass(frozen=True)
class StartingRun:
    """What `run_graph` tells `on_run_start` before each run: for a display of progress."""

    position: int  # 1-based
    runs: int  # planned in all
    partition_key: str | None  # the seed batch, or None for the run that unions them
    steps: int  # the run's assets and checks


@dataclass
class GraphRun:
    """The runs of one whole-graph refresh, read like one run's result."""

    sync: BatchSync
    results: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    skipped: list[PlannedRun] = field(default_factory=list)  # not started after a failed run

    @property
    def success(self) -> bool:
        return not self.skipped and all(r.success for r in self.results)

    @property
    def all_events(self) -> list[dg.DagsterEvent]:
        return list(chain.from_iterable(r.all_events for r in self.results))

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.results]

    def asset_materializations_for_node(self, node_name: str) -> list[dg.AssetMaterialization]:
        return list(chain.from_iterable(r.asset_materializations_for_node(node_name) for r in self.results
                                        if node_name in _node_names_of(r.job_def)))

    def get_asset_check_evaluations(self) -> list[dg.AssetCheckEvaluation]:
        return list(chain.from_iterable(r.get_asset_check_evaluations() for r in self.results))


def run_graph(
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    *,
    select: Iterable[str] | None = None,
    batches: Iterable[str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    loggers: Mapping[str, dg.LoggerDefinition] | None = None,
    on_run_start: Callable[[StartingRun], None] | None = None,
) -> GraphRun:
    """Sync the seed batches with the files, then run each batch and the rest of the graph.

    `select` limits the assets (names), `batches` the seed batches; `run_config` is the config of
    the whole graph (each run gets the part its assets use). `loggers` replace Dagster's console
    logger (each with the config `run_config` gives it under `loggers`, else its defaults), and
    `on_run_start` hears of each run before it starts. Stops at the first failed run."""
    from synth_assets.definitions import BATCH_ASSETS, PIPELINE, synthesize_job

    sync = sync_seed_batches(instance, resources["source_files"].folder("seeds"), resources["warehouse"])
    keys = sync.keys if batches is None else _known(list(batches), sync.keys)
    job = dg.Definitions(assets=PIPELINE, jobs=[synthesize_job], resources=resources,
                         loggers=loggers).resolve_job_def("synthesize")
    if loggers:  # Dagster starts only the loggers the run config names
        run_config = {**(run_config or {}), "loggers": {name: {} for name in loggers} | dict(
            (run_config or {}).get("loggers", {}))}
    wanted = None if select is None else {dg.AssetKey(name) for name in select}
    batch_keys = {a.key for a in BATCH_ASSETS}
    ordered = [key for key in job.asset_layer.asset_graph.toposorted_asset_keys if wanted is None or key in wanted]
    plan = refresh_plan(keys, [k for k in ordered if k in batch_keys], [k for k in ordered if k not in batch_keys])

    outcome = GraphRun(sync)
    for position, planned in enumerate(plan):
        subset = job.get_subset(asset_selection=set(planned.assets))
        if on_run_start is not None:
            on_run_start(StartingRun(position + 1, len(plan), planned.partition_key, len(_node_names_of(subset))))
        result = job.execute_in_process(
            instance=instance,
            partition_key=planned.partition_key,
            asset_selection=planned.assets,
            run_config=_config_for(run_config, subset),
            tags=dict(tags or {}),
            raise_on_error=False,
        )
        outcome.results.append(result)
        if not result.success:
            outcome.skipped = plan[position + 1:]
            break
    return outcome


def _known(requested: list[str], keys: list[str]) -> list[str]:
    unknown = sorted(set(requested) - set(keys))
    if unknown:
        raise ValueError(f"no seed batch {unknown}: the batches are the seed files' names {keys}")
    return requested


def _config_for(run_config: Mapping[str, Any] | None, subset: dg.JobDefinition) -> dict[str, Any]:
    """The ops config of the run's own nodes (its assets and their checks): Dagster refuses the rest."""
    if not run_config:
        return {}
    names = _node_names_of(subset)
    ops = {op: cfg for op, cfg in run_config.get("ops", {}).items() if op in names}
    return {**{k: v for k, v in run_config.items() if k != "ops"}, "ops": ops}


def _node_names_of(job: dg.JobDefinition) -> set[str]:
    return {node.name for node in job.nodes_in_topological_order}


