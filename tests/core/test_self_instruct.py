"""Self-Instruct: each filter with planted good and bad tasks, the prompt, and the output parser."""

from __future__ import annotations

from collections import Counter

import pytest

from synth_assets.core.rouge import NoveltyIndex
from synth_assets.core.rows import RejectReason
from synth_assets.core.self_instruct import (
    BANNED_KEYWORDS,
    SELF_INSTRUCT_TEMPLATE,
    filter_instruction,
    filter_instructions,
    has_banned_keyword,
    is_novel,
    is_within_length,
    parse_generated_tasks,
    render_prompt,
    sample_in_context_tasks,
    starts_with_non_ascii,
    starts_with_punctuation,
    starts_with_write_a_program,
)
from synth_assets.core.templates import load_template
from synth_assets.core.verdict import Verdict

HUMAN_TASKS = [
    "Give three tips for staying healthy.",
    "Explain why the sky is blue.",
    "Write a haiku about autumn leaves.",
    "Translate 'good morning' into Spanish and French.",
    "Summarize the plot of Romeo and Juliet in two sentences.",
    "Suggest a name for a bakery that sells only bread.",
    "List the planets of the solar system in order from the sun.",
    "Convert 72 degrees Fahrenheit to Celsius and show the steps.",
]
Reject = RejectReason


def words(n: int) -> str:
    return " ".join(["Describe"] + [f"thing{i}" for i in range(n - 1)])


def verdict_for(text: str, pool: list[str] | None = None) -> Verdict:
    return filter_instruction(text, NoveltyIndex(pool or []))


# --- one test per rule --------------------------------------------------------------------------


def test_length_rule_keeps_4_to_150_words() -> None:
    assert not is_within_length(words(3)) and is_within_length(words(4))
    assert is_within_length(words(150)) and not is_within_length(words(151))
    assert verdict_for(words(3)).reason == Reject.TOO_SHORT
    assert verdict_for("").reason == Reject.TOO_SHORT
    assert verdict_for(words(151)).reason == Reject.TOO_LONG
    assert verdict_for(words(4)).keep and verdict_for(words(150)).keep


@pytest.mark.parametrize("keyword", BANNED_KEYWORDS)
def test_banned_keyword_rule_rejects_each_keyword(keyword: str) -> None:
    text = f"Please describe the {keyword.upper()} shown in my message today."
    assert has_banned_keyword(text)
    verdict = verdict_for(text)
    assert verdict.reason == Reject.BANNED_KEYWORD
    assert keyword in verdict.detail


def test_banned_keyword_rule_matches_whole_words_only() -> None:
    for text in [
        "Explain how a mapping between two sets works.",
        "Describe your ideal profile for a job applicant.",
        "Explain why graphite conducts electricity well.",
        "Tell me where to go next summer for a holiday.",
    ]:
        assert not has_banned_keyword(text), text
        assert verdict_for(text).keep, text
    assert has_banned_keyword("Tell me how to Go\n To the station from here.")


@pytest.mark.parametrize("first", ['"', "(", "-", "*", "#", ".", "?", "["])
def test_punctuation_rule_rejects_a_leading_punctuation_mark(first: str) -> None:
    text = f"{first}Explain why the sky is blue."
    assert starts_with_punctuation(text)
    assert verdict_for(text).reason == Reject.STARTS_WITH_PUNCTUATION


def test_punctuation_rule_keeps_letters_and_digits_and_ignores_leading_space() -> None:
    for text in [
        "Explain why the sky is blue.",
        "3 reasons why the sky is blue, please.",
        "   Explain the rainbow colours.",
    ]:
        assert not starts_with_punctuation(text)
        assert verdict_for(text).keep
    assert verdict_for("   - Explain the rainbow colours.").reason == Reject.STARTS_WITH_PUNCTUATION


@pytest.mark.parametrize(
    "text", ["Émile asks why the sky is blue.", "¿Por qué el cielo es azul hoy?", "“Explain the sky” in four words."]
)
def test_non_ascii_rule_rejects_a_non_ascii_first_character(text: str) -> None:
    assert starts_with_non_ascii(text)
    assert verdict_for(text).reason == Reject.STARTS_NON_ASCII


def test_non_ascii_rule_keeps_non_ascii_later_in_the_text() -> None:
    text = "Explain what the word café means."
    assert not starts_with_non_ascii(text)
    assert verdict_for(text).keep


def test_write_a_program_rule() -> None:
    for text in ["Write a program that prints the first ten primes.", "write  a  PROGRAM to sort a list of numbers."]:
        assert starts_with_write_a_program(text)
        assert verdict_for(text).reason == Reject.STARTS_WRITE_A_PROGRAM
    for text in [
        "Write a programme of events for a wedding day.",
        "Write a function that prints the first ten primes.",
    ]:
        assert not starts_with_write_a_program(text)
        assert verdict_for(text).keep


