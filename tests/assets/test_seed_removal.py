"""Removing a seed file removes its batch's rows from every table on the next run of any kind (a
seed sensor's run, `synth run`, assets materialized as the UI does, with no sync at all), and no
gate counts them. Real runs of the graph on a small sample of the shipped seeds.

The removed batch, `limericks`, holds the only seeds of category general/limericks, and
tail_coverage asks one row of every seed category: a gate that still read the removed seeds would
find that category empty in the mix and fail."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest

from resources.batch_rows import held_batches
from resources.source_files import SourceFiles
from sensors.file_sensors import seed_files_sensor
from synth_assets.assets.checks import ALL_CHECKS
from synth_assets.assets.curation import mixed_training_set
from synth_assets.assets.partitions import SEED_BATCHES
from synth_assets.core.metrics import check_tail_coverage
from synth_assets.definitions import PIPELINE, build_resources, synthesize_job
from tests.pipeline_fixtures import REPO, run_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

UNION_CONFIG = {"ops": {"deduplicated_corpus": {"config": {"semantic": False}},
                        "mixed_training_set_relative_diversity": {"config": {"fraction": 0.5}},
                        "mixed_training_set_tail_coverage": {"config": {"min_rows": 1}}}}
# No augmentation: no embedding model to load in every run; removal is about which rows remain.
RUN_CONFIG = {"ops": {**UNION_CONFIG["ops"], "evolved_instructions": {"config": {"rounds": 1}},
                      "augmented_instructions": {"config": {"operations": []}}}}
LIMERICKS = [{"id": f"limerick-{topic}", "domain": "general", "category": "limericks",
              "instruction": f"Write a limerick about {text}.",
              "response": f"There once was {text} so bright,\nwho danced with the stars every night;\n"
                          "it twirled and it spun,\ntill the rise of the sun,\nthen it vanished, all giddy, from sight."}
             for topic, text in (("comet", "a comet"), ("cat", "a cat on a fence"), ("kettle", "a kettle"),
                                 ("owl", "an owl in a hat"), ("boat", "a boat made of cheese"))]


def seed_lines(domain: str, count: int) -> str:
    lines = (REPO / "data" / "seeds" / f"{domain}.jsonl").read_text(encoding="utf-8").splitlines()
    return "\n".join(lines[:: len(lines) // count][:count]) + "\n"


def add_limericks(world) -> None:
    """Write the limericks seed file and make its batch and the union, as `synth run --batch` does."""
    (world["data"] / "seeds" / "limericks.jsonl").write_text(
        "".join(json.dumps(seed) + "\n" for seed in LIMERICKS), encoding="utf-8")
    run = run_pipeline(world["resources"], RUN_CONFIG, world["instance"], batches=["limericks"])
    assert run.success
    mix = world["warehouse"].read_table("mixed_training_set")
    assert "limericks" in set(mix["category"]) and "limericks" in held_batches(world["warehouse"])


@pytest.fixture(scope="module")
def with_limericks(tmp_path_factory):
    """The sample's batches and the limericks batch, made once; each test removes it its own way."""
    data = tmp_path_factory.mktemp("removal") / "data"
    (data / "seeds").mkdir(parents=True)
    for domain in ("code", "math"):
        (data / "seeds" / f"{domain}.jsonl").write_text(seed_lines(domain, 12), encoding="utf-8")
    for folder in ("human", "documents", "benchmarks"):
        shutil.copytree(REPO / "data" / folder, data / folder, ignore=shutil.ignore_patterns("*.md"))
    instance = dg.DagsterInstance.ephemeral()
    resources = build_resources(data)
    assert run_pipeline(resources, RUN_CONFIG, instance).success
    world = {"data": data, "instance": instance, "resources": resources, "warehouse": resources["warehouse"]}
    add_limericks(world)
    return world


