"""The `synth` command, run as a user runs it: a subprocess in the project, on a temporary data folder."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.pipeline_fixtures import REPO, copy_inputs


@pytest.fixture
def env(tmp_path):
    data = copy_inputs(tmp_path / "data")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    return {**os.environ, "SYNTH_DATA_DIR": str(data), "DAGSTER_HOME": str(home)}


def synth(env, *args):
    return subprocess.run([sys.executable, "-m", "synth_assets.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_run_stats_and_trace(env):
    run = synth(env, "run", "--select", "seeds,human_reference")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "seeds" in run.stdout and "quarantined 3" in run.stdout
    assert "NOT a language model" in run.stdout
    assert "seed batches: code, general, math, zz_planted_bad (new: code, general, math, zz_planted_bad)" in run.stdout
    assert "5 runs succeeded" in run.stdout  # one per seed batch, then human_reference

    stats = synth(env, "stats")
    assert stats.returncode == 0
    assert "human_reference" in stats.stdout

    # The run is recorded in the instance the UI reads.
    runs = [os.path.join(env["DAGSTER_HOME"], p) for p in os.listdir(env["DAGSTER_HOME"])]
    assert any(p.endswith("history") or p.endswith("storage") for p in runs)

    import duckdb

    with duckdb.connect(os.path.join(env["SYNTH_DATA_DIR"], "warehouse", "synth.duckdb"), read_only=True) as con:
        seed_id = con.execute("SELECT id FROM seeds WHERE source_key = 'planted-ok'").fetchone()[0]
    trace = synth(env, "trace", seed_id, "--json")
    assert trace.returncode == 0
    chain = json.loads(trace.stdout)
    assert chain[0]["id"] == seed_id and chain[0]["kept_in"] == ["seeds"]
    assert chain[0]["row"]["source_key"] == "planted-ok"

    assert synth(env, "trace", "no-such-row").returncode == 1


def test_an_unknown_seed_batch_is_refused_with_the_known_ones(env):
    run = synth(env, "run", "--batch", "nope")
    assert run.returncode == 2
    assert "no seed batch ['nope']" in run.stderr and "'code'" in run.stderr
