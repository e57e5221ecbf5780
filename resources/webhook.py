"""POSTing an alert to a webhook: JSON, a timeout, and a few retries on errors worth retrying.

Slack-style incoming webhooks display the payload's `text` field. The outcome says whether the
payload was delivered and why not, so the caller can record it; nothing here raises for a webhook
that cannot be reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["DEFAULT_WEBHOOK_RETRIES", "DEFAULT_WEBHOOK_TIMEOUT_S", "WebhookOutcome", "post_webhook"]

DEFAULT_WEBHOOK_TIMEOUT_S = 5.0
DEFAULT_WEBHOOK_RETRIES = 2
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class WebhookOutcome:
    delivered: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None


def post_webhook(
    url: str,
    payload: dict[str, Any],
    timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S,
    retries: int = DEFAULT_WEBHOOK_RETRIES,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookOutcome:
    """POST `payload` as JSON; retry a timeout, a connection error, 429 or 5xx at most `retries` times.

    The outcome says whether it was delivered and why not: the caller records it next to the alert.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    outcome = WebhookOutcome(False, 0)
    with httpx.Client(timeout=timeout_s, transport=transport) as client:
        for attempt in range(1, retries + 2):
            try:
                response = client.post(url, json=payload)
            except httpx.TransportError as exc:  # connect, read and write errors and timeouts
                outcome = WebhookOutcome(False, attempt, None, f"{type(exc).__name__}: {exc}")
            else:
                if response.is_success:
                    return WebhookOutcome(True, attempt, response.status_code)
                outcome = WebhookOutcome(False, attempt, response.status_code, f"HTTP {response.status_code}")
                if response.status_code not in _RETRY_STATUSES:
                    return outcome
            if attempt <= retries:
                sleep(0.5 * 2 ** (attempt - 1))
    return outcome
