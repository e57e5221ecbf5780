"""Questions from documents: segment offsets, parsing, the grounding rule and the multiple-choice
rules, one at a time, then a run with the rules teacher on the shipped documents."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from resources.teacher.rules import RulesBackend
from synth_assets.core.backtranslation import split_segments
from synth_assets.core.document_qa import (
    ChoiceItem,
    DocumentQAConfig,
    distinct_distractors,
    grounded,
    grounding_score,
    one_option_matches,
    parse_choice_item,
    parse_qa_pairs,
    run_document_qa,
    segment_spans,
    well_formed,
)
from synth_assets.core.rows import RejectReason

DOCUMENTS = Path(__file__).resolve().parents[2] / "data" / "documents" / "docs.jsonl"
SEGMENT = ("A hash table stores key-value pairs so that looking up a key takes roughly the same time no matter how "
           "many entries the table holds. Two different keys can land in the same bucket, which is called a collision.")


# --- segments keep their offsets ----------------------------------------------------------------

def test_each_segment_spans_exactly_its_words_in_the_document():
    words = " ".join(f"word{i}." for i in range(400))  # one huge paragraph: split between sentences
    text = f"Title line\r\n\r\n  {words}\n \nShort closing paragraph   with  odd   spacing."
    spans = segment_spans(text, 30, 250)
    assert [s for s, _, _ in spans] == split_segments(text, 30, 250)
    assert len(spans) >= 2
    for segment, start, end in spans:
        assert text[start:end].split() == segment.split()
    assert spans[0][1] == 0 and spans[-1][2] == len(text)
    assert all(a[2] < b[1] for a, b in pairwise(spans))  # in order, never overlapping


# --- question-answer pairs ----------------------------------------------------------------------

def test_parse_reads_numbered_bold_and_edge_case_pairs_and_skips_a_question_without_answer():
    reply = ("Here are the questions.\n\n**Question 1:** What do hash tables store?\n**Answer:** Key-value pairs.\n\n"
             "Question 2: What is a collision?\nAnswer: Two keys in the same bucket,\nas the text says.\n\n"
             "Question: What is left unanswered?\n\n"
             "Edge-case question: What happens when keys change?\nAnswer: Lookups break.")
    pairs = parse_qa_pairs(reply)
    assert [(p.question, p.answer, p.edge_case) for p in pairs] == [
        ("What do hash tables store?", "Key-value pairs.", False),
        ("What is a collision?", "Two keys in the same bucket, as the text says.", False),
        ("What happens when keys change?", "Lookups break.", True),
    ]
    assert parse_qa_pairs("I cannot write questions for this.") == []


def test_an_answer_taken_from_the_segment_is_grounded_and_an_invented_one_is_not():
    assert grounding_score("Two different keys can land in the same bucket.", SEGMENT) == 1.0
    invented = grounded("It is generally best to consult an expert before deciding.", SEGMENT, 0.6)
    assert not invented.keep and invented.reason == RejectReason.UNGROUNDED_ANSWER and invented.score == 0.0
    # The same words in another order share the content words but not the bigrams.
    shuffled = grounding_score("bucket same the in land can keys different two", SEGMENT)
    assert 0.5 <= shuffled < 0.75
    assert grounded("collision", SEGMENT, 0.6).keep
    assert grounding_score("", SEGMENT) == 0.0


def test_grounding_rejects_below_the_threshold_and_keeps_at_it():
    score = grounding_score("Keys land in a different table.", SEGMENT)
    assert grounded("Keys land in a different table.", SEGMENT, score).keep
    assert not grounded("Keys land in a different table.", SEGMENT, score + 0.01).keep


# --- multiple choice ----------------------------------------------------------------------------

def _item(answer: str, options=("chaining", "collision", "hashing", "probing")) -> ChoiceItem:
    return ChoiceItem("What is it called when two keys land in one bucket?", tuple(options), answer)


def test_parse_a_choice_item_in_letter_order():
    reply = "Question: What is it called?\nB) collision\nA) chaining\nC) hashing\nD) probing\nAnswer: B) collision"
    item = parse_choice_item(reply)
    assert item == ChoiceItem("What is it called?", ("chaining", "collision", "hashing", "probing"), "B) collision")
    assert parse_choice_item("A) one\nB) two\nAnswer: A") is None  # no question


def test_an_item_needs_a_question_four_options_and_an_answer():
    assert well_formed(_item("collision")).keep
    three = well_formed(_item("collision", ("chaining", "collision", "hashing")))
    assert not three.keep and three.reason == RejectReason.MALFORMED_CHOICES and "3 options" in three.detail
    assert well_formed(None).reason == RejectReason.MALFORMED_CHOICES


@pytest.mark.parametrize("answer", ["B", "(B)", "B) collision", "collision", "Collision."])
def test_exactly_one_option_matches_the_answer_however_it_is_written(answer):
    assert one_option_matches(_item(answer)).keep


def test_an_answer_matching_no_option_or_two_is_rejected():
    none = one_option_matches(_item("open addressing"))
    assert not none.keep and none.reason == RejectReason.ANSWER_NOT_AN_OPTION
    two = one_option_matches(_item("collision", ("collision", "chaining", "Collision", "probing")))
    assert not two.keep and two.reason == RejectReason.AMBIGUOUS_ANSWER and "A, C" in two.detail


def test_distractors_must_differ_from_each_other():
    assert distinct_distractors(_item("collision")).keep
    repeated = distinct_distractors(_item("collision", ("chaining", "collision", "Chaining!", "probing")))
    assert not repeated.keep and repeated.reason == RejectReason.DUPLICATE_DISTRACTORS and "chaining" in repeated.detail


# --- a run on the shipped documents -------------------------------------------------------------

@pytest.fixture(scope="module")
def documents() -> list[dict]:
    docs = []
    for line in DOCUMENTS.open():
        record = json.loads(line)
        docs.append({"id": f"doc-row-{record['id']}", "root_id": f"doc-row-{record['id']}", "generation": 0,
                     "technique": "document", "domain": record["domain"], "category": "document",
                     "instruction": record["title"], "response": record["text"], "source_key": record["id"],
                     "source_file": "data/documents/docs.jsonl", "source_line": 1})
    return docs


@pytest.fixture(scope="module")
def run(documents):
    config = DocumentQAConfig()
    return config, run_document_qa(documents, RulesBackend().generate, "rules:rule-based-v1", config)


def test_every_row_points_at_its_document_and_segment(run, documents):
    _, outcome = run
    by_id = {d["id"]: d for d in documents}
    assert {r["operation"] for r in outcome.rows} == {"qa", "edge_case_qa", "multiple_choice"}
    for row in [*outcome.rows, *outcome.rejected]:
        doc = by_id[row["parent_id"]]
        assert row["root_id"] == doc["id"] and row["technique"] == "document_qa"
        assert row["source_key"] == f"{doc['source_key']}@{row['segment_start']}:{row['segment_end']}"
        assert 0 <= row["segment_start"] < row["segment_end"] <= len(doc["response"])


def test_kept_answers_are_grounded_in_their_segment_and_planted_faults_are_rejected(run, documents):
    config, outcome = run
    by_id = {d["id"]: d for d in documents}
    for row in outcome.rows:
        segment = by_id[row["parent_id"]]["response"][row["segment_start"]:row["segment_end"]]
        answer = row["response"].split(") ", 1)[1] if row["operation"] == "multiple_choice" else row["response"]
        assert grounding_score(answer, segment) >= config.min_grounding
    reasons = {r["reason"] for r in outcome.rejected}
    assert {"ungrounded_answer", "duplicate_distractors", "answer_not_an_option"} <= reasons
    per_segment = outcome.segments * (config.questions + 1 + 1)  # questions, the edge case, one item
    assert len(outcome.rows) + len(outcome.rejected) == per_segment


def test_a_kept_multiple_choice_item_lists_four_options_and_answers_with_one(run):
    _, outcome = run
    items = [r for r in outcome.rows if r["operation"] == "multiple_choice"]
    assert items
    for row in items:
        options = [line for line in row["instruction"].splitlines() if line[:3] in ("A) ", "B) ", "C) ", "D) ")]
        assert len(options) == 4 and row["response"] in options
        assert len({o[3:].lower() for o in options}) == 4


def test_multiple_choice_can_be_turned_off(documents):
    outcome = run_document_qa(documents[:3], RulesBackend().generate, "rules:x", DocumentQAConfig(multiple_choice=False))
    assert outcome.rows and "multiple_choice" not in {r["operation"] for r in [*outcome.rows, *outcome.rejected]}
