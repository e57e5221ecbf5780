"""`synth run`'s display: on a terminal, a live bar fed by the progress the stages' code reports
(here, a teacher that answers slowly over HTTP); the whole Dagster log in its file. A real
pseudo-terminal, a real OpenAI-compatible server on loopback, real Dagster runs."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import termios
import threading

import dagster as dg

from resources.teacher.openai_backend import OpenAIOptions
from resources.teacher.resource import TeacherResource
from resources.warehouse import Warehouse
from synth_assets.definitions import build_resources
from synth_assets.graph_run import run_graph
from synth_assets.run_display import RunDisplay
from tests.pipeline_fixtures import copy_inputs

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _read_all(descriptor: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:  # the terminal's other end closed
            return
        if not chunk:
            return
        into.append(chunk)


def test_the_live_bar_shows_teacher_calls_as_they_are_answered_and_the_log_goes_to_its_file(tmp_path, chat_server):
    server = chat_server(delay_s=0.15)
    data = copy_inputs(tmp_path / "data", plant_bad_seeds=False)
    warehouse = Warehouse(path=str(data / "warehouse" / "synth.duckdb"))
    teacher = TeacherResource(backend="openai", model="m", batch_size=5, warehouse=warehouse,
                              openai=OpenAIOptions(base_urls=[server.url], max_concurrency=5))
    resources = build_resources(data, teacher=teacher)
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a plain 80-column terminal
    received: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(leader, received), daemon=True)
    reader.start()
    terminal = os.fdopen(follower, "w", buffering=1)
    log_path = tmp_path / "logs" / "run.log"
    display = RunDisplay(log_path, live=True, out=terminal)
    with display:
        outcome = run_graph(dg.DagsterInstance.ephemeral(), resources, select=["seeds", "evolved_instructions"],
                            batches=["math"], run_config={"ops": {"evolved_instructions": {"config": {"rounds": 1}}}},
                            loggers=display.loggers(), on_run_start=display.run_started)
    terminal.close()
    reader.join(timeout=10)
    os.close(leader)
    screen = ANSI.sub("", b"".join(received).decode("utf-8", "replace"))

    assert outcome.success
    # the counts come from the teacher's own reports, batch by batch (5 requests a batch), with the
    # time left at the pace measured so far
    counts = {int(n) for n in re.findall(r"\b(\d+)/50 teacher calls", screen)}
    assert len(counts - {0, 50}) >= 2, screen[-3000:]
    assert all(n % 5 == 0 for n in counts)
    assert re.search(r"left 0:00:\d\d", screen)
    # one line per stage that finished, which stays after the bar is gone
    assert re.search(r"\[math\]\s+seeds\s+50 rows \(50 in\)", screen)
    assert re.search(r"\[math\]\s+evolved_instructions\s+\d+ rows \(50 in\), teacher \d+ requests \(0 cached\)", screen)
    # the Dagster log is in its file, DEBUG events included, and not on the terminal
    log = log_path.read_text()
    assert "STEP_START" in log and "STEP_SUCCESS" in log and "50/50 uncached requests answered" in log
    assert "STEP_START" not in screen and "DEBUG" not in screen
