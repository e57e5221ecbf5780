"""The teacher as a Dagster resource: a configured backend behind the shared response cache."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
from pydantic import PrivateAttr

from resources.teacher.base import BackendError, Completion, GenerationRequest, TeacherBackend
from resources.teacher.cache import ResponseCache
from resources.teacher.factory import BACKENDS, make_backend
from resources.warehouse import Warehouse

__all__ = ["TeacherBatch", "TeacherResource", "TeacherStats"]


@dataclass(frozen=True)
class TeacherStats:
    requests: int
    cache_hits: int
    cache_misses: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float

    def as_metadata(self, prefix: str = "teacher") -> dict[str, float | int]:
        return {
            f"{prefix}/requests": self.requests,
            f"{prefix}/cache_hits": self.cache_hits,
            f"{prefix}/cache_misses": self.cache_misses,
            f"{prefix}/tokens_in": self.prompt_tokens,
            f"{prefix}/tokens_out": self.completion_tokens,
            f"{prefix}/seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class TeacherBatch:
    completions: list[list[Completion]]  # per request, `sampling.n` completions in order
    stats: TeacherStats


class TeacherResource(dg.ConfigurableResource):
    """The teacher model every generating stage asks.

    `backend` picks the engine: `rules` is the offline stand-in (NOT a language model: it applies
    fixed text rules so the graph runs anywhere); see the README's "Using a real teacher".
    """

    backend: str = "rules"
    model: str = ""  # empty: the backend's default
    batch_size: int = 256  # requests per backend call; each batch is cached as soon as it returns
    use_cache: bool = True
    warehouse: Warehouse

    _backend: TeacherBackend | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"TeacherResource.backend must be one of {sorted(BACKENDS)}, got {self.backend!r}")
        if self.batch_size < 1:
            raise ValueError(f"TeacherResource.batch_size must be >= 1, got {self.batch_size}")
        self._backend = make_backend(self.backend, self.model)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    @property
    def engine(self) -> TeacherBackend:
        if self._backend is None:  # used outside a Dagster run, e.g. from a script
            self._backend = make_backend(self.backend, self.model)
        return self._backend

    @property
    def teacher_id(self) -> str:
        return self.engine.teacher_id

    def describe(self) -> str:
        if self.backend == "rules":
            return "rules (offline rule-based stand-in, NOT a language model)"
        return self.teacher_id

    def generate(self, requests: Sequence[GenerationRequest]) -> TeacherBatch:
        """Answer every request, from the cache where possible; new answers are cached per batch."""
        started = time.perf_counter()
        engine = self.engine
        teacher = engine.teacher_id
        keys = [[r.cache_key(teacher, i) for i in range(r.sampling.n)] for r in requests]
        cache = ResponseCache(self.warehouse)
        cached = cache.get_many([k for ks in keys for k in ks]) if self.use_cache else {}

        results: list[list[Completion] | None] = [None] * len(requests)
        missing: list[int] = []
        for i, request_keys in enumerate(keys):
            if all(k in cached for k in request_keys):
                results[i] = [cached[k] for k in request_keys]
            else:
                missing.append(i)

        prompt_tokens = completion_tokens = 0
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            answers = engine.generate([requests[i] for i in batch])
            if len(answers) != len(batch):
                raise BackendError(f"{teacher} answered {len(answers)} of {len(batch)} requests")
            fresh = []
            for i, completions in zip(batch, answers):
                if len(completions) != requests[i].sampling.n:
                    raise BackendError(
                        f"{teacher} gave {len(completions)} completions where n={requests[i].sampling.n}"
                    )
                results[i] = completions
                fresh.extend((keys[i][j], j, c) for j, c in enumerate(completions))
                prompt_tokens += completions[0].prompt_tokens if completions else 0
                completion_tokens += sum(c.completion_tokens for c in completions)
            if self.use_cache:
                cache.put_many(teacher, fresh)

        stats = TeacherStats(
            requests=len(requests),
            cache_hits=len(requests) - len(missing),
            cache_misses=len(missing),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=time.perf_counter() - started,
        )
        return TeacherBatch(completions=[r for r in results if r is not None], stats=stats)
