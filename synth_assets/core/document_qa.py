"""Questions from documents: question-answer pairs, edge-case questions and multiple-choice items
written by the teacher from each document segment, kept only when the segment supports them.

1. Segments: a document is cut as backtranslation cuts it (`backtranslation.split_segments`), and
   each segment keeps its character offsets in the document (`segment_spans`), so every row it
   gives traces back to the document and the span it was asked about.
2. Question-answer pairs: the `document_qa` template asks for `questions` pairs and one edge-case
   question (a limit, an exception, a case easily overlooked); `parse_qa_pairs` reads them.
3. Grounding (`grounded`): an answer is kept when its n-gram overlap with its segment
   (`grounding_score`: the mean of the share of its content words and of its word bigrams found in
   the segment) is at least `min_grounding`.
4. Multiple choice (optional): the `document_mcq` template asks for a question, 4 options and the
   answer; `parse_choice_item` reads it, and it is kept only when it is well formed
   (`well_formed`), exactly one option matches the answer (`one_option_matches`), the distractors
   are distinct (`distinct_distractors`) and the answer is grounded in the segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from synth_assets.core.backtranslation import split_segments
from synth_assets.core.requests import Generate, GenerationRequest, Message, SamplingParams
from synth_assets.core.rouge import tokenize
from synth_assets.core.rows import RejectReason, derived_row, reject_row
from synth_assets.core.templates import load_template
from synth_assets.core.verdict import Verdict

__all__ = [
    "MCQ_TEMPLATE",
    "QA_TEMPLATE",
    "ChoiceItem",
    "DocumentQAConfig",
    "DocumentQAOutcome",
    "QAPair",
    "distinct_distractors",
    "grounded",
    "grounding_score",
    "one_option_matches",
    "parse_choice_item",
    "parse_qa_pairs",
    "render_choice",
    "run_document_qa",
    "segment_spans",
    "well_formed",
]

QA_TEMPLATE = "document_qa"  # fields {segment}, {questions}
MCQ_TEMPLATE = "document_mcq"  # field {segment}
LETTERS = "ABCD"

# Words that carry no content: an answer is not grounded by sharing them with its segment.
_STOPWORDS = frozenset({
    "a", "an", "the", "of", "and", "or", "but", "in", "on", "at", "to", "for", "with", "by", "from", "as", "is",
    "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "which", "who",
    "whom", "what", "when", "where", "how", "why", "than", "then", "so", "not", "no", "yes", "can", "may",
    "will", "would", "could", "should", "do", "does", "did", "has", "have", "had", "there", "their", "they",
    "them", "he", "she", "his", "her", "we", "you", "your", "i", "my", "our", "into", "about", "also", "such"
})


@dataclass(frozen=True)
class DocumentQAConfig:
    min_words: int = 30  # segments as backtranslation cuts them
    max_words: int = 250
    questions: int = 2  # question-answer pairs asked of each segment, besides one edge-case question
    multiple_choice: bool = True  # also ask each segment for a multiple-choice item
    min_grounding: float = 0.6  # share of an answer's n-grams found in its segment
    seed: int = 0
    temperature: float = 0.7
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if self.questions < 1:
            raise ValueError(f"DocumentQAConfig.questions must be >= 1, got {self.questions}")
        if not 0 <= self.min_grounding <= 1:
            raise ValueError(f"DocumentQAConfig.min_grounding must be in [0, 1], got {self.min_grounding}")


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    edge_case: bool


@dataclass(frozen=True)
class ChoiceItem:
    question: str
    options: tuple[str, ...]  # in letter order
    answer: str  # as the teacher gave it: a letter, "B) text" or the text


@dataclass
class DocumentQAOutcome:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    segments: int = 0


# --- segments -----------------------------------------------------------------------------------

def segment_spans(text: str, min_words: int, max_words: int) -> list[tuple[str, int, int]]:
    """Each segment of `split_segments` with its start and end offset in `text`: the span from its
    first word to its last. Segments keep every word of the document, in order (they only change
    the whitespace between words), so walking the document's words finds each span exactly."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    spans, position = [], 0
    for segment in split_segments(text, min_words, max_words):
        count = len(segment.split())
        first, last = words[position], words[position + count - 1]
        spans.append((segment, first[0], last[1]))
        position += count
    return spans


# --- question-answer pairs ----------------------------------------------------------------------

_QA_BLOCK = re.compile(
    r"^[ \t*#]*(?P<label>edge[- ]case question|question)[ \t]*\d*[ \t*]*:[ \t*]*(?P<question>[^\n]+?)[ \t]*\n"
    r"[ \t*#]*answer[ \t*]*:[ \t*]*(?P<answer>.+?)[ \t]*(?=\n[ \t]*\n|\n[ \t*#]*(?:edge[- ]case question|question)\b|\Z)",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)


