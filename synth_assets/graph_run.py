"""Running the whole graph in process: every seed batch, then the corpus, the mix and the export.

The generation half of the graph is partitioned by seed file, so "the whole graph" is one run per
seed batch (its partition of the batch assets) followed by one run of the unpartitioned rest,
which unions every batch. `synth run`, the tests and the benchmarks all go through `run_graph`.

With the DuckLake warehouse (many writers), `parallel=N` runs up to N seed batches at once, each
batch's run in a process of its own (on 2 cores, 2 processes do the CPU-bound stages twice as
fast as one); the run that unions them starts when every batch's run is done. The file warehouse
has one writer at a time, so there the batches run one after another.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import dagster as dg

from synth_assets.assets.common import WAREHOUSE_POOL
from synth_assets.assets.partitions import BatchSync, sync_seed_batches

__all__ = ["GraphRun", "StartingRun", "StoredRun", "refresh_plan", "run_graph"]


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
class StoredRun:
    """A run made in another process, read back from the instance: the parts of an
    `ExecuteInProcessResult` that reports of a refresh read."""

    run_id: str
    success: bool
    job_def: dg.JobDefinition
    dagster_run: dg.DagsterRun
    all_events: list[dg.DagsterEvent]

    @classmethod
    def load(cls, instance: dg.DagsterInstance, run_id: str, job_def: dg.JobDefinition) -> StoredRun:
        run = instance.get_run_by_id(run_id)
        events = [entry.dagster_event for entry in instance.all_logs(run_id) if entry.dagster_event is not None]
        return cls(run_id, run.status == dg.DagsterRunStatus.SUCCESS, job_def, run, events)

    def asset_materializations_for_node(self, node_name: str) -> list[dg.AssetMaterialization]:
        return [e.event_specific_data.materialization for e in self.all_events
                if e.is_step_materialization and e.step_key == node_name]

    def get_asset_check_evaluations(self) -> list[dg.AssetCheckEvaluation]:
        return [e.event_specific_data for e in self.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]


@dataclass
class GraphRun:
    """The runs of one whole-graph refresh, read like one run's result."""

    sync: BatchSync
    results: list[dg.ExecuteInProcessResult | StoredRun] = field(default_factory=list)
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
    parallel: int = 1,
) -> GraphRun:
    """Sync the seed batches with the files, then run each batch and the rest of the graph.

    `select` limits the assets (names), `batches` the seed batches; `run_config` is the config of
    the whole graph (each run gets the part its assets use). `loggers` replace Dagster's console
    logger (each with the config `run_config` gives it under `loggers`, else its defaults), and
    `on_run_start` hears of each run before it starts. Stops at the first failed run. `parallel`
    (the DuckLake warehouse only) runs that many seed batches at once, in processes of their own,
    on an instance other processes can open (not an ephemeral one); the union runs after them."""
    from synth_assets.definitions import BATCH_ASSETS, PIPELINE, synthesize_job

    warehouse = resources["warehouse"]
    if parallel > 1 and not warehouse.is_lake:
        raise ValueError(f"parallel seed batches need the ducklake warehouse; {warehouse.location} is one DuckDB "
                         "file, which allows one writer (SYNTH_WAREHOUSE=ducklake, docs/scaling.md)")
    if parallel > 1 and instance.is_ephemeral:
        raise ValueError("parallel seed batches need a Dagster instance other processes can open (DAGSTER_HOME), "
                         "not an ephemeral one")
    if parallel > 1:
        _open_warehouse_pool(instance, parallel)
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
    if parallel > 1:
        batch_runs = [p for p in plan if p.partition_key is not None]
        for position, planned in enumerate(batch_runs):
            if on_run_start is not None:
                subset = job.get_subset(asset_selection=set(planned.assets))
                on_run_start(StartingRun(position + 1, len(plan), planned.partition_key, len(_node_names_of(subset))))
        outcome.results += _run_in_processes(instance, resources, job, batch_runs, run_config, tags, parallel)
        if not all(r.success for r in outcome.results):
            outcome.skipped = plan[len(batch_runs):]
            return outcome
        plan, first = plan[len(batch_runs):], len(batch_runs)
    else:
        first = 0
    for position, planned in enumerate(plan, start=first):
        subset = job.get_subset(asset_selection=set(planned.assets))
        if on_run_start is not None:
            on_run_start(StartingRun(position + 1, first + len(plan), planned.partition_key, len(_node_names_of(subset))))
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
            outcome.skipped = plan[position - first + 1:]
            break
    return outcome


def _open_warehouse_pool(instance: dg.DagsterInstance, parallel: int) -> None:
    """On the lake, writers do not wait for one another: the `warehouse` pool (one slot, for the
    file) would make every batch's steps wait in line, so it gets at least a slot per parallel
    batch. Only parallel runs, which only the lake allows, change it."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or instance.is_ephemeral:
        return
    info = storage.get_concurrency_info(WAREHOUSE_POOL)
    if info.slot_count < parallel:
        storage.set_concurrency_slots(WAREHOUSE_POOL, parallel)


def _run_in_processes(
    instance: dg.DagsterInstance, resources: Mapping[str, Any], job: dg.JobDefinition, plan: list[PlannedRun],
    run_config: Mapping[str, Any] | None, tags: Mapping[str, str] | None, parallel: int,
) -> list[StoredRun]:
    """Run each planned batch in a pool of `parallel` fresh processes (spawned: no DuckDB or
    Dagster state of this one is inherited); the runs, read back from the instance, in plan order."""
    recipes = {name: (type(resource), resource.model_dump()) for name, resource in resources.items()}
    # N batches at once share this machine's cores: a sandbox left at its default (a worker per
    # CPU) gets its batch's share, or each batch's verification would want every core.
    if "sandbox" in recipes and recipes["sandbox"][1].get("workers") is None:
        recipes["sandbox"][1]["workers"] = max(1, len(os.sched_getaffinity(0)) // parallel)
    # The loggers stay in this process; a worker's console shows its warnings and errors only (its
    # whole log is in the instance, for the UI), or N workers' debug lines would interleave there.
    config = {key: value for key, value in (run_config or {}).items() if key != "loggers"}
    config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}
    work = [(instance.get_ref(), recipes, p.partition_key, p.assets,
             _config_for(config, job.get_subset(asset_selection=set(p.assets))), dict(tags or {})) for p in plan]
    with ProcessPoolExecutor(max_workers=parallel, mp_context=multiprocessing.get_context("spawn")) as pool:
        run_ids = list(pool.map(_run_batch, *zip(*work, strict=True)))
    return [StoredRun.load(instance, run_id, job) for run_id in run_ids]


def _run_batch(instance_ref, recipes, partition_key, assets, run_config, tags) -> str:
    """One seed batch's run, in a worker process: the resources rebuilt from their config."""
    from synth_assets.definitions import PIPELINE, synthesize_job

    resources = {name: cls(**config) for name, (cls, config) in recipes.items()}
    job = dg.Definitions(assets=PIPELINE, jobs=[synthesize_job], resources=resources).resolve_job_def("synthesize")
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        result = job.execute_in_process(instance=instance, partition_key=partition_key, asset_selection=assets,
                                        run_config=run_config, tags=tags, raise_on_error=False)
        return result.run_id


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


