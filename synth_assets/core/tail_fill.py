"""Tail filling: measure each (domain, category)'s share of the synthetic corpus against its
target, and generate more rows for the categories under it, until they reach it or the budget ends.

- Targets: the share of each (domain, category) among the seeds (every seed file together), or the
  shares `TailFillConfig.targets` names (`"domain/category": share`, normalised to sum to 1).
- Measured: the synthetic rows of the deduplicated corpus in a target category (human rows are the
  human part of the mix and are not generated; rows of other categories, such as Self-Instruct's,
  are not in the population). A category is under target when its share is below `tolerance`
  times its target share, or when it has fewer than `min_rows` rows (the `tail_coverage` gate's
  minimum, the default). It then needs the rows that bring its share up to the target.
- A round: for each category under target, thinnest first, `oversample` instructions per missing
  row, each a rewrite of one of the category's seeds (taken in turn) by an edge-case or rare-scenario
  operation (`templates/tail_<operation>.txt`, chosen by a hash of the seed, the round and the
  instruction's number). The rewrites keep the task's contract (function, inputs, answer), so the
  seed's tests and reference answer still apply. Each is answered k times and verified exactly as
  every other candidate (`solutions.solve_requests`, `verify.run.verify_candidates`), then held to
  the corpus's row limit (`curation.unfit_for_corpus`) and deduplicated and decontaminated against
  the corpus and the rows filled before it (`curation.curate_corpus` with `existing`). Coverage is
  measured again, and the next round fills what is still missing.
- Teachers: the graph's three roles (`TailTeachers`): the generator rewrites, the answerer answers,
  the judge verifies, as in the stages the rows would otherwise come from.
- Budget: at most `max_teacher_calls` completions over all rounds and roles. A round plans only the
  instructions whose worst case (one rewrite, k answers, and where a judge verifies k judge calls
  and a retry of each) fits in what is left, so the budget is never overrun.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from synth_assets.core.curation import CurationConfig, curate_corpus, unfit_for_corpus
from synth_assets.core.dedup import BenchmarkIndex, normalize_text, survivor_sort_key
from synth_assets.core.requests import Completion, Generate, GenerationRequest, Message, SamplingParams
from synth_assets.core.rows import RejectReason, derived_row, reject_row
from synth_assets.core.seed_coverage import TAIL_MIN_ROWS
from synth_assets.core.solutions import CandidateConfig, candidate_rows, solve_requests
from synth_assets.core.templates import load_template
from synth_assets.core.verify.run import RunCode, VerificationConfig, verify_candidates

__all__ = [
    "TAIL_OPERATIONS",
    "TECHNIQUE",
    "BudgetExceeded",
    "CategoryCoverage",
    "TailFillConfig",
    "TailFillOutcome",
    "TailTeachers",
    "TeacherBudget",
    "choose_tail_operation",
    "coverage_table",
    "fill_tails",
    "measure_coverage",
    "parse_target_key",
    "target_shares",
]

TECHNIQUE = "tail_fill"
TAIL_OPERATIONS = ("edge_case", "rare_scenario")
# The columns a rewrite keeps from its seed: what the seed's verifier needs, and the seed's answer
# (the rules teacher answers from it; a language model never sees it).
_CONTRACT = ("response", "entry_point", "tests", "reference_answer")

Key = tuple[str, str]
Embed = Callable[[list[str]], Any]


@dataclass(frozen=True)
class TailFillConfig:
    rounds: int = 2  # generate, verify, dedup, re-measure: at most this many times
    max_teacher_calls: int = 2_000  # completions over all rounds (rewrites, answers, judge calls)
    # Under target: a share below tolerance x the target share. A tail is a category that eroded, not
    # a mild imbalance: filled rows are rewrites of few seeds, and at 0.8 the rules teacher's copies
    # of the seeds' answers cost the demo's relative_diversity gate more than they added.
    tolerance: float = 0.5
    min_rows: int = TAIL_MIN_ROWS  # under target too: fewer rows than this (tail_coverage's minimum)
    # "domain/category" -> share of the synthetic rows; empty: each category's share of the seeds
    targets: dict[str, float] = field(default_factory=dict)
    oversample: float = 2.0  # instructions per missing row: some fail verification or dedup
    operations: tuple[str, ...] = TAIL_OPERATIONS
    seed: int = 0
    temperature: float = 0.9
    max_tokens: int = 512
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    verification: VerificationConfig = field(default_factory=VerificationConfig)

    def __post_init__(self) -> None:
        if self.rounds < 0:
            raise ValueError(f"TailFillConfig.rounds must be >= 0, got {self.rounds}")
        if self.max_teacher_calls < 0:
            raise ValueError(f"TailFillConfig.max_teacher_calls must be >= 0, got {self.max_teacher_calls}")
        if not 0 < self.tolerance <= 1:
            raise ValueError(f"TailFillConfig.tolerance must be in (0, 1], got {self.tolerance}")
        if self.min_rows < 0:
            raise ValueError(f"TailFillConfig.min_rows must be >= 0, got {self.min_rows}")
        if self.oversample < 1:
            raise ValueError(f"TailFillConfig.oversample must be >= 1, got {self.oversample}")
        unknown = set(self.operations) - set(TAIL_OPERATIONS)
        if unknown or not self.operations:
            raise ValueError(f"TailFillConfig.operations must be a non-empty subset of {TAIL_OPERATIONS}, "
                             f"got {self.operations}")
        for key, share in self.targets.items():
            parse_target_key(key)
            if isinstance(share, bool) or not isinstance(share, int | float) or not math.isfinite(share) or share <= 0:
                raise ValueError(f"TailFillConfig.targets[{key!r}] must be a positive number, got {share!r}")


def parse_target_key(key: str) -> Key:
    """`"domain/category"` as (domain, category); anything else is an error naming the key."""
    domain, sep, category = key.partition("/")
    if not sep or not domain.strip() or not category.strip() or "/" in category:
        raise ValueError(f"TailFillConfig.targets key {key!r} must be 'domain/category', e.g. 'code/strings'")
    return domain.strip(), category.strip()


def target_shares(seed_counts: Mapping[Key, int], targets: Mapping[str, float] | None = None) -> dict[Key, float]:
    """Each target category's share: the configured `targets` normalised to sum to 1, or else each
    category's share of the seeds."""
    if targets:
        parsed = {parse_target_key(key): float(share) for key, share in targets.items()}
    else:
        parsed = {key: float(count) for key, count in seed_counts.items() if count > 0}
    total = sum(parsed.values())
    return {key: share / total for key, share in sorted(parsed.items())} if total else {}


