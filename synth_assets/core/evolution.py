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

from synth_assets.core.attributes import AttributeSpace, encode
from synth_assets.core.elimination import eliminate, next_pool
from synth_assets.core.requests import Generate, GenerationRequest, Message, SamplingParams
from synth_assets.core.rows import derived_row, reject_row
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


def evolve(
    seeds: Sequence[Mapping[str, Any]], generate: Generate, teacher: str, config: EvolutionConfig,
    attributes: AttributeSpace | None = None,
) -> EvolutionOutcome:
    """With `attributes`, each rewrite prompt is conditioned on a combination drawn for its parent
    row and round (`core.attributes`), and the new row holds that combination."""
    pool: dict[str, Mapping[str, Any]] = {row["id"]: row for row in seeds}  # lineage root -> latest
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed)
    for round_ in range(1, config.rounds + 1):
        lineages = list(pool)
        parents = [pool[root] for root in lineages]
        operations = [choose_operation(p["id"], round_, config) for p in parents]
        templates = [load_template(f"evol_{op}") for op in operations]
        combos = [attributes.sample(f"{p['id']}\x1f{round_}", config.seed) if attributes else None for p in parents]

        rewritten = generate(
            [
                _request((attributes.conditioning(c) if attributes else "") + t.render(instruction=p["instruction"]),
                         sampling, kind="evolve", operation=op, instruction=p["instruction"], domain=p["domain"])
                for p, op, t, c in zip(parents, operations, templates, combos, strict=True)
            ]
        )
        children = [answers[0].text.strip() for answers in rewritten]
        responses = generate(
            [_request(child, sampling, kind="respond", **_solve_hints(p, child)) for p, child in zip(parents, children, strict=True)]
        )
        equal_template = load_template("evol_equal")
        judging = SamplingParams(temperature=0, max_tokens=16)
        judgments = generate(
            [
                _request(equal_template.render(first=p["instruction"], second=child), judging,
                         kind="judge_equal", first=p["instruction"], second=child)
                for p, child in zip(parents, children, strict=True)
            ]
        )
        rows = [_evolved_row(p, child, op, round_, teacher, attributes.template_version(t.version) if attributes else t.version)
                | {"attributes": encode(c) if c else None}
                for p, child, op, t, c in zip(parents, children, operations, templates, combos, strict=True)]
        verdicts = [eliminate(child, response[0].text, judgment[0].text)
                    for child, response, judgment in zip(children, responses, judgments, strict=True)]
        for parent, row, verdict in zip(parents, rows, verdicts, strict=True):
            if verdict.keep:
                accepted.append(row)
            else:
                rejected.append(reject_row(row, verdict.reason, verdict.detail, related_id=parent["id"]))
        pool = dict(zip(lineages, next_pool(parents, rows, verdicts), strict=True))
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
    # The round is part of the id: a failed attempt can recur in a later round, and each is a decision.
    row = derived_row(parent, "evol_instruct", operation, str(round_), instruction, technique="evol_instruct",
                      operation=operation, round=round_, teacher=teacher, template_version=version,
                      instruction=instruction)
    # The reference travels with the lineage so the rules teacher can answer later rounds.
    row.update({column: parent.get(column) if keeps else None
                for column in ("response", "entry_point", "tests", "reference_answer")})
    return row
