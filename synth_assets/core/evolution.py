"""Evol-Instruct (Xu et al. 2023): rounds of in-depth and in-breadth evolution with elimination.

Each round, every lineage (a seed and the latest evolution of it that survived) is rewritten once
by one operation. The teacher then answers the new instruction and judges whether it is really
different from its parent; `elimination.eliminate` applies the paper's four failure cases. A failed
evolution is recorded with its reason and its parent stays in the pool for the next round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from synth_assets.core.elimination import eliminate
from synth_assets.core.requests import Generate, GenerationRequest, Message, SamplingParams
from synth_assets.core.schema import derived_generation, row_id
from synth_assets.core.templates import load_template

__all__ = ["IN_BREADTH", "IN_DEPTH", "OPERATIONS", "EvolutionConfig", "EvolutionOutcome", "choose_operation", "evolve"]

IN_DEPTH = ("add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input")
IN_BREADTH = ("breadth",)
OPERATIONS = IN_DEPTH + IN_BREADTH
# In-depth rewrites keep the task's contract (function name, inputs, answer), so the seed's tests
# and reference answer still apply; an in-breadth mutation is a new task and goes to the judge.
KEEPS_CONTRACT = frozenset(IN_DEPTH)


@dataclass(frozen=True)
class EvolutionConfig:
    rounds: int = 3
    seed: int = 0
    temperature: float = 0.7
    max_tokens: int = 512
    operations: tuple[str, ...] = OPERATIONS

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError(f"EvolutionConfig.rounds must be >= 0, got {self.rounds}")
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown or not self.operations:
            raise ValueError(f"EvolutionConfig.operations must be a non-empty subset of {OPERATIONS}, got {self.operations}")


@dataclass(frozen=True)
class EvolutionOutcome:
    rows: list[dict[str, Any]]  # accepted evolutions, all rounds
    rejected: list[dict[str, Any]]  # failed evolutions, with `reason`, `detail`, `related_id` (the parent)


def choose_operation(row_id_: str, round_: int, config: EvolutionConfig) -> str:
    """The operation for a lineage in a round: uniform, fixed by (seed, row id, round)."""
    digest = sha256(f"{config.seed}\x1f{row_id_}\x1f{round_}".encode()).digest()
    return config.operations[int.from_bytes(digest[:4], "big") % len(config.operations)]


def evolve(seeds: Sequence[Mapping[str, Any]], generate: Generate, teacher: str, config: EvolutionConfig) -> EvolutionOutcome:
    pool: dict[str, Mapping[str, Any]] = {row["id"]: row for row in seeds}  # lineage root -> latest
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed)
    for round_ in range(1, config.rounds + 1):
        lineages = list(pool)
        parents = [pool[root] for root in lineages]
        operations = [choose_operation(p["id"], round_, config) for p in parents]
        templates = [load_template(f"evol_{op}") for op in operations]

        rewritten = generate(
            [
                _request(t.render(instruction=p["instruction"]), sampling, kind="evolve", operation=op,
                         instruction=p["instruction"], domain=p["domain"])
                for p, op, t in zip(parents, operations, templates)
            ]
        )
        children = [answers[0].text.strip() for answers in rewritten]
        responses = generate(
            [_request(child, sampling, kind="respond", **_solve_hints(p, child)) for p, child in zip(parents, children)]
        )
        equal_template = load_template("evol_equal")
        judging = SamplingParams(temperature=0, max_tokens=16)
        judgments = generate(
            [
                _request(equal_template.render(first=p["instruction"], second=child), judging,
                         kind="judge_equal", first=p["instruction"], second=child)
                for p, child in zip(parents, children)
            ]
        )
        for root, parent, op, template, child, response, judgment in zip(
            lineages, parents, operations, templates, children, responses, judgments
        ):
            row = _evolved_row(parent, child, op, round_, teacher, template.version)
            verdict = eliminate(child, response[0].text, judgment[0].text)
            if verdict.keep:
                accepted.append(row)
                pool[root] = row
            else:
                rejected.append({**row, "reason": str(verdict.reason), "detail": verdict.detail, "related_id": parent["id"]})
    return EvolutionOutcome(accepted, rejected)


def _request(prompt: str, sampling: SamplingParams, **hints: str) -> GenerationRequest:
    return GenerationRequest((Message("user", prompt),), sampling, hints)


def _solve_hints(parent: Mapping[str, Any], instruction: str) -> dict[str, str]:
    """What the rules teacher needs to answer (ignored by language models)."""
    hints = {"domain": parent["domain"], "instruction": instruction, "solution": parent.get("response") or ""}
    if parent.get("reference_answer"):
        hints["answer"] = str(parent["reference_answer"])
    return hints


def _evolved_row(parent: Mapping[str, Any], instruction: str, operation: str, round_: int, teacher: str, version: str) -> dict[str, Any]:
    keeps = operation in KEEPS_CONTRACT
    return {
        # The round is part of the id: a failed attempt can recur in a later round, and each is a decision.
        "id": row_id("evol_instruct", parent["id"], operation, str(round_), instruction),
        "parent_id": parent["id"],
        "root_id": parent["root_id"],
        "origin": "synthetic",
        "generation": derived_generation(parent),
        "technique": "evol_instruct",
        "operation": operation,
        "round": round_,
        "teacher": teacher,
        "template_version": version,
        "domain": parent["domain"],
        "category": parent["category"],
        "instruction": instruction,
        # The reference travels with the lineage so the rules teacher can answer later rounds.
        "response": parent.get("response") if keeps else None,
        "entry_point": parent.get("entry_point") if keeps else None,
        "tests": parent.get("tests") if keeps else None,
        "reference_answer": parent.get("reference_answer") if keeps else None,
    }
