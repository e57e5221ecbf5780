"""The `vllm` teacher: an in-process `vllm.LLM` on the GPU, the fast default where one is present.

All requests handed to `generate` go to the engine in one batched `LLM.chat` call, with one
`vllm.SamplingParams` per request, so vLLM schedules them together (continuous batching, shared
prefixes reuse KV cache when `enable_prefix_caching` is on). The `n` samples of a request come from
`SamplingParams(n=..., seed=...)`; vLLM seeds its i-th sample with `seed + i`, which is the
project's rule. A `json_schema` becomes structured output (`StructuredOutputsParams(json=...)`, or
`GuidedDecodingParams` on vLLM releases before it).

vLLM is imported lazily and only when this backend is chosen: it needs Linux, a CUDA GPU and
`pip install -e '.[vllm]'`; without them the backend raises `BackendUnavailable` saying so. The
three vLLM names it uses are gathered in `VLLMApi`, and tests pass their own (with an engine object)
to check the mapping from requests to `SamplingParams` and from `RequestOutput` back to results.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from resources.teacher.base import (
    BackendError,
    BackendUnavailable,
    Completion,
    GenerationRequest,
    RequestRejected,
    SamplingParams,
    TeacherBackend,
)

__all__ = [
    "VLLMApi",
    "VLLMBackend",
    "VLLMOptions",
    "engine_kwargs",
    "import_vllm",
    "to_completions",
    "to_sampling_params",
]

INSTALL_HINT = "pip install -e '.[vllm]' on Linux with a CUDA GPU"


class VLLMOptions(dg.Config):
    """How to start the in-process vLLM engine."""

    tensor_parallel_size: int = Field(default=1, description="GPUs the model is sharded over.")
    gpu_memory_utilization: float = Field(default=0.9, description="Fraction of GPU memory vLLM may take (0-1].")
    max_model_len: int = Field(default=0, description="Context length; 0: the model's own.")
    enable_prefix_caching: bool = Field(default=True, description="Reuse KV cache across prompts sharing a prefix.")
    dtype: str = Field(default="auto", description="'auto', 'bfloat16', 'float16' or 'float32'.")
    quantization: str = Field(default="", description="vLLM quantization method (awq, gptq, fp8, ...); empty: none.")
    enforce_eager: bool = Field(default=False, description="Skip CUDA graph capture (starts faster, runs slower).")
    trust_remote_code: bool = Field(default=False, description="Allow model code from the checkpoint to run.")
    chat_template: str = Field(default="", description="Jinja chat template, or a path to one; empty: the tokenizer's.")
    seed: int = Field(default=0, description="Engine seed; each request also carries its own.")

    @field_validator("tensor_parallel_size")
    @classmethod
    def _check_tp(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"VLLMOptions.tensor_parallel_size must be >= 1, got {value}")
        return value

    @field_validator("gpu_memory_utilization")
    @classmethod
    def _check_memory(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(f"VLLMOptions.gpu_memory_utilization must be in (0, 1], got {value}")
        return value

    @field_validator("max_model_len")
    @classmethod
    def _check_len(cls, value: int) -> int:
        if value < 0:
            raise ValueError(f"VLLMOptions.max_model_len must be >= 0 (0: the model's), got {value}")
        return value


@dataclass(frozen=True)
class VLLMApi:
    """The vLLM names this backend calls: `vllm.LLM`, `vllm.SamplingParams` and the structured
    output parameters (`StructuredOutputsParams`, or `GuidedDecodingParams` before vLLM 0.12)."""

    llm: Callable[..., Any]
    sampling_params: Callable[..., Any]
    structured_outputs: Callable[..., Any] | None = None
    guided_decoding: Callable[..., Any] | None = None


def import_vllm() -> VLLMApi:
    try:
        import vllm
        from vllm import sampling_params as vllm_sampling
    except ImportError as exc:
        raise BackendUnavailable(f"the vllm backend needs vLLM, which is not installed: {INSTALL_HINT}") from exc
    return VLLMApi(
        llm=vllm.LLM,
        sampling_params=vllm.SamplingParams,
        structured_outputs=getattr(vllm_sampling, "StructuredOutputsParams", None),
        guided_decoding=getattr(vllm_sampling, "GuidedDecodingParams", None),
    )


def engine_kwargs(model: str, options: VLLMOptions) -> dict[str, Any]:
    """Keyword arguments for `vllm.LLM`; unset optional knobs are left to vLLM's defaults."""
    kwargs: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": options.tensor_parallel_size,
        "gpu_memory_utilization": options.gpu_memory_utilization,
        "enable_prefix_caching": options.enable_prefix_caching,
        "dtype": options.dtype,
        "enforce_eager": options.enforce_eager,
        "trust_remote_code": options.trust_remote_code,
        "seed": options.seed,
    }
    if options.max_model_len:
        kwargs["max_model_len"] = options.max_model_len
    if options.quantization:
        kwargs["quantization"] = options.quantization
    return kwargs


