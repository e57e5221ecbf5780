"""Augmentation operators: each rule on its own, the plan, and a run with the rules teacher and the
real embedding model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resources.teacher.rules import RulesBackend
from synth_assets.core.augment import (
    OPERATORS,
    AugmentConfig,
    meaning_preserved,
    names_entry_point,
    novel_question,
    on_topic,
    plan_operations,
    run_augmentation,
    wording_changed,
)
from synth_assets.core.rouge import rouge_l_f, tokenize
from synth_assets.core.rows import RejectReason
from synth_assets.core.templates import load_template

SEEDS_DIR = Path(__file__).resolve().parents[2] / "data" / "seeds"


def _seed(record: dict) -> dict:
    return {"id": record["id"], "root_id": record["id"], "generation": 0, "technique": "seed",
            "domain": record["domain"], "category": record["category"], "instruction": record["instruction"],
            "response": record.get("solution") or record.get("response"), "entry_point": record.get("entry_point"),
            "tests": record.get("tests"), "reference_answer": record.get("answer")}


@pytest.fixture(scope="module")
def shipped_seeds() -> list[dict]:
    return [_seed(json.loads(line)) for path in sorted(SEEDS_DIR.glob("*.jsonl")) for line in path.open()]


# --- one rule at a time -------------------------------------------------------------------------

def test_wording_changed_rejects_a_copy_and_keeps_a_rewording():
    task = "Write a short thank-you note to a neighbour who watered my plants."
    copy = wording_changed(task, task, 0.85)
    assert not copy.keep and copy.reason == RejectReason.WORDING_UNCHANGED and copy.score == 1.0
    reworded = wording_changed(task, "Compose a brief note thanking the neighbour who looked after my plants.", 0.85)
    assert reworded.keep and reworded.score < 0.85


def test_wording_changed_rejects_at_the_threshold_itself():
    a, b = "one two three four", "one two three five"
    score = rouge_l_f(tokenize(a), tokenize(b))  # 0.75
    assert not wording_changed(a, b, score).keep
    assert wording_changed(a, b, score + 1e-9).keep


def test_meaning_preserved_needs_at_least_the_minimum_cosine():
    assert meaning_preserved(0.5, 0.5).keep
    low = meaning_preserved(0.49, 0.5)
    assert not low.keep and low.reason == RejectReason.MEANING_NOT_PRESERVED and low.score == 0.49


def test_a_reworded_code_task_must_still_name_its_entry_point():
    missing = names_entry_point("Write a function that reverses the words of a string.", "reverse_words")
    assert not missing.keep and missing.reason == RejectReason.ENTRY_POINT_MISSING
    assert names_entry_point("Create reverse_words(s) that reverses the words of s.", "reverse_words").keep
    assert names_entry_point("Explain photosynthesis.", None).keep  # not a code task


def test_a_seed_expansion_must_be_new_and_on_topic():
    seed = "Explain photosynthesis to a ten-year-old."
    copied = novel_question(seed, "Explain photosynthesis to a ten year old!", 0.5)
    assert not copied.keep and copied.reason == RejectReason.NOT_NOVEL
    assert novel_question(seed, "Why do leaves change colour in autumn?", 0.5).keep
    off = on_topic(0.1, 0.3)
    assert not off.keep and off.reason == RejectReason.OFF_TOPIC
    assert on_topic(0.3, 0.3).keep


def test_config_names_an_unknown_operation_and_bad_thresholds():
    with pytest.raises(ValueError, match=r"unknown \['summarise'\]"):
        AugmentConfig(operations=("paraphrase", "summarise"))
    with pytest.raises(ValueError, match="min_similarity must be in"):
        AugmentConfig(min_similarity=1.5)


# --- the plan -----------------------------------------------------------------------------------

def test_the_plan_is_reproducible_and_expands_only_the_configured_domains(shipped_seeds):
    config = AugmentConfig(operations=tuple(OPERATORS), per_seed=2)
    plan = plan_operations(shipped_seeds, config)
    assert [(s["id"], op.name) for s, op in plan] == [(s["id"], op.name) for s, op in plan_operations(shipped_seeds, config)]
    assert len(plan) == 2 * len(shipped_seeds)
    expanded = {s["domain"] for s, op in plan if op.name == "seed_expansion"}
    assert expanded == {"general"}
    # Every operation is drawn for some seed: the draw spreads them over the seeds.
    assert {op.name for _, op in plan} == set(OPERATORS)
    other = plan_operations(shipped_seeds, AugmentConfig(operations=tuple(OPERATORS), per_seed=2, seed=1))
    assert [op.name for _, op in other] != [op.name for _, op in plan]


def test_seed_expansion_expands_general_seeds_with_a_reference_answer(shipped_seeds):
    plan = plan_operations(shipped_seeds, AugmentConfig(operations=("seed_expansion",)))
    assert {op.name for _, op in plan} == {"seed_expansion"}
    assert len(plan) == sum(s["domain"] == "general" and bool(s["response"]) for s in shipped_seeds)



def test_every_operator_is_on_by_default_one_per_seed(shipped_seeds):
    plan = plan_operations(shipped_seeds, AugmentConfig())
    assert {op.name for _, op in plan} == set(OPERATORS)
    assert len(plan) == len(shipped_seeds) == len({s["id"] for s, _ in plan})


def test_no_operations_means_no_teacher_call_and_no_rows(shipped_seeds):
    def never(requests):
        raise AssertionError("the teacher must not be called")

    outcome = run_augmentation(shipped_seeds, never, never, "rules:x", AugmentConfig(operations=()))
    assert outcome.rows == [] and outcome.rejected == [] and outcome.planned == 0


# --- a run: the rules teacher's rewordings and the real embedding model ------------------------

@pytest.fixture(scope="module")
def cosine():
    from resources.embedder import SentenceEmbedder

    embedder, vectors = SentenceEmbedder(threads=1), {}

    def similarity(a, b):  # each text embedded once per module: the tests re-measure what the run measured
        new = sorted({*a, *b} - vectors.keys())
        vectors.update(zip(new, embedder.encode(new) if new else [], strict=True))
        return [float(vectors[x] @ vectors[y]) for x, y in zip(a, b, strict=True)]

    return similarity


@pytest.fixture(scope="module")
def sample(shipped_seeds):
    """20 seeds of each domain: enough for every operation and every planted mistake."""
    return [s for domain in ("code", "math", "general") for s in [s for s in shipped_seeds if s["domain"] == domain][:20]]


@pytest.fixture(scope="module")
def run(sample, cosine):
    config = AugmentConfig(operations=tuple(OPERATORS), per_seed=len(OPERATORS))
    return config, run_augmentation(sample, RulesBackend().generate, cosine, "rules:rule-based-v1", config)


def test_every_operation_gives_kept_rows_with_its_technique_and_template(run):
    _, outcome = run
    kept = {(r["technique"], r["operation"]) for r in outcome.rows}
    assert kept == {("paraphrase", "paraphrase"), ("style_transfer", "formal"), ("style_transfer", "casual"),
                    ("style_transfer", "technical"), ("round_trip_translation", "french"), ("seed_expansion", "expand")}
    by_technique = {"paraphrase": "augment_paraphrase", "style_transfer": "augment_style_transfer",
                    "round_trip_translation": "augment_translate", "seed_expansion": "augment_seed_expansion"}
    for row in outcome.rows:
        assert row["template_version"] == load_template(by_technique[row["technique"]]).version
        assert row["generation"] == 1 and row["origin"] == "synthetic" and row["root_id"] == row["parent_id"]
    assert len(outcome.rows) + len(outcome.rejected) == outcome.planned


def test_rewordings_keep_the_contract_and_expansions_drop_it(run, sample):
    _, outcome = run
    seeds = {s["id"]: s for s in sample}
    for row in outcome.rows:
        seed = seeds[row["parent_id"]]
        if row["technique"] == "seed_expansion":
            assert row["tests"] is None and row["response"] is None and row["reference_answer"] is None
        else:
            assert (row["tests"], row["entry_point"], row["reference_answer"]) == (
                seed["tests"], seed["entry_point"], seed["reference_answer"])
            if seed["entry_point"]:
                assert seed["entry_point"] in row["instruction"]


def test_kept_rows_pass_every_rule_and_rejects_fail_the_one_they_name(run, sample, cosine):
    config, outcome = run
    seeds = {s["id"]: s for s in sample}
    pairs = [(seeds[r["parent_id"]]["instruction"], r["instruction"]) for r in outcome.rows]
    cosines = cosine([a for a, _ in pairs], [b for _, b in pairs])
    for row, (seed, text), cos in zip(outcome.rows, pairs, cosines, strict=True):
        rouge = rouge_l_f(tokenize(seed), tokenize(text))
        if row["technique"] == "seed_expansion":
            assert rouge < config.expansion_max_rouge_l and cos >= config.expansion_min_similarity - 1e-6
        else:
            assert rouge < config.max_rouge_l and cos >= config.min_similarity - 1e-6
    reasons = {r["reason"] for r in outcome.rejected}
    # The rules teacher plants copies and unrelated tasks: each is caught by its rule.
    assert {"wording_unchanged", "meaning_not_preserved", "entry_point_missing"} <= reasons
    for reject in outcome.rejected:
        seed = seeds[reject["parent_id"]]["instruction"]
        if reject["reason"] in ("wording_unchanged", "not_novel"):
            assert rouge_l_f(tokenize(seed), tokenize(reject["instruction"])) == pytest.approx(reject["score"])
        elif reject["reason"] == "meaning_not_preserved":
            assert reject["score"] < config.min_similarity
        elif reject["reason"] == "off_topic":
            assert reject["score"] < config.expansion_min_similarity


def test_a_round_trip_goes_to_the_configured_language_and_back(sample, cosine):
    seen = []
    teacher = RulesBackend()

    def generate(requests):
        seen.extend(r.hints["language"] for r in requests)
        return teacher.generate(requests)

    config = AugmentConfig(operations=("round_trip",), language="French")
    outcome = run_augmentation(sample[:10], generate, cosine, "rules:x", config)
    assert seen == ["French"] * 10 + ["English"] * 10
    assert outcome.rows and all(r["operation"] == "french" for r in outcome.rows)
    assert all("[fr]" not in r["instruction"] for r in outcome.rows)
