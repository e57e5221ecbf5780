"""Instruction backtranslation (Li et al. 2023, "Humpback"): human text becomes the answer, the
teacher writes the question.

1. `split_segments`: a document is cut into self-contained segments (its paragraphs; tiny ones
   merged with a neighbour, huge ones split at sentence boundaries).
2. Self-augmentation: the teacher reads a segment through the `backtranslation_instruction`
   template and writes the instruction it answers; `parse_generated_instruction` cleans its reply.
3. Self-curation: the teacher rates each (instruction, segment) pair from 1 to 5 with the rubric in
   the `backtranslation_curation` template, ending "Score: n"; `parse_score` reads the score and
   `curate` keeps pairs scoring at least the threshold (4 by default, as in the paper).
4. Origin tags: Humpback marks each training pair with where it came from, so the model can tell
   web-derived answers from assistant-style ones; `ORIGIN_TAGS` holds those tags.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum

from synth_assets.core.rows import RejectReason
from synth_assets.core.verdict import Verdict

__all__ = [
    "CURATION_TEMPLATE",
    "INSTRUCTION_TEMPLATE",
    "ORIGIN_TAGS",
    "PairOrigin",
    "curate",
    "parse_generated_instruction",
    "parse_score",
    "split_segments",
]

INSTRUCTION_TEMPLATE = "backtranslation_instruction"  # field {segment}
CURATION_TEMPLATE = "backtranslation_curation"  # fields {instruction}, {response}


class PairOrigin(StrEnum):
    seed = "seed"  # a human instruction with a human response
    backtranslated = "backtranslated"  # a teacher-written instruction for a human-written text


# The paper's tags, given to the model as a system prompt at training time.
ORIGIN_TAGS: dict[PairOrigin, str] = {
    PairOrigin.seed: "Answer in the style of an AI Assistant.",
    PairOrigin.backtranslated: "Answer with knowledge from web search.",
}


# --- 1. segments --------------------------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# A sentence ends at . ! or ? (and any closing quotes or brackets) before a space and a capital,
# a digit or an opening quote; "e.g. the" does not end one.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9])")


def _n_words(text: str) -> int:
    return len(text.split())


def _sentences(paragraph: str) -> list[str]:
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(paragraph):
        sentences.append(paragraph[start : match.end()].strip())
        start = match.end()
    sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def _split_huge(paragraph: str, max_words: int) -> list[str]:
    """Cut a paragraph into about equal chunks of at most `max_words`, at sentence ends if possible."""
    units: list[str] = []
    for sentence in _sentences(paragraph):
        words = sentence.split()
        # A sentence longer than a whole segment is cut between words.
        units += [" ".join(words[i : i + max_words]) for i in range(0, len(words), max_words)]
    target = _n_words(paragraph) / math.ceil(_n_words(paragraph) / max_words)
    chunks: list[list[str]] = [[]]
    size = 0
    for unit in units:
        n = _n_words(unit)
        if chunks[-1] and (size + n > max_words or size >= target):
            chunks.append([])
            size = 0
        chunks[-1].append(unit)
        size += n
    return [" ".join(chunk) for chunk in chunks]


def split_segments(text: str, min_words: int = 30, max_words: int = 250) -> list[str]:
    """Cut a document into segments of at most `max_words` words, each a candidate answer.

    Paragraphs are separated by blank lines. A paragraph over `max_words` is split into about equal
    parts at sentence ends (a sentence over `max_words` between words). A part under `min_words`
    (a heading, a one-line paragraph) is joined to the segment before it, or else the one after
    it, when the join stays within `max_words`; a part no neighbour can take stays as it is, so no
    text is lost. Joined paragraphs keep their blank line.
    """
    if min_words < 1 or max_words < min_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got min_words={min_words}, max_words={max_words}")
    parts: list[str] = []
    for paragraph in _PARAGRAPH_BREAK.split(text.replace("\r\n", "\n")):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        parts += [paragraph] if _n_words(paragraph) <= max_words else _split_huge(paragraph, max_words)

    segments: list[str] = []
    for part in parts:
        if segments:
            last, n_part = _n_words(segments[-1]), _n_words(part)
            if (last < min_words or n_part < min_words) and last + n_part <= max_words:
                segments[-1] += "\n\n" + part
                continue
        segments.append(part)
    return segments


# --- 2. self-augmentation -----------------------------------------------------------------------

_LABEL = re.compile(
    r"^\s*(?:here\s+is\s+(?:the|an?)\s+|the\s+)?(?:[*_#]+\s*)?(?:user\s+)?(?:instruction|question|prompt|request)"
    r"\s*(?:[*_]+\s*)?:\s*(?:[*_]+)?",
    re.IGNORECASE,
)


def parse_generated_instruction(text: str) -> str | None:
    """The instruction in the teacher's reply, without a leading "Instruction:" label or wrapping
    quotes and markdown; None when nothing is left."""
    text = _LABEL.sub("", text.strip(), count=1).strip()
    for left, right in (('"', '"'), ("\u201c", "\u201d"), ("**", "**"), ("`", "`")):
        if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
            text = text[len(left) : -len(right)].strip()
    return text or None


# --- 3. self-curation ---------------------------------------------------------------------------

# "Score: 4", "score: 4/5", "**Score**: 4", "Score - 4 out of 5", "Final score: [4]", "score of 4".
_SCORE = re.compile(
    r"\bscore\b[\s*_#`]*(?:[:=\-\u2013]|is|of)?[\s*_#`\[(<]*(\d+(?:\.\d+)?)(?![\d.]\d)"
    r"(?:[\s*_`\])>]*(?:/|out\s+of)\s*(\d+))?",
    re.IGNORECASE,
)


def parse_score(text: str) -> int | None:
    """The 1-to-5 score in a curation reply; the last "Score" followed by a number wins.

    None when there is none, when it is not a whole number from 1 to 5, or when it is given out of
    a scale other than 5 ("Score: 4/10").
    """
    matches = list(_SCORE.finditer(text))
    if not matches:
        return None
    value, scale = matches[-1].group(1), matches[-1].group(2)
    if "." in value or (scale is not None and int(scale) != 5):
        return None
    score = int(value)
    return score if 1 <= score <= 5 else None


def curate(score: int | None, threshold: int = 4) -> Verdict:
    """Keep a pair whose curation score is at least `threshold`; an unreadable score rejects it."""
    if not 1 <= threshold <= 5:
        raise ValueError(f"threshold must be between 1 and 5, got {threshold}")
    if score is None:
        return Verdict(False, RejectReason.SCORE_UNPARSEABLE, "no score from 1 to 5 in the curation reply")
    if score < threshold:
        return Verdict(False, RejectReason.SCORE_BELOW_THRESHOLD, f"score {score} < {threshold}", float(score))
    return Verdict(True, None, f"score {score} >= {threshold}", float(score))
