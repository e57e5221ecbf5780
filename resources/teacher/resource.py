"""The teacher as a Dagster resource: a configured backend behind the shared response cache.

`backend` picks the engine (`rules`, `vllm`, `openai`, `transformers`); each engine's own settings
sit in a nested config block of the same name, so the launchpad shows them grouped. Definitions
build one resource per role (`ROLES`: generation, answering, judging), each from the environment
with `teacher_from_env` (`TEACHER_*`, `ANSWER_*`, `JUDGE_*`); docs/teachers.md lists every field
and variable.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import dagster as dg
from pydantic import PrivateAttr, ValidationError

from resources.teacher.base import BackendError, Completion, GenerationRequest, TeacherBackend
from resources.teacher.cache import ResponseCache
from resources.teacher.factory import BACKENDS, make_backend
from resources.teacher.openai_backend import OpenAIOptions
from resources.teacher.rules import GENERATOR_MODEL as RULES_GENERATOR_MODEL
from resources.teacher.rules import JUDGE_MODEL as RULES_JUDGE_MODEL
from resources.teacher.transformers_backend import TransformersOptions
from resources.teacher.vllm_backend import VLLMOptions
from resources.warehouse import Warehouse
from synth_assets.core.progress import Progress

__all__ = [
    "CHEAP_BATCH_SIZE",
    "ENV_SETTINGS",
    "ENV_VARS",
    "ROLES",
    "ROLE_RESOURCES",
    "AnsweringTeacher",
    "JudgingTeacher",
    "TeacherBatch",
    "TeacherResource",
    "TeacherStats",
    "as_role",
    "role_env_vars",
    "teacher_from_env",
]

# Each role a teacher plays, and the prefix of its environment variables. Generation writes and
# rewrites instructions (evolution with its equality check, Self-Instruct, backtranslation with its
# self-curation); answering writes the k candidate solutions; judging scores the candidates no test
# or reference answer can check.
ROLES: dict[str, str] = {"generation": "TEACHER", "answering": "ANSWER", "judging": "JUDGE"}


# Requests per call to a `cheap` backend (see `TeacherBackend.cheap`), whatever `batch_size` says.
CHEAP_BATCH_SIZE = 16384


@dataclass(frozen=True)
class TeacherStats:
    requests: int
    cache_hits: int  # requests answered without a teacher call (cached, or repeated within the call)
    cache_misses: int  # requests the teacher answered
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
    fixed text rules so the graph runs anywhere); see docs/teachers.md for the real ones.
    """

    backend: str = "rules"
    model: str = ""  # empty: the backend's default (only `rules` has one: rule-judge-v1 for judging)
    batch_size: int = 256  # requests per backend call; each batch is cached as soon as it returns
    use_cache: bool = True
    warehouse: Warehouse
    openai: OpenAIOptions = OpenAIOptions()
    vllm: VLLMOptions = VLLMOptions()
    transformers: TransformersOptions = TransformersOptions()

    # What this teacher is asked to do (one of ROLES). A class attribute, not config: a launchpad
    # config replaces a resource's whole config, and must not turn a judge into a generator.
    role: ClassVar[str] = "generation"

    _backend: TeacherBackend | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._backend = self._build()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    @property
    def engine(self) -> TeacherBackend:
        if self._backend is None:  # used outside a Dagster run, e.g. from a script
            self._backend = self._build()
        return self._backend

    @property
    def teacher_id(self) -> str:
        return self.engine.teacher_id

    @property
    def uses_gpu(self) -> bool:
        """Whether steps using this teacher belong in the GPU concurrency pool: `vllm` always,
        `transformers` on a CUDA device (with device `auto`, when CUDA is visible here)."""
        if self.backend == "vllm":
            return True
        if self.backend == "transformers":
            device = self.transformers.device
            return device.startswith("cuda") or (device == "auto" and _cuda_visible())
        return False

    def describe(self) -> str:
        if self.backend == "rules":
            return f"{self.teacher_id} (offline rule-based stand-in, NOT a language model)"
        return self.teacher_id

    def generate(self, requests: Sequence[GenerationRequest]) -> TeacherBatch:
        """Answer every request, from the cache where possible; new answers are cached per batch.

        Each batch is written (and committed) to the warehouse as soon as the backend returns it,
        so a run killed mid-stage loses at most the batch in flight. Requests with the same cache
        key are asked once. A `cheap` backend (the offline `rules` teacher) is asked in batches
        of at least `CHEAP_BATCH_SIZE` and its answers are written once, at the end of the call:
        each write reopens the warehouse and checkpoints the cache's key index, which costs time
        in proportion to the whole cache, so a write per small batch made large stages quadratic.
        """
        started = time.perf_counter()
        engine = self.engine
        teacher = engine.teacher_id
        cheap = bool(getattr(engine, "cheap", False))
        keys = [r.cache_keys(teacher) for r in requests]
        cache = ResponseCache(self.warehouse)
        cached = cache.get_many([k for ks in keys for k in ks]) if self.use_cache else {}

        answers: dict[tuple[str, ...], list[Completion]] = {}
        missing: list[int] = []  # the first request of each uncached key tuple
        seen: set[tuple[str, ...]] = set()
        for i, request_keys in enumerate(keys):
            if request_keys in seen:
                continue
            seen.add(request_keys)
            if all(k in cached for k in request_keys):
                answers[request_keys] = [cached[k] for k in request_keys]
            else:
                missing.append(i)
        del cached, seen

        log = dg.get_dagster_logger()
        if missing:  # the start of the clock for the time left that `synth run` shows
            log.info(f"{teacher}: {len(missing)} uncached requests to answer ({len(requests) - len(missing)} cached)",
                     extra=Progress("teacher calls", 0, len(missing)).log_extra())
        prompt_tokens = completion_tokens = 0
        batch_size = max(self.batch_size, CHEAP_BATCH_SIZE) if cheap else self.batch_size
        pending: list[tuple[str, int, Completion]] = []  # a cheap backend's answers, written at the end
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            batch_started = time.perf_counter()
            fresh_answers = engine.generate([requests[i] for i in batch])
            if len(fresh_answers) != len(batch):
                raise BackendError(f"{teacher} answered {len(fresh_answers)} of {len(batch)} requests")
            fresh = pending if cheap and self.use_cache else []
            for i, completions in zip(batch, fresh_answers, strict=True):
                if len(completions) != requests[i].sampling.n:
                    raise BackendError(
                        f"{teacher} gave {len(completions)} completions where n={requests[i].sampling.n}"
                    )
                answers[keys[i]] = completions
                fresh.extend((keys[i][j], j, c) for j, c in enumerate(completions))
                prompt_tokens += completions[0].prompt_tokens
                completion_tokens += sum(c.completion_tokens for c in completions)
            if self.use_cache and not cheap:
                cache.put_many(teacher, fresh)
            log.info(
                f"{teacher}: {start + len(batch)}/{len(missing)} uncached requests answered "
                f"({time.perf_counter() - batch_started:.1f}s for this batch)",
                extra=Progress("teacher calls", start + len(batch), len(missing)).log_extra(),
            )
        if self.use_cache and pending:
            cache.put_many(teacher, pending)
        del pending

        stats = TeacherStats(
            requests=len(requests),
            cache_hits=len(requests) - len(missing),
            cache_misses=len(missing),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            seconds=time.perf_counter() - started,
        )
        return TeacherBatch(completions=[answers[k] for k in keys], stats=stats)

    @property
    def model_id(self) -> str:
        """`backend:model` as rows record it (`teacher_id`), without starting the backend."""
        return f"{self.backend}:{self._model_or_default()}"

    def _model_or_default(self) -> str:
        if self.model or self.backend != "rules":
            return self.model
        # The offline default gives the judging role its own rules model, so the offline graph's
        # judge is not its generator (no self-preference), as a real deployment's should not be.
        return RULES_JUDGE_MODEL if self.role == "judging" else RULES_GENERATOR_MODEL

    def _build(self) -> TeacherBackend:
        if self.backend not in BACKENDS:
            raise ValueError(f"TeacherResource.backend must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.batch_size < 1:
            raise ValueError(f"TeacherResource.batch_size must be >= 1, got {self.batch_size}")
        return make_backend(
            self.backend,
            self._model_or_default(),
            openai=self.openai,
            vllm=self.vllm,
            transformers=self.transformers,
        )


def _cuda_visible() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


class AnsweringTeacher(TeacherResource):
    """The teacher that writes the candidate solutions (`candidate_solutions`)."""

    role: ClassVar[str] = "answering"


class JudgingTeacher(TeacherResource):
    """The judge of answers no test or reference can check (`verified_solutions`). With the `rules`
    backend and no model set it is the rules judge model, `rule-judge-v1`."""

    role: ClassVar[str] = "judging"


ROLE_RESOURCES: dict[str, type[TeacherResource]] = {
    "generation": TeacherResource, "answering": AnsweringTeacher, "judging": JudgingTeacher,
}


def as_role(teacher: TeacherResource, role: str) -> TeacherResource:
    """`teacher`'s settings for another role. A `rules` teacher with no model set becomes that
    role's rules model (the judge's is `rule-judge-v1`), as with `teacher_from_env`."""
    fields = {name: getattr(teacher, name) for name in TeacherResource.model_fields}
    return ROLE_RESOURCES[role](**fields)


# Environment setting (after the role's prefix: TEACHER_, ANSWER_, JUDGE_) -> (config block, or ""
# for a top-level field, and the field names in that block). Declared once for every role.
ENV_SETTINGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "BACKEND": ("", ("backend",)),
    "MODEL": ("", ("model",)),
    "BATCH_SIZE": ("", ("batch_size",)),
    "USE_CACHE": ("", ("use_cache",)),
    "BASE_URL": ("openai", ("base_urls",)),
    "API_KEY_ENV": ("openai", ("api_key_env",)),
    "MAX_CONCURRENCY": ("openai", ("max_concurrency",)),
    "TIMEOUT_S": ("openai", ("timeout_s",)),
    "MAX_RETRIES": ("openai", ("max_retries",)),
    "DEADLINE_S": ("openai", ("deadline_s",)),
    "SEND_N": ("openai", ("send_n",)),
    "TENSOR_PARALLEL_SIZE": ("vllm", ("tensor_parallel_size",)),
    "GPU_MEMORY_UTILIZATION": ("vllm", ("gpu_memory_utilization",)),
    "MAX_MODEL_LEN": ("vllm", ("max_model_len",)),
    "ENABLE_PREFIX_CACHING": ("vllm", ("enable_prefix_caching",)),
    "QUANTIZATION": ("vllm", ("quantization",)),
    "ENFORCE_EAGER": ("vllm", ("enforce_eager",)),
    "DEVICE": ("transformers", ("device",)),
    "MAX_BATCH_SIZE": ("transformers", ("max_batch_size",)),
    # shared by the two local engines
    "DTYPE": ("vllm+transformers", ("dtype",)),
    "CHAT_TEMPLATE": ("vllm+transformers", ("chat_template",)),
    "TRUST_REMOTE_CODE": ("vllm+transformers", ("trust_remote_code",)),
}


