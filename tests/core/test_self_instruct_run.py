"""`run_self_instruct`, the Self-Instruct loop, with a scripted teacher: prompts, filters, the pool."""

from __future__ import annotations

from synth_assets.core.ingest import seed_row
from synth_assets.core.self_instruct_run import SelfInstructConfig, run_self_instruct
from tests.core.teachers import ScriptedTeacher

TOPICS = ["tides", "yeast", "gears", "glaciers", "violins", "comets", "bees", "canals", "lichens", "kites"]
SEEDS = [seed_row({"id": f"s{i}", "domain": "general", "category": "writing", "response": "An answer.",
                   "instruction": f"Explain to a child how {topic} work, in three sentences.",
                   "_file": "seeds.jsonl", "_line": i}) for i, topic in enumerate(TOPICS)]
NEW_TASKS = ["Plan a picnic menu for six people with one vegetarian guest.",
             "Describe the smell of rain to someone who has never noticed it.",
             "List four questions to ask before adopting a cat."]


def continuation(hints, index):
    # Task 9's text, then numbered tasks: new ones, a near repeat, a banned keyword, a too-short one.
    return ("Write a limerick about a lighthouse keeper who is afraid of the dark.\n"
            + "\n".join(f"Task {10 + k}: {task}" for k, task in enumerate(NEW_TASKS))
            + f"\nTask 13: {NEW_TASKS[0].replace('six', 'seven')}\nTask 14: Draw a map of your street.\nTask 15: Sing.")


def test_kept_tasks_are_rows_and_every_rejected_task_has_its_reason():
    outcome = run_self_instruct(SEEDS, ScriptedTeacher(self_instruct=continuation), "scripted:x",
                                SelfInstructConfig(steps=1, prompts_per_step=1))
    assert [r["instruction"] for r in outcome.rows][:1] == ["Write a limerick about a lighthouse keeper who is afraid of the dark."]
    assert [r["instruction"] for r in outcome.rows][1:] == NEW_TASKS
    assert {r["reason"] for r in outcome.rejected} == {"not_novel", "banned_keyword", "too_short"}
    near = next(r for r in outcome.rejected if r["reason"] == "not_novel")
    assert near["score"] > 0.7 and NEW_TASKS[0] in near["detail"]  # compared with a task kept moments before
    for row in outcome.rows + outcome.rejected:
        assert (row["technique"], row["operation"], row["round"], row["generation"]) == ("self_instruct", "generate_task", 1, 1)
        assert row["parent_id"] in {s["id"] for s in SEEDS} and row["root_id"] == row["parent_id"]


def test_the_parent_is_the_first_seed_shown_in_the_prompt():
    script = ScriptedTeacher(self_instruct=continuation)
    outcome = run_self_instruct(SEEDS, script, "scripted:x", SelfInstructConfig(steps=1, prompts_per_step=1))
    [request] = script.calls[0]
    first_shown = request.hints["examples"].splitlines()[0]
    assert outcome.rows[0]["parent_id"] == next(s["id"] for s in SEEDS if s["instruction"] == first_shown)
    assert request.prompt_text.rstrip().endswith("Task 9:")


def test_tasks_kept_in_one_step_are_in_context_examples_in_the_next():
    script = ScriptedTeacher(self_instruct=continuation)
    outcome = run_self_instruct(SEEDS, script, "scripted:x", SelfInstructConfig(steps=2, prompts_per_step=3))
    kept = {r["instruction"] for r in outcome.rows if r["round"] == 1}
    shown_later = {t for r in script.calls[1] for t in r.hints["examples"].splitlines()}
    assert kept and kept & shown_later
    assert not kept & {t for r in script.calls[0] for t in r.hints["examples"].splitlines()}
    assert all(r["round"] == 1 for r in outcome.rows)  # step 2 only repeated step 1's tasks: not novel
    assert [c.sampling.seed for c in (script.calls[0][0], script.calls[1][0])] == [0, 1]


def test_a_truncated_continuation_loses_its_last_task_and_too_few_seeds_ask_nothing():
    cut = ScriptedTeacher(self_instruct=lambda h, i: (continuation(h, i), "length"))
    outcome = run_self_instruct(SEEDS, cut, "scripted:x", SelfInstructConfig(steps=1, prompts_per_step=1))
    assert "too_short" not in {r["reason"] for r in outcome.rejected}  # "Sing." was the cut-off last task
    idle = ScriptedTeacher(self_instruct=continuation)
    empty = run_self_instruct(SEEDS[:7], idle, "scripted:x", SelfInstructConfig())
    assert (empty.rows, empty.rejected, idle.calls) == ([], [], [])
