"""A materialization killed with SIGKILL mid-stage resumes without asking the teacher again for
what it already answered, and the warehouse is intact."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

from tests.pipeline_fixtures import REPO

SEEDS = [
    {"id": f"g{i}", "domain": "general", "category": "writing",
     "instruction": f"Write a short note number {i} about keeping a garden tidy in {month}."}
    for i, month in enumerate(["January", "February", "March", "April", "May", "June", "July", "August"])
]


def test_a_killed_run_resumes_from_the_cache(tmp_path, chat_server):
    data = tmp_path / "data"
    (data / "seeds").mkdir(parents=True)
    (data / "seeds" / "s.jsonl").write_text("\n".join(json.dumps(s) for s in SEEDS) + "\n")
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    server = chat_server()
    env = {**os.environ, "SYNTH_DATA_DIR": str(data), "DAGSTER_HOME": str(home), "TEACHER_BACKEND": "openai",
           "TEACHER_MODEL": "tiny", "TEACHER_BASE_URL": server.url, "TEACHER_BATCH_SIZE": "4",
           "TEACHER_MAX_CONCURRENCY": "1", "TEACHER_MAX_RETRIES": "0"}
    command = [sys.executable, "-m", "synth_assets.cli", "run", "--select", "seeds,evolved_instructions"]

    # Answer two batches of the first round, then hang; kill the run while it waits.
    server.hang_after = 8
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(server.bodies) <= 8 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert child.poll() is None, "the run should be waiting on the teacher"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    answered = [b["messages"][-1]["content"] for b in server.bodies[:8]]

    server.hang_after = None
    before = len(server.bodies)
    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    asked_again = [b["messages"][-1]["content"] for b in server.bodies[before:]]
    assert not set(answered) & set(asked_again), "prompts answered before the kill were sent again"
    assert len(asked_again) > 0

    import duckdb

    with duckdb.connect(str(data / "warehouse" / "synth.duckdb"), read_only=True) as con:
        cached = con.execute("SELECT count(*) FROM teacher_cache").fetchone()[0]
        evolved = con.execute("SELECT count(*) FROM evolved_instructions").fetchone()[0]
        rejected = con.execute("SELECT count(*) FROM rejects WHERE stage = 'evolved_instructions'").fetchone()[0]
    assert cached == len(set(answered)) + len(set(asked_again))
    assert evolved + rejected == 3 * len(SEEDS)  # 3 rounds, each lineage once per round, nothing lost