@dataclass(frozen=True)
class CategoryCoverage:
    """One target category, measured: its rows and share, its target share, and the rows it needs."""

    domain: str
    category: str
    rows: int
    share: float  # of the synthetic rows in target categories
    target_share: float
    needed: int  # rows that bring it to its target (and to min_rows); its rows when it is not under
    under: bool

    @property
    def key(self) -> Key:
        return self.domain, self.category

    @property
    def missing(self) -> int:
        return max(0, self.needed - self.rows)


def measure_coverage(
    counts: Mapping[Key, int], shares: Mapping[Key, float], *, tolerance: float, min_rows: int
) -> list[CategoryCoverage]:
    """Each target category's coverage, in (domain, category) order. `counts` are rows per category
    (categories without a target are ignored). The rows a category needs for its target share t,
    the others staying as they are: n' = t (N - n) / (1 - t)."""
    population = sum(counts.get(key, 0) for key in shares)
    measured = []
    for key, target in sorted(shares.items()):
        rows = int(counts.get(key, 0))
        share = rows / population if population else 0.0
        at_target = rows if target >= 1 else math.ceil(target * (population - rows) / (1 - target) - 1e-9)
        under = rows < min_rows or share < tolerance * target
        needed = max(min_rows, at_target, rows) if under else rows
        measured.append(CategoryCoverage(key[0], key[1], rows, share, target, needed, under))
    return measured


