"""Self-Instruct (Wang et al. 2022) as a loop: prompt with 8 in-context tasks, parse the teacher's
continuation, filter, and feed kept tasks back as in-context examples for the next step.

A task's `parent_id` is the first human seed shown in its prompt (a Self-Instruct task has eight
inspirations, not one parent; the prompt's seed is in config, so the others can be recomputed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from synth_assets.core.attributes import AttributeSpace, encode
from synth_assets.core.requests import Generate, GenerationRequest, Message, SamplingParams
from synth_assets.core.rouge import NoveltyIndex
from synth_assets.core.rows import derived_row, reject_row
from synth_assets.core.self_instruct import (
    SELF_INSTRUCT_TEMPLATE,
    filter_instructions,
    parse_generated_tasks,
    render_prompt,
    sample_in_context_tasks,
)
from synth_assets.core.templates import load_template

__all__ = ["SelfInstructConfig", "SelfInstructOutcome", "run_self_instruct"]


@dataclass(frozen=True)
class SelfInstructConfig:
    steps: int = 4  # rounds of prompting; kept tasks of one step are in-context examples for the next
    prompts_per_step: int = 8
    seed: int = 0
    temperature: float = 0.7
    max_tokens: int = 512
    rouge_threshold: float = 0.7
    min_words: int = 4
    max_words: int = 150

    def __post_init__(self) -> None:
        if self.steps < 0 or self.prompts_per_step < 1:
            raise ValueError(f"SelfInstructConfig needs steps >= 0 and prompts_per_step >= 1, got {self.steps}, {self.prompts_per_step}")


@dataclass
class SelfInstructOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def run_self_instruct(
    seeds: Sequence[Mapping[str, Any]], generate: Generate, teacher: str, config: SelfInstructConfig,
    attributes: AttributeSpace | None = None,
) -> SelfInstructOutcome:
    """With `attributes`, each prompt is conditioned on a combination drawn for the row it is made
    from (its first seed) and its step and place (`core.attributes`); its tasks hold the combination."""
    outcome = SelfInstructOutcome()
    if len(seeds) < 8:
        return outcome  # the prompt needs 8 human tasks to stand in for missing generated ones
    by_text = {s["instruction"]: s for s in seeds}
    human_tasks = sorted(by_text)
    index = NoveltyIndex(human_tasks)  # new tasks must be novel against the seeds and each other
    version = load_template(SELF_INSTRUCT_TEMPLATE).version
    if attributes:
        version = attributes.template_version(version)
    for step in range(config.steps):
        machine_tasks = [r["instruction"] for r in outcome.rows]
        contexts = [
            sample_in_context_tasks(human_tasks, machine_tasks, f"{config.seed}:{step}:{p}")
            for p in range(config.prompts_per_step)
        ]
        sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed + step)
        parents = [by_text[next(t for t in ctx if t in by_text)] for ctx in contexts]
        combos = [attributes.sample(f"{parent['id']}\x1f{step}\x1f{p}", config.seed) if attributes else None
                  for p, parent in enumerate(parents)]
        answers = generate(
            [
                GenerationRequest((Message("user", (attributes.conditioning(c) if attributes else "") + render_prompt(ctx)),),
                                  sampling, {"kind": "self_instruct", "examples": "\n".join(ctx), "next_number": "9"})
                for ctx, c in zip(contexts, combos, strict=True)
            ]
        )
        for prompt_index, (parent, combo, completions) in enumerate(zip(parents, combos, answers, strict=True)):
            truncated = completions[0].finish_reason == "length"
            tasks = parse_generated_tasks(completions[0].text, truncated=truncated)
            verdicts = filter_instructions(tasks, index, min_words=config.min_words, max_words=config.max_words,
                                           threshold=config.rouge_threshold)
            for position, (task, verdict) in enumerate(zip(tasks, verdicts, strict=True)):
                row = _task_row(parent, task, step + 1, f"{step}:{prompt_index}:{position}", teacher, version)
                row["attributes"] = encode(combo) if combo else None
                if verdict.keep:
                    outcome.rows.append(row)
                else:
                    outcome.rejected.append(reject_row(row, verdict.reason, verdict.detail, score=verdict.score))
    return outcome


def _task_row(parent: Mapping[str, Any], task: str, round_: int, prompt: str, teacher: str, version: str) -> dict[str, Any]:
    # Where it came from (step, prompt, position) is part of the id: the same text twice is two decisions.
    return derived_row(parent, "self_instruct", prompt, task, technique="self_instruct", operation="generate_task",
                       round=round_, teacher=teacher, template_version=version, domain="general",
                       category="self-instruct", instruction=task)
