"""Evol-Instruct elimination: each failure case with planted good and bad evolutions."""

from __future__ import annotations

import pytest

from synth_assets.core.elimination import (
    COPIED_PROMPT_PHRASES,
    EQUAL_TEMPLATE,
    STOP_WORDS,
    copies_prompt_words,
    eliminate,
    has_no_information_gain,
    is_sorry_short,
    is_stopwords_only,
    next_pool,
    parse_equality_judgment,
)
from synth_assets.core.rows import RejectReason as Reason
from synth_assets.core.templates import load_template

GOOD_INSTRUCTION = "Write a Python function that returns the median of a list, handling empty lists with a ValueError."
GOOD_RESPONSE = "def median(xs):\n    if not xs:\n        raise ValueError('empty list')\n    ..."
NOT_EQUAL = "Not Equal"


# --- rule 1: no information gain ---------------------------------------------------------------


@pytest.mark.parametrize(
    "judge_text",
    [
        "Equal",
        "equal",
        "EQUAL.",
        "**Equal**",
        "Equal\n\nBoth ask for the same thing.",
        "Judgement: Equal. The second is not harder.",
        "The two instructions are equal.",
        "Equivalent",
        "Equal or Not Equal: Equal",
    ],
)
def test_equal_judgements_mean_no_information_gain(judge_text: str) -> None:
    assert parse_equality_judgment(judge_text) is True
    assert has_no_information_gain(judge_text)
    assert eliminate(GOOD_INSTRUCTION, GOOD_RESPONSE, judge_text).reason == Reason.NO_INFORMATION_GAIN


@pytest.mark.parametrize(
    "judge_text",
    [
        "Not Equal",
        "not equal",
        "NOT_EQUAL",
        "**Not Equal**",
        "Not Equal. The second adds a constraint on empty lists.",
        "They are not equal.",
        "They aren't equal",
        "They don't seem equal to me.",
        "Unequal",
        "Not equivalent",
        "Equal or Not Equal? Not Equal",
        "They are not really equal; the second one is deeper.",
    ],
)
def test_not_equal_judgements_keep_the_evolution(judge_text: str) -> None:
    assert parse_equality_judgment(judge_text) is False
    assert not has_no_information_gain(judge_text)
    assert eliminate(GOOD_INSTRUCTION, GOOD_RESPONSE, judge_text).keep


@pytest.mark.parametrize("judge_text", ["", "I cannot decide.", "The second one is harder.", "Equal or Not Equal"])
def test_a_judgement_with_no_answer_fails_as_unparseable(judge_text: str) -> None:
    assert parse_equality_judgment(judge_text) is None
    assert not has_no_information_gain(judge_text)
    assert eliminate(GOOD_INSTRUCTION, GOOD_RESPONSE, judge_text).reason == Reason.JUDGE_UNPARSEABLE


def test_equal_template_has_both_placeholders_and_a_version() -> None:
    template = load_template(EQUAL_TEMPLATE)
    prompt = template.render(first="Sort a list.", second="Sort a list in place, stably.")
    assert "Sort a list.\n" in prompt and "Sort a list in place, stably." in prompt
    assert "Equal" in prompt and "Not Equal" in prompt
    assert len(template.version) == 12


# --- rule 2: "sorry" and short ------------------------------------------------------------------


def test_sorry_short_rule() -> None:
    short_sorry = "I'm sorry, but I can't answer that without more details."
    assert is_sorry_short(short_sorry)
    assert is_sorry_short("SORRY! " + "word " * 78)  # 79 words
    assert not is_sorry_short("Sorry " + "word " * 79)  # 80 words is long enough
    assert not is_sorry_short("Here is the answer: 42.")
    assert not is_sorry_short("The sorrys and sorrowful songs of the band.")
    assert eliminate(GOOD_INSTRUCTION, short_sorry, NOT_EQUAL).reason == Reason.SORRY_SHORT_RESPONSE
    long_sorry = "Sorry for the long answer. " + "The median is the middle value of the sorted list. " * 10
    assert eliminate(GOOD_INSTRUCTION, long_sorry, NOT_EQUAL).keep


# --- rule 3: only punctuation and stop words ----------------------------------------------------


@pytest.mark.parametrize(
    "response", ["", "...", "It is what it is.", "I'm not, you're not -- they were!", "?!", "And so on, and so on..."]
)
def test_stopwords_only_rule_rejects(response: str) -> None:
    assert is_stopwords_only(response)
    assert eliminate(GOOD_INSTRUCTION, response, NOT_EQUAL).reason == Reason.STOPWORDS_ONLY_RESPONSE


@pytest.mark.parametrize("response", ["42", "It is blue.", "Yes.", "It is what it is, café."])
def test_stopwords_only_rule_keeps_any_content_word(response: str) -> None:
    assert not is_stopwords_only(response)
    assert eliminate(GOOD_INSTRUCTION, response, NOT_EQUAL).keep