@pytest.fixture
def world(with_limericks, tmp_path):
    """A copy of `with_limericks`'s folder (warehouse included), and an instance that knows the same
    seed batches, as the one that made them does: the tests delete rows and partitions."""
    data = tmp_path / "data"
    shutil.copytree(with_limericks["data"], data)
    instance = dg.DagsterInstance.ephemeral()
    batches = with_limericks["instance"].get_dynamic_partitions(SEED_BATCHES.name)
    instance.add_dynamic_partitions(SEED_BATCHES.name, batches)
    resources = build_resources(data)
    return {"data": data, "instance": instance, "resources": resources, "warehouse": resources["warehouse"]}


def assert_gone_and_uncounted(world, result) -> None:
    """No table holds a row of the batch; every gate of the run passed, tail_coverage included."""
    warehouse = world["warehouse"]
    assert "limericks" not in held_batches(warehouse)
    assert "limericks" not in set(warehouse.read_table("mixed_training_set")["category"])
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["tail_coverage"] and all(checks.values()), checks
    # Had the gate still read the removed seeds, it would have failed on their category.
    seeds = {("general", "limericks"), *warehouse.query("SELECT DISTINCT domain, category FROM seeds")
             .itertuples(index=False, name=None)}
    assert not check_tail_coverage(warehouse.read_table("mixed_training_set"), seeds, min_rows=1).passed


def execute(world, **options) -> dg.ExecuteInProcessResult:
    """A run of the `synthesize` job, unpartitioned (the union), as the daemon launches a sensor's request."""
    job = dg.Definitions(assets=PIPELINE, jobs=[synthesize_job],
                         resources=world["resources"]).resolve_job_def("synthesize")
    return job.execute_in_process(instance=world["instance"], run_config=UNION_CONFIG, raise_on_error=False,
                                  **options)


def test_a_seed_sensor_tick_and_its_run(world):
    def context(cursor):
        return dg.build_sensor_context(cursor=cursor, instance=world["instance"],
                                       resources={"source_files": SourceFiles(root=str(world["data"]))})

    before = seed_files_sensor(context(None))
    (world["data"] / "seeds" / "limericks.jsonl").unlink()
    tick = seed_files_sensor(context(before.cursor))
    [request] = tick.run_requests
    [deletion] = tick.dynamic_partitions_requests
    for key in deletion.partition_keys:  # what the daemon does with the tick's partition request
        world["instance"].delete_dynamic_partition(deletion.partitions_def_name, key)
    result = execute(world, asset_selection=request.asset_selection, tags=request.tags)
    assert result.success
    assert_gone_and_uncounted(world, result)


def test_materializing_the_union_assets_as_the_ui_does(world):
    """No sensor, no `synth run`: the partition is still registered, and `deduplicated_corpus` and
    `mixed_training_set` are materialized with their checks."""
    (world["data"] / "seeds" / "limericks.jsonl").unlink()
    assert "limericks" in world["instance"].get_dynamic_partitions("seed_batches")
    result = execute(world, asset_selection=[dg.AssetKey("deduplicated_corpus"), dg.AssetKey("mixed_training_set")])
    assert result.success
    assert_gone_and_uncounted(world, result)


def test_materializing_only_the_mix_below_the_corpus(world):
    """The mix alone, as from its own page in the UI: it deletes the removed rows (the corpus's
    too) before it reads the corpus, and its gates do not count them."""
    (world["data"] / "seeds" / "limericks.jsonl").unlink()
    checks = [c for c in ALL_CHECKS if any(k.asset_key == mixed_training_set.key for k in c.check_keys)]
    config = {"ops": {op: cfg for op, cfg in UNION_CONFIG["ops"].items() if op.startswith("mixed_training_set")}}
    result = dg.materialize([mixed_training_set, *checks], instance=world["instance"], resources=world["resources"],
                            run_config=config)
    assert result.success
    assert_gone_and_uncounted(world, result)


def test_synth_run(world):
    (world["data"] / "seeds" / "limericks.jsonl").unlink()
    run = run_pipeline(world["resources"], RUN_CONFIG, world["instance"])
    assert run.success and run.sync.removed == ["limericks"]
    assert "limericks" not in world["instance"].get_dynamic_partitions("seed_batches")
    assert_gone_and_uncounted(world, run)
