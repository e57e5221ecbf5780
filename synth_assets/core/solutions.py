"""Rejection sampling: k candidate solutions per instruction, and which verified ones to keep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

from synth_assets.core.requests import Completion, GenerationRequest, Message, SamplingParams
from synth_assets.core.rows import derived_row
from synth_assets.core.templates import load_template

__all__ = ["CandidateConfig", "SelectionConfig", "candidate_rows", "pass_at_k", "select_kept", "solve_requests"]

_SYSTEM_TEMPLATES = {"code": "solve_code_system", "math": "solve_math_system"}
SELECTION_POLICIES = ("best", "all")
# What an answer keeps of its instruction: how the instruction was made, and what its verifier needs.
_INHERITED = ("technique", "operation", "round", "instruction", "entry_point", "tests", "reference_answer",
              "attributes")


@dataclass(frozen=True)
class CandidateConfig:
    k: int = 4
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"CandidateConfig.k must be >= 1, got {self.k}")


@dataclass(frozen=True)
class SelectionConfig:
    policy: str = "best"  # best: one per task (highest judge score, then lowest sample index); all: every pass
    pass_at_k: int = 1

    def __post_init__(self) -> None:
        if self.policy not in SELECTION_POLICIES:
            raise ValueError(f"SelectionConfig.policy must be one of {SELECTION_POLICIES}, got {self.policy!r}")
        if self.pass_at_k < 1:
            raise ValueError(f"SelectionConfig.pass_at_k must be >= 1, got {self.pass_at_k}")


def solve_requests(instructions: Sequence[Mapping[str, Any]], config: CandidateConfig) -> list[GenerationRequest]:
    sampling = SamplingParams(
        temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_tokens, n=config.k, seed=config.seed
    )
    requests = []
    for row in instructions:
        messages = [Message("user", load_template("solve").render(instruction=row["instruction"]))]
        if row["domain"] in _SYSTEM_TEMPLATES:
            messages.insert(0, Message("system", load_template(_SYSTEM_TEMPLATES[row["domain"]]).text))
        hints = {"kind": "solve", "domain": row["domain"], "instruction": row["instruction"], "solution": row.get("response") or ""}
        if row.get("reference_answer"):
            hints["answer"] = str(row["reference_answer"])
        requests.append(GenerationRequest(tuple(messages), sampling, hints))
    return requests


def solve_template_version(domain: str) -> str:
    names = ["solve"] + ([_SYSTEM_TEMPLATES[domain]] if domain in _SYSTEM_TEMPLATES else [])
    return "+".join(load_template(name).version for name in names)


def candidate_rows(
    instructions: Sequence[Mapping[str, Any]], completions: Sequence[Sequence[Completion]], teacher: str
) -> list[dict[str, Any]]:
    """One row per sample: the instruction's provenance, the answer as `response`, the parent the
    instruction. The verifier's needs (tests, reference answer) travel along."""
    rows = []
    versions: dict[str, str] = {}  # one string per domain, shared by every row (millions of them)
    for instruction, samples in zip(instructions, completions, strict=True):
        domain = instruction["domain"]
        if domain not in versions:
            versions[domain] = solve_template_version(domain)
        for index, sample in enumerate(samples):
            rows.append(derived_row(
                instruction, "candidate", str(index), sample.text, inherit=_INHERITED, teacher=teacher,
                template_version=versions[domain], response=sample.text, sample_index=index,
                finish_reason=sample.finish_reason, completion_tokens=sample.completion_tokens,
            ))
    return rows


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if n < 1 or k > n:
        return float("nan")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def select_kept(passed: Sequence[Mapping[str, Any]], policy: str) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Split one task's passing candidates into (kept, passed but a sibling was kept instead)."""
    if policy == "all" or not passed:
        return list(passed), []
    ranked = sorted(passed, key=lambda r: (-(r.get("judge_score") or 0.0), r["sample_index"]))
    return ranked[:1], ranked[1:]
