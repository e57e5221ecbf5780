"""Saying which isolation the sandbox has: `synth doctor`, and a pipeline run's log, summary and
metadata. Run as a user runs them: the `synth` command in a subprocess, on a temporary data folder;
"a machine without bubblewrap or unshare" is a PATH without them."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from resources.sandbox._isolation import ALLOW_NO_NAMESPACES_ENV, unavailable
from resources.sandbox.diagnose import diagnose, format_diagnosis
from tests.pipeline_fixtures import REPO, copy_inputs

NAMESPACE_MODES = [m for m in ("bwrap", "unshare") if unavailable(m) is None]
VERIFICATION = "seeds,evolved_instructions,self_instruct_tasks,candidate_solutions,verified_solutions"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    environ = {k: v for k, v in os.environ.items() if k != ALLOW_NO_NAMESPACES_ENV}
    data = copy_inputs(tmp_path / "data", plant_bad_seeds=False)
    code = data / "seeds" / "code.jsonl"  # the runs verify code: a dozen seeds are as telling as 50
    code.write_text("".join(code.read_text(encoding="utf-8").splitlines(keepends=True)[:12]), encoding="utf-8")
    return {**environ, "SYNTH_DATA_DIR": str(data), "DAGSTER_HOME": str(home)}


@pytest.fixture
def no_namespace_tools(tmp_path: Path) -> str:
    """A PATH with neither bwrap nor unshare on it."""
    empty = tmp_path / "bin"
    empty.mkdir()
    return str(empty)


def synth(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synth_assets.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.skipif(not NAMESPACE_MODES, reason="no namespace isolation on this machine")
def test_doctor_names_the_isolation_this_machine_gets(env) -> None:
    doctor = synth(env, "doctor")
    assert doctor.returncode == 0, doctor.stderr[-2000:]
    assert f"The pipeline's sandbox (isolation: auto) runs with isolation {NAMESPACE_MODES[0]}." in doctor.stdout
    for mode in ("bwrap", "unshare", "rlimits"):
        assert f"  {mode} " in doctor.stdout
    assert "kernel:" in doctor.stdout and "bubblewrap:" in doctor.stdout


def test_doctor_without_namespaces_says_how_to_get_them(env, no_namespace_tools) -> None:
    doctor = synth({**env, "PATH": no_namespace_tools}, "doctor")
    assert doctor.returncode == 1
    assert "bwrap    NO     bubblewrap is not installed" in doctor.stdout
    assert "does NOT start" in doctor.stdout and "apt-get install bubblewrap" in doctor.stdout
    assert ALLOW_NO_NAMESPACES_ENV in doctor.stdout


def test_diagnosis_of_the_explicit_opt_in() -> None:
    diagnosis = diagnose("rlimits", allow_no_namespaces=True)
    assert diagnosis.ok and diagnosis.isolation == "rlimits"
    assert "WITHOUT namespace isolation" in diagnosis.warning
    assert "WARNING: code sandbox: isolation rlimits" in format_diagnosis(diagnosis)
    refused = diagnose("rlimits")
    assert not refused.ok and "allow_no_namespaces" in refused.error


def _verified_metadata(env: dict[str, str]) -> dict:
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("verified_solutions"))
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def _run_log(env: dict[str, str]) -> list[tuple[int, str]]:
    """Every entry of every run's log in the instance (what `synth ui` shows): its level and its
    text, with the error a failed step or resource raised."""
    entries = []
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        for record in instance.get_run_records():
            for entry in instance.all_logs(record.dagster_run.run_id):
                error = getattr(getattr(entry.dagster_event, "event_specific_data", None), "error", None)
                entries.append((entry.level, entry.user_message + (error.to_string() if error else "")))
    return entries


@pytest.mark.slow
def test_a_run_without_namespaces_fails_loudly_or_warns_when_opted_in(env, no_namespace_tools) -> None:
    """On a machine without bwrap and unshare the verification stage fails with the instructions;
    with the opt-in it runs in rlimits mode, and the run log, the summary of `synth run` and the
    asset's metadata all say so."""
    bare = {**env, "PATH": no_namespace_tools}
    failed = synth(bare, "run", "--select", VERIFICATION, "--batch", "code")
    assert failed.returncode == 1
    errors = [text for _level, text in _run_log(env) if "cannot start with namespace isolation" in text]
    assert errors and "apt-get install bubblewrap" in errors[0] and ALLOW_NO_NAMESPACES_ENV in errors[0]
    # the console says it too: the sandbox fails as a resource, before any step of its own
    assert "cannot start with namespace isolation" in failed.stderr, failed.stderr[-3000:]
    assert "apt-get install bubblewrap" in failed.stderr

    opted_in = synth({**bare, ALLOW_NO_NAMESPACES_ENV: "1"}, "run", "--select", VERIFICATION, "--batch", "code")
    assert opted_in.returncode == 0, opted_in.stderr[-3000:]
    log = _run_log(env)
    assert any(level == logging.INFO and text.startswith("code sandbox: isolation rlimits") for level, text in log)
    assert any(level == logging.WARNING and "WITHOUT namespace isolation" in text for level, text in log)
    assert "code sandbox: isolation rlimits" in opted_in.stdout
    assert "WARNING: code sandbox: isolation rlimits, WITHOUT namespace isolation" in opted_in.stderr
    metadata = _verified_metadata(env)
    assert metadata["sandbox_isolation"] == "rlimits"
    assert "WITHOUT namespace isolation" in metadata["sandbox_warning"]
    assert metadata["sandbox"]["namespaces"] is False


@pytest.mark.slow
@pytest.mark.skipif(not NAMESPACE_MODES, reason="no namespace isolation on this machine")
def test_a_run_names_the_isolation_in_force(env) -> None:
    run = synth(env, "run", "--select", VERIFICATION, "--batch", "code")
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"code sandbox: isolation {NAMESPACE_MODES[0]}" in run.stdout
    assert any(level == logging.INFO and text.startswith(f"code sandbox: isolation {NAMESPACE_MODES[0]}")
               for level, text in _run_log(env))
    metadata = _verified_metadata(env)
    assert metadata["sandbox_isolation"] == NAMESPACE_MODES[0]
    assert metadata["sandbox_warning"] == ("" if NAMESPACE_MODES[0] == "bwrap" else metadata["sandbox"]["warning"])
