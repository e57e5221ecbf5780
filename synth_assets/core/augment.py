"""Augmentation operators: new instructions made from a seed pair, each a technique of its own.

- `paraphrase`: the same task in other words;
- `style_transfer` (operation `formal`, `casual` or `technical`): the same task in another register;
- `round_trip_translation` (operation: the language): the task translated to a configured language
  and back, which rewords it the way a translator would;
- `seed_expansion` (operation `expand`): a new question the teacher writes from the seed's
  instruction and its reference answer.

The first three keep the task's contract (its tests, entry point and reference answer travel with
it, so the rewritten task is verified like its seed), and are kept only when they keep its meaning
(`meaning_preserved`: embedding cosine at least `min_similarity`) and change its wording
(`wording_changed`: ROUGE-L F below `max_rouge_l`); a code task must still name its entry point
(`names_entry_point`). A seed expansion is a new task: it carries no tests or reference, stays on
the seed's topic (`on_topic`: cosine at least `expansion_min_similarity`) and is not a copy of it
(`novel_question`: ROUGE-L F below `expansion_max_rouge_l`). One named function per rule, each a
`Verdict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from synth_assets.core.backtranslation import parse_generated_instruction
from synth_assets.core.requests import Generate, GenerationRequest, Message, SamplingParams
from synth_assets.core.rouge import rouge_l_f, tokenize
from synth_assets.core.rows import RejectReason, derived_row, reject_row
from synth_assets.core.templates import load_template
from synth_assets.core.verdict import Verdict

__all__ = [
    "DEFAULT_OPERATIONS",
    "OPERATORS",
    "AugmentConfig",
    "AugmentOutcome",
    "Operator",
    "Similarity",
    "meaning_preserved",
    "names_entry_point",
    "novel_question",
    "on_topic",
    "plan_operations",
    "run_augmentation",
    "wording_changed",
]

# Cosine similarity of each (a, b) pair of texts, in order (the embedder's, or any other).
Similarity = Callable[[Sequence[str], Sequence[str]], Sequence[float]]

# The columns that state a task's contract: they travel with a rewording, never with a new task.
CONTRACT_COLUMNS = ("response", "entry_point", "tests", "reference_answer")


@dataclass(frozen=True)
class Operator:
    name: str  # as listed in `AugmentConfig.operations`
    technique: str  # the row's `technique`
    template: str  # under synth_assets/templates/
    keeps_contract: bool  # a rewording of the same task (True) or a new task (False)


OPERATORS: Mapping[str, Operator] = {
    op.name: op
    for op in (
        Operator("paraphrase", "paraphrase", "augment_paraphrase", True),
        Operator("formal", "style_transfer", "augment_style_transfer", True),
        Operator("casual", "style_transfer", "augment_style_transfer", True),
        Operator("technical", "style_transfer", "augment_style_transfer", True),
        Operator("round_trip", "round_trip_translation", "augment_translate", True),
        Operator("seed_expansion", "seed_expansion", "augment_seed_expansion", False),
    )
}

# What each style asks for, filled into the style-transfer template.
STYLES: Mapping[str, str] = {
    "formal": "formal and polite, as in a letter to a client",
    "casual": "casual and friendly, as in a message to a colleague",
    "technical": "technical and precise, as in a specification",
}


# Every operator by default, one per seed (`per_seed`): rewordings and expansions are cheap, each is
# filtered, and the mix takes one row per seed before a second of any (`core.mixing`), so a seed's
# variants widen the choice without crowding the mix (docs/augmentation.md has the measured effect).
DEFAULT_OPERATIONS: tuple[str, ...] = tuple(OPERATORS)


@dataclass(frozen=True)
class AugmentConfig:
    operations: tuple[str, ...] = DEFAULT_OPERATIONS
    per_seed: int = 1  # operations applied to each seed, drawn from those that apply to it
    language: str = "French"  # round-trip translation goes to this language and back to English
    # Meaning kept: cosine of all-MiniLM-L6-v2 embeddings (resources/embedder.py). On the shipped
    # seeds, the rules teacher's rewordings score 0.48 to 0.99 (99% above 0.63) and its planted
    # unrelated tasks at most 0.39 (docs/augmentation.md).
    min_similarity: float = 0.5
    # Wording changed: ROUGE-L F against the seed below this. A code task's signature and a math
    # task's numbers must stay, so even a good rewording keeps much of the original's wording.
    max_rouge_l: float = 0.85
    expansion_min_similarity: float = 0.3  # a new task on the seed's topic
    expansion_max_rouge_l: float = 0.5  # and not a copy of it
    # Seed expansion writes a task with no tests or reference answer, which only the judge or a
    # vote can then check; by default only general seeds are expanded.
    expand_domains: tuple[str, ...] = ("general",)
    seed: int = 0
    temperature: float = 0.7
    max_tokens: int = 512

    def __post_init__(self) -> None:
        unknown = sorted(set(self.operations) - set(OPERATORS))
        if unknown:
            raise ValueError(f"AugmentConfig.operations: unknown {unknown}; choose from {sorted(OPERATORS)}")
        if self.per_seed < 0:
            raise ValueError(f"AugmentConfig.per_seed must be >= 0, got {self.per_seed}")
        for name in ("min_similarity", "max_rouge_l", "expansion_min_similarity", "expansion_max_rouge_l"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"AugmentConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.language.strip():
            raise ValueError("AugmentConfig.language must name a language")


@dataclass
class AugmentOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    planned: int = 0


# --- the rules, one function each ---------------------------------------------------------------

def _rouge(a: str, b: str) -> float:
    return rouge_l_f(tokenize(a), tokenize(b))


def _below(score: float, limit: float, reason: RejectReason, measure: str, whose: str = "") -> Verdict:
    """Keep when `score` is below `limit`; otherwise reject for `reason`."""
    if score >= limit:
        return Verdict(False, reason, f"{measure} {score:.2f} >= {limit}{whose}", score)
    return Verdict(True, None, f"{measure} {score:.2f} < {limit}", score)


def _at_least(score: float, limit: float, reason: RejectReason, measure: str, whose: str = "") -> Verdict:
    """Keep when `score` is at least `limit`; otherwise reject for `reason`."""
    if score < limit:
        return Verdict(False, reason, f"{measure} {score:.2f} < {limit}{whose}", score)
    return Verdict(True, None, f"{measure} {score:.2f} >= {limit}", score)


def wording_changed(original: str, rewritten: str, max_rouge_l: float) -> Verdict:
    """Keep a rewording whose ROUGE-L F against the original is below `max_rouge_l`."""
    return _below(_rouge(original, rewritten), max_rouge_l, RejectReason.WORDING_UNCHANGED, "ROUGE-L")


def meaning_preserved(similarity: float, min_similarity: float) -> Verdict:
    """Keep a rewording whose embedding cosine with the original is at least `min_similarity`."""
    return _at_least(similarity, min_similarity, RejectReason.MEANING_NOT_PRESERVED, "cosine")


def names_entry_point(rewritten: str, entry_point: str | None) -> Verdict:
    """Keep a rewording of a code task only if it still names the function its tests call."""
    if entry_point and entry_point not in rewritten:
        return Verdict(False, RejectReason.ENTRY_POINT_MISSING, f"{entry_point!r} is not named in the rewording")
    return Verdict(True)


def novel_question(original: str, question: str, max_rouge_l: float) -> Verdict:
    """Keep a new question whose ROUGE-L F against its seed's instruction is below `max_rouge_l`."""
    return _below(_rouge(original, question), max_rouge_l, RejectReason.NOT_NOVEL, "ROUGE-L", " with its seed")