def test_novelty_rule_rejects_above_0_7_and_keeps_0_7_exactly() -> None:
    pool = ["alpha beta gamma delta epsilon zeta eta theta iota kappa"]
    index = NoveltyIndex(pool)
    at_threshold = "alpha beta gamma delta epsilon zeta eta x y z"  # LCS 7 of 10 and 10: F = 0.7
    above = "alpha beta gamma delta epsilon zeta eta theta y z"  # F = 0.8
    assert is_novel(at_threshold, index) and verdict_for(at_threshold, pool).keep
    assert not is_novel(above, index)
    verdict = verdict_for(above, pool)
    assert verdict.reason == Reject.NOT_NOVEL
    assert verdict.score == pytest.approx(0.8)
    assert pool[0] in verdict.detail
    assert is_novel(above, index, threshold=0.85)


def test_rules_apply_in_the_documented_order() -> None:
    # Too short and starting with punctuation: length is checked first.
    assert verdict_for("- Draw it").reason == Reject.TOO_SHORT
    # Punctuation before the banned keyword, non-ASCII before "Write a program".
    assert verdict_for("(Draw a map of the town.)").reason == Reject.STARTS_WITH_PUNCTUATION
    # "Write a program" before the banned keyword, and before novelty.
    text = "Write a program that reads a file of numbers."
    assert verdict_for(text, [text]).reason == Reject.STARTS_WRITE_A_PROGRAM
    # A banned keyword before novelty.
    text = "Describe this image in five words."
    assert verdict_for(text, [text]).reason == Reject.BANNED_KEYWORD


def test_verdict_has_a_reason_exactly_when_it_rejects() -> None:
    with pytest.raises(ValueError, match="reason"):
        Verdict(keep=True, reason=Reject.TOO_SHORT)
    with pytest.raises(ValueError, match="reason"):
        Verdict(keep=False)


# --- a scripted teacher through parse + filter --------------------------------------------------

SCRIPTED_TEACHER_REPLY = (
    """ Suggest three fun activities for a rainy weekend with children.
Task 10: Plot the monthly sales figures for this year.
Task 11: Write a program that checks whether a number is prime.
Task 12: ¿Cuál es la capital de Francia y por qué?
Task 13: "Quote your favourite line from a novel and explain it."
Task 14: Sort these.
Task 15: Explain why the sky is blue.
Task 16: Describe how photosynthesis turns sunlight into chemical energy in plants.
Task 17: Suggest three fun activities for a rainy weekend with kids.
Task 18: """
    + " ".join(["word"] * 151)
    + """
Task 19: Compose a short limerick about a cat who loves cheese."""
)

PLANTED = {
    "Plot the monthly sales figures for this year.": Reject.BANNED_KEYWORD,
    "Write a program that checks whether a number is prime.": Reject.STARTS_WRITE_A_PROGRAM,
    "¿Cuál es la capital de Francia y por qué?": Reject.STARTS_NON_ASCII,
    '"Quote your favourite line from a novel and explain it."': Reject.STARTS_WITH_PUNCTUATION,
    "Sort these.": Reject.TOO_SHORT,
    "Explain why the sky is blue.": Reject.NOT_NOVEL,  # a copy of a human seed
    "Suggest three fun activities for a rainy weekend with kids.": Reject.NOT_NOVEL,  # near copy of task 9
    " ".join(["word"] * 151): Reject.TOO_LONG,
}


def test_scripted_teacher_bad_tasks_get_the_right_reason_and_kept_tasks_pass_every_rule() -> None:
    tasks = parse_generated_tasks(SCRIPTED_TEACHER_REPLY)
    assert len(tasks) == 11
    index = NoveltyIndex(HUMAN_TASKS)
    verdicts = filter_instructions(tasks, index)

    for task, verdict in zip(tasks, verdicts, strict=True):
        if task in PLANTED:
            assert verdict.reason == PLANTED[task], task
        else:
            assert verdict.keep, (task, verdict)
    kept = [task for task, verdict in zip(tasks, verdicts, strict=True) if verdict.keep]
    assert len(kept) == 3
    for position, task in enumerate(kept):
        assert is_within_length(task) and not has_banned_keyword(task)
        assert not (starts_with_punctuation(task) or starts_with_non_ascii(task) or starts_with_write_a_program(task))
        others = NoveltyIndex(HUMAN_TASKS + kept[:position] + kept[position + 1 :])
        assert is_novel(task, others)
    assert index.texts == HUMAN_TASKS + kept

    reasons = Counter(verdict.reason for verdict in verdicts if not verdict.keep)
    assert reasons[Reject.NOT_NOVEL] == 2 and sum(reasons.values()) == len(PLANTED)
    assert verdicts[tasks.index("Plot the monthly sales figures for this year.")].detail == "contains 'plot'"


def test_filter_instructions_rejects_a_repeat_within_one_batch() -> None:
    index = NoveltyIndex()
    text = "Describe the water cycle to a ten year old."
    verdicts = filter_instructions([text, text.upper()], index)
    assert verdicts[0].keep and verdicts[1].reason == Reject.NOT_NOVEL
    assert len(index) == 1


