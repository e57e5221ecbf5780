"""Build a teacher backend by name. Heavy engines (torch, transformers, vLLM) are imported only
when their backend is chosen, and then only on first use."""

from __future__ import annotations

from resources.teacher.base import TeacherBackend
from resources.teacher.openai_backend import OpenAIBackend, OpenAIOptions
from resources.teacher.transformers_backend import TransformersBackend, TransformersOptions
from resources.teacher.vllm_backend import VLLMBackend, VLLMOptions

__all__ = ["BACKENDS", "make_backend"]

BACKENDS = ("rules", "vllm", "openai", "transformers")


def make_backend(
    backend: str,
    model: str = "",
    *,
    openai: OpenAIOptions | None = None,
    vllm: VLLMOptions | None = None,
    transformers: TransformersOptions | None = None,
) -> TeacherBackend:
    """The named backend for `model`, configured by its own options (the others are ignored).
    For `rules`, an empty model is the generating rules model (`rule-based-v1`)."""
    if backend == "rules":
        from resources.teacher.rules import RulesBackend

        return RulesBackend(model) if model else RulesBackend()
    if backend == "vllm":
        return VLLMBackend(model, vllm)
    if backend == "openai":
        return OpenAIBackend(model, openai)
    if backend == "transformers":
        return TransformersBackend(model, transformers)
    raise ValueError(f"unknown teacher backend {backend!r}; choose one of {list(BACKENDS)}")
