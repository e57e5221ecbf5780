"""Attribute samplers: the YAML file's validation, seeded sampling, conditioned prompts, coverage."""

from __future__ import annotations

from collections import Counter

import pytest

from synth_assets.core.attributes import (
    AttributeFileError,
    coverage_lines,
    decode,
    encode,
    joint_coverage,
    load_attributes,
    parse_attributes,
)
from synth_assets.core.evolution import EvolutionConfig, evolve
from synth_assets.core.requests import Completion
from synth_assets.core.self_instruct_run import SelfInstructConfig, run_self_instruct
from synth_assets.core.solutions import candidate_rows
from tests.core import test_evolution, test_self_instruct_run
from tests.pipeline_fixtures import REPO

SPACE = parse_attributes("""
persona:
  a student: 3
  a nurse: 1
difficulty: [easy, hard]
""", "attrs.yaml")


def test_the_shipped_file_is_valid_and_declares_the_five_attributes():
    space = load_attributes(REPO / "data" / "attributes.yaml")
    assert [a.name for a in space.attributes] == ["persona", "audience", "difficulty", "style", "scenario"]
    assert space.combinations == 5 * 4 * 3 * 4 * 5


def test_no_file_means_no_conditioning(tmp_path):
    assert load_attributes(tmp_path / "attributes.yaml") is None


@pytest.mark.parametrize(("text", "message"), [
    ("persona:\n  a student: 0\n", r"attrs.yaml:2: field persona.'a student': the weight must be a positive number, got '0'"),
    ("persona:\n  a student: lots\n", r"attrs.yaml:2: field persona.'a student': the weight must be a positive number, got 'lots'"),
    ("persona:\n  a student: .nan\n", r"attrs.yaml:2: field persona.'a student': the weight must be a positive number"),
    ("persona: a student\n", r"attrs.yaml:1: field 'persona': map each value to a positive weight"),
    ("persona: {}\n", r"attrs.yaml:1: field 'persona': declares no values"),
    ("persona:\n  a: 1\n  a: 2\n", r"attrs.yaml:3: value of 'persona' 'a' is declared twice \(first on line 2\)"),
    ("Persona:\n  a: 1\n", r"attrs.yaml:1: field 'Persona': an attribute name is lower-case letters"),
    ("- persona\n", r"attrs.yaml:1: the file must map attribute names to their values"),
    ("", r"attrs.yaml: no attributes declared"),
    ("persona: [a, b\n", r"attrs.yaml:2: not valid YAML"),
    ("style: [concise, concise]\n", r"attrs.yaml:1: field 'style': a value is listed twice"),
])
def test_a_bad_file_is_an_error_naming_file_line_and_field(text, message):
    with pytest.raises(AttributeFileError, match=message):
        parse_attributes(text, "attrs.yaml")


def test_a_combination_is_fixed_by_seed_and_key_and_follows_the_weights():
    assert SPACE.sample("row-1") == SPACE.sample("row-1")
    assert [SPACE.sample(f"row-{i}", seed=3) for i in range(40)] != [SPACE.sample(f"row-{i}", seed=4) for i in range(40)]
    personas = Counter(SPACE.sample(f"row-{i}")["persona"] for i in range(4000))
    assert 0.70 < personas["a student"] / 4000 < 0.80  # weight 3 of 4
    assert decode(encode({"b": "1", "a": "2"})) == {"a": "2", "b": "1"} and decode(None) is None


def test_evol_instruct_prompts_are_conditioned_and_rows_keep_their_combination():
    script = test_evolution.teacher()
    outcome = evolve(test_evolution.SEEDS, script, "scripted:x", EvolutionConfig(rounds=2), SPACE)
    prompts = [r.messages[0].content for r in script.requests("evolve")]
    rows = outcome.rows + outcome.rejected
    assert len(prompts) == len(rows) == 6
    by_parent_round = {(r["parent_id"], r["round"]): decode(r["attributes"]) for r in rows}
    for (parent, round_), combo in by_parent_round.items():
        assert combo == SPACE.sample(f"{parent}\x1f{round_}")  # drawn for the row it is made from
    for prompt in prompts:
        assert "- persona: " in prompt and "- difficulty: " in prompt
    assert all(row["template_version"].endswith(SPACE.version) for row in rows)
    again = evolve(test_evolution.SEEDS, test_evolution.teacher(), "scripted:x", EvolutionConfig(rounds=2), SPACE)
    assert [r["attributes"] for r in again.rows] == [r["attributes"] for r in outcome.rows]


def test_each_self_instruct_prompt_has_a_combination_its_tasks_keep():
    script = test_self_instruct_run.ScriptedTeacher(self_instruct=test_self_instruct_run.continuation)
    outcome = run_self_instruct(test_self_instruct_run.SEEDS, script, "scripted:x",
                                SelfInstructConfig(steps=1, prompts_per_step=3), SPACE)
    prompts = [r.messages[0].content for r in script.requests("self_instruct")]
    combos = [decode(r["attributes"]) for r in outcome.rows + outcome.rejected]
    assert combos and all(c is not None for c in combos)
    for combo in combos:
        listed = "\n".join(f"- {a.name}: {combo[a.name]}" for a in SPACE.attributes)
        assert any(listed in prompt for prompt in prompts)
    assert all(prompt.rstrip().endswith("Task 9:") for prompt in prompts)  # the list still ends the prompt


def test_answers_inherit_the_combination_of_their_instruction():
    instruction = {**test_evolution.SEEDS[0], "attributes": encode({"persona": "a nurse"})}
    rows = candidate_rows([instruction], [[Completion("x", "stop", 1, 1)]], "scripted:x")
    assert rows[0]["attributes"] == instruction["attributes"]


def test_joint_coverage_counts_combinations_values_and_pairs():
    cells = [encode({"persona": "a student", "difficulty": "easy"}),
             encode({"persona": "a student", "difficulty": "easy"}),
             encode({"persona": "a nurse", "difficulty": "easy"}),
             encode({"persona": "a pilot", "difficulty": "hard"}),  # no longer declared
             None]
    coverage = joint_coverage(cells, SPACE)
    assert (coverage.rows, coverage.conditioned, coverage.undeclared) == (5, 4, 1)
    assert (coverage.combinations_seen, coverage.combinations_possible) == (2, 4)
    assert coverage.per_attribute == (("persona", 2, 2), ("difficulty", 1, 2))
    assert coverage.pairs == (("persona", "difficulty", 2, 4),)
    text = "\n".join(coverage_lines(coverage, "attrs.yaml"))
    assert "2 of the 4 possible combinations appear (50.0%)" in text and "| persona x difficulty | 2 | 4 | 50.0% |" in text
