"""The dataset card: a Hugging Face `README.md` for the exported training set, and the funnel chart.

Pure rendering: `render_card(CardFacts)` turns facts the asset gathered (the exported rows, each
stage's settings and what its filters removed, the review outcome) into the card text, with the
YAML header the Hub reads (license, task_categories, language, size_categories, configs pointing
at the Parquet file). `funnel_png` draws rows through the stages with the drop reasons, and
`diversity_png` the diversity of each stage's instructions.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from synth_assets.core.metrics import compression_ratio, distinct_ns

__all__ = [
    "STAGE_RULES",
    "CardConfig",
    "CardFacts",
    "FunnelStage",
    "GateFact",
    "JudgeFact",
    "JudgeFilterFacts",
    "ReviewFacts",
    "StageDiversity",
    "StageFilter",
    "card_header",
    "diversity_png",
    "diversity_rows",
    "funnel_png",
    "funnel_segments",
    "provenance_rows",
    "render_card",
    "size_category",
    "stage_diversity",
]

# What each stage keeps, in one line; the settings named in backticks are in the stage's table.
STAGE_RULES: Mapping[str, str] = {
    "seeds": "reads data/seeds/*.jsonl; a line with bad JSON or UTF-8, a missing, mistyped or over-long field, "
    "code that does not compile or a math answer the checker cannot parse is quarantined with every problem",
    "human_reference": "reads data/human/*.jsonl; a line with bad JSON or UTF-8 or a missing, mistyped or "
    "over-long field is quarantined with every problem",
    "evolved_instructions": "Evol-Instruct: each lineage rewritten once per round (`rounds`); a failed "
    "evolution is eliminated by the paper's four rules and its parent stays in the pool",
    "self_instruct_tasks": "Self-Instruct: 4-150 words, no banned keyword or bad start, ROUGE-L against the "
    "pool at most `rouge_threshold`",
    "backtranslated_pairs": "instruction backtranslation: the teacher's 1-5 self-curation score must be at "
    "least `threshold`; segments of `min_words` to `max_words` words",
    "augmented_instructions": "paraphrase, style transfer, round-trip translation through `language`: embedding "
    "cosine with the seed at least `min_similarity`, ROUGE-L below `max_rouge_l`, a code task's entry point kept; "
    "seed expansion: cosine at least `expansion_min_similarity`, ROUGE-L below `expansion_max_rouge_l`",
    "document_qa_pairs": "questions, edge-case questions and 4-option multiple-choice items from each document "
    "segment: the answer's n-gram overlap with the segment at least `min_grounding`; exactly one option matches "
    "the answer and the distractors are distinct",
    "candidate_solutions": "`k` answers per instruction at `temperature`",
    "verified_solutions": "code: the task's unit tests in a sandbox; math: the final answer against the "
    "reference or the majority; general: the rubric judge's score (the mean of five 1-5 aspects, on 1-10) at least "
    "`judge_threshold` (or the domain's threshold calibrated on review decisions, see below), a reply that is not "
    "valid JSON after one retry dropped as `judge_unparseable`; `selection.policy` best keeps one per task; then "
    "each (domain, category) keeps its best `keep_top_fraction`",
    "correction_pairs": "error-and-correction pairs: a failed candidate, the verifier's message and a passing "
    "answer of the same task; in the corpus only with `include_corrections`",
    "deduplicated_corpus": "rows with an empty or over-long instruction or response, then exact duplicates "
    "of the normalised text, MinHash near-duplicates (Jaccard at least `minhash.threshold`), semantic "
    "duplicates (cosine at least `semantic_config.threshold`), 13-gram benchmark overlap",
    "tail_fill": "rows for the seed categories under their target share (`tolerance`, `min_rows`, `targets`): "
    "edge-case and rare-scenario rewrites of their seeds, verified as `verified_solutions` and deduplicated "
    "against the corpus, for up to `rounds` rounds and `max_teacher_calls` completions; they join the corpus",
    "mixed_training_set": "human and synthetic rows at `human_fraction` human, stratified by domain and "
    "category; no synthetic row above generation `max_generation`",
    "reviewed_training_set": "a person's review of a sample: rejected rows removed, edited rows replaced",
    "preference_pairs": "one chosen/rejected pair per prompt: a passing against a failing answer of a real check "
    "(code, math), else the judge's best against one at least `min_score_margin` lower; only prompts kept by "
    "deduplicated_corpus, no benchmark 13-gram, the mix's human fraction (on the prompt) and generation cap",
}

_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def size_category(rows: int) -> str:
    """The Hub's `size_categories` bucket for a row count."""
    for bound, label in _SIZE_CATEGORIES:
        if rows < bound:
            return label
    return "n>1B"


