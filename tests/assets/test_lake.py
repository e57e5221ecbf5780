"""The DuckLake warehouse: seed batches written at the same time by several processes.

Four seed batches run two at a time, each batch's run in a process of its own, against a DuckLake
whose catalog is a SQLite file (and, when `SYNTH_TEST_POSTGRES_URL` names a PostgreSQL server, a
PostgreSQL database; .ci/run starts one), its rows Parquet files in a local folder. Every table
must then hold what a serial run on the DuckDB file holds: the same ids, the same row counts. A
process killed in the middle of a batch leaves every stage of that batch whole or absent, and the
re-run completes it.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from resources.lineage import trace_as_dicts, trace_row
from resources.stats import collect_stats, format_stats
from resources.warehouse import Warehouse
from synth_assets.core.batches import BATCH_TABLES
from synth_assets.definitions import build_resources
from tests.pipeline_fixtures import REPO, run_pipeline

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

POSTGRES_URL_ENV = "SYNTH_TEST_POSTGRES_URL"
RUN_CONFIG = {"ops": {"evolved_instructions": {"config": {"rounds": 1}},
                      "deduplicated_corpus": {"config": {"semantic": False}},
                      "mixed_training_set_relative_diversity": {"config": {"fraction": 0.5}}}}
BATCHES = {"code": "code", "math": "math", "general": "general", "general_b": "general"}  # batch -> seed file
SEEDS_PER_BATCH = 5
LINES = {"human": 40, "documents": 3, "benchmarks": 60}
TABLES = (*BATCH_TABLES, "human_reference", "documents", "backtranslated_pairs", "benchmark_items", "corpus_input",
          "deduplicated_corpus", "mixed_training_set")


def _spread(lines: list[str], count: int, offset: int = 0) -> list[str]:
    return lines[offset:: max(1, len(lines) // count)][:count]


def make_inputs(target: Path) -> Path:
    """Four seed files of a few seeds each (two of them from the general seeds, different lines),
    and an even sample of the other inputs."""
    (target / "seeds").mkdir(parents=True)
    for n, (batch, source) in enumerate(BATCHES.items()):
        lines = (REPO / "data" / "seeds" / f"{source}.jsonl").read_text(encoding="utf-8").splitlines()
        (target / "seeds" / f"{batch}.jsonl").write_text("\n".join(_spread(lines, SEEDS_PER_BATCH, n)) + "\n",
                                                         encoding="utf-8")
    for folder, count in LINES.items():
        (target / folder).mkdir()
        for source in sorted((REPO / "data" / folder).glob("*.jsonl")):
            kept = _spread(source.read_text(encoding="utf-8").splitlines(), count)
            (target / folder / source.name).write_text("\n".join(kept) + "\n", encoding="utf-8")
    return target


def dagster_home(target: Path) -> Path:
    """An instance others processes can open, with the project's pools (`warehouse`: 1 slot)."""
    target.mkdir(parents=True)
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", target / "dagster.yaml")
    return target


def contents(warehouse: Warehouse) -> dict[str, object]:
    """Every table's ids (sorted, with repeats) and row count; rejects and quarantine by stage."""
    found: dict[str, object] = {}
    for table in TABLES:
        ids = sorted(warehouse.read_table(table)["id"])
        found[table] = (len(ids), ids)
    found["rejects"] = warehouse.query("SELECT stage, reason, id FROM rejects ORDER BY ALL").values.tolist()
    found["quarantine"] = warehouse.query(
        "SELECT stage, source_file, source_line FROM quarantine ORDER BY ALL").values.tolist()
    found["teacher_cache"] = sorted(warehouse.query("SELECT key FROM teacher_cache")["key"])
    return found


def what_users_see(warehouse: Warehouse, data: Path) -> dict[str, object]:
    """`synth stats`, `synth trace` of a sample of the mix's rows, and the exported training set."""
    mix = sorted(warehouse.read_table("mixed_training_set")["id"])[::25]  # a trace reads every stage table
    return {
        "stats": format_stats(*collect_stats(warehouse)),
        "traces": [json.dumps(trace_as_dicts(trace_row(warehouse, row_id)), sort_keys=True, default=str)
                   .replace(str(data), "<data folder>") for row_id in mix],  # rows name their input file
        "export": sorted(line for path in sorted((data / "exports").glob("*.jsonl"))
                         for line in path.read_text(encoding="utf-8").splitlines()),
    }


