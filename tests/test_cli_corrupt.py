"""Every `synth` command on a damaged warehouse file says "corrupt", names the file and says how
to recover, instead of printing numbers or a traceback. Real DuckDB files, damaged on disk."""

import os
import shutil
import subprocess
import sys

import duckdb
import pytest

from resources.teacher.cache import CACHE_TABLE
from tests.corrupt_warehouse import (
    CACHE_ROWS,
    damage_segment,
    own_segments,
    seeded_warehouse,
    segments_of,
    truncate_half,
)
from tests.pipeline_fixtures import REPO, copy_inputs


@pytest.fixture
def world(tmp_path):
    data = copy_inputs(tmp_path / "data", plant_bad_seeds=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    path = data / "warehouse" / "synth.duckdb"
    path.parent.mkdir()
    seeded_warehouse(path)
    env = {**os.environ, "SYNTH_DATA_DIR": str(data), "DAGSTER_HOME": str(home)}
    return {"data": data, "path": path, "env": env, "tmp": tmp_path}


def synth(world, *args):
    return subprocess.run([sys.executable, "-m", "synth_assets.cli", *args], cwd=REPO, env=world["env"],
                          capture_output=True, text=True, timeout=300, check=False)


def _assert_reports_corrupt(result, path, code=3):
    assert result.returncode == code, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"warehouse {path} is corrupt" in result.stderr
    assert "restore" in result.stderr and f"mv {path} {path}.corrupt" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_refuses_a_truncated_warehouse(world):
    truncate_half(world["path"])
    for command in (["stats"], ["stats", "--quick"], ["trace", "seed-00001"], ["review"], ["run", "--select", "seeds"]):
        _assert_reports_corrupt(synth(world, *command), world["path"])


def test_stats_reads_every_block_and_finds_a_damaged_one(world):
    damage_segment(world["path"], segments_of(world["path"], "seeds", "instruction")[0])
    _assert_reports_corrupt(synth(world, "stats"), world["path"])
    quick = synth(world, "stats", "--quick")  # counts come from metadata: asked for, and said so
    assert quick.returncode == 0 and "were not read" in quick.stdout


def test_trace_meets_the_damaged_block_and_says_so(world):
    damage_segment(world["path"], segments_of(world["path"], "seeds", "id")[0])
    _assert_reports_corrupt(synth(world, "trace", "seed-00001"), world["path"])


def test_merge_names_the_damaged_source(world):
    source = world["tmp"] / "other.duckdb"
    seeded_warehouse(source)
    damage_segment(source, segments_of(source, "seeds", "seed_batch")[0])
    world["env"]["SYNTH_WAREHOUSE"] = "ducklake"  # merge imports old files into a lake
    result = synth(world, "merge", str(source))
    assert result.returncode == 3 and f"warehouse {source} is corrupt" in result.stderr


def test_a_run_stops_before_it_starts_when_the_batches_cannot_be_read(world):
    damage_segment(world["path"], segments_of(world["path"], "seeds", "seed_batch")[0])
    _assert_reports_corrupt(synth(world, "run", "--select", "seeds"), world["path"])


def test_a_run_stops_at_the_step_that_meets_the_damage(world):
    # the response cache is read first by the evolution step, inside a Dagster run
    damage_segment(world["path"], segments_of(world["path"], CACHE_TABLE, "key")[0])
    result = synth(world, "run", "--select", "seeds,evolved_instructions")
    assert result.returncode == 1
    assert "evolved_instructions" in result.stderr and "WarehouseCorrupt" in result.stderr
    assert f"warehouse {world['path']} is corrupt" in result.stderr and "synth salvage-cache" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_the_response_cache_is_salvaged_then_the_graph_rebuilds(world):
    path = world["path"]
    damage_segment(path, own_segments(path, CACHE_TABLE, "text")[0])
    aside = path.with_name(path.name + ".corrupt")
    refused = synth(world, "salvage-cache", str(path))
    assert refused.returncode == 3 and "move it aside first" in refused.stderr
    path.rename(aside)
    result = synth(world, "salvage-cache", str(aside))
    assert result.returncode == 0, result.stderr[-2000:]
    with duckdb.connect(str(path), read_only=True) as con:
        salvaged = con.execute(f"SELECT count(*) FROM {CACHE_TABLE}").fetchone()[0]
    assert 0 < salvaged < CACHE_ROWS
    assert f"copied {salvaged} teacher responses" in result.stdout and "are lost" in result.stdout
    run = synth(world, "run", "--select", "seeds")
    assert run.returncode == 0, run.stderr[-2000:]
