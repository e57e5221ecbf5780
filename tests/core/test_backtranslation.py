"""Instruction backtranslation: segments, the scripted teacher's instructions and curation scores."""

from __future__ import annotations

import pytest

from synth_assets.core.backtranslation import (
    CURATION_TEMPLATE,
    INSTRUCTION_TEMPLATE,
    ORIGIN_TAGS,
    PairOrigin,
    curate,
    parse_generated_instruction,
    parse_score,
    split_segments,
)
from synth_assets.core.rows import RejectReason
from synth_assets.core.templates import load_template


def sentence(i: int, n_words: int = 10) -> str:
    return " ".join([f"S{i}"] + [f"w{i}x{j}" for j in range(n_words - 1)]) + "."


def paragraph(first: int, n_sentences: int, n_words: int = 10) -> str:
    return " ".join(sentence(first + k, n_words) for k in range(n_sentences))


# --- segments -----------------------------------------------------------------------------------


def test_each_paragraph_of_a_normal_size_is_a_segment() -> None:
    document = "\n\n".join([paragraph(0, 4), paragraph(10, 5), paragraph(20, 3)])
    assert split_segments(document, min_words=30, max_words=100) == [
        paragraph(0, 4),
        paragraph(10, 5),
        paragraph(20, 3),
    ]


def test_tiny_paragraphs_are_merged_with_a_neighbour() -> None:
    title, body, footer = "A Short History of Bread", paragraph(0, 5), "Thanks for reading."
    segments = split_segments(f"{title}\n\n{body}\n\n \n\n{footer}", min_words=30, max_words=100)
    assert segments == [f"{title}\n\n{body}\n\n{footer}"]


def test_a_tiny_paragraph_stays_alone_when_no_neighbour_can_take_it() -> None:
    big, tiny = paragraph(0, 10), "Short note."  # 100 words: no room for 2 more
    assert split_segments(f"{big}\n\n{tiny}\n\n{big}", min_words=30, max_words=100) == [big, tiny, big]
    assert split_segments("Just one line.", min_words=30, max_words=100) == ["Just one line."]
    assert split_segments("  \n\n  ") == []


def test_huge_paragraphs_are_split_at_sentence_ends_into_even_parts() -> None:
    huge = paragraph(0, 25)  # 250 words
    segments = split_segments(huge, min_words=30, max_words=100)
    assert len(segments) == 3
    assert all(70 <= len(s.split()) <= 100 for s in segments)
    assert all(s.endswith(".") and s.startswith("S") for s in segments)
    assert " ".join(segments) == huge


def test_a_sentence_longer_than_a_segment_is_cut_between_words() -> None:
    long_sentence = sentence(0, 230)
    segments = split_segments(long_sentence, min_words=30, max_words=100)
    assert all(len(s.split()) <= 100 for s in segments)
    assert " ".join(segments).split() == long_sentence.split()


def test_abbreviations_are_not_sentence_ends() -> None:
    text = "Use flour, e.g. rye or spelt. " + paragraph(0, 12)
    segments = split_segments(text, min_words=10, max_words=60)
    assert segments[0].startswith("Use flour, e.g. rye or spelt. S0")


def test_no_text_is_lost_and_no_segment_is_too_long() -> None:
    pieces = [paragraph(0, 2), "Heading", paragraph(10, 30), "x", paragraph(50, 1, 5), paragraph(60, 14)]
    document = "\n\n".join(pieces)
    segments = split_segments(document, min_words=20, max_words=120)
    assert " ".join(segments).split() == document.split()
    assert all(len(s.split()) <= 120 for s in segments)


def test_segment_bounds_are_validated() -> None:
    with pytest.raises(ValueError, match="min_words=50, max_words=10"):
        split_segments("text", min_words=50, max_words=10)
    with pytest.raises(ValueError, match="min_words=0"):
        split_segments("text", min_words=0)


# --- self-augmentation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("How do I bake sourdough bread at home?", "How do I bake sourdough bread at home?"),
        ("Instruction: How do I bake bread?", "How do I bake bread?"),
        ("**Instruction:** How do I bake bread?", "How do I bake bread?"),
        ('Here is the instruction: "How do I bake bread?"', "How do I bake bread?"),
        ("User question:\nExplain how yeast makes dough rise.", "Explain how yeast makes dough rise."),
        ("   ", None),
        ("Instruction:", None),
    ],
)
def test_generated_instruction_is_cleaned(reply: str, expected: str | None) -> None:
    assert parse_generated_instruction(reply) == expected