def stage_of_batch(warehouse: Warehouse, table: str, batch: str) -> tuple[int, int]:
    """(rows, rejects) one per-batch stage holds for one batch."""
    rows = len(warehouse.read_table(table, "WHERE seed_batch = ?", [batch])) if warehouse.table_exists(table) else 0
    rejects = warehouse.query("SELECT count(*) AS n FROM rejects WHERE stage = ? AND seed_batch = ?", [table, batch])
    return rows, int(rejects["n"].iloc[0])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The serial run on the DuckDB file: what every lake run must hold, and what each stage of
    each batch holds."""
    data = make_inputs(tmp_path_factory.mktemp("file") / "data")
    resources = build_resources(data)
    run = run_pipeline(resources, RUN_CONFIG)
    assert run.success
    warehouse = resources["warehouse"]
    stages = {(table, batch): stage_of_batch(warehouse, table, batch) for table in BATCH_TABLES for batch in BATCHES}
    return contents(warehouse), stages, what_users_see(warehouse, data)


def _postgres_catalog() -> str:
    """A fresh database on the test server for one lake; `postgres:` and its libpq URL."""
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to hold the lake's catalog (.ci/run starts one)")
    psycopg2 = pytest.importorskip("psycopg2")
    url = url.replace("postgresql+psycopg2://", "postgresql://")
    name = f"lake_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(url)
    try:
        admin.autocommit = True  # CREATE DATABASE runs outside a transaction
        admin.cursor().execute(f"CREATE DATABASE {name}")
    finally:
        admin.close()
    return "postgres:" + url.rsplit("/", 1)[0] + "/" + name


def lake_in(data: Path, catalog: str) -> Warehouse:
    return Warehouse.in_folder(data, "ducklake", catalog=catalog if catalog != "sqlite" else "")


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request):
    """The lake's catalog: a SQLite file in the test's folder, or a fresh PostgreSQL database per test."""
    return _postgres_catalog() if request.param == "postgres" else "sqlite"


def test_four_batches_from_two_processes_hold_what_a_serial_file_run_holds(catalog, reference, tmp_path):
    data = make_inputs(tmp_path / "data")
    resources = build_resources(data, warehouse=lake_in(data, catalog))
    with dg.DagsterInstance.from_config(str(dagster_home(tmp_path / "home"))) as instance:
        run = run_pipeline(resources, RUN_CONFIG, instance, parallel=2)
        assert run.success, [r.run_id for r in run.results if not r.success]
        batch_runs = [r for r in run.results if r.dagster_run.tags.get("dagster/partition")]
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in batch_runs) == sorted(BATCHES)
        pids = {e.pid for r in batch_runs for e in r.all_events if e.event_type_value == "STEP_START"}
        assert len(pids) == 2 and os.getpid() not in pids  # two worker processes ran the four batches
        records = {r.run_id: instance.get_run_record_by_id(r.run_id) for r in batch_runs}
        spans = sorted((rec.start_time, rec.end_time) for rec in records.values())
        assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), \
            "no two batches ran at the same time"
        assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 2  # the file's 1, opened
    assert contents(resources["warehouse"]) == reference[0]
    seen = what_users_see(resources["warehouse"], data)
    assert seen["export"] and len(seen["traces"]) > 5
    assert seen == reference[2]


_ONE_BATCH = """
import sys
from pathlib import Path
import dagster as dg
from resources.lineage import trace_as_dicts, trace_row
from resources.stats import collect_stats, format_stats
from resources.warehouse import Warehouse
from synth_assets.definitions import build_resources
from synth_assets.graph_run import run_graph
data, catalog, batch = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
warehouse = Warehouse.in_folder(data, "ducklake", catalog=catalog)
run_graph(dg.DagsterInstance.ephemeral(), build_resources(data, warehouse=warehouse), batches=[batch],
          select=%r, run_config=%r)
""" % (list(BATCH_TABLES), RUN_CONFIG)  # noqa: UP031 - a script's text


def test_a_batch_killed_midway_leaves_whole_stages_and_the_rerun_completes_it(catalog, reference, tmp_path):
    data = make_inputs(tmp_path / "data")
    warehouse = lake_in(data, catalog)
    resources = build_resources(data, warehouse=warehouse)
    victim = "math"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", _ONE_BATCH, str(data), warehouse.catalog, victim],
                               env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:  # killed as soon as its first stage is in: the later stages are being made or not begun
        while time.monotonic() < deadline and process.poll() is None:
            if warehouse.table_exists("seeds") and len(warehouse.read_table("seeds", "WHERE seed_batch = ?", [victim])):
                break
            time.sleep(0.2)
        assert process.poll() is None, "the batch finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()

    # Each stage of the killed batch is all there (rows and rejects) or not there at all.
    found = {table: stage_of_batch(warehouse, table, victim) for table in BATCH_TABLES}
    want = {table: reference[1][table, victim] for table in BATCH_TABLES}
    assert all(found[table] in (want[table], (0, 0)) for table in BATCH_TABLES), (found, want)
    missing = [table for table in BATCH_TABLES if found[table] != want[table]]
    assert found["seeds"] == want["seeds"] and missing, "the kill did not land mid-batch"
    assert warehouse.verify() > 0  # every table and Parquet file of the lake reads

    run = run_pipeline(resources, RUN_CONFIG)
    assert run.success
    assert contents(warehouse) == reference[0]
