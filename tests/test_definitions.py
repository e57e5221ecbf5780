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
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
