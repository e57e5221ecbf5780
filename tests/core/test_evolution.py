"""`evolve`, the Evol-Instruct loop, with a scripted teacher: rounds, elimination, the pool."""

from __future__ import annotations

import pytest

from synth_assets.core.evolution import IN_DEPTH, EvolutionConfig, evolve
from synth_assets.core.ingest import seed_row
from tests.core.teachers import ScriptedTeacher

SEEDS = [seed_row({"id": f"s{i}", "domain": "code", "category": "lists", "instruction": f"Write f{i}(xs) returning a sum.",
                   "solution": f"def f{i}(xs):\n    return sum(xs)\n", "entry_point": f"f{i}", "tests": f"assert f{i}([1]) == 1",
                   "_file": "seeds.jsonl", "_line": i}) for i in range(3)]
ANSWER = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total"


def teacher(equal_when: str = "never") -> ScriptedTeacher:
    """Rewrites append the round's operation; the judge calls a rewrite Equal when its text holds `equal_when`."""
    return ScriptedTeacher(
        evolve=lambda h, i: f"{h['instruction']} Then {h['operation']}.",
        respond=lambda h, i: ANSWER,
        judge_equal=lambda h, i: "Equal" if equal_when in h["second"] else "Not Equal",
    )


def test_each_round_rewrites_every_lineage_once_from_its_latest_kept_version():
    outcome = evolve(SEEDS, teacher(), "scripted:x", EvolutionConfig(rounds=2))
    assert outcome.rejected == []
    first = [r for r in outcome.rows if r["round"] == 1]
    second = [r for r in outcome.rows if r["round"] == 2]
    assert len(first) == len(second) == 3
    assert {r["parent_id"] for r in first} == {s["id"] for s in SEEDS}
    assert {r["parent_id"] for r in second} == {r["id"] for r in first}
    for row in outcome.rows:
        assert (row["origin"], row["generation"], row["technique"]) == ("synthetic", 1, "evol_instruct")
        assert row["root_id"] in {s["id"] for s in SEEDS} and row["teacher"] == "scripted:x"


def test_a_failed_evolution_is_recorded_and_its_parent_stays_in_the_pool():
    outcome = evolve(SEEDS[:1], teacher(equal_when="Then"), "scripted:x", EvolutionConfig(rounds=2))
    assert outcome.rows == []
    assert [r["reason"] for r in outcome.rejected] == ["no_information_gain", "no_information_gain"]
    # Both rounds started from the seed: the rejected rewrite never became a parent.
    assert [r["parent_id"] for r in outcome.rejected] == [SEEDS[0]["id"]] * 2
    assert [r["related_id"] for r in outcome.rejected] == [SEEDS[0]["id"]] * 2
    assert outcome.rejected[0]["detail"] == "judge said: 'Equal'"


def test_an_in_depth_rewrite_keeps_the_tests_and_a_breadth_mutation_does_not():
    depth = evolve(SEEDS[:1], teacher(), "scripted:x", EvolutionConfig(rounds=1, operations=IN_DEPTH[:1]))
    breadth = evolve(SEEDS[:1], teacher(), "scripted:x", EvolutionConfig(rounds=1, operations=("breadth",)))
    assert depth.rows[0]["tests"] == SEEDS[0]["tests"] and depth.rows[0]["entry_point"] == "f0"
    assert breadth.rows[0]["tests"] is None and breadth.rows[0]["response"] is None


def test_the_teacher_answers_and_judges_every_rewrite_and_zero_rounds_ask_nothing():
    script = teacher()
    evolve(SEEDS, script, "scripted:x", EvolutionConfig(rounds=1))
    assert [len(batch) for batch in script.calls] == [3, 3, 3]  # rewrite, answer, judge: one batch each
    assert {r.hints["kind"] for r in script.calls[1]} == {"respond"}
    assert all(r.sampling.temperature == 0 for r in script.requests("judge_equal"))
    idle = teacher()
    assert evolve(SEEDS, idle, "scripted:x", EvolutionConfig(rounds=0)).rows == [] and idle.calls == []


def test_the_same_seed_gives_the_same_rows():
    config = EvolutionConfig(rounds=2, seed=5)
    assert evolve(SEEDS, teacher(), "t", config) == evolve(SEEDS, teacher(), "t", config)
    with pytest.raises(ValueError, match="operations must be a non-empty subset"):
        EvolutionConfig(operations=("rewrite_everything",))