def coverage_table(before: Sequence[CategoryCoverage], after: Sequence[CategoryCoverage]) -> str:
    """Coverage before and after filling, per category, as a markdown table (under target first)."""
    if not before:
        return "No target categories."
    after_by_key = {c.key: c for c in after}
    lines = ["| domain | category | target share | rows before | share before | rows after | share after | "
             "still under |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in sorted(before, key=lambda c: (not c.under, c.key)):
        a = after_by_key.get(c.key, c)
        lines.append(f"| {c.domain} | {c.category} | {c.target_share:.3f} | {c.rows} | {c.share:.3f} | {a.rows} | "
                     f"{a.share:.3f} | {'yes' if a.under else 'no'} |")
    return "\n".join(lines)


class BudgetExceeded(RuntimeError):
    """A stage asked for more completions than its budget: a planning error, never a partial answer."""


class TeacherBudget:
    """One budget of completions shared by several teachers: `limit(generate)` is a `Generate` that
    counts what it asks for and refuses a call that would exceed what is left."""

    def __init__(self, max_calls: int):
        self.max_calls = max_calls
        self.used = 0

    @property
    def remaining(self) -> int:
        return self.max_calls - self.used

    def limit(self, generate: Generate) -> Generate:
        def limited(requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
            cost = sum(request.sampling.n for request in requests)
            if cost > self.remaining:
                raise BudgetExceeded(f"{cost} completions asked with {self.remaining} of {self.max_calls} left")
            self.used += cost
            return generate(requests)
        return limited


@dataclass(frozen=True)
class TailTeachers:
    """The teacher of each role, and the `backend:model` its rows record."""

    generate: Generate  # writes the rewrites
    answer: Generate  # answers them
    judge: Generate  # verifies the answers no test or reference checks
    generator_id: str
    answerer_id: str
    judge_id: str


@dataclass
class TailFillOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)  # verified, deduplicated: they join the corpus
    instructions: list[dict[str, Any]] = field(default_factory=list)  # every rewrite that was answered
    rejected: list[dict[str, Any]] = field(default_factory=list)  # rewrites, candidates, duplicates, with reasons
    before: list[CategoryCoverage] = field(default_factory=list)
    after: list[CategoryCoverage] = field(default_factory=list)
    rounds_run: int = 0
    teacher_calls: int = 0
    verdicts: Counter = field(default_factory=Counter)  # (verifier, passed/reason), as verified_solutions counts
    without_seeds: list[Key] = field(default_factory=list)  # under target, but no seed to rewrite


def choose_tail_operation(seed_id: str, round_: int, number: int, config: TailFillConfig) -> str:
    """The operation for the `number`-th instruction made from a seed in a round: fixed by a hash."""
    digest = hashlib.sha256(f"{config.seed}\x1f{seed_id}\x1f{round_}\x1f{number}".encode()).digest()
    return config.operations[int.from_bytes(digest[:4], "big") % len(config.operations)]


def _key(row: Mapping[str, Any]) -> Key:
    return str(row["domain"]), str(row["category"])


def _worst_cost(seed: Mapping[str, Any], k: int) -> int:
    """Completions one instruction can cost: the rewrite, k answers, and where a judge verifies (code
    without tests, general; math is checked against its answer or by vote) k judge calls and a
    retry of each (`verify.run`: a reply that does not validate is asked once more)."""
    judged = not ((seed["domain"] == "code" and seed.get("tests")) or seed["domain"] == "math")
    return 1 + k + (2 * k if judged else 0)


def _plan(
    coverage: Sequence[CategoryCoverage], seeds: Mapping[Key, list[Mapping[str, Any]]], budget: int,
    config: TailFillConfig,
) -> tuple[list[tuple[Mapping[str, Any], int]], list[Key]]:
    """(seed, number) of each instruction to make this round, thinnest category first, within
    `budget`; and the categories under target that have no seed."""
    planned, without = [], []
    under = sorted((c for c in coverage if c.under and c.missing),
                   key=lambda c: (c.share / c.target_share if c.target_share else 0.0, c.key))
    for category in under:
        pool = seeds.get(category.key, [])
        if not pool:
            without.append(category.key)
            continue
        for number in range(math.ceil(category.missing * config.oversample)):
            seed = pool[number % len(pool)]
            cost = _worst_cost(seed, config.candidates.k)
            if cost > budget:
                return planned, without
            budget -= cost
            planned.append((seed, number))
    return planned, without


def _rewrite(
    planned: Sequence[tuple[Mapping[str, Any], int]], round_: int, generate: Generate, teacher: str,
    config: TailFillConfig,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The planned rewrites as instruction rows, and the rewrites that are no new task, as rejects."""
    requests, made = [], []
    for seed, number in planned:
        operation = choose_tail_operation(seed["id"], round_, number, config)
        template = load_template(f"tail_{operation}")
        # A sampling seed per instruction: the same seed rewritten twice must not hit the cache twice.
        sampling_seed = int.from_bytes(hashlib.sha256(f"{config.seed}:{round_}:{number}".encode()).digest()[:4], "big")
        sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=sampling_seed)
        prompt = template.render(instruction=seed["instruction"], domain=seed["domain"], category=seed["category"])
        requests.append(GenerationRequest((Message("user", prompt),), sampling, {
            "kind": "tail_fill", "operation": operation, "instruction": seed["instruction"],
            "domain": seed["domain"], "category": seed["category"]}))
        made.append((seed, number, operation, template.version))
    instructions, rejected = [], []
    for (seed, number, operation, version), answers in zip(made, generate(requests), strict=True):
        text = answers[0].text.strip()
        row = derived_row(seed, TECHNIQUE, operation, str(round_), str(number), text, technique=TECHNIQUE,
                          operation=operation, round=round_, teacher=teacher, template_version=version,
                          instruction=text, seed_batch=seed.get("seed_batch"))
        row.update({column: seed.get(column) for column in _CONTRACT})
        if not text:
            rejected.append(reject_row(row, RejectReason.EMPTY_INSTRUCTION, "the teacher's rewrite is empty",
                                       related_id=seed["id"]))
        elif normalize_text(text) == normalize_text(seed["instruction"]):
            rejected.append(reject_row(row, RejectReason.NO_INFORMATION_GAIN, "the rewrite is the seed's task unchanged",
                                       related_id=seed["id"]))
        else:
            instructions.append(row)
    return instructions, rejected


def _exact_duplicates(rows: Sequence[Mapping[str, Any]], existing: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """New row id -> the id of the row with the same normalised instruction, kept instead: a row of
    `existing`, or an earlier new row in survivor order (as the corpus's SQL step decides)."""
    seen: dict[str, str] = {}
    for row in existing:
        text = normalize_text(row.get("instruction") or "")
        if text:
            seen.setdefault(text, row["id"])
    found = {}
    for row in sorted(rows, key=survivor_sort_key):
        text = normalize_text(row.get("instruction") or "")
        if not text:
            continue
        if text in seen:
            found[row["id"]] = seen[text]
        else:
            seen[text] = row["id"]
    return found


def fill_tails(
    corpus: Sequence[Mapping[str, Any]],
    seeds: Sequence[Mapping[str, Any]],
    teachers: TailTeachers,
    run_code: RunCode,
    config: TailFillConfig,
    *,
    curation: CurationConfig,
    max_text_chars: int,
    benchmark: BenchmarkIndex | None = None,
    embed: Embed | None = None,
) -> TailFillOutcome:
    """Fill the categories of `corpus` (the deduplicated corpus) that are under target, from `seeds`
    (the seed rows of every batch), in rounds (module docstring). `curation` is the dedup the
    corpus was built with; `benchmark` and `embed` as `curate_corpus` takes them."""
    outcome = TailFillOutcome()
    shares = target_shares(Counter(_key(s) for s in seeds), config.targets)
    counts = Counter(_key(r) for r in corpus if r["origin"] == "synthetic")
    seeds_by_key: dict[Key, list[Mapping[str, Any]]] = defaultdict(list)
    for seed in sorted(seeds, key=lambda s: s["id"]):
        seeds_by_key[_key(seed)].append(seed)
    budget = TeacherBudget(config.max_teacher_calls)
    generate, answer, judge = (budget.limit(g) for g in (teachers.generate, teachers.answer, teachers.judge))
    existing: list[Mapping[str, Any]] = list(corpus)

    def measure() -> list[CategoryCoverage]:
        return measure_coverage(counts, shares, tolerance=config.tolerance, min_rows=config.min_rows)

    outcome.before = measure()
    coverage = outcome.before
    for round_ in range(1, config.rounds + 1):
        planned, without = _plan(coverage, seeds_by_key, budget.remaining, config)
        outcome.without_seeds = without
        if not planned:
            break
        outcome.rounds_run = round_
        instructions, rejected = _rewrite(planned, round_, generate, teachers.generator_id, config)
        outcome.instructions += instructions
        outcome.rejected += rejected
        candidates = candidate_rows(instructions, answer(solve_requests(instructions, config.candidates)),
                                    teachers.answerer_id)
        verified = verify_candidates(candidates, run_code, judge, config.verification, judge_model=teachers.judge_id)
        outcome.verdicts.update(verified.verdicts)
        unfit = unfit_for_corpus(verified.kept, max_text_chars)
        unfit_ids = {row["id"] for row in unfit}
        fit = [row for row in verified.kept if row["id"] not in unfit_ids]
        curated = curate_corpus(fit, curation, _exact_duplicates(fit, existing), benchmark, embed, existing=existing)
        batches = {row["id"]: row.get("seed_batch") for row in instructions}
        for row in curated.kept:  # an answer belongs to its instruction's seed batch
            row["seed_batch"] = batches[row["parent_id"]]
        outcome.rejected += [*verified.rejected, *unfit, *curated.removed]
        outcome.rows += curated.kept
        existing += curated.kept
        counts.update(_key(row) for row in curated.kept)
        coverage = measure()
    outcome.after = coverage
    outcome.teacher_calls = budget.used
    return outcome
