"""Failure alerts: a failed run, or one stopped by a failed blocking check, writes an alert file,
and a configured webhook gets it (a loopback test server only)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from resources.source_files import SourceFiles
from sensors.alerts import run_failure_alert


@dg.asset
def corpus() -> int:
    return 1


@dg.asset_check(asset=corpus, blocking=True)
def corpus_is_clean() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, metadata={"value": 3.0, "threshold": 0.0, "detail": "3 rows share a 13-gram"})


@dg.asset(deps=[corpus])
def mix() -> int:
    return 1


@dg.asset
def broken() -> int:
    raise RuntimeError("the warehouse is on fire")


gated_job = dg.define_asset_job("gated", selection=[corpus, mix])
broken_job = dg.define_asset_job("broken_job", selection=[broken])
DEFS = dg.Definitions(assets=[corpus, mix, broken], asset_checks=[corpus_is_clean], jobs=[gated_job, broken_job])


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SYNTH_ALERT_WEBHOOK_URL", raising=False)
    return tmp_path


def fail_and_alert(job_name: str, data_dir: Path) -> str:
    instance = dg.DagsterInstance.ephemeral()
    result = DEFS.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run,
        resources={"source_files": SourceFiles(root=str(data_dir))},
    ).for_run_failure()
    run_failure_alert(context)
    return result.run_id


def read_alert(data_dir: Path, run_id: str) -> dict:
    return json.loads((data_dir / "alerts" / f"run_failure_{run_id}.json").read_text())


def test_a_failed_blocking_check_writes_an_alert_naming_the_check(data_dir):
    run_id = fail_and_alert("gated", data_dir)
    alert = read_alert(data_dir, run_id)
    assert (alert["kind"], alert["job_name"], alert["run_id"]) == ("run_failure", "gated", run_id)
    [check] = alert["failed_checks"]
    assert (check["asset"], check["check"], check["blocking"], check["severity"]) == ("corpus", "corpus_is_clean", True, "ERROR")
    assert check["metadata"]["detail"] == "3 rows share a 13-gram"
    assert "corpus/corpus_is_clean: 3 rows share a 13-gram" in alert["text"]
    assert alert["webhook"] is None


def test_a_failed_step_writes_an_alert_with_its_error(data_dir):
    run_id = fail_and_alert("broken_job", data_dir)
    alert = read_alert(data_dir, run_id)
    assert alert["failed_checks"] == []
    assert "the warehouse is on fire" in alert["failed_steps"]["broken"]


class Receiver:
    """A webhook on 127.0.0.1 that records what it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def test_a_configured_webhook_receives_the_alert(data_dir, receiver, monkeypatch):
    monkeypatch.setenv("SYNTH_ALERT_WEBHOOK_URL", receiver.url)
    run_id = fail_and_alert("gated", data_dir)
    [body] = receiver.bodies
    assert body["run_id"] == run_id and body["failed_checks"][0]["check"] == "corpus_is_clean"
    assert body["text"].startswith(f"synth-factory: run {run_id}")
    assert read_alert(data_dir, run_id)["webhook"] == {"delivered": True, "attempts": 1, "status_code": 204, "error": None}
    assert receiver.url not in (data_dir / "alerts" / f"run_failure_{run_id}.json").read_text()


def test_an_unreachable_webhook_is_recorded_and_the_alert_file_still_written(data_dir, monkeypatch):
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SYNTH_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{port}/hook")
    monkeypatch.setenv("SYNTH_ALERT_WEBHOOK_TIMEOUT", "1")
    run_id = fail_and_alert("gated", data_dir)
    webhook = read_alert(data_dir, run_id)["webhook"]
    assert webhook["delivered"] is False and webhook["attempts"] == 3
    assert webhook["error"].startswith("ConnectError")
