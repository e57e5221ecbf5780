"""The OpenAI-compatible backend.

Error mapping, retries and request bodies are checked with `httpx.MockTransport`; the happy path
runs against a real `transformers serve` on loopback with a tiny random model built in the test
session, and retries, spreading and the concurrency bound against `ChatServer` (tests/conftest.py),
a small fault-injecting server that answers itself or forwards to `transformers serve`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from resources.teacher.base import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    GenerationRequest,
    Message,
    RateLimited,
    RequestRejected,
    SamplingParams,
)
from resources.teacher.openai_backend import OpenAIBackend, OpenAIOptions
from synth_assets.core.verify.judge import JUDGE_SCHEMA
from synth_assets.core.verify.run import VerificationConfig, verify_candidates


def ask(text: str, **sampling: object) -> GenerationRequest:
    return GenerationRequest(messages=(Message("user", text),), sampling=SamplingParams(**sampling))


def chat_reply(body: dict[str, Any], n: int = 1, finish: str = "stop", usage: bool = True) -> httpx.Response:
    choices = [
        {
            "index": i,
            "message": {"role": "assistant", "content": f"seed={body.get('seed')} i={i}"},
            "finish_reason": finish,
        }
        for i in range(n)
    ]
    payload: dict[str, Any] = {"choices": choices}
    if usage:
        payload["usage"] = {"prompt_tokens": 5, "completion_tokens": 7 * n}
    return httpx.Response(200, json=payload)


class Recorder:
    """A MockTransport handler: answers with `respond(body, call_number)` and keeps every body."""

    def __init__(self, respond: Callable[[dict[str, Any], int], httpx.Response]):
        self.respond = respond
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.bodies.append(json.loads(request.content))
            self.headers.append(request.headers)
            number = len(self.bodies)
        return self.respond(self.bodies[-1], number)


def mock_backend(
    respond: Callable[[dict[str, Any], int], httpx.Response], **options: Any
) -> tuple[OpenAIBackend, Recorder, list[float]]:
    recorder = Recorder(respond)
    delays: list[float] = []

    def no_wait(stop: threading.Event, seconds: float) -> bool:
        delays.append(seconds)
        return False

    defaults = {"base_urls": ["http://teacher.test/v1"], "max_concurrency": 1}
    backend = OpenAIBackend(
        "test-model", OpenAIOptions(**{**defaults, **options}), transport=httpx.MockTransport(recorder), sleep=no_wait
    )
    return backend, recorder, delays


# --- request bodies and results -----------------------------------------------------------------


def test_request_body_carries_the_sampling_parameters() -> None:
    backend, recorder, _ = mock_backend(lambda body, _: chat_reply(body))

    backend.generate([ask("hello", temperature=0.2, top_p=0.8, max_tokens=33, seed=5, stop=("END",))])

    (body,) = recorder.bodies
    assert body == {
        "model": "test-model",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 33,
        "temperature": 0.2,
        "top_p": 0.8,
        "seed": 5,
        "stop": ["END"],
    }


def test_json_schema_is_sent_as_response_format() -> None:
    backend, recorder, _ = mock_backend(lambda body, _: chat_reply(body))
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}}

    backend.generate([ask("score it", json_schema=json.dumps(schema))])

    assert recorder.bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": schema, "strict": True},
    }


def test_each_sample_is_its_own_request_seeded_seed_plus_i() -> None:
    backend, recorder, _ = mock_backend(lambda body, _: chat_reply(body), max_concurrency=3)

    (answer,) = backend.generate([ask("hello", n=3, seed=40)])

    assert sorted(b["seed"] for b in recorder.bodies) == [40, 41, 42]
    assert all("n" not in b for b in recorder.bodies)
    assert [c.text for c in answer] == ["seed=40 i=0", "seed=41 i=0", "seed=42 i=0"]


def test_send_n_asks_for_all_samples_at_once() -> None:
    backend, recorder, _ = mock_backend(lambda body, _: chat_reply(body, n=body["n"]), send_n=True)

    (answer,) = backend.generate([ask("hello", n=3, seed=40)])

    assert len(recorder.bodies) == 1 and recorder.bodies[0]["n"] == 3 and recorder.bodies[0]["seed"] == 40
    assert [c.text for c in answer] == ["seed=40 i=0", "seed=40 i=1", "seed=40 i=2"]
    assert [c.completion_tokens for c in answer] == [7, 7, 7]  # usage shared out over the choices


def test_send_n_to_a_server_that_ignores_n_says_what_to_change() -> None:
    backend, _, _ = mock_backend(lambda body, _: chat_reply(body, n=1), send_n=True)

    with pytest.raises(BackendError, match="send_n to false"):
        backend.generate([ask("hello", n=2)])


def test_length_finish_and_usage_are_recorded() -> None:
    backend, _, _ = mock_backend(lambda body, _: chat_reply(body, finish="length"))

    ((completion,),) = backend.generate([ask("hello", max_tokens=7)])

    assert completion.finish_reason == "length"
    assert (completion.prompt_tokens, completion.completion_tokens) == (5, 7)


def test_missing_usage_is_estimated_from_words() -> None:
    backend, _, _ = mock_backend(lambda body, _: chat_reply(body, usage=False))

    ((completion,),) = backend.generate([ask("hello")])

    assert completion.completion_tokens == 2 and completion.prompt_tokens == 0


def test_results_keep_request_order_under_concurrency() -> None:
    def slow_first(body: dict[str, Any], number: int) -> httpx.Response:
        if body["messages"][0]["content"] == "q0":
            time.sleep(0.05)
        return httpx.Response(
            200, json={"choices": [{"index": 0, "message": {"content": body["messages"][0]["content"]}}]}
        )

    backend, _, _ = mock_backend(slow_first, max_concurrency=4)

    answers = backend.generate([ask(f"q{i}") for i in range(6)])

    assert [a[0].text for a in answers] == [f"q{i}" for i in range(6)]
    assert answers[0][0].finish_reason == "unknown"


# --- retries and error mapping ------------------------------------------------------------------


def test_429_and_5xx_are_retried_with_growing_backoff() -> None:
    statuses = iter([429, 503, 500])

    def flaky(body: dict[str, Any], number: int) -> httpx.Response:
        status = next(statuses, 200)
        return chat_reply(body) if status == 200 else httpx.Response(status, json={"error": "busy"})

    backend, recorder, delays = mock_backend(flaky, backoff_base_s=1.0, backoff_max_s=60.0)

    ((completion,),) = backend.generate([ask("hello")])

    assert completion.text == "seed=0 i=0" and len(recorder.bodies) == 4
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 2.0 <= delays[2] <= 4.0


def test_backoff_is_capped() -> None:
    backend, _, delays = mock_backend(
        lambda body, _: httpx.Response(503), max_retries=8, backoff_base_s=1.0, backoff_max_s=3.0
    )

    with pytest.raises(BackendError):
        backend.generate([ask("hello")])

    assert max(delays) <= 3.0


def test_429_after_every_retry_is_rate_limited() -> None:
    backend, recorder, _ = mock_backend(lambda body, _: httpx.Response(429), max_retries=2)

    with pytest.raises(RateLimited, match=r"429.*3 attempts"):
        backend.generate([ask("hello")])
    assert len(recorder.bodies) == 3


def test_retry_after_is_honoured() -> None:
    replies = iter([httpx.Response(429, headers={"retry-after": "7"})])
    backend, _, delays = mock_backend(lambda body, _: next(replies, None) or chat_reply(body), backoff_base_s=0.1)

    backend.generate([ask("hello")])

    assert delays == [7.0]


def test_5xx_after_every_retry_is_a_backend_error() -> None:
    backend, _, _ = mock_backend(lambda body, _: httpx.Response(502, text="bad gateway"), max_retries=1)

    with pytest.raises(BackendError, match="502: bad gateway") as raised:
        backend.generate([ask("hello")])
    assert not isinstance(raised.value, (RequestRejected, RateLimited, BackendTimeout, BackendUnavailable))


def test_a_4xx_fails_at_once_with_the_server_message() -> None:
    reply = {"error": {"message": "model 'test-model' not found"}}
    backend, recorder, _ = mock_backend(lambda body, _: httpx.Response(404, json=reply))

    with pytest.raises(RequestRejected, match=r"404.*not found"):
        backend.generate([ask("hello")])
    assert len(recorder.bodies) == 1


def test_timeouts_after_every_retry_are_a_backend_timeout() -> None:
    def hang(body: dict[str, Any], number: int) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out")

    backend, recorder, _ = mock_backend(hang, max_retries=2)

    with pytest.raises(BackendTimeout, match="no answer within") as raised:
        backend.generate([ask("hello")])
    assert isinstance(raised.value.__cause__, httpx.ReadTimeout)
    assert len(recorder.bodies) == 3


def test_a_server_that_cannot_be_reached_is_unavailable() -> None:
    def refuse(body: dict[str, Any], number: int) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    backend, _, _ = mock_backend(refuse, max_retries=1)

    with pytest.raises(BackendUnavailable, match=r"cannot reach http://teacher.test/v1") as raised:
        backend.generate([ask("hello")])
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def test_the_deadline_stops_retries_early() -> None:
    backend, recorder, _ = mock_backend(
        lambda body, _: httpx.Response(503), max_retries=50, backoff_base_s=10.0, deadline_s=15.0
    )

    with pytest.raises(BackendError, match=r"15.0s deadline"):
        backend.generate([ask("hello")])
    assert len(recorder.bodies) < 5


def test_a_malformed_answer_is_a_backend_error() -> None:
    backend, _, _ = mock_backend(lambda body, _: httpx.Response(200, text="<html>proxy login</html>"))

    with pytest.raises(BackendError, match="malformed chat completion: <html>"):
        backend.generate([ask("hello")])


def test_one_failure_fails_the_batch() -> None:
    def second_is_bad(body: dict[str, Any], number: int) -> httpx.Response:
        if body["messages"][0]["content"] == "bad":
            return httpx.Response(400, json={"error": "prompt too long"})
        return chat_reply(body)

    backend, _, _ = mock_backend(second_is_bad, max_concurrency=2)

    with pytest.raises(RequestRejected, match="request 1"):
        backend.generate([ask("good"), ask("bad"), ask("good again")])


def test_invalid_json_schema_is_rejected_before_sending() -> None:
    backend, recorder, _ = mock_backend(lambda body, _: chat_reply(body))

    with pytest.raises(RequestRejected, match="json_schema"):
        backend.generate([ask("hello", json_schema="{nope")])
    assert recorder.bodies == []


# --- the API key -------------------------------------------------------------------------------


def test_the_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TEACHER_KEY", "sk-test-123")
    backend, recorder, _ = mock_backend(
        lambda body, _: httpx.Response(401, json={"error": "bad key"}), api_key_env="MY_TEACHER_KEY"
    )

    with pytest.raises(RequestRejected) as raised:
        backend.generate([ask("hello")])

    assert recorder.headers[0]["authorization"] == "Bearer sk-test-123"
    assert "sk-test-123" not in str(raised.value)


def test_no_key_is_sent_unless_configured() -> None:
    backend, recorder, _ = mock_backend(lambda body, _: chat_reply(body))

    backend.generate([ask("hello")])

    assert "authorization" not in recorder.headers[0]


def test_a_missing_key_variable_is_named() -> None:
    with pytest.raises(BackendUnavailable, match="MISSING_KEY_VAR"):
        OpenAIBackend("m", OpenAIOptions(api_key_env="MISSING_KEY_VAR"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_urls", []),
        ("base_urls", ["localhost:8000"]),
        ("max_concurrency", 0),
        ("max_retries", -1),
        ("timeout_s", 0),
    ],
)
def test_options_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"OpenAIOptions.{field}"):
        OpenAIOptions(**{field: value})


def test_base_urls_lose_their_trailing_slash() -> None:
    assert OpenAIOptions(base_urls=["http://host:8000/v1/"]).base_urls == ["http://host:8000/v1"]


# --- a real OpenAI-compatible server: transformers serve ---------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served_model(tiny_model_dir: Path) -> Iterator[tuple[str, str]]:
    """`transformers serve` with the tiny model on loopback: (base URL, model name)."""
    port = _free_port()
    cli = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(
        [str(cli), "serve", str(tiny_model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 90
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                stderr = process.stderr.read().decode() if process.poll() is not None else "(still starting)"
                pytest.fail(f"transformers serve did not come up: {stderr[-2000:]}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1", str(tiny_model_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_transformers_serve_answers_every_sample(served_model: tuple[str, str]) -> None:
    url, model = served_model
    backend = OpenAIBackend(model, OpenAIOptions(base_urls=[url], max_concurrency=2, timeout_s=60))

    answers = backend.generate([ask("write a function", n=2, max_tokens=6, temperature=0.8), ask("hi", max_tokens=3)])

    assert [len(a) for a in answers] == [2, 1]
    for completion in (c for a in answers for c in a):
        assert isinstance(completion.text, str) and completion.prompt_tokens > 0
        assert completion.finish_reason in ("stop", "length")
    assert all(c.completion_tokens <= 6 for c in answers[0])
    assert answers[1][0].completion_tokens <= 3
    assert any(c.finish_reason == "length" for a in answers for c in a)
    assert backend.teacher_id == f"openai:{model}"
    backend.close()


def test_a_wrong_model_name_is_rejected_by_the_server(served_model: tuple[str, str]) -> None:
    url, _ = served_model
    backend = OpenAIBackend("not-the-served-model", OpenAIOptions(base_urls=[url]))

    with pytest.raises(RequestRejected, match="400"):
        backend.generate([ask("hi", max_tokens=2)])


def test_429_and_500_in_front_of_the_server_are_retried(served_model: tuple[str, str], chat_server: Any) -> None:
    url, model = served_model
    proxy = chat_server(upstream=url)
    proxy.faults.extend([429, 500, 429])
    backend = OpenAIBackend(model, OpenAIOptions(base_urls=[proxy.url], max_concurrency=1, backoff_base_s=0.01))

    answers = backend.generate([ask("one", max_tokens=3), ask("two", max_tokens=3)])

    assert [len(a) for a in answers] == [1, 1]
    assert proxy.statuses == [429, 500, 429, 200, 200]


def test_requests_are_spread_across_base_urls(served_model: tuple[str, str], chat_server: Any) -> None:
    url, model = served_model
    first, second = chat_server(upstream=url, delay_s=0.05), chat_server(upstream=url, delay_s=0.05)
    backend = OpenAIBackend(model, OpenAIOptions(base_urls=[first.url, second.url], max_concurrency=1))

    answers = backend.generate([ask(f"question {i}", max_tokens=2) for i in range(6)])

    assert len(answers) == 6
    assert len(first.bodies) >= 1 and len(second.bodies) >= 1
    assert len(first.bodies) + len(second.bodies) == 6


def test_retries_go_to_another_server_when_one_is_down(chat_server: Any) -> None:
    down = chat_server()
    down.faults.extend([503] * 10)
    up = chat_server()
    backend = OpenAIBackend("m", OpenAIOptions(base_urls=[down.url, up.url], max_concurrency=1, backoff_base_s=0.01))

    answers = backend.generate([ask(f"q{i}") for i in range(4)])

    assert len(answers) == 4 and len(up.statuses) >= 4


def test_concurrency_is_bounded_per_server(chat_server: Any) -> None:
    first, second = chat_server(delay_s=0.1), chat_server(delay_s=0.1)
    backend = OpenAIBackend("m", OpenAIOptions(base_urls=[first.url, second.url], max_concurrency=2))

    backend.generate([ask(f"q{i}") for i in range(12)])

    assert first.max_in_flight == 2 and second.max_in_flight == 2


def test_a_slow_server_times_out(chat_server: Any) -> None:
    slow = chat_server(delay_s=1.0)
    backend = OpenAIBackend("m", OpenAIOptions(base_urls=[slow.url], timeout_s=0.2, max_retries=1, backoff_base_s=0.01))

    with pytest.raises(BackendTimeout, match=r"no answer within 0.2s"):
        backend.generate([ask("hi")])


def test_a_closed_port_is_unavailable() -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    backend = OpenAIBackend("m", OpenAIOptions(base_urls=[url], max_retries=1, backoff_base_s=0.01))

    with pytest.raises(BackendUnavailable, match="cannot reach"):
        backend.generate([ask("hi")])


# --- the rubric judge on this backend: the schema goes out as response_format ------------------


def _general(cid: str, response: str) -> dict[str, Any]:
    return {"id": cid, "parent_id": f"task-{cid}", "domain": "general", "instruction": "Explain tides.",
            "response": response, "finish_reason": "stop", "sample_index": 0, "teacher": "openai:writer"}


def test_the_judge_schema_is_sent_and_a_conforming_reply_gives_the_aspects() -> None:
    aspects = {"correctness": 5, "relevance": 5, "coherence": 4, "completeness": 4, "difficulty": 2}

    def reply(body: dict[str, Any], _: int) -> httpx.Response:
        content = json.dumps({"rationale": "sound", **aspects})
        return httpx.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                                      "finish_reason": "stop"}]})

    backend, recorder, _ = mock_backend(reply)
    outcome = verify_candidates([_general("a", "The moon pulls the sea.")], lambda jobs: [], backend.generate,
                                VerificationConfig(), judge_model=backend.teacher_id)

    (body,) = recorder.bodies
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "response", "schema": JUDGE_SCHEMA, "strict": True}}
    (kept,) = outcome.kept
    assert json.loads(kept["judge_aspects"]) == aspects and kept["judge_model"] == "openai:test-model"
    assert kept["judge_score"] == pytest.approx(1 + (4 - 1) * 9 / 4)  # mean 4.0 on the 1-10 scale


def test_a_server_that_ignores_the_schema_gets_one_retry_then_judge_unparseable(
    served_model: tuple[str, str], chat_server: Any
) -> None:
    url, model = served_model
    proxy = chat_server(upstream=url)  # records what reaches `transformers serve`, which ignores response_format
    backend = OpenAIBackend(model, OpenAIOptions(base_urls=[proxy.url], max_concurrency=2, timeout_s=60))

    outcome = verify_candidates([_general("a", "The moon pulls the sea."), _general("b", "Wind makes waves.")],
                                lambda jobs: [], backend.generate, VerificationConfig(judge_max_tokens=8),
                                judge_model=backend.teacher_id)

    assert len(proxy.bodies) == 4  # two judgments, then one retry each
    assert all(b["response_format"]["json_schema"]["schema"] == JUDGE_SCHEMA for b in proxy.bodies)
    retries = [b for b in proxy.bodies if len(b["messages"]) == 3]
    assert len(retries) == 2 and all(b["messages"][1]["role"] == "assistant" for b in retries)
    assert outcome.kept == []
    for row in outcome.rejected:
        assert row["reason"] == "judge_unparseable" and row["score"] is None
        assert row["judge_model"] == f"openai:{model}"
        retry = next(b for b in retries if row["response"] in b["messages"][0]["content"])
        assert repr(retry["messages"][1]["content"]) in row["detail"]  # the first raw reply is kept