def role_env_vars(role: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The environment variables of one role (`TEACHER_BACKEND`, `JUDGE_MODEL`, ...), as ENV_SETTINGS."""
    if role not in ROLES:
        raise ValueError(f"teacher role must be one of {list(ROLES)}, got {role!r}")
    return {f"{ROLES[role]}_{setting}": spec for setting, spec in ENV_SETTINGS.items()}


# The generating teacher's variables, which the other roles fall back to.
ENV_VARS = role_env_vars("generation")

_OPTION_CLASSES: dict[str, type[dg.Config]] = {
    "openai": OpenAIOptions,
    "vllm": VLLMOptions,
    "transformers": TransformersOptions,
}


def teacher_from_env(
    warehouse: Warehouse, environ: Mapping[str, str] | None = None, role: str = "generation"
) -> TeacherResource:
    """The `role`'s `TeacherResource`, configured from its variables (`TEACHER_*` for generation,
    `ANSWER_*` for answering, `JUDGE_*` for judging), read when called (not at import).

    A role other than generation with none of its own variables set shares the generator's
    (`TEACHER_*`): one teacher for everything, as before roles existed, except that the offline
    default's judge is the rules judge model (`rule-judge-v1`), not the generator. Once any of a
    role's variables is set, that role reads its own variables only (unset ones keep the field
    defaults), so a judge never mixes its settings with the generator's.

    Unset variables keep the field defaults, so with none set this is the offline `rules` teacher.
    `*_BASE_URL` takes a comma-separated list. The API key itself is never read here: only the name
    of the variable holding it (`*_API_KEY_ENV`), read by the backend at run time.
    """
    env = os.environ if environ is None else environ
    source = role if any(env.get(var, "").strip() for var in role_env_vars(role)) else "generation"
    variables, prefix = role_env_vars(source), ROLES[source]
    top: dict[str, Any] = {}
    blocks: dict[str, dict[str, Any]] = {name: {} for name in _OPTION_CLASSES}
    for var, (block, fields) in variables.items():
        raw = env.get(var, "").strip()
        if not raw:
            continue
        value: Any = [url.strip() for url in raw.split(",") if url.strip()] if var.endswith("_BASE_URL") else raw
        for name in block.split("+") if block else [""]:
            target = blocks[name] if name else top
            target.update(dict.fromkeys(fields, value))
    backend = top.get("backend", "rules")
    if backend not in BACKENDS:
        raise ValueError(f"{prefix}_BACKEND must be one of {list(BACKENDS)}, got {backend!r}")
    options: dict[str, dg.Config] = {}
    for name, values in blocks.items():
        try:
            options[name] = _OPTION_CLASSES[name](**values)
        except ValidationError as exc:
            raise ValueError(f"invalid {prefix}_* setting for the {name} backend: {_env_names(exc, variables)}") from exc
    try:
        return ROLE_RESOURCES[role](warehouse=warehouse, **top, **options)
    except ValidationError as exc:
        raise ValueError(f"invalid {prefix}_* setting: {_env_names(exc, variables)}") from exc


def _env_names(exc: ValidationError, variables: Mapping[str, tuple[str, tuple[str, ...]]]) -> str:
    """A validation error restated with the environment variable names a user set."""
    field_to_var = {field: var for var, (_, fields) in variables.items() for field in fields}
    parts = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        parts.append(f"{field_to_var.get(field, field)}: {error['msg']}")
    return "; ".join(parts)
