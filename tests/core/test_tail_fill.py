"""Tail filling's pure parts: targets, coverage, the budget, the rewrite rules and the rounds."""

from __future__ import annotations

import pytest

from synth_assets.core.curation import CurationConfig, curate_corpus
from synth_assets.core.rows import root_row
from synth_assets.core.tail_fill import (
    BudgetExceeded,
    TailFillConfig,
    TailTeachers,
    TeacherBudget,
    choose_tail_operation,
    fill_tails,
    measure_coverage,
    target_shares,
)
from tests.core.teachers import ScriptedTeacher

NO_SANDBOX = lambda jobs: pytest.fail("no code in these tests")  # noqa: E731


def _seed(key: str, category: str, question: str, answer: str) -> dict:
    return root_row("seed", key, question, None, domain="math", category=category, reference_answer=answer,
                    seed_batch="b")


SEEDS = [_seed(f"a{i}", "arithmetic", f"What is {i} plus {i + 7} when counting apples in basket {i}?", str(2 * i + 7))
         for i in range(6)] + [_seed("r0", "ratios", "Split 20 sweets between two children in the ratio 3 to 1.", "15")]


def _corpus_row(seed: dict, n: int) -> dict:
    return {**seed, "id": f"{seed['id']}-{n}", "origin": "synthetic", "generation": 1, "verified": True,
            "instruction": f"{seed['instruction']} Variant {n} of a long enough task about apples {n * 31}."}


def test_targets_are_the_seed_shares_or_the_configured_ones_normalised():
    counts = {("math", "arithmetic"): 6, ("math", "ratios"): 2}
    assert target_shares(counts) == {("math", "arithmetic"): 0.75, ("math", "ratios"): 0.25}
    assert target_shares(counts, {"math/ratios": 1, "math/arithmetic": 3}) == {("math", "arithmetic"): 0.75,
                                                                               ("math", "ratios"): 0.25}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("targets", {"math-ratios": 1.0}, "must be 'domain/category'"),
    ("targets", {"math/ratios": 0.0}, r"targets\['math/ratios'\] must be a positive number"),
    ("tolerance", 0.0, "tolerance must be in"),
    ("operations", ("paraphrase",), "operations must be a non-empty subset"),
    ("max_teacher_calls", -1, "max_teacher_calls must be >= 0"),
])
def test_a_bad_setting_is_an_error_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        TailFillConfig(**{field: value})


def test_a_category_is_under_target_below_tolerance_or_the_minimum_and_needs_its_target_share():
    shares = {("math", "a"): 0.5, ("math", "b"): 0.5}
    coverage = measure_coverage({("math", "a"): 30, ("math", "b"): 10}, shares, tolerance=0.8, min_rows=5)
    a, b = coverage
    assert not a.under and a.missing == 0
    # b has 10 of 40 rows (0.25 < 0.8 * 0.5): it needs 30 to reach half, the 30 of a staying.
    assert b.under and b.needed == 30 and b.missing == 20
    thin = measure_coverage({("math", "a"): 3}, {("math", "a"): 1.0}, tolerance=0.8, min_rows=5)[0]
    assert thin.under and thin.missing == 2  # the only category, but under the gate's minimum


def test_the_budget_refuses_a_call_that_would_exceed_it():
    teacher = ScriptedTeacher(tail_fill=lambda hints, i: "x")
    budget = TeacherBudget(1)
    from synth_assets.core.requests import GenerationRequest, Message, SamplingParams
    request = GenerationRequest((Message("user", "hi"),), SamplingParams(n=2), {"kind": "tail_fill"})
    with pytest.raises(BudgetExceeded, match="2 completions asked with 1 of 1 left"):
        budget.limit(teacher)([request])
    assert not teacher.calls


def test_the_operation_is_fixed_by_seed_round_and_number():
    config = TailFillConfig()
    picks = {choose_tail_operation("s", 1, n, config) for n in range(20)}
    assert picks == {"edge_case", "rare_scenario"}
    assert choose_tail_operation("s", 1, 3, config) == choose_tail_operation("s", 1, 3, config)


