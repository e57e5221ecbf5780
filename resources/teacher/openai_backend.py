"""The `openai` teacher: any OpenAI-compatible chat server.

`vllm serve`, Ollama, llama.cpp's server, SGLang, TGI, `transformers serve` and OpenAI itself all
answer `POST {base_url}/chat/completions`. Requests are spread over one or more base URLs with at
most `max_concurrency` in flight per URL; a worker takes whichever server slot frees up first, so a
slow server gets less work, and a retry may go to another server.

Failures are translated here, at the boundary, into the tree in `base.py`:

- 429, 5xx, timeouts and dropped connections are retried with exponential backoff and jitter
  (a `Retry-After` header is honoured) until `max_retries` or the per-request `deadline_s`; then
  `RateLimited`, `BackendError`, `BackendTimeout` or `BackendUnavailable`;
- any other 4xx fails at once with `RequestRejected`: retrying a bad request won't help.

Sample i of a request is seeded with `sampling.seed + i`. By default every sample is its own HTTP
request, because Ollama, llama.cpp and `transformers serve` ignore `n`; with `send_n` one request
asks for all `n` (vLLM seeds its i-th sample with `seed + i` too).

The API key is read from the environment variable that `api_key_env` names, when the backend is
built (at run time), and is never logged or put in an error message.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import dagster as dg
import httpx
from pydantic import Field, field_validator

from resources.teacher.base import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    Completion,
    GenerationRequest,
    RateLimited,
    RequestRejected,
    TeacherBackend,
)

__all__ = ["OpenAIBackend", "OpenAIOptions"]

logger = logging.getLogger(__name__)

_BODY_EXCERPT = 300  # characters of an error response kept in the exception message


class OpenAIOptions(dg.Config):
    """How to reach OpenAI-compatible servers. Every field has a safe default."""

    base_urls: list[str] = Field(
        default=["http://localhost:8000/v1"],
        description="Base URLs as given to the OpenAI client (ending in /v1); requests are spread across them.",
    )
    api_key_env: str = Field(
        default="",
        description="Name of the environment variable holding the API key; empty: send no key.",
    )
    max_concurrency: int = Field(default=8, description="Requests in flight per base URL.")
    timeout_s: float = Field(default=120.0, description="Seconds to wait for one HTTP response.")
    max_retries: int = Field(default=6, description="Retries of one request after 429, 5xx or a timeout.")
    backoff_base_s: float = Field(default=1.0, description="First retry waits about this long; doubles each retry.")
    backoff_max_s: float = Field(default=30.0, description="Longest wait between two retries.")
    deadline_s: float = Field(
        default=900.0, description="Give up on one request after this many seconds, retries included."
    )
    send_n: bool = Field(
        default=False,
        description="Ask for all n samples in one request (vLLM serve); off: one request per sample with seed + i.",
    )

    @field_validator("base_urls")
    @classmethod
    def _check_base_urls(cls, urls: list[str]) -> list[str]:
        if not urls:
            raise ValueError("OpenAIOptions.base_urls must name at least one server")
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"OpenAIOptions.base_urls must be http(s) URLs, got {url!r}")
        return [url.rstrip("/") for url in urls]

    @field_validator("max_concurrency")
    @classmethod
    def _check_concurrency(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"OpenAIOptions.max_concurrency must be >= 1, got {value}")
        return value

    @field_validator("max_retries")
    @classmethod
    def _check_retries(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"OpenAIOptions.max_retries must be >= 0, got {value}")
        return value

    @field_validator("timeout_s", "backoff_base_s", "backoff_max_s", "deadline_s")
    @classmethod
    def _check_seconds(cls, value: float, info: Any) -> float:
        if value <= 0:
            raise ValueError(f"OpenAIOptions.{info.field_name} must be > 0, got {value}")
        return value


@dataclass(frozen=True)
class _Job:
    """One HTTP request: all samples of a request (`sample_index` None) or sample `sample_index`."""

    request_index: int
    sample_index: int | None
    expected_choices: int
    body: dict[str, Any]


class _Retryable(Exception):
    """An attempt failed in a way worth retrying; `final` is the error raised once retries run out."""

    def __init__(self, final: type[BackendError], message: str, retry_after: float = 0.0):
        super().__init__(message)
        self.final = final
        self.message = message
        self.retry_after = retry_after


class OpenAIBackend(TeacherBackend):
    """A teacher behind one or more OpenAI-compatible `/chat/completions` endpoints."""

    name = "openai"

    def __init__(
        self,
        model: str,
        options: OpenAIOptions | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[threading.Event, float], bool] | None = None,
    ):
        """`transport` replaces the network (tests use `httpx.MockTransport`); `sleep(stop, s)`
        replaces the wait between retries and returns True when the batch was abandoned."""
        if not model:
            raise ValueError("the openai backend needs a model name (TeacherResource.model)")
        self._model = model
        self._options = options or OpenAIOptions()
        self._sleep = sleep or (lambda stop, seconds: stop.wait(seconds))
        self._jitter = random.Random()  # only spreads retries in time; never touches outputs
        headers = {}
        if self._options.api_key_env:
            key = os.environ.get(self._options.api_key_env, "")
            if not key:
                raise BackendUnavailable(
                    f"environment variable {self._options.api_key_env} (OpenAIOptions.api_key_env) is not set"
                )
            headers["Authorization"] = f"Bearer {key}"
        slots = len(self._options.base_urls) * self._options.max_concurrency
        timeout = self._options.timeout_s
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=slots, max_keepalive_connections=slots),
            transport=transport,
        )

    @property
    def model(self) -> str:
        return self._model

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        jobs = [job for index, request in enumerate(requests) for job in self._jobs(index, request)]
        results: list[list[Completion | None]] = [[None] * r.sampling.n for r in requests]
        if not jobs:
            return []
        slots: queue.SimpleQueue[str] = queue.SimpleQueue()
        for url in self._options.base_urls:
            for _ in range(self._options.max_concurrency):
                slots.put(url)
        abandon = threading.Event()
        workers = min(len(jobs), len(self._options.base_urls) * self._options.max_concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-teacher") as pool:
            futures = [pool.submit(self._run, job, slots, abandon) for job in jobs]
            wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in futures if f.done() and f.exception() is not None), None)
            if failed is not None:
                abandon.set()
                for future in futures:
                    future.cancel()
                raise failed.exception()  # type: ignore[misc]
            for job, future in zip(jobs, futures, strict=True):
                completions = future.result()
                if job.sample_index is None:
                    results[job.request_index] = list(completions)
                else:
                    results[job.request_index][job.sample_index] = completions[0]
        return [[c for c in per_request if c is not None] for per_request in results]

    def close(self) -> None:
        self._client.close()

    def _jobs(self, index: int, request: GenerationRequest) -> list[_Job]:
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.json_schema is not None:
            try:
                schema = json.loads(sampling.json_schema)
            except json.JSONDecodeError as exc:
                raise RequestRejected(f"request {index}: SamplingParams.json_schema is not valid JSON") from exc
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema, "strict": True},
            }
        if self._options.send_n or sampling.n == 1:
            one = {**body, "seed": sampling.seed}
            if sampling.n > 1:
                one["n"] = sampling.n
            return [_Job(index, None, sampling.n, one)]
        return [_Job(index, i, 1, {**body, "seed": sampling.seed + i}) for i in range(sampling.n)]

    def _run(self, job: _Job, slots: queue.SimpleQueue[str], abandon: threading.Event) -> list[Completion]:
        """Send one job, retrying what is worth retrying; raises the mapped error when it gives up."""
        started = time.monotonic()
        attempt = 0
        while True:
            url = slots.get()
            try:
                return self._attempt(url, job)
            except _Retryable as exc:
                failure = exc
            finally:
                slots.put(url)
            attempt += 1
            delay = self._backoff(attempt, failure.retry_after)
            out_of_time = time.monotonic() - started + delay > self._options.deadline_s
            if attempt > self._options.max_retries or out_of_time:
                why = f"{attempt} attempts" if not out_of_time else f"the {self._options.deadline_s}s deadline"
                message = f"request {job.request_index}: {failure.message} (gave up after {why})"
                raise failure.final(message) from failure.__cause__
            logger.warning(
                "teacher request %d: %s; retry %d/%d in %.1fs",
                job.request_index,
                failure.message,
                attempt,
                self._options.max_retries,
                delay,
            )
            if self._sleep(abandon, delay):
                raise BackendError(f"request {job.request_index}: abandoned after another request failed")

    def _backoff(self, attempt: int, retry_after: float) -> float:
        """Exponential backoff with equal jitter: half the step fixed, half random."""
        step = min(self._options.backoff_max_s, self._options.backoff_base_s * 2 ** (attempt - 1))
        return max(retry_after, step / 2 + self._jitter.uniform(0, step / 2))

    def _attempt(self, url: str, job: _Job) -> list[Completion]:
        try:
            response = self._client.post(f"{url}/chat/completions", json=job.body)
        except httpx.TimeoutException as exc:
            raise _Retryable(BackendTimeout, f"{url} gave no answer within {self._options.timeout_s}s") from exc
        except httpx.TransportError as exc:
            raise _Retryable(BackendUnavailable, f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 429:
            raise _Retryable(RateLimited, f"{url} answered 429 (rate limited)", _retry_after(response))
        if status >= 500:
            raise _Retryable(BackendError, f"{url} answered {status}: {_excerpt(response)}", _retry_after(response))
        if status != 200:
            raise RequestRejected(f"request {job.request_index}: {url} answered {status}: {_excerpt(response)}")
        try:
            return _completions(response.json(), job)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(
                f"request {job.request_index}: {url} sent a malformed chat completion: {_excerpt(response)}"
            ) from exc


def _completions(payload: dict[str, Any], job: _Job) -> list[Completion]:
    """Turn a chat completion into `Completion`s; the usage counts are shared out over the choices."""
    choices = sorted(payload["choices"], key=lambda choice: choice.get("index", 0))
    if len(choices) != job.expected_choices:
        raise BackendError(
            f"request {job.request_index}: the server returned {len(choices)} choices where n="
            f"{job.expected_choices}; it ignores `n`, so set OpenAIOptions.send_n to false"
        )
    texts = [choice["message"].get("content") or "" for choice in choices]
    usage = payload.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    total_out = usage.get("completion_tokens")
    if total_out is None:  # no usage block: estimate by words, as the rules teacher does
        out_tokens = [max(1, len(text.split())) for text in texts]
    else:
        share, extra = divmod(int(total_out), len(choices))
        out_tokens = [share + (1 if i < extra else 0) for i in range(len(choices))]
    return [
        Completion(
            text=text,
            finish_reason=choice.get("finish_reason") or "unknown",
            prompt_tokens=prompt_tokens,
            completion_tokens=tokens,
        )
        for choice, text, tokens in zip(choices, texts, out_tokens, strict=True)
    ]


def _retry_after(response: httpx.Response) -> float:
    """Seconds from a `Retry-After` header given in seconds; 0 when absent or given as a date."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        return 0.0


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:_BODY_EXCERPT] + ("…" if len(text) > _BODY_EXCERPT else "")
