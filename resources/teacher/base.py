"""The teacher interface: every inference backend takes the same requests and returns the same results.

A stage builds `GenerationRequest`s (chat messages, sampling parameters, and `hints` that only the
offline `rules` backend reads), hands the whole batch to a backend, and gets back, for each request,
`sampling.n` `Completion`s in order. Backends never see the response cache; `TeacherResource` puts
the cache in front of whichever backend is configured.

Errors raised by backends form one small tree, so stages can tell a retryable failure from a
configuration mistake::

    BackendError
    ├── BackendUnavailable   the library, the GPU or the server is missing (configuration problem)
    ├── RequestRejected      the server refused the request (4xx other than 429): retrying won't help
    ├── RateLimited          429 after every retry
    └── BackendTimeout       no answer within the deadline after every retry
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from synth_assets.core.requests import (
    Completion,
    GenerationRequest,
    Message,
    SamplingParams,
    render_messages,
)

__all__ = [
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "Completion",
    "GenerationRequest",
    "Message",
    "RateLimited",
    "RequestRejected",
    "SamplingParams",
    "TeacherBackend",
    "render_messages",
]


class BackendError(Exception):
    """A backend could not produce completions."""


class BackendUnavailable(BackendError):
    """The backend cannot run here: a library, a GPU, a model path or a server is missing."""


class RequestRejected(BackendError):
    """The server refused the request itself (a 4xx other than 429); retrying will not help."""


class RateLimited(BackendError):
    """The server kept answering 429 after every retry."""


class BackendTimeout(BackendError):
    """No answer arrived within the deadline after every retry."""


class TeacherBackend(ABC):
    """One way of running a teacher model. Subclasses hold their engine or client."""

    #: short backend name, e.g. "rules", "vllm", "openai", "transformers"
    name: str
    #: True when answers cost next to nothing to recompute (the offline `rules` teacher): the
    #: resource then asks in large batches and writes the cache once per call instead of per
    #: batch, since a run killed mid-stage loses nothing worth keeping.
    cheap: bool = False

    @property
    @abstractmethod
    def model(self) -> str:
        """The model's name as recorded in every row's `teacher` column (after `name:`)."""

    @property
    def teacher_id(self) -> str:
        return f"{self.name}:{self.model}"

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Answer every request: for each, exactly `request.sampling.n` completions, in order."""

    def close(self) -> None:  # noqa: B027 - a no-op default: only backends holding engines override it
        """Release engines, clients and GPU memory."""