@dataclass(frozen=True)
class StageFilter:
    stage: str
    settings: Mapping[str, Any]  # the settings the stage ran with
    overridden: frozenset[str] = frozenset()  # settings a run config set (the rest are defaults)
    rows_in: int | None = None
    rows_out: int | None = None
    removed: Mapping[str, int] = field(default_factory=dict)  # reason -> rows
    quarantined: int = 0


@dataclass(frozen=True)
class GateFact:
    """A quality gate as it last ran: its result, what it measured and the thresholds in force."""

    check: str
    asset: str
    result: str  # passed, failed, warned, or not evaluated
    value: float | None = None
    thresholds: Mapping[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (value, where it comes from)


@dataclass(frozen=True)
class ReviewFacts:
    queued: int
    decided: int
    accepted: int
    rejected: int
    edited: int
    agreement: float | None
    in_export: bool = True  # False when the export was built from the mix before review
    edit_credit: float = 0.5  # how much agreement an edit counts for


@dataclass(frozen=True)
class JudgeFilterFacts:
    """The judge's two rules at `verified_solutions` and the calibration of its threshold."""

    judge_threshold: Any  # the default, as recorded (text when seed batches ran with different values)
    keep_top_fraction: Any
    removed: Mapping[str, int] = field(default_factory=dict)  # reject reason -> rows, of the judge's rules
    decided_by: Mapping[str, int] = field(default_factory=dict)  # threshold source -> judged rows
    calibration: Sequence[Mapping[str, Any]] = ()  # the `judge_calibration` rows, one per domain
    confidence: float = 0.95


@dataclass(frozen=True)
class JudgeFact:
    """Who judged one seed batch's general-domain answers, as verified_solutions last recorded it."""

    seed_batch: str
    judge_model: str  # backend:model
    self_preference_warning: str = ""  # non-empty when the judge also wrote what it judged


@dataclass(frozen=True)
class CardConfig:
    """What the card says about the set that no stage knows: its name, licence and languages."""

    pretty_name: str = "synth-factory training set"
    license: str = "apache-2.0"
    languages: tuple[str, ...] = ("en",)


@dataclass(frozen=True)
class CardFacts:
    rows: pd.DataFrame  # the export: provenance columns plus instruction and response
    data_file: str  # the Parquet file next to the card, e.g. training_set.parquet
    filters: Sequence[StageFilter]
    gates: Sequence[GateFact]  # the quality gates with the thresholds they held this set to
    review: ReviewFacts | None = None
    judge: JudgeFilterFacts | None = None
    target_human_fraction: float | None = None
    config: CardConfig = CardConfig()
    funnel_image: str | None = None  # file name of the funnel PNG next to the card
    # The preference export (`core.export.to_preference_record` columns) and its Parquet file, if built.
    preferences: pd.DataFrame | None = None
    preference_file: str | None = None
    # The joint coverage of the attributes prompts were conditioned on (`attributes.coverage_lines`).
    attribute_coverage: tuple[str, ...] = ()
    judges: Sequence[JudgeFact] = ()


def card_header(facts: CardFacts) -> str:
    """The YAML front matter between `---` lines."""
    header = {
        "pretty_name": facts.config.pretty_name,
        "license": facts.config.license,
        "language": list(facts.config.languages),
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "instruction-tuning", "sft"],
        "size_categories": [size_category(len(facts.rows))],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": facts.data_file}]}],
    }
    if facts.preference_file:  # its own config: a DPO trainer loads it by name
        header["tags"] += ["dpo", "preference"]
        header["configs"].append({"config_name": "preference_pairs",
                                  "data_files": [{"split": "train", "path": facts.preference_file}]})
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_fmt(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def diversity_rows(rows: pd.DataFrame) -> list[list[Any]]:
    """Distinct-1..4 and gzip compression ratio of the responses, for all rows and by origin."""
    parts = [("all", rows)] + [(origin, rows[rows["origin"] == origin]) for origin in sorted(rows["origin"].dropna().unique())]
    table = []
    for name, part in parts:
        texts = part["response"].fillna("").astype(str).tolist()
        ns = distinct_ns(texts, (1, 2, 3, 4))
        table.append([name, len(part), ns[1], ns[2], ns[3], ns[4], compression_ratio(texts)])
    return table


def provenance_rows(rows: pd.DataFrame) -> list[list[Any]]:
    """Rows per (generation, origin, technique), most first within each generation."""
    counts = rows.groupby(["generation", "origin", "technique"], dropna=False).size().rename("rows").reset_index()
    counts = counts.sort_values(["generation", "rows"], ascending=[True, False])
    return counts.values.tolist()


def _counts(rows: pd.DataFrame, column: str) -> list[list[Any]]:
    series = rows[column].fillna("(none)").value_counts()
    return [[key, int(n), f"{n / len(rows):.1%}"] for key, n in series.items()]


def _filters_section(filters: Sequence[StageFilter]) -> str:
    blocks = []
    for f in filters:
        settings = ", ".join(f"`{k}` = {_fmt(v)}{' (set for this run)' if k in f.overridden else ''}"
                             for k, v in f.settings.items()) or "none"
        removed = ", ".join(f"{reason} {n}" for reason, n in sorted(f.removed.items(), key=lambda kv: -kv[1]))
        counts = "" if f.rows_out is None else f" {f.rows_in} rows in, {f.rows_out} kept."
        blocks.append(
            f"- **{f.stage}**: {STAGE_RULES.get(f.stage, '')}.{counts}\n"
            f"  Settings: {settings}.\n"
            f"  Removed: {removed or 'nothing'}{f'; quarantined {f.quarantined} unreadable lines' if f.quarantined else ''}."
        )
    return "\n".join(blocks)


def _limitations(facts: CardFacts) -> list[str]:
    teachers = sorted({str(t) for t in facts.rows.get("teacher", pd.Series(dtype=object)).dropna()})
    items = []
    if any(t.startswith("rules") for t in teachers):
        items.append("**The teacher was `rules`, which is not a language model.** It is the project's offline "
                     "stand-in: it answers from fixed text rules and the seeds' reference solutions and makes "
                     "mistakes on purpose so that the filters have work to do. Rows it wrote show the pipeline "
                     "working, not model-quality data; rebuild with a real teacher before training on them.")
    self_judged = sorted({j.seed_batch for j in facts.judges if j.self_preference_warning})
    if self_judged:
        judging = (f"**General-domain answers of seed batches {', '.join(self_judged)} were judged by the model that "
                   "wrote them**, which favours its own output (self-preference); judge with a different model.")
    elif facts.judges:
        judging = (f"General-domain answers were judged by a separate judge "
                   f"({', '.join(sorted({j.judge_model for j in facts.judges}))}), a model with its own biases.")
    else:
        judging = "General-domain answers are judged by a model, with its own biases."
    items += [
        "Only English text was written or checked.",
        (f"{judging} Code and math answers are checked by tests and answer matching, which catch wrong answers "
         "but not poor explanations."),
        ("The dedup and gate thresholds are project heuristics (sources in the gates table), not values "
         "calibrated on this data."),
        ("Decontamination covers only the benchmark items in data/benchmarks (13-gram overlap); other "
         "benchmarks may still overlap."),
    ]
    calibrated = [c for c in (facts.judge.calibration if facts.judge else ()) if c["status"] == "calibrated"]
    if calibrated:
        items.append("The judge threshold of " + ", ".join(
            f"{c['domain']} ({int(c['decisions'])} decisions)" for c in calibrated)
            + " was calibrated on people's review decisions; its agreement after calibration is measured on "
            "the decisions it was fitted on.")
    if facts.review is None or not facts.review.decided:
        items.append("No person has reviewed rows of this set yet.")
    else:
        items.append(f"People reviewed {facts.review.decided} rows, a sample of the synthetic part; the rest was "
                     "checked only by the automatic filters.")
    return items


_INTRO = (
    "Instruction/response pairs for supervised fine-tuning, made by the synth-factory Dagster pipeline: "
    "seed tasks evolved by a teacher model, answered several times, verified, deduplicated, "
    "decontaminated against benchmarks and mixed with human-written pairs. Each row is a chat "
    "(`messages`: user, then assistant) with provenance columns that lead back to its seed.\n"
)
_FILTERS_INTRO = (
    "Each stage, what it keeps, the settings it ran with, and what it removed (by reason; every removed "
    "row is in the `rejects` table of the warehouse with its reason).\n"
)
_GATES_INTRO = (
    "Quality gates (asset checks; a failing blocking gate stops the run before export), as they last ran, "
    "with each threshold in force and where it comes from (a stage's setting, the check's own run config, "
    "or the documented default and its reason):\n"
)
_DIVERSITY_INTRO = (
    "Of the responses: distinct-n is unique n-grams over all n-grams (higher is more varied; it falls "
    "as a set grows, so compare parts of similar size); the gzip compression ratio is higher for more "
    "repetitive text.\n"
)
_PROVENANCE_INTRO = (
    "`generation` 0 is human data; 1 is what a teacher made from it in one pass of the pipeline. "
    "`parent_id` and `root_id` lead to the seed or human row each row came from.\n"
)


def _gate_rows(gates: Sequence[GateFact]) -> list[list[Any]]:
    rows = []
    for gate in gates:
        measured = "-" if gate.value is None else gate.value
        thresholds = list(gate.thresholds.items()) or [("-", ("-", "-"))]
        for i, (name, (value, source)) in enumerate(thresholds):
            first = i == 0
            rows.append([gate.check if first else "", gate.asset if first else "", gate.result if first else "",
                         measured if first else "", name, value, source])
    return rows


def _counts_section(facts: CardFacts) -> list[str]:
    rows, total = facts.rows, len(facts.rows)
    if not total:
        return ["## Counts and mix\n", "0 rows: no rows.\n"]
    human = int((rows["origin"] == "human").sum())
    target = f" (target {facts.target_human_fraction:.0%} human)" if facts.target_human_fraction is not None else ""
    teachers = rows.loc[rows["origin"] == "synthetic", "teacher"].fillna("(none)")
    teacher_rows = [[t, int(n), f"{n / len(teachers):.1%}"] for t, n in teachers.value_counts().items()]
    return [
        "## Counts and mix\n",
        (f"{total} rows: {human} human rows ({human / total:.1%}) and {total - human} synthetic rows "
         f"({(total - human) / total:.1%}){target}.\n"),
        _table(["domain", "rows", "share"], _counts(rows, "domain")),
        "\n## Techniques\n",
        _table(["technique", "rows", "share"], _counts(rows, "technique")),
        "\n## Teacher\n",
        _table(["teacher", "synthetic rows", "share"], teacher_rows) if teacher_rows else "No synthetic rows.",
    ]


_PREFERENCE_INTRO = (
    "Chosen/rejected answers to one prompt each, for DPO and other preference trainers, in TRL's conversational "
    "preference format: `prompt` (a user turn), `chosen` and `rejected` (one assistant turn each). `operation` says "
    "what decided the preference: `verifier` (code and math: the chosen answer passed the task's unit tests or "
    "matched the reference answer, the rejected one failed them) or `judge` (the rest: the judge's best-scored "
    "answer against one scored at least the margin lower, UltraFeedback-style; `chosen_score`, `rejected_score`, "
    "`score_margin`, `judge_model`). Both sides keep their row ids (`chosen_id`, `rejected_id`: `synth trace` "
    "follows them), verdicts and teachers. `prompt_origin` is `human` for a prompt a person wrote (a seed): the "
    "mix's human fraction is applied to it; both answers are always the teacher's.\n"
)


def _preference_section(facts: CardFacts) -> list[str]:
    pairs = facts.preferences if facts.preferences is not None else pd.DataFrame()
    load = (f'ds = load_dataset("parquet", data_files="{facts.preference_file}", split="train")\n'
            "# or, from the Hub: load_dataset(REPO, \"preference_pairs\", split=\"train\")")
    sections = ["\n## Preference pairs\n", _PREFERENCE_INTRO,
                f"```python\nfrom datasets import load_dataset\n\n{load}\n```\n"]
    if pairs.empty:
        return [*sections, "No pairs: no prompt had both a preferred and a worse answer that passed the filters.\n"]
    human = int((pairs["prompt_origin"] == "human").sum())
    sections.append(f"{len(pairs)} pairs: {human} on human-written prompts ({human / len(pairs):.1%}), "
                    f"{len(pairs) - human} on synthetic prompts.\n")
    kinds = pairs.groupby(["operation", "domain"]).size().rename("pairs").reset_index().values.tolist()
    sections.append(_table(["decided by", "domain", "pairs"], kinds))
    judged = pairs.loc[pairs["operation"] == "judge", "score_margin"].dropna()
    if len(judged):
        sections.append(f"\nJudge pairs: score margin median {judged.median():.3g}, smallest {judged.min():.3g}.\n")
    rejected = _counts(pairs, "rejected_reason")
    sections += ["\nWhy the rejected answers failed:\n", _table(["reason", "pairs", "share"], rejected)]
    return sections


def _judge_model_section(judges: Sequence[JudgeFact]) -> list[str]:
    rows = [[j.seed_batch, j.judge_model, j.self_preference_warning or "no: a different model"] for j in judges]
    sections = [
        "\n## Judge\n",
        ("Answers no test or reference can check are scored by a judge on five aspects (correctness, relevance, "
         "coherence, completeness, difficulty; 1-5 each, `judge_aspects`); `judge_score` is their mean on a 1-10 "
         "scale and `judge_model` the judge that gave it.\n"),
        _table(["seed batch", "judge", "judged its own output (self-preference)"], rows),
    ]
    if any(j.self_preference_warning for j in judges):
        sections.append("\n**Warning: the judge also wrote what it judged in some seed batches.** A model judging "
                        "its own output favours it; configure a separate judge (`JUDGE_BACKEND`, `JUDGE_MODEL`).\n")
    return sections


def _review_section(review: ReviewFacts) -> list[str]:
    if review.decided:
        summary = (f"{review.queued} synthetic rows were queued for review and {review.decided} decided: "
                   f"{review.accepted} accepted, {review.rejected} rejected (removed), {review.edited} edited "
                   "(replaced by the corrected row, `operation` = `edited_by_human`). Agreement with the automatic "
                   f"gates: {review.agreement:.1%} (an accept counts 1, an edit {review.edit_credit:g}, a reject 0).")
    else:
        summary = f"{review.queued} synthetic rows are queued for review; nobody has decided on any yet."
    sections = ["\n## Human review\n", summary + "\n"]
    if review.decided and not review.in_export:
        sections.append("These decisions are applied in the warehouse table `reviewed_training_set`, but this "
                        "export was built from `mixed_training_set` and does not include them.\n")
    return sections


_JUDGE_INTRO = (
    "Answers no test or reference answer can check are scored by a judge (1-10) and kept at or above a "
    "threshold: the default `judge_threshold` = {threshold}, or their domain's threshold calibrated on review "
    "decisions; a row a person reviewed keeps their decision. Of the rows that pass, each (domain, category) "
    "of a seed batch keeps its best `keep_top_fraction` = {fraction} (1 keeps every row that passed).\n"
)
# The judge's rules at verified_solutions, by the reject reason each records.
_JUDGE_RULES = {"low_judge_score": "the judge threshold", "below_top_fraction": "the top fraction",
                "human_rejected": "a reviewer's decision"}


def _judge_section(judge: JudgeFilterFacts) -> list[str]:
    removed = ", ".join(f"{rule} {judge.removed.get(reason, 0)} (`{reason}`)" for reason, rule in _JUDGE_RULES.items())
    decided = ", ".join(f"{source} {n}" for source, n in sorted(judge.decided_by.items())) or "none"
    sections = ["\n## Judge filter and its calibration\n",
                _JUDGE_INTRO.format(threshold=_fmt(judge.judge_threshold), fraction=_fmt(judge.keep_top_fraction)),
                f"Rows removed by each rule: {removed}. Judged rows by what decided them: {decided}.\n"]
    if not judge.calibration:
        return [*sections, "No review decisions on judged rows yet: every domain used the default threshold.\n"]
    level = f"{judge.confidence:.0%}"
    header = ["domain", "reviewed", "accepted", "status", "threshold", f"{level} interval (bootstrap)",
              "agreement before (default)", "agreement after", f"{level} interval (Wilson)", "precision after"]
    rows = [[c["domain"], int(c["decisions"]), int(c["accepted"]), c["status"],
             f"{_fmt(c['default_threshold'])} -> {_fmt(c['threshold'])}", _interval(c, "threshold", "{:g}"),
             _share(c["agreement_default"]), _share(c["agreement"]), _interval(c, "agreement", "{:.1%}"),
             _share(c["precision"])] for c in judge.calibration]
    return [*sections, ("The threshold per domain that agrees best with the reviewers (accept: keep, reject: drop) "
                        "among those whose kept rows reviewers accepted at least the minimum precision; before is "
                        "the default threshold on the same decisions. After is measured on the decisions it was "
                        "fitted on; a fresh sample measures it out of sample.\n"), _table(header, rows)]


def _share(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:.1%}"


def _interval(row: Mapping[str, Any], name: str, form: str) -> str:
    low, high = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    if low is None or high is None or low != low or high != high:
        return "-"
    return f"{form.format(low)} to {form.format(high)}"


def render_card(facts: CardFacts) -> str:
    """The whole `README.md`: YAML header, then counts, mix, techniques, teacher, filters, diversity,
    provenance, review and known limitations."""
    rows, total = facts.rows, len(facts.rows)
    load = f'ds = load_dataset("parquet", data_files="{facts.data_file}", split="train")'
    sections = [
        card_header(facts),
        f"# {facts.config.pretty_name}\n",
        _INTRO,
        f"```python\nfrom datasets import load_dataset\n\n{load}\n```\n",
        *_counts_section(facts),
        "\n## Filters\n",
        _FILTERS_INTRO,
        _filters_section(facts.filters),
        "\n" + _GATES_INTRO,
        _table(["check", "on", "result", "measured", "threshold", "in force", "where it comes from"], _gate_rows(facts.gates)),
    ]
    if facts.funnel_image:
        sections.append(f"\n![Rows through the stages]({facts.funnel_image})\n")
    diversity_header = ["part", "rows", "distinct-1", "distinct-2", "distinct-3", "distinct-4", "compression ratio"]
    sections += [
        "\n## Diversity\n",
        _DIVERSITY_INTRO,
        _table(diversity_header, diversity_rows(rows)) if total else "No rows.",
        "\n## Provenance\n",
        _PROVENANCE_INTRO,
        _table(["generation", "origin", "technique", "rows"], provenance_rows(rows)) if total else "No rows.",
    ]
    if total and "seed_batch" in rows:
        sections += ["\nRows per seed batch (the seed file they descend from; `(none)` for human rows and documents):\n",
                     _table(["seed batch", "rows", "share"], _counts(rows, "seed_batch"))]
    if facts.attribute_coverage:
        sections += ["\n## Attributes\n", *facts.attribute_coverage]
    if facts.judges:
        sections += _judge_model_section(facts.judges)
    if facts.review is not None:
        sections += _review_section(facts.review)
    if facts.judge is not None:
        sections += _judge_section(facts.judge)
    if facts.preference_file:
        sections += _preference_section(facts)
    sections += ["\n## Known limitations\n", "\n".join(f"- {item}" for item in _limitations(facts)), ""]
    return "\n".join(sections)


# --- the funnel chart ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    kept: int
    dropped: Mapping[str, int] = field(default_factory=dict)  # reason -> rows (quarantined lines included)


def funnel_segments(stage: FunnelStage, other_share: float = 0.02) -> list[tuple[str, int]]:
    """A stage's drops as (reason, rows), largest first, with only the smallest reasons lumped into
    one `other`: those whose total is under `other_share` of the stage's rows in and under every
    reason named. The largest reason is always named, and a lone small reason keeps its own name
    (an `other` of one says less)."""
    ordered = sorted(stage.dropped.items(), key=lambda kv: (-kv[1], kv[0]))
    total = stage.kept + sum(stage.dropped.values())
    named, rest = ordered, 0
    for cut in range(len(ordered) - 2, 0, -1):  # lump one more of the smallest while the rule holds
        tail = sum(n for _, n in ordered[cut:])
        if tail >= other_share * total or tail >= ordered[cut - 1][1]:
            break
        named, rest = ordered[:cut], tail
    return named + ([("other", rest)] if rest else [])


def funnel_png(stages: Sequence[FunnelStage], other_share: float = 0.02, dpi: int = 100) -> bytes:
    """A horizontal stacked bar per stage: rows kept, then the drops by reason (`funnel_segments`:
    every reason named but the smallest), as PNG bytes drawn by the Agg canvas."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # no pyplot: no global state, the Agg canvas by default

    figure = Figure(figsize=(12, 0.5 * len(stages) + 1.8), dpi=dpi)
    axes = figure.subplots()
    colours = [*colormaps["tab20"].colors[2:], *colormaps["tab20b"].colors]  # no blue: blue is "kept"
    reason_colour: dict[str, Any] = {}
    for y, stage in enumerate(stages):
        axes.barh(y, stage.kept, color="#2b7bba", label="kept" if y == 0 else None)
        left = stage.kept
        for reason, n in funnel_segments(stage, other_share):
            new = reason not in reason_colour
            colour = reason_colour.setdefault(reason, colours[len(reason_colour) % len(colours)])
            axes.barh(y, n, left=left, color=colour, label=reason if new else None)
            left += n
        axes.text(left, y, f"  {stage.kept} kept of {left}", va="center", fontsize=8)
    axes.set_yticks(range(len(stages)), [s.stage for s in stages])
    axes.invert_yaxis()
    axes.set_xlabel("rows")
    axes.set_title("Rows through the stages: kept, and dropped by reason")
    axes.margins(x=0.25)
    if stages:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# --- diversity per stage ------------------------------------------------------------------------


@dataclass(frozen=True)
class StageDiversity:
    stage: str
    rows: int  # texts measured: the same number for every stage, so the figures compare
    distinct_1: float
    distinct_2: float
    compression_ratio: float


def stage_diversity(texts_by_stage: Mapping[str, Sequence[str]], sample: int = 2000) -> list[StageDiversity]:
    """Distinct-1, distinct-2 and compression ratio of each stage's texts, each measured on the
    first `n` texts, `n` the smallest stage's count (at most `sample`): distinct-n falls as a corpus
    grows, so only equal sizes compare. Pass the texts in a random order (a sample) per stage."""
    present = {stage: list(texts) for stage, texts in texts_by_stage.items() if len(texts)}
    if not present:
        return []
    n = min(sample, *(len(texts) for texts in present.values()))
    result = []
    for stage, texts in present.items():
        ns = distinct_ns(texts[:n], (1, 2))
        result.append(StageDiversity(stage, n, ns[1], ns[2], compression_ratio(texts[:n])))
    return result


def diversity_png(stages: Sequence[StageDiversity], dpi: int = 100) -> bytes:
    """Distinct-1 and distinct-2 (higher is more varied) beside the compression ratio (lower is more
    varied), one group of bars per stage, as PNG bytes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 4.2), dpi=dpi)
    distinct_axes, compression_axes = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    names = [s.stage for s in stages]
    positions = range(len(stages))
    width = 0.4
    distinct_axes.bar([p - width / 2 for p in positions], [s.distinct_1 for s in stages], width, label="distinct-1")
    distinct_axes.bar([p + width / 2 for p in positions], [s.distinct_2 for s in stages], width, label="distinct-2")
    distinct_axes.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
    distinct_axes.set_ylim(0, 1)
    distinct_axes.set_title("Distinct n-grams of the instructions (higher: more varied)")
    distinct_axes.legend(fontsize=8, frameon=False)
    compression_axes.bar(list(positions), [s.compression_ratio for s in stages], color="#d95f02")
    compression_axes.set_xticks(list(positions), names, rotation=30, ha="right", fontsize=8)
    compression_axes.set_title("gzip compression ratio (lower: more varied)")
    if stages:
        figure.suptitle(f"Diversity per stage, on {stages[0].rows} instructions of each", fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