def on_topic(similarity: float, min_similarity: float) -> Verdict:
    """Keep a new question whose embedding cosine with its seed is at least `min_similarity`."""
    return _at_least(similarity, min_similarity, RejectReason.OFF_TOPIC, "cosine", " with its seed")


# --- planning and running -----------------------------------------------------------------------

def _applies(operator: Operator, seed: Mapping[str, Any], config: AugmentConfig) -> bool:
    if operator.keeps_contract:
        return True
    return seed["domain"] in config.expand_domains and bool(seed.get("response"))


def plan_operations(seeds: Sequence[Mapping[str, Any]], config: AugmentConfig) -> list[tuple[Mapping[str, Any], Operator]]:
    """For each seed, `per_seed` of the configured operations that apply to it, drawn by a hash of
    the run's seed, the seed's id and the operation: reproducible, and spread evenly over the seeds."""
    plan = []
    for seed in seeds:
        applicable = [OPERATORS[name] for name in config.operations if _applies(OPERATORS[name], seed, config)]
        applicable.sort(key=lambda op: hashlib.sha256(f"{config.seed}\x1f{seed['id']}\x1f{op.name}".encode()).digest())
        plan += [(seed, op) for op in applicable[: config.per_seed]]
    return plan


def _request(prompt: str, sampling: SamplingParams, **hints: str) -> GenerationRequest:
    return GenerationRequest((Message("user", prompt),), sampling, hints)