def to_sampling_params(sampling: SamplingParams, api: VLLMApi) -> Any:
    """Our `SamplingParams` as `vllm.SamplingParams`; the stop strings are left out of the text."""
    kwargs: dict[str, Any] = {
        "n": sampling.n,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed,
        "stop": list(sampling.stop) or None,
    }
    if sampling.json_schema is not None:
        try:
            schema = json.loads(sampling.json_schema)
        except json.JSONDecodeError as exc:
            raise RequestRejected("SamplingParams.json_schema is not valid JSON") from exc
        if api.structured_outputs is not None:
            kwargs["structured_outputs"] = api.structured_outputs(json=schema)
        elif api.guided_decoding is not None:
            kwargs["guided_decoding"] = api.guided_decoding(json=schema)
        else:
            raise BackendUnavailable("this vLLM has no structured output parameters; upgrade it")
    return api.sampling_params(**kwargs)


def to_completions(output: Any, n: int) -> list[Completion]:
    """A `vllm.RequestOutput` as `n` completions, in sample order (`CompletionOutput.index`)."""
    samples = sorted(output.outputs, key=lambda sample: sample.index)
    if len(samples) != n:
        raise BackendError(f"vLLM returned {len(samples)} samples where n={n}")
    prompt_tokens = len(output.prompt_token_ids or ())
    return [
        Completion(
            text=sample.text,
            finish_reason=sample.finish_reason or "unknown",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(sample.token_ids),
        )
        for sample in samples
    ]


class VLLMBackend(TeacherBackend):
    """A model served in this process by `vllm.LLM`, started on first use."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        options: VLLMOptions | None = None,
        *,
        api: VLLMApi | None = None,
        engine: Any = None,
    ):
        """`api` and `engine` replace vLLM itself (tests); normally both come from `import_vllm`."""
        if not model:
            raise ValueError("the vllm backend needs a model path or hub id (TeacherResource.model)")
        if api is None and importlib.util.find_spec("vllm") is None:
            raise BackendUnavailable(f"the vllm backend needs vLLM, which is not installed: {INSTALL_HINT}")
        self._model_name = model
        self._options = options or VLLMOptions()
        self._api = api
        self._llm = engine
        self._template = _read_template(self._options.chat_template) or None

    @property
    def model(self) -> str:
        return self._model_name

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        if not requests:
            return []
        llm, api = self._engine()
        chats = [[{"role": m.role, "content": m.content} for m in r.messages] for r in requests]
        params = [to_sampling_params(r.sampling, api) for r in requests]
        try:
            outputs = llm.chat(
                chats,
                sampling_params=params,
                use_tqdm=False,
                chat_template=self._template,
                add_generation_prompt=True,
            )
        except ValueError as exc:  # vLLM's answer to a prompt longer than max_model_len, a bad template, ...
            raise RequestRejected(f"vLLM refused the batch of {len(requests)} requests: {exc}") from exc
        if len(outputs) != len(requests):
            raise BackendError(f"vLLM answered {len(outputs)} of {len(requests)} requests")
        return [to_completions(output, r.sampling.n) for output, r in zip(outputs, requests, strict=True)]

    def close(self) -> None:
        self._llm = None  # vLLM frees the GPU when the engine is garbage-collected

    def _engine(self) -> tuple[Any, VLLMApi]:
        if self._api is None:
            self._api = import_vllm()
        if self._llm is None:
            _require_gpu()
            try:
                self._llm = self._api.llm(**engine_kwargs(self._model_name, self._options))
            except Exception as exc:  # translated at the boundary; the cause stays attached
                raise BackendUnavailable(f"vLLM could not start {self._model_name!r}: {exc}") from exc
        return self._llm, self._api


def _require_gpu() -> None:
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable(f"the vllm backend needs torch with CUDA: {INSTALL_HINT}") from exc
    if not torch.cuda.is_available():
        raise BackendUnavailable(
            "the vllm backend needs a CUDA GPU and none is visible; use the openai or transformers backend here"
        )


def _read_template(value: str) -> str:
    """A chat template given inline or as a path to a file holding it."""
    if value and "{" not in value and Path(value).is_file():
        return Path(value).read_text()
    return value
