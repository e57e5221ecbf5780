import subprocess
import sys

import dagster as dg

from synth_assets.definitions import PIPELINE_ASSETS, defs
from tests.pipeline_fixtures import REPO


def test_definitions_load_with_every_stage_and_gate():
    dg.Definitions.validate_loadable(defs)
    keys = {key.path[-1] for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"seeds", "evolved_instructions", "verified_solutions", "deduplicated_corpus", "mixed_training_set"} <= keys
    job = defs.resolve_job_def("synthesize")
    assert {a.key.path[-1] for a in PIPELINE_ASSETS} <= {k.path[-1] for k in job.asset_layer.selected_asset_keys}
    assert not any(k.path[-1].startswith("collapse_") for k in job.asset_layer.selected_asset_keys)


def test_the_workspace_file_loads_the_code_location():
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                            cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_row_size_limits_come_from_the_environment_once_for_every_consumer(monkeypatch):
    import pytest

    from synth_assets.core.input_rules import InputLimits
    from synth_assets.definitions import build_resources, input_limits_from_env

    assert input_limits_from_env() == InputLimits()
    monkeypatch.setenv("SYNTH_MAX_TEXT_CHARS", "50_000")
    monkeypatch.setenv("SYNTH_MAX_DOCUMENT_CHARS", "2000000")
    limits = input_limits_from_env()
    assert limits == InputLimits(50_000, 2_000_000)
    source_files = build_resources("somewhere", limits=limits)["source_files"]
    assert (source_files.max_text_chars, source_files.limits()) == (50_000, limits)
    monkeypatch.setenv("SYNTH_MAX_TEXT_CHARS", "lots")
    with pytest.raises(ValueError, match="SYNTH_MAX_TEXT_CHARS must be a whole number of characters, got 'lots'"):
        input_limits_from_env()
    monkeypatch.setenv("SYNTH_MAX_TEXT_CHARS", "0")
    with pytest.raises(ValueError, match="max_text_chars must be >= 1"):
        input_limits_from_env()