def test_instruction_template_asks_for_the_instruction_a_segment_answers() -> None:
    template = load_template(INSTRUCTION_TEMPLATE)
    prompt = template.render(segment="Bread needs flour, water and time.")
    assert prompt.rstrip().endswith("Bread needs flour, water and time.")
    assert "instruction" in prompt.lower() and len(template.version) == 12


# --- self-curation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("The answer is complete and written for the user.\nScore: 4", 4),
        ("score: 4/5", 4),
        ("**Score**: 5", 5),
        ("**Score: 3**", 3),
        ("Score: 2 - it mostly misses the question.", 2),
        ("Score - 4 out of 5.", 4),
        ("Final score: [5]", 5),
        ("Score:\n1", 1),
        ("I first thought Score: 2, but on reflection it is better.\nScore: 4", 4),
        ("Reasoning: strong answer. The score is 5.", 5),
    ],
)
def test_scores_are_parsed_robustly(reply: str, score: int) -> None:
    assert parse_score(reply) == score


@pytest.mark.parametrize(
    "reply",
    [
        "A good answer.",
        "Score: <n>",
        "Score: 0",
        "Score: 6",
        "Score: 4.5",
        "Score: 8/10",
        "Score: 4\nOn second thought, Score: 9",
        "",
    ],
)
def test_missing_or_out_of_range_scores_are_none(reply: str) -> None:
    assert parse_score(reply) is None


def test_curation_keeps_scores_at_or_above_the_threshold() -> None:
    assert curate(4).keep and curate(5).keep
    assert curate(3).reason == RejectReason.SCORE_BELOW_THRESHOLD
    assert curate(1).reason == RejectReason.SCORE_BELOW_THRESHOLD
    assert curate(None).reason == RejectReason.SCORE_UNPARSEABLE
    assert curate(3, threshold=3).keep and curate(5, threshold=5).keep
    assert curate(3).score == 3.0
    with pytest.raises(ValueError, match="threshold must be between 1 and 5, got 6"):
        curate(5, threshold=6)


def test_curation_template_has_a_five_point_rubric_ending_with_the_score_line() -> None:
    template = load_template(CURATION_TEMPLATE)
    prompt = template.render(instruction="How do I bake bread?", response="Mix flour and water...")
    assert all(f"\n{n}: " in prompt for n in range(1, 6))
    assert prompt.rstrip().endswith('"Score: <n>", where <n> is a whole number from 1 to 5.')
    assert parse_score(prompt) is None  # the rubric itself holds no score
    assert len(template.version) == 12


def test_origin_tags_follow_the_paper() -> None:
    assert set(ORIGIN_TAGS) == set(PairOrigin)
    assert ORIGIN_TAGS[PairOrigin.backtranslated] == "Answer with knowledge from web search."


# --- a scripted teacher end to end --------------------------------------------------------------


def test_scripted_teacher_pairs_are_kept_or_rejected_by_the_right_rule() -> None:
    document = "\n\n".join(
        [
            "Baking Bread",
            paragraph(0, 4),
            paragraph(10, 4),
            paragraph(20, 4),
            paragraph(30, 4),
        ]
    )
    segments = split_segments(document, min_words=30, max_words=100)
    assert len(segments) == 4 and segments[0].startswith("Baking Bread\n\n")
    scripted_instructions = [
        "Instruction: How do I start baking bread?",
        "What flour works best?",
        "**Instruction:** Why does dough need to rest?",
        "How long should bread bake?",
    ]
    scripted_curation = [
        "Clear, complete and helpful.\nScore: 5",
        "Reads like a blog excerpt.\nScore: 3",
        "It answers the question.\n**Score**: 4/5",
        "It is fine. I would rate it highly.",
    ]
    expected = [None, RejectReason.SCORE_BELOW_THRESHOLD, None, RejectReason.SCORE_UNPARSEABLE]

    instructions = [parse_generated_instruction(reply) for reply in scripted_instructions]
    verdicts = [curate(parse_score(reply)) for reply in scripted_curation]
    assert [v.reason for v in verdicts] == expected
    kept = [(i, s) for i, s, v in zip(instructions, segments, verdicts, strict=True) if v.keep]
    assert kept == [
        ("How do I start baking bread?", segments[0]),
        ("Why does dough need to rest?", segments[2]),
    ]
    for (_, _), verdict in zip(kept, [v for v in verdicts if v.keep], strict=True):
        assert verdict.score is not None and verdict.score >= 4
