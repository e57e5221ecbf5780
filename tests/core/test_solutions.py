"""`solve_requests` and `candidate_rows`: k answers per instruction, with the prompts each domain gets."""

from __future__ import annotations

import pytest

from synth_assets.core.ingest import seed_row
from synth_assets.core.solutions import CandidateConfig, candidate_rows, solve_requests
from synth_assets.core.templates import load_template
from tests.core.teachers import ScriptedTeacher


def seed(domain: str, **fields) -> dict:
    return seed_row({"id": f"{domain}-1", "domain": domain, "category": "c", "instruction": f"A {domain} task.",
                     "_file": "seeds.jsonl", "_line": 1, **fields})


CODE = seed("code", solution="def f():\n    return 1\n", entry_point="f", tests="assert f() == 1")
MATH = seed("math", answer=12, solution="3 times 4 is 12.")
GENERAL = seed("general", response="A reference answer.")


def test_one_request_per_instruction_asks_for_k_samples_with_the_configured_sampling():
    config = CandidateConfig(k=3, temperature=0.9, top_p=0.8, max_tokens=64, seed=7)
    requests = solve_requests([CODE, MATH, GENERAL], config)
    assert len(requests) == 3
    for request in requests:
        s = request.sampling
        assert (s.n, s.temperature, s.top_p, s.max_tokens, s.seed) == (3, 0.9, 0.8, 64, 7)
        assert request.messages[-1].content == load_template("solve").render(instruction=request.hints["instruction"])


def test_code_and_math_get_their_system_prompt_and_the_rules_teacher_its_references():
    code, math, general = solve_requests([CODE, MATH, GENERAL], CandidateConfig())
    assert code.messages[0].role == "system" and code.messages[0].content == load_template("solve_code_system").text
    assert math.messages[0].content == load_template("solve_math_system").text
    assert [m.role for m in general.messages] == ["user"]
    assert code.hints["solution"] == CODE["response"] and "answer" not in code.hints
    assert math.hints["answer"] == "12" and general.hints["solution"] == "A reference answer."


def test_every_sample_becomes_a_candidate_row_of_its_instruction():
    script = ScriptedTeacher(solve=lambda h, i: (f"answer {i} to {h['instruction']}", "length" if i == 2 else "stop"))
    completions = script(solve_requests([CODE, MATH], CandidateConfig(k=3)))
    rows = candidate_rows([CODE, MATH], completions, "scripted:x")
    assert [(r["parent_id"], r["sample_index"]) for r in rows] == [(CODE["id"], i) for i in range(3)] + [(MATH["id"], i) for i in range(3)]
    assert [r["finish_reason"] for r in rows[:3]] == ["stop", "stop", "length"]
    assert rows[0]["tests"] == CODE["tests"] and rows[3]["reference_answer"] == "12"
    assert (rows[0]["technique"], rows[0]["generation"], rows[0]["teacher"]) == ("seed", 1, "scripted:x")
    assert len({r["id"] for r in rows}) == 6


def test_k_must_be_at_least_one():
    with pytest.raises(ValueError, match=r"CandidateConfig.k must be >= 1"):
        CandidateConfig(k=0)
