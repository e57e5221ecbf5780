"""Shared fixtures. Nothing here touches the network or downloads weights."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # importing it loads Dagster: not for every test that never runs the graph
    from tests.pipeline_fixtures import ShippedRun


# --- environment -------------------------------------------------------------------------------

_SECRET_AND_TEACHER_VARS = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@pytest.fixture(autouse=True)
def clean_teacher_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No API key or TEACHER_*, ANSWER_* or JUDGE_* setting of the developer's shell leaks into a test; the hub is offline."""
    import os

    for name in list(os.environ):
        if name.startswith(("TEACHER_", "ANSWER_", "JUDGE_")) or name in _SECRET_AND_TEACHER_VARS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


# --- the shipped data, run once -----------------------------------------------------------------


@pytest.fixture(scope="session")
def shipped_run(tmp_path_factory: pytest.TempPathFactory) -> ShippedRun:
    """The whole graph on the shipped data, run once for the session: the pipeline, card, export and
    gate tests read it (a test that writes works on `shipped_run.copy(tmp_path / ...)`)."""
    from tests.pipeline_fixtures import run_shipped

    return run_shipped(tmp_path_factory.mktemp("shipped") / "data")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the shared whole-graph run is slow, whichever file it is in: `pytest -m
    "not slow"` leaves them out, and with them the run."""
    for item in items:
        if "shipped_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


# --- a tiny random-weight chat model -----------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Llama (hidden 32, 2 layers) with a byte-level BPE tokenizer and a chat
    template, built offline in a few seconds. It answers with noise."""
    from resources.teacher.transformers_backend import build_random_model

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        return build_random_model(tmp_path_factory.mktemp("tiny-model"))


# --- an OpenAI-compatible test server on loopback ----------------------------------------------


class ChatServer:
    """`/v1/chat/completions` on 127.0.0.1 that answers by itself or forwards to `upstream`.

    Faults queued in `faults` are served first, one per request: an HTTP status (429 and 5xx come
    with an OpenAI-style error body), or "hang" (no answer until the server stops). `hang_after`
    makes every request after the first `hang_after` hang. Canned answers echo the seed, ignore `n`
    unless `honor_n`, and report `finish_reason` "length" when the text hit `max_tokens` words.
    """

    def __init__(self, upstream: str | None = None, delay_s: float = 0.0, honor_n: bool = True):
        self.upstream = upstream
        self.delay_s = delay_s
        self.honor_n = honor_n
        self.faults: deque[int | str] = deque()
        self.hang_after: int | None = None
        self.bodies: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        self._stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.upstream is not None:
            response = httpx.post(f"{self.upstream}/chat/completions", json=body, timeout=60)
            return response.status_code, response.json()
        prompt = body["messages"][-1]["content"]
        n = body.get("n", 1) if self.honor_n else 1
        choices = []
        for i in range(n):
            words = f"reply to {prompt} seed {body.get('seed')} sample {i}".split()[: body.get("max_tokens", 100)]
            finish = "length" if len(words) == body.get("max_tokens") else "stop"
            choices.append(
                {"index": i, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": finish}
            )
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": sum(len(c["message"]["content"].split()) for c in choices),
        }
        return 200, {"object": "chat.completion", "model": body["model"], "choices": choices, "usage": usage}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                with server._lock:
                    server.bodies.append(body)
                    count = len(server.bodies)
                    fault = server.faults.popleft() if server.faults else None
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                try:
                    if fault == "hang" or (server.hang_after is not None and count > server.hang_after):
                        server._stopped.wait(30)
                        return
                    if server.delay_s:
                        time.sleep(server.delay_s)
                    if isinstance(fault, int):
                        status, payload = fault, {"error": {"message": f"injected {fault}", "type": "test"}}
                    else:
                        status, payload = server.answer(body)
                    data = json.dumps(payload).encode()
                    # Counted before the reply goes out: a client that has its answer finds it counted
                    # (appended after the write, the last status could land after the test's assertion).
                    with server._lock:
                        server.statuses.append(status)
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    if status == 429:
                        self.send_header("retry-after", "0")
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server._lock:
                        server._in_flight -= 1

        return Handler


@pytest.fixture
def chat_server() -> Iterator[Any]:
    """A factory of `ChatServer`s, all stopped after the test."""
    servers: list[ChatServer] = []

    def start(**kwargs: Any) -> ChatServer:
        servers.append(ChatServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