def _first_requests(
    plan: Sequence[tuple[Mapping[str, Any], Operator]], config: AugmentConfig, sampling: SamplingParams
) -> list[GenerationRequest]:
    requests = []
    for seed, op in plan:
        template, text, protect = load_template(op.template), seed["instruction"], seed.get("entry_point") or ""
        if op.technique == "style_transfer":
            prompt = template.render(style=STYLES[op.name], instruction=text)
            hints = {"kind": "style_transfer", "style": op.name, "text": text, "protect": protect}
        elif op.name == "round_trip":
            prompt = template.render(language=config.language, text=text)
            hints = {"kind": "translate", "language": config.language, "text": text, "protect": protect}
        elif op.name == "seed_expansion":
            prompt = template.render(instruction=text, response=seed.get("response") or "")
            hints = {"kind": "seed_expansion", "instruction": text, "response": seed.get("response") or ""}
        else:
            prompt = template.render(instruction=text)
            hints = {"kind": "paraphrase", "text": text, "protect": protect}
        requests.append(_request(prompt, sampling, **hints))
    return requests


def run_augmentation(
    seeds: Sequence[Mapping[str, Any]], generate: Generate, similarity: Similarity, teacher: str, config: AugmentConfig
) -> AugmentOutcome:
    """Apply the planned operations to the seeds, then keep what passes every rule of its operator."""
    plan = plan_operations(seeds, config)
    outcome = AugmentOutcome(planned=len(plan))
    if not plan:
        return outcome
    sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed)
    texts = [parse_generated_instruction(answers[0].text) or "" for answers in generate(_first_requests(plan, config, sampling))]
    # Round trip, second leg: the translation back to English.
    back = [i for i, (_, op) in enumerate(plan) if op.name == "round_trip" and texts[i]]
    if back:
        template = load_template("augment_translate")
        answers = generate([_request(template.render(language="English", text=texts[i]), sampling, kind="translate",
                                     language="English", text=texts[i], protect=plan[i][0].get("entry_point") or "")
                            for i in back])
        for i, completions in zip(back, answers, strict=True):
            texts[i] = parse_generated_instruction(completions[0].text) or ""

    rows = [_row(seed, op, text, teacher, config) for (seed, op), text in zip(plan, texts, strict=True)]
    verdicts: list[Verdict | None] = []
    for (seed, op), text in zip(plan, texts, strict=True):
        verdicts.append(_lexical_verdict(seed, op, text, config))
    measured = [i for i, v in enumerate(verdicts) if v is None]
    cosines = similarity([plan[i][0]["instruction"] for i in measured], [texts[i] for i in measured]) if measured else []
    for i, cosine in zip(measured, cosines, strict=True):
        op = plan[i][1]
        verdicts[i] = (meaning_preserved(float(cosine), config.min_similarity) if op.keeps_contract
                       else on_topic(float(cosine), config.expansion_min_similarity))
    for row, verdict in zip(rows, verdicts, strict=True):
        if verdict.keep:
            outcome.rows.append(row)
        else:
            outcome.rejected.append(reject_row(row, verdict.reason, verdict.detail, score=verdict.score))
    return outcome


def _lexical_verdict(seed: Mapping[str, Any], op: Operator, text: str, config: AugmentConfig) -> Verdict | None:
    """The first rule (empty, entry point, wording, novelty) the text fails; None when it passes
    them all and its embedding is to be measured."""
    if not text.strip():
        return Verdict(False, RejectReason.EMPTY_INSTRUCTION, "the teacher's reply held no instruction")
    checks = ((names_entry_point(text, seed.get("entry_point")), wording_changed(seed["instruction"], text, config.max_rouge_l))
              if op.keeps_contract else (novel_question(seed["instruction"], text, config.expansion_max_rouge_l),))
    return next((v for v in checks if not v.keep), None)


def _row(seed: Mapping[str, Any], op: Operator, text: str, teacher: str, config: AugmentConfig) -> dict[str, Any]:
    operation = {"round_trip": config.language.lower(), "seed_expansion": "expand"}.get(op.name, op.name)
    version = load_template(op.template).version
    row = derived_row(seed, "augment", op.technique, operation, text, technique=op.technique, operation=operation,
                      round=1, teacher=teacher, template_version=version, instruction=text)
    row.update({column: seed.get(column) if op.keeps_contract else None for column in CONTRACT_COLUMNS})
    return row
