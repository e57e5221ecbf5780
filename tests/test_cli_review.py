"""`synth review` in each state a user meets: no run yet, a queue with no decisions, decisions not
read yet, decisions that are all stale, and a real agreement figure. A small mix is seeded into a
real warehouse; the review assets run for real; `synth` runs as a subprocess."""

import json
import os
import shutil
import subprocess
import sys

import dagster as dg
import pytest

from resources.source_files import SourceFiles
from resources.warehouse import Warehouse
from synth_assets.assets.common import frame
from synth_assets.assets.review import review_assets
from synth_assets.core.schema import CORPUS_COLUMNS
from tests.pipeline_fixtures import REPO

APPLY = "synth run --select review_decisions,reviewed_training_set,judge_calibration,training_set_export,dataset_card"


def _mix() -> list[dict]:
    rows = []
    for i, (origin, technique) in enumerate([("synthetic", "evol_instruct")] * 20 + [("human", "human")] * 20):
        rows.append({"id": f"row-{i:02d}", "parent_id": None, "root_id": f"root-{i}", "origin": origin,
                     "generation": int(origin == "synthetic"), "technique": technique, "operation": technique,
                     "domain": "math", "category": "arithmetic", "instruction": f"Add {i} and {i}.",
                     "response": f"{2 * i}", "seed_batch": "math"})
    return rows


@pytest.fixture
def world(tmp_path):
    data = tmp_path / "data"
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "SYNTH_DATA_DIR": str(data), "DAGSTER_HOME": str(home)}
    warehouse = Warehouse(path=str(data / "warehouse" / "synth.duckdb"))
    # The mix's rows are of seed batch `math`: without its seed file, a run deletes them as a removed batch's.
    (data / "seeds").mkdir(parents=True)
    (data / "seeds" / "math.jsonl").touch()
    resources = {"warehouse": warehouse, "source_files": SourceFiles(root=str(data))}
    return {"data": data, "env": env, "warehouse": warehouse, "resources": resources}


def _seed_mix_and_queue(world) -> list[dict]:
    world["warehouse"].write_table("mixed_training_set", frame(_mix(), CORPUS_COLUMNS), CORPUS_COLUMNS)
    assert dg.materialize(review_assets, resources=world["resources"]).success
    return [json.loads(line) for line in (world["data"] / "review" / "review_queue.jsonl").read_text().splitlines()]


def _ingest(world) -> None:
    selection = ["review_decisions", "reviewed_training_set"]
    assert dg.materialize(review_assets, resources=world["resources"], selection=selection).success


def _review(world) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synth_assets.cli", "review"], cwd=REPO, env=world["env"],
                          capture_output=True, text=True, timeout=120, check=False)


def _assert_says_how_to_start(out: str, world) -> None:
    assert str(world["data"] / "review" / "decisions.jsonl") in out
    assert '"decision": "accept"' in out and "reject" in out and "corrected_response" in out
    assert APPLY in out


def test_before_any_run_it_says_to_run_the_graph_and_how_to_review(world):
    result = _review(world)
    assert result.returncode == 1
    assert "No review yet" in result.stdout and "Run `synth run`" in result.stdout
    assert str(world["data"] / "review" / "review_queue.jsonl") in result.stdout
    _assert_says_how_to_start(result.stdout, world)


def test_with_a_queue_and_no_decisions_it_shows_a_line_to_copy(world):
    queue = _seed_mix_and_queue(world)
    result = _review(world)
    assert result.returncode == 1
    assert f"{len(queue)} rows are queued for review in {world['data'] / 'review' / 'review_queue.jsonl'}" in result.stdout
    assert "decisions.jsonl does not exist" in result.stdout
    # the example is a line that works: a real id from the queue
    example = json.loads(next(line for line in result.stdout.splitlines() if line.strip().startswith("{")))
    assert example["id"] == queue[0]["id"] and example["decision"] == "accept"
    _assert_says_how_to_start(result.stdout, world)


def test_decisions_not_read_yet_name_the_command_that_reads_them(world):
    queue = _seed_mix_and_queue(world)
    decisions = world["data"] / "review" / "decisions.jsonl"
    decisions.write_text(json.dumps({"id": queue[0]["id"], "decision": "accept"}) + "\n")
    result = _review(world)
    assert result.returncode == 1
    assert "has 1 decided lines, but the warehouse holds 0" in result.stdout and APPLY in result.stdout


def test_bad_lines_are_named_when_nothing_is_decided(world):
    _seed_mix_and_queue(world)
    (world["data"] / "review" / "decisions.jsonl").write_text('{"id": "row-01", "decision": "yes"}\nnot json\n')
    _ingest(world)
    result = _review(world)
    assert result.returncode == 1
    assert "has no line with a decision" in result.stdout
    assert "line 1 cannot be used (field 'decision': must be one of accept" in result.stdout
    assert "line 2 cannot be used (invalid JSON" in result.stdout


def test_all_stale_decisions_are_called_stale_and_point_at_the_current_queue(world):
    queue = _seed_mix_and_queue(world)
    stale = [{"id": f"gone-{i}", "decision": "reject"} for i in range(3)]
    (world["data"] / "review" / "decisions.jsonl").write_text("".join(json.dumps(d) + "\n" for d in stale))
    _ingest(world)
    result = _review(world)
    assert result.returncode == 1
    assert "None of the 3 decisions" in result.stdout and "no longer" not in result.stdout.split("None of")[0]
    assert "still in the mix" in result.stdout
    example = json.loads(next(line for line in result.stdout.splitlines() if line.strip().startswith("{")))
    assert example["id"] == queue[0]["id"]
    _assert_says_how_to_start(result.stdout, world)


def test_with_decisions_it_reports_the_agreement(world):
    queue = _seed_mix_and_queue(world)
    decided = [{"id": queue[0]["id"], "decision": "accept"}, {"id": queue[1]["id"], "decision": "reject"}]
    (world["data"] / "review" / "decisions.jsonl").write_text("".join(json.dumps(d) + "\n" for d in decided))
    _ingest(world)
    result = _review(world)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 decided: 1 accepted, 1 rejected, 0 edited" in result.stdout
    assert "agreement with the gates: 50.0%" in result.stdout