def parse_qa_pairs(text: str) -> list[QAPair]:
    """Every "Question: ... / Answer: ..." block of a reply ("Edge-case question:" marks an edge case)."""
    pairs = []
    for match in _QA_BLOCK.finditer(text):
        question, answer = " ".join(match["question"].split()), " ".join(match["answer"].split())
        if question and answer:
            pairs.append(QAPair(question, answer, match["label"].lower().startswith("edge")))
    return pairs


def _bigrams(tokens: Sequence[str]) -> set[tuple[str, str]]:
    return set(pairwise(tokens))


def grounding_score(answer: str, segment: str) -> float:
    """The mean of two shares: the answer's content words found in the segment, and its word
    bigrams found there (the first alone for a one-word answer). 0 for an answer with no words."""
    answer_tokens, segment_tokens = tokenize(answer), tokenize(segment)
    content = [t for t in answer_tokens if t not in _STOPWORDS] or answer_tokens
    if not content:
        return 0.0
    in_segment = set(segment_tokens)
    unigrams = sum(t in in_segment for t in content) / len(content)
    answer_bigrams = _bigrams(answer_tokens)
    if not answer_bigrams:
        return unigrams
    bigrams = len(answer_bigrams & _bigrams(segment_tokens)) / len(answer_bigrams)
    return (unigrams + bigrams) / 2


def grounded(answer: str, segment: str, min_grounding: float) -> Verdict:
    """Keep an answer whose `grounding_score` with its segment is at least `min_grounding`."""
    score = grounding_score(answer, segment)
    if score < min_grounding:
        return Verdict(False, RejectReason.UNGROUNDED_ANSWER, f"grounding {score:.2f} < {min_grounding}", score)
    return Verdict(True, None, f"grounding {score:.2f} >= {min_grounding}", score)


# --- multiple choice ----------------------------------------------------------------------------

