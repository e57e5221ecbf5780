"""What is asked of a teacher and what comes back: the request and completion records.

These are plain data, shared by the pure stage logic (which builds requests and reads completions)
and the inference backends under `resources/teacher/` (which answer them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property

__all__ = ["Completion", "Generate", "GenerationRequest", "Message", "SamplingParams", "render_messages"]


@dataclass(frozen=True)
class Message:
    role: str  # "system", "user" or "assistant"
    content: str

    def __post_init__(self) -> None:
        if self.role not in ("system", "user", "assistant"):
            raise ValueError(f"Message.role must be system, user or assistant, got {self.role!r}")


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. `n` completions are drawn per request; sample i is seeded with `seed + i`."""

    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    n: int = 1
    seed: int = 0
    stop: tuple[str, ...] = ()
    # Structured output: a JSON schema (as text) the completion must follow, where the backend can.
    json_schema: str | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"SamplingParams.max_tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1:
            raise ValueError(f"SamplingParams.n must be >= 1, got {self.n}")

    def cache_key(self) -> str:
        """Everything that changes one sample's distribution; `n` is not in it (the sample index is)."""
        return self._cache_key

    @cached_property
    def _cache_key(self) -> str:
        # Computed once per instance (a stage shares one SamplingParams across its requests); the
        # fields are flat, so a shallow dict serializes exactly as `dataclasses.asdict` would.
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self) if f.name != "n"}, sort_keys=True)


@dataclass(frozen=True)
class GenerationRequest:
    messages: tuple[Message, ...]
    sampling: SamplingParams = SamplingParams()
    # Read only by the offline `rules` backend (e.g. the task's reference solution); a language
    # model sees the messages alone, so hints are not part of the cache key.
    hints: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("GenerationRequest.messages must not be empty")

    @property
    def prompt_text(self) -> str:
        return render_messages(self.messages)

    def cache_key(self, teacher: str, sample_index: int) -> str:
        """The response cache's key: (backend:model, rendered prompt, sampling, sample index)."""
        material = "\x1f".join(
            [teacher, self.prompt_text, self.sampling.cache_key(), str(sample_index)]
        )
        return hashlib.sha256(material.encode()).hexdigest()

    def cache_keys(self, teacher: str) -> tuple[str, ...]:
        """`cache_key(teacher, i)` for every sample index i < `sampling.n`, rendering and hashing
        the shared prefix once."""
        prefix = hashlib.sha256("\x1f".join([teacher, self.prompt_text, self.sampling.cache_key(), ""]).encode())
        keys = []
        for index in range(self.sampling.n):
            digest = prefix.copy()
            digest.update(str(index).encode())
            keys.append(digest.hexdigest())
        return tuple(keys)


@dataclass(frozen=True, slots=True)  # a stage holds one per sample, millions at scale
class Completion:
    text: str
    finish_reason: str  # "stop", "length", ...
    prompt_tokens: int
    completion_tokens: int


def render_messages(messages: Sequence[Message]) -> str:
    """A backend-independent rendering of a chat, used for cache keys and token estimates."""
    return "\n".join(f"<|{m.role}|>\n{m.content}" for m in messages)


# A stage's view of the teacher: answer every request with `sampling.n` completions, in order.
Generate = Callable[[Sequence[GenerationRequest]], list[list[Completion]]]