def _answers(rewrite):
    return ScriptedTeacher(
        tail_fill=rewrite,
        solve=lambda hints, i: f"Working.\nAnswer: {hints['answer']}",
    )


def _fill(teacher, config, corpus=None):
    corpus = corpus if corpus is not None else [_corpus_row(s, n) for s in SEEDS[:6] for n in range(2)]
    teachers = TailTeachers(teacher, teacher, teacher, "scripted", "scripted", "scripted")
    return fill_tails(corpus, SEEDS, teachers, NO_SANDBOX, config, curation=CurationConfig(), max_text_chars=20_000)


def test_a_thin_category_is_filled_from_its_own_seeds_and_measured_again():
    teacher = _answers(lambda hints, i: f"{hints['instruction']} Case {hints['operation']} {len(teacher.calls)}.")
    outcome = _fill(teacher, TailFillConfig(min_rows=2, tolerance=0.5, candidates=TailFillConfig().candidates))
    before = {c.category: c for c in outcome.before}
    after = {c.category: c for c in outcome.after}
    assert before["ratios"].under and before["ratios"].rows == 0
    assert not before["arithmetic"].under
    assert {r["category"] for r in outcome.rows} == {"ratios"}
    assert {r["root_id"] for r in outcome.rows} == {SEEDS[6]["id"]}
    assert after["ratios"].rows == len(outcome.rows) >= 2
    assert {r["technique"] for r in outcome.rows} == {"tail_fill"}
    assert outcome.teacher_calls == sum(r.sampling.n for batch in teacher.calls for r in batch)


def test_a_rewrite_that_changes_nothing_or_is_empty_is_rejected_with_its_reason():
    outcome = _fill(_answers(lambda hints, i: hints["instruction"] if hints["operation"] == "edge_case" else "  "),
                    TailFillConfig(min_rows=5, rounds=1))
    reasons = {r["reason"] for r in outcome.rejected}
    assert reasons == {"no_information_gain", "empty_instruction"}
    assert not outcome.rows and not outcome.instructions


def test_a_rewrite_that_duplicates_a_corpus_row_is_removed_naming_it():
    corpus = [_corpus_row(s, n) for s in SEEDS[:6] for n in range(2)]
    copied = {**_corpus_row(SEEDS[6], 0), "id": "in-corpus", "instruction": "Ratio task: the copied one."}
    outcome = _fill(_answers(lambda hints, i: "Ratio task: the copied one."), TailFillConfig(min_rows=3, rounds=1),
                    corpus=[*corpus, copied])
    duplicates = [r for r in outcome.rejected if r["reason"] == "exact_duplicate"]
    assert duplicates and {r["related_id"] for r in duplicates} == {"in-corpus"}
    assert not outcome.rows


def test_the_budget_bounds_what_is_made_over_all_rounds():
    teacher = _answers(lambda hints, i: f"{hints['instruction']} Case {len(teacher.calls)}.")
    # k = 4: a math instruction costs 1 rewrite + 4 answers (no judge).
    outcome = _fill(teacher, TailFillConfig(min_rows=10, max_teacher_calls=12))
    assert outcome.teacher_calls <= 12
    assert len(teacher.requests("tail_fill")) == 2


def test_existing_rows_are_never_removed_and_win_their_clusters():
    existing = [{"id": "old", "origin": "synthetic", "instruction": "Explain how tides follow the moon around the earth."}]
    new = [{"id": "new", "origin": "human", "verified": True, "generation": 0,
            "instruction": "Explain how tides follow the moon around the earth!"}]
    outcome = curate_corpus(new, CurationConfig(semantic=False, decontaminate=False), {}, existing=existing)
    assert [r["id"] for r in outcome.removed] == ["new"] and outcome.removed[0]["related_id"] == "old"
    assert outcome.kept == []
