"""`synth ui` starts the Dagster UI with a PATH that does not hold the venv (as `make ui` does, and
as a user running .venv/bin/synth without activating the venv does)."""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.pipeline_fixtures import REPO

STARTUP_DEADLINE_S = 240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_synth_ui_serves_http_without_the_venv_on_path(tmp_path):
    synth = REPO / ".venv" / "bin" / "synth"
    if not synth.exists():
        synth = Path(shutil.which("synth") or "")
    assert synth.is_file(), "the synth entry point is not installed"
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "data" / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    path = "/usr/bin:/bin"
    assert shutil.which("dagster", path=path) is None, "the test needs a PATH without dagster on it"
    env = {**os.environ, "PATH": path, "DAGSTER_HOME": str(home), "SYNTH_DATA_DIR": str(tmp_path / "data")}
    env.pop("VIRTUAL_ENV", None)
    port = _free_port()
    log = (tmp_path / "ui.log").open("w+")
    process = subprocess.Popen([str(synth), "ui", "--port", str(port)], cwd=REPO, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(1)
        log.seek(0)
        output = log.read()
        assert process.poll() is None, f"synth ui exited with {process.returncode}:\n{output[-3000:]}"
        assert answer is not None and answer.status_code == 200, f"no answer on port {port}:\n{output[-3000:]}"
        assert "dagster_webserver_version" in answer.json()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
