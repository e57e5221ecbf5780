"""Evol-Instruct (Xu et al. 2023) elimination evolving: the four ways an evolution fails.

An evolved instruction is dropped from the next round when one of these holds; `eliminate`
checks them in the paper's order and reports the first that fails:

1. `has_no_information_gain`: a teacher, shown parent and child with the `evol_equal` template,
   judges them Equal (same constraints and requirements, same depth and breadth). A judgement that
   says neither Equal nor Not Equal fails as `judge_unparseable`: the gain was not shown.
2. `is_sorry_short`: the teacher's response to the evolved instruction contains "sorry" and has
   fewer than 80 words, a sign the instruction is too hard or ill-posed to answer.
3. `is_stopwords_only`: the response has no word outside `STOP_WORDS` (punctuation and symbols do
   not count as words; an empty response fails too).
4. `copies_prompt_words`: the instruction copies wording of the evolving prompt ("given prompt",
   "rewritten prompt", "#Rewritten Prompt#", ...; see `COPIED_PROMPT_PHRASES`).

A failed evolution is not lost: the caller records it with its reason, and `next_pool` puts its
parent back in the pool in its place.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from synth_assets.core.rows import RejectReason
from synth_assets.core.text import shorten
from synth_assets.core.verdict import Verdict

__all__ = [
    "COPIED_PROMPT_PHRASES",
    "EQUAL_TEMPLATE",
    "STOP_WORDS",
    "copies_prompt_words",
    "eliminate",
    "find_copied_prompt_words",
    "has_no_information_gain",
    "is_sorry_short",
    "is_stopwords_only",
    "next_pool",
    "parse_equality_judgment",
]

EQUAL_TEMPLATE = "evol_equal"  # templates/evol_equal.txt: fields {first}, {second}




# English stop words: the list NLTK ships (`nltk.corpus.stopwords.words("english")`, 179 words),
# which includes the pieces contractions split into ("don", "t", "ll", "ve"). A response made only
# of these words says nothing.
STOP_WORDS = frozenset(
    ["i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're", "you've", "you'll", "you'd", "your", "yours", "yourself", "yourselves", "he", "him", "his", "himself", "she", "she's", "her", "hers", "herself", "it", "it's", "its", "itself", "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "that'll", "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "don't", "should", "should've", "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "aren't", "couldn", "couldn't", "didn", "didn't", "doesn", "doesn't", "hadn", "hadn't", "hasn", "hasn't", "haven", "haven't", "isn", "isn't", "ma", "mightn", "mightn't", "mustn", "mustn't", "needn", "needn't", "shan", "shan't", "shouldn", "shouldn't", "wasn", "wasn't", "weren", "weren't", "won", "won't", "wouldn", "wouldn't"]
)

# Wording of the evolving prompts that should never reach an evolved instruction: the paper's
# examples, and the labels this project's evol_* templates use. Matched case-insensitively, as
# whole words, with any run of spaces, so "#Rewritten Prompt#" is caught by "rewritten prompt".
COPIED_PROMPT_PHRASES = (
    "given prompt",
    "rewritten prompt",
    "created prompt",
    "rewritten task",
    "rewritten instruction",
    "no preamble",
)
_COPIED_RE = re.compile(
    r"\b(" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in COPIED_PROMPT_PHRASES) + r")\b", re.IGNORECASE
)

_SORRY_RE = re.compile(r"\bsorry\b", re.IGNORECASE)
_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters and digits, keeping in-word apostrophes
_NEGATIONS = frozenset({"not", "no", "never", "isn't", "aren't", "isnt", "arent", "non"})
# "Equal or Not Equal" echoed from the prompt is not an answer.
_ECHOED_CHOICES = re.compile(r"\bnot\s+equal\s*(?:or|,|/)\s*equal\b|\bequal\s*(?:or|,|/)\s*not\s+equal\b")
_JUDGMENT_WORDS = frozenset({"equal", "unequal", "equivalent", "inequivalent", "nonequivalent"})


def parse_equality_judgment(judge_text: str) -> bool | None:
    """True for an "Equal" judgement, False for "Not Equal", None when it says neither.

    The first answer word decides ("equal", "equivalent", "unequal"); one, two or three words
    before it, a negation ("not", "isn't", ...) turns it into Not Equal. Case, markdown, punctuation
    and any explanation after the answer are ignored, and so is an echoed "Equal or Not Equal".
    """
    text = judge_text.lower().replace("\u2019", "'").replace("_", " ")
    text = _ECHOED_CHOICES.sub(" ", text)
    words = _WORD_RE.findall(text)
    for position, word in enumerate(words):
        if word in _JUDGMENT_WORDS:
            if word in {"unequal", "inequivalent", "nonequivalent"}:
                return False
            before = words[max(0, position - 3) : position]
            return not any(w in _NEGATIONS or w.endswith("n't") for w in before)
    return None


def has_no_information_gain(judge_text: str) -> bool:
    """Rule 1: True when the judge found parent and evolved instruction Equal."""
    return parse_equality_judgment(judge_text) is True


def is_sorry_short(response: str, max_words: int = 80) -> bool:
    """Rule 2: True when the response contains the word "sorry" and has fewer than `max_words` words."""
    return bool(_SORRY_RE.search(response)) and len(response.split()) < max_words


def is_stopwords_only(response: str) -> bool:
    """Rule 3: True when every word of the response is in `STOP_WORDS` (or there is no word at all)."""
    text = response.lower().replace("\u2019", "'")
    return all(_is_stop_word(word) for word in _WORD_RE.findall(text))


def _is_stop_word(word: str) -> bool:
    # "i'm" is not on the list but both of its pieces are.
    return word in STOP_WORDS or all(piece in STOP_WORDS for piece in word.split("'"))


def find_copied_prompt_words(instruction: str) -> str | None:
    """The first phrase of `COPIED_PROMPT_PHRASES` found in the instruction, lower-cased, or None."""
    match = _COPIED_RE.search(instruction)
    return None if match is None else " ".join(match.group(1).lower().split())


def copies_prompt_words(instruction: str) -> bool:
    """Rule 4: True when the instruction contains wording of the evolving prompt."""
    return find_copied_prompt_words(instruction) is not None


def eliminate(instruction: str, response: str, judge_text: str) -> Verdict:
    """Check an evolved instruction, the teacher's response to it and the Equal/Not Equal judgement.

    Rules run in the module docstring's order; the first failure is the verdict.
    """
    judgment = parse_equality_judgment(judge_text)
    if judgment is None:
        return Verdict(False, RejectReason.JUDGE_UNPARSEABLE, f"judge said: {shorten(judge_text)!r}")
    if judgment:
        return Verdict(False, RejectReason.NO_INFORMATION_GAIN, f"judge said: {shorten(judge_text)!r}")
    if is_sorry_short(response):
        return Verdict(
            False, RejectReason.SORRY_SHORT_RESPONSE, f"'sorry' in a {len(response.split())}-word response"
        )
    if is_stopwords_only(response):
        return Verdict(False, RejectReason.STOPWORDS_ONLY_RESPONSE, f"response: {shorten(response)!r}")
    phrase = find_copied_prompt_words(instruction)
    if phrase is not None:
        return Verdict(False, RejectReason.COPIED_PROMPT_WORDS, f"contains {phrase!r}")
    return Verdict(True)


T = TypeVar("T")


def next_pool(parents: Sequence[T], evolved: Sequence[T], verdicts: Sequence[Verdict]) -> list[T]:
    """The pool for the next round: each evolved item that was kept, else its parent in its place."""
    if not len(parents) == len(evolved) == len(verdicts):
        raise ValueError(
            f"parents ({len(parents)}), evolved ({len(evolved)}) and verdicts ({len(verdicts)}) differ in length"
        )
    return [child if verdict.keep else parent for parent, child, verdict in zip(parents, evolved, verdicts, strict=True)]