def test_stop_word_list_is_the_documented_english_list() -> None:
    assert len(STOP_WORDS) == 179
    assert {"the", "and", "i", "don't", "t", "ll"} <= STOP_WORDS
    assert "sorry" not in STOP_WORDS and "yes" not in STOP_WORDS


# --- rule 4: copied evolving-prompt words -------------------------------------------------------


@pytest.mark.parametrize(
    "instruction",
    [
        "#Rewritten Prompt#: Sort a list of numbers in place.",
        "Given Prompt: sort a list.",
        "Here is the rewritten prompt: sort a list.",
        "The rewritten   task: sort a list stably.",
        "#Created Prompt#\nSort a list.",
        "Sort a list (no preamble).",
    ],
)
def test_copied_prompt_words_rule_rejects(instruction: str) -> None:
    assert copies_prompt_words(instruction)
    assert eliminate(instruction, GOOD_RESPONSE, NOT_EQUAL).reason == Reason.COPIED_PROMPT_WORDS


def test_copied_prompt_words_rule_keeps_ordinary_instructions() -> None:
    for instruction in [
        GOOD_INSTRUCTION,
        "Explain what a prompt is in a terminal.",
        "Given a list, return its rewritten form.",
    ]:
        assert not copies_prompt_words(instruction)
        assert eliminate(instruction, GOOD_RESPONSE, NOT_EQUAL).keep
    assert all(copies_prompt_words(f"x {phrase.upper()} y") for phrase in COPIED_PROMPT_PHRASES)


# --- eliminate: order, and a scripted teacher ---------------------------------------------------


def test_rules_apply_in_the_papers_order() -> None:
    copied = "#Rewritten Prompt#: sort a list"
    assert eliminate(copied, "", "Equal").reason == Reason.NO_INFORMATION_GAIN
    assert eliminate(copied, "Sorry.", NOT_EQUAL).reason == Reason.SORRY_SHORT_RESPONSE
    assert eliminate(copied, "...", NOT_EQUAL).reason == Reason.STOPWORDS_ONLY_RESPONSE
    assert eliminate(copied, GOOD_RESPONSE, NOT_EQUAL).reason == Reason.COPIED_PROMPT_WORDS


# (parent, evolved instruction, scripted response, scripted judge answer, expected reason or None)
SCRIPTED_ROUND = [
    (
        "Sort a list.",
        "Sort a list of numbers in descending order without using sorted().",
        "def sort_desc(xs): ...",
        "Not Equal",
        None,
    ),
    ("Sum a list.", "Sum a list.", "def total(xs): return sum(xs)", "Equal", Reason.NO_INFORMATION_GAIN),
    (
        "Add two numbers.",
        "Add two numbers given in Roman numerals up to MMMCMXCIX.",
        "Sorry, I cannot do that.",
        "Not Equal",
        Reason.SORRY_SHORT_RESPONSE,
    ),
    (
        "Name a colour.",
        "Name a colour whose name has exactly zero letters.",
        "It is not.",
        "Not Equal",
        Reason.STOPWORDS_ONLY_RESPONSE,
    ),
    (
        "Reverse a string.",
        "#Rewritten Prompt#: Reverse a string without slicing.",
        "def rev(s): ...",
        "Not Equal",
        Reason.COPIED_PROMPT_WORDS,
    ),
    (
        "Count vowels.",
        "Count vowels in a string, treating 'y' as a vowel only at the end.",
        "def vowels(s): ...",
        "Verdict: NOT EQUAL - adds a rule.",
        None,
    ),
    ("Find a max.", "Find the maximum of a list.", "max(xs)", "I think so.", Reason.JUDGE_UNPARSEABLE),
]


def test_scripted_round_rejects_each_planted_failure_and_returns_parents_to_the_pool() -> None:
    parents = [row[0] for row in SCRIPTED_ROUND]
    evolved = [row[1] for row in SCRIPTED_ROUND]
    verdicts = [eliminate(instruction, response, judge) for _, instruction, response, judge, _ in SCRIPTED_ROUND]
    assert [v.reason for v in verdicts] == [row[4] for row in SCRIPTED_ROUND]
    for (_, instruction, response, judge, _), verdict in zip(SCRIPTED_ROUND, verdicts, strict=True):
        if verdict.keep:
            assert parse_equality_judgment(judge) is False
            assert not (is_sorry_short(response) or is_stopwords_only(response) or copies_prompt_words(instruction))
        else:
            assert verdict.detail
    pool = next_pool(parents, evolved, verdicts)
    assert pool == [evolved[0], *parents[1:5], evolved[5], parents[6]]
    assert len(pool) == len(parents)


def test_next_pool_needs_aligned_inputs() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        next_pool(["a"], ["b", "c"], [])
