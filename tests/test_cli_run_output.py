"""What `synth run` prints, run as a user runs it: a subprocess on a copy of the shipped data.

A verified answer left in the warehouse from an earlier version of a code seed (its root is no
longer a seed: the seed was edited and only `seeds` re-run) fails the corpus's provenance gate. The
run selects `seeds` too, so three seed-batch runs succeed before the one that fails. (Bad input
lines no longer reach a gate: ingest quarantines them, tests/assets/test_bad_input.py.)"""

import os
import re
import shutil
import subprocess
import sys

import dagster as dg
import pandas as pd
import pytest

from resources.warehouse import Warehouse
from synth_assets.core.schema import TABLE_COLUMNS
from tests.pipeline_fixtures import REPO, copy_inputs

SELECT = "seeds,human_reference,benchmark_index,deduplicated_corpus"


@pytest.fixture(scope="module")
def failed_gate(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("failed-gate")
    data = copy_inputs(tmp / "data", plant_bad_seeds=False)
    stale = {"id": "stale-answer", "parent_id": "old-seed", "root_id": "old-seed", "origin": "synthetic",
             "generation": 1, "technique": "seed", "operation": "seed", "domain": "code", "category": "lists",
             "instruction": "Write double(x) that returns twice x.", "response": "def double(x):\n    return 2 * x\n",
             "verified": True, "verifier": "code_tests", "seed_batch": "code"}
    Warehouse(path=str(data / "warehouse" / "synth.duckdb")).replace_rows(
        "verified_solutions", pd.DataFrame([stale]), TABLE_COLUMNS["verified_solutions"], seed_batch="code")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "SYNTH_DATA_DIR": str(data), "DAGSTER_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "synth_assets.cli", "run", "--select", SELECT], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = {run.run_id: run.status for run in instance.get_runs()}
    return result, runs, data


def test_the_failed_gate_is_a_table_with_its_measure_and_message(failed_gate):
    result, _, _ = failed_gate
    assert result.returncode == 1
    report = result.stderr[result.stderr.index("Failed checks:"):]
    header = report.splitlines()[1]
    for column in ("check", "asset", "severity", "value", "threshold", "message"):
        assert column in header
    row = next(line for line in report.splitlines() if line.startswith("corpus_provenance"))
    assert "deduplicated_corpus" in row and "error, blocking" in row
    # the check's message says what failed and on which rows; every other metadata entry follows
    message = " ".join(report.split())  # the table wraps it
    assert "1 of" in message and "unknown_root_id" in message
    assert "corpus_provenance on deduplicated_corpus:" in report and "stale-answer" in report


def test_only_the_failed_run_is_named_with_its_id(failed_gate):
    result, runs, _ = failed_gate
    failed = [run_id for run_id, status in runs.items() if status == dg.DagsterRunStatus.FAILURE]
    succeeded = [run_id for run_id, status in runs.items() if status == dg.DagsterRunStatus.SUCCESS]
    assert len(failed) == 1 and len(succeeded) == 3  # one run per seed batch, then the union
    report = result.stderr[result.stderr.index("Failed checks:"):]
    assert "Failed runs (3 other run(s) succeeded)" in report
    assert f"{failed[0]}  the union of the batches" in report
    assert "failed at deduplicated_corpus_corpus_provenance" in report
    assert not any(run_id in report for run_id in succeeded)
    assert "runs succeeded" not in result.stdout


def test_the_summary_still_shows_what_each_stage_kept(failed_gate):
    result, _, _ = failed_gate
    assert "deduplicated_corpus" in result.stdout and "rows in" in result.stdout


def test_off_a_terminal_it_prints_one_plain_line_per_stage_and_the_log_goes_to_a_file(failed_gate):
    result, runs, data = failed_gate
    console = result.stdout + result.stderr
    assert "DEBUG" not in console and "STEP_START" not in console and "Traceback" not in console
    assert "\x1b[" not in console  # no live display: no terminal codes in a pipe
    for batch in ("code", "general", "math"):
        assert re.search(rf"^\[{batch}\]\s+seeds\s+50 rows \(50 in\)\s+\d+\.\d s$", result.stdout, re.M)
    assert re.search(r"^\[all batches\]\s+deduplicated_corpus\s+\d+ rows \(\d+ in\)", result.stdout, re.M)
    assert re.search(r"^\[all batches\]\s+check corpus_provenance\s+FAILED \(error, blocking\)", result.stdout, re.M)
    logs = list((data / "logs").glob("run-*.log"))
    assert len(logs) == 1 and f"Dagster log: {logs[0]}" in result.stdout
    log = logs[0].read_text()
    assert all(run_id in log for run_id in runs)  # every run's events, in Dagster's format
    assert "STEP_START" in log and "ASSET_CHECK_EVALUATION" in log
    assert not any(run_id in console for run_id, status in runs.items() if status == dg.DagsterRunStatus.SUCCESS)


def test_verbose_prints_the_dagster_log_on_the_console_as_well(tmp_path):
    data = copy_inputs(tmp_path / "data", plant_bad_seeds=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "SYNTH_DATA_DIR": str(data), "DAGSTER_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "synth_assets.cli", "run", "--select", "seeds", "--batch", "math",
                             "--verbose"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "STEP_START" in result.stderr and "DEBUG" in result.stderr
    assert "STEP_START" in next((data / "logs").glob("run-*.log")).read_text()
