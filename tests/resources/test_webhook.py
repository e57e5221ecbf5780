"""The alert webhook client: retries what is worth retrying, and says why a payload was not delivered
(httpx's MockTransport only: no network)."""

from __future__ import annotations

import json

import httpx
import pytest

from resources.webhook import post_webhook


def _transport(statuses: list[int | Exception]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outcome = statuses[min(len(seen), len(statuses)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome)

    return httpx.MockTransport(handler), seen


def test_a_server_error_is_retried_then_delivered():
    transport, seen = _transport([503, 200])
    outcome = post_webhook("http://hook.test/x", {"text": "hi"}, transport=transport, sleep=lambda s: None)
    assert (outcome.delivered, outcome.attempts, outcome.status_code) == (True, 2, 200)
    assert json.loads(seen[0].content) == {"text": "hi"}


def test_a_timeout_is_retried_at_most_twice():
    transport, seen = _transport([httpx.ReadTimeout("slow")])
    waits: list[float] = []
    outcome = post_webhook("http://hook.test/x", {}, transport=transport, sleep=waits.append)
    assert (outcome.delivered, outcome.attempts, outcome.error) == (False, 3, "ReadTimeout: slow")
    assert waits == [0.5, 1.0] and len(seen) == 3


def test_a_client_error_is_not_retried():
    transport, _ = _transport([404])
    outcome = post_webhook("http://hook.test/x", {}, transport=transport, sleep=lambda s: None)
    assert (outcome.delivered, outcome.attempts, outcome.error) == (False, 1, "HTTP 404")


def test_webhook_settings_are_checked():
    with pytest.raises(ValueError, match="timeout_s must be > 0"):
        post_webhook("http://hook.test/x", {}, timeout_s=0)
    with pytest.raises(ValueError, match="retries must be >= 0"):
        post_webhook("http://hook.test/x", {}, retries=-1)