_OPTION = re.compile(r"^[ \t*]*\(?(?P<letter>[A-Da-d])[).:][ \t]+(?P<text>.+?)[ \t]*$", re.MULTILINE)
_QUESTION = re.compile(r"^[ \t*#]*question[ \t*]*:[ \t*]*(?P<text>.+?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_ANSWER = re.compile(r"^[ \t*#]*(?:correct[ \t]+)?answer[ \t*]*:[ \t*]*(?P<text>.+?)[ \t]*$", re.IGNORECASE | re.MULTILINE)
_LETTER_ONLY = re.compile(r"^\(?([A-Da-d])\)?\.?$")
_LETTER_AND_TEXT = re.compile(r"^\(?([A-Da-d])[).:]\s+(.+)$")


def parse_choice_item(text: str) -> ChoiceItem | None:
    """The question, the lettered options (in letter order) and the answer line of a reply; None
    when there is no question or no answer line. The options are checked by `well_formed`."""
    question, answer = _QUESTION.search(text), _ANSWER.search(text)
    if question is None or answer is None:
        return None
    options = sorted(((m["letter"].upper(), m["text"]) for m in _OPTION.finditer(text)), key=lambda o: o[0])
    return ChoiceItem(question["text"], tuple(option for _, option in options), answer["text"])


def _norm(text: str) -> str:
    return " ".join(tokenize(text))


def well_formed(item: ChoiceItem | None) -> Verdict:
    """Keep an item with a question, exactly 4 options and an answer."""
    if item is None:
        return Verdict(False, RejectReason.MALFORMED_CHOICES, "no 'Question:' or no 'Answer:' line")
    if len(item.options) != len(LETTERS):
        return Verdict(False, RejectReason.MALFORMED_CHOICES, f"{len(item.options)} options, not {len(LETTERS)}")
    return Verdict(True)


def _answer_text(item: ChoiceItem) -> str:
    letter_only, letter_and_text = _LETTER_ONLY.match(item.answer.strip()), _LETTER_AND_TEXT.match(item.answer.strip())
    if letter_only:
        return item.options[LETTERS.index(letter_only.group(1).upper())]
    return letter_and_text.group(2) if letter_and_text else item.answer


def _matching(item: ChoiceItem) -> list[int]:
    answer = _norm(_answer_text(item))
    return [i for i, option in enumerate(item.options) if _norm(option) == answer]


def one_option_matches(item: ChoiceItem) -> Verdict:
    """Keep a well-formed item whose answer matches exactly one option (compared as lower-cased words)."""
    matches = _matching(item)
    if not matches:
        return Verdict(False, RejectReason.ANSWER_NOT_AN_OPTION, f"answer {item.answer!r} matches no option")
    if len(matches) > 1:
        return Verdict(False, RejectReason.AMBIGUOUS_ANSWER,
                       f"answer {item.answer!r} matches options {', '.join(LETTERS[i] for i in matches)}")
    return Verdict(True)


def distinct_distractors(item: ChoiceItem) -> Verdict:
    """Keep a well-formed item whose wrong options are all different from each other."""
    matches = set(_matching(item))
    distractors = [_norm(option) for i, option in enumerate(item.options) if i not in matches]
    if len(set(distractors)) < len(distractors):
        repeated = sorted({d for d in distractors if distractors.count(d) > 1})
        return Verdict(False, RejectReason.DUPLICATE_DISTRACTORS, f"repeated options: {repeated}")
    return Verdict(True)


def _choice_verdict(item: ChoiceItem | None, segment: str, min_grounding: float) -> Verdict:
    verdict = well_formed(item)
    if not verdict.keep or item is None:
        return verdict
    for verdict in (one_option_matches(item), distinct_distractors(item)):
        if not verdict.keep:
            return verdict
    return grounded(_answer_text(item), segment, min_grounding)


def render_choice(item: ChoiceItem) -> tuple[str, str]:
    """The item as an instruction (question and lettered options) and a response (the letter and
    the option); only for an item `one_option_matches` kept."""
    lines = [item.question, "", *(f"{letter}) {option}" for letter, option in zip(LETTERS, item.options, strict=True))]
    index = _matching(item)[0]
    return "\n".join(lines), f"{LETTERS[index]}) {item.options[index]}"


# --- the stage ----------------------------------------------------------------------------------

def run_document_qa(
    documents: Sequence[Mapping[str, Any]], generate: Generate, teacher: str, config: DocumentQAConfig
) -> DocumentQAOutcome:
    outcome = DocumentQAOutcome()
    pieces = [(doc, *span) for doc in documents for span in segment_spans(doc["response"], config.min_words, config.max_words)]
    outcome.segments = len(pieces)
    if not pieces:
        return outcome
    qa, mcq = load_template(QA_TEMPLATE), load_template(MCQ_TEMPLATE)
    sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=config.seed)
    replies = generate([
        GenerationRequest((Message("user", qa.render(segment=segment, questions=str(config.questions))),), sampling,
                          {"kind": "document_qa", "segment": segment, "questions": str(config.questions),
                           "title": doc["instruction"]})
        for doc, segment, _, _ in pieces
    ])
    for (doc, segment, start, end), answers in zip(pieces, replies, strict=True):
        pairs = parse_qa_pairs(answers[0].text)
        if not pairs:
            row = _row(doc, segment, start, end, "qa", 0, "", answers[0].text, teacher, qa.version)
            outcome.rejected.append(reject_row(row, RejectReason.NO_QUESTIONS, "no 'Question: ... Answer: ...' block"))
        for index, pair in enumerate(pairs):
            verdict = (Verdict(False, RejectReason.EMPTY_INSTRUCTION, "empty question") if not pair.question.strip()
                       else grounded(pair.answer, segment, config.min_grounding))
            operation = "edge_case_qa" if pair.edge_case else "qa"
            _keep(outcome, _row(doc, segment, start, end, operation, index, pair.question, pair.answer, teacher,
                                qa.version, verdict), verdict)
    if config.multiple_choice:
        replies = generate([
            GenerationRequest((Message("user", mcq.render(segment=segment)),), sampling,
                              {"kind": "document_mcq", "segment": segment})
            for _, segment, _, _ in pieces
        ])
        for (doc, segment, start, end), answers in zip(pieces, replies, strict=True):
            item = parse_choice_item(answers[0].text)
            verdict = _choice_verdict(item, segment, config.min_grounding)
            question, answer = render_choice(item) if verdict.keep and item else (
                item.question if item else "", answers[0].text)
            _keep(outcome, _row(doc, segment, start, end, "multiple_choice", 0, question, answer, teacher,
                                mcq.version, verdict), verdict)
    return outcome


def _keep(outcome: DocumentQAOutcome, row: dict[str, Any], verdict: Verdict) -> None:
    if verdict.keep:
        outcome.rows.append(row)
    else:
        outcome.rejected.append(reject_row(row, verdict.reason, verdict.detail, score=verdict.score))


def _row(doc: Mapping[str, Any], segment: str, start: int, end: int, operation: str, index: int, question: str,
         answer: str, teacher: str, version: str, verdict: Verdict | None = None) -> dict[str, Any]:
    # The segment's span and the position in the reply are in the id: two segments (or two
    # questions of one reply) asking the same question are two decisions.
    return derived_row(
        doc, "document_qa", f"{start}:{end}", operation, str(index), question, answer,
        technique="document_qa", operation=operation, round=1, teacher=teacher, template_version=version,
        instruction=question, response=answer, source_file=doc.get("source_file"), source_line=doc.get("source_line"),
        # Provenance to the segment: the document's key and the segment's character offsets in it.
        source_key=f"{doc.get('source_key')}@{start}:{end}", segment_start=start, segment_end=end,
        verifier="grounding", verdict_detail=verdict.detail if verdict else "",
        judge_score=None,
    )