# --- the prompt ---------------------------------------------------------------------------------


def build_prompt(human: list[str], machine: list[str], rng_seed: int | str, **counts: int) -> str:
    """The prompt `run_self_instruct` sends: sampled in-context tasks, rendered."""
    return render_prompt(sample_in_context_tasks(human, machine, rng_seed, **counts))


def test_prompt_has_six_human_and_two_machine_tasks_and_ends_with_task_9() -> None:
    machine = [
        "Machine task one is about boats.",
        "Machine task two is about trains.",
        "Machine three is about planes.",
    ]
    prompt = build_prompt(HUMAN_TASKS, machine, rng_seed=7)
    assert prompt.endswith("Task 9:")
    listed = [line.split(": ", 1)[1] for line in prompt.splitlines() if line.startswith("Task ") and ": " in line]
    assert len(listed) == 8
    assert sum(task in HUMAN_TASKS for task in listed) == 6
    assert sum(task in machine for task in listed) == 2
    numbers = [line.split(":", 1)[0] for line in prompt.splitlines() if line.startswith("Task ")]
    assert numbers == [f"Task {i}" for i in range(1, 10)]


def test_prompt_fills_missing_machine_tasks_with_human_ones() -> None:
    one_machine = ["Machine task about boats."]
    tasks = sample_in_context_tasks(HUMAN_TASKS, one_machine, rng_seed=1)
    assert len(tasks) == 8 and sum(t in HUMAN_TASKS for t in tasks) == 7 and one_machine[0] in tasks
    tasks = sample_in_context_tasks(HUMAN_TASKS, [], rng_seed=1)
    assert sorted(tasks) == sorted(HUMAN_TASKS)


def test_prompt_is_reproducible_from_its_seed() -> None:
    machine = ["Machine task about boats.", "Machine task about trains.", "Machine task about planes."]
    assert build_prompt(HUMAN_TASKS, machine, rng_seed="run1:3") == build_prompt(
        HUMAN_TASKS, machine, rng_seed="run1:3"
    )
    prompts = {build_prompt(HUMAN_TASKS, machine, rng_seed=seed) for seed in range(10)}
    assert len(prompts) > 1


def test_prompt_needs_enough_human_tasks() -> None:
    with pytest.raises(ValueError, match="human_tasks has 5 tasks; the prompt needs 8"):
        build_prompt(HUMAN_TASKS[:5], [], rng_seed=0)
    assert build_prompt(HUMAN_TASKS[:5], [], rng_seed=0, n_human=3, n_machine=2).endswith("Task 6:")


def test_prompt_puts_each_task_on_one_line_and_keeps_braces() -> None:
    human = [f"Task with {{braces}} number {i}\nand a second line:" for i in range(6)]
    prompt = build_prompt(human, ["Machine {x} one.", "Machine two."], rng_seed=0)
    assert "Task with {braces} number 0 and a second line\n" in prompt
    assert "Machine {x} one." in prompt
    assert len([line for line in prompt.splitlines() if line.startswith("Task ")]) == 9


def test_self_instruct_template_is_versioned() -> None:
    template = load_template(SELF_INSTRUCT_TEMPLATE)
    assert len(template.version) == 12
    assert "{tasks}" in template.text and "{next_number}" in template.text


# --- the parser ---------------------------------------------------------------------------------


def test_parser_reads_the_continuation_of_task_9_and_later_markers() -> None:
    reply = " Name three primary colours.\nTask 10: Explain gravity.\n**Task 11:** **Define entropy.**\n12. Describe rain.\n13) List two oceans."
    assert parse_generated_tasks(reply) == [
        "Name three primary colours.",
        "Explain gravity.",
        "Define entropy.",
        "Describe rain.",
        "List two oceans.",
    ]


def test_parser_handles_a_restated_task_9_and_trailing_chatter() -> None:
    reply = "Task 9: Explain gravity.\n\nTask 10: Define entropy\nin simple words.\n\nI hope these tasks are useful!"
    assert parse_generated_tasks(reply) == ["Explain gravity.", "Define entropy in simple words."]


def test_parser_does_not_split_inside_numbers() -> None:
    reply = "Convert 3.5 kg to pounds.\n10-year-olds: plan a party for them.\nTask 10: Explain 1.5 times 2."
    assert parse_generated_tasks(reply) == [
        "Convert 3.5 kg to pounds. 10-year-olds: plan a party for them.",
        "Explain 1.5 times 2.",
    ]


def test_parser_drops_the_last_task_of_a_truncated_reply() -> None:
    reply = "Explain gravity.\nTask 10: Define entropy and give an exam"
    assert parse_generated_tasks(reply, truncated=True) == ["Explain gravity."]
    assert parse_generated_tasks("", truncated=True) == []
    assert parse_generated_tasks("   \n\n ") == []

