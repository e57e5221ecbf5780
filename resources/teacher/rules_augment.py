"""The `rules` teacher's answers to the augmentation and document-question templates: NOT a model.

Each handler takes the request's hints and the sample's seed and returns (text, finish reason), as
the handlers in `rules.py` do; `RULES_AUGMENT_HANDLERS` maps hint kinds to them.

- paraphrase, style_transfer: the task reworded with a fixed phrase table (never touching code
  identifiers, backticked text or the `protect`ed entry point), framed for the style;
- translate: a word-for-word French glossary (any other language: the text kept, marked with its
  language); translating back to English undoes the glossary and rewords with the phrase table,
  so a round trip rewords like a paraphrase. It is not a translator;
- seed_expansion: a follow-up question about the seed's subject, from fixed question forms;
- document_qa: questions whose answers are sentences of the segment, and one edge-case question
  about its last caveat; document_mcq: a fill-in-the-blank item whose options are words of the
  segment.

Mistakes are planted at fixed rates, so every rule downstream has real work to do: a rewording
returned unchanged or replaced by an unrelated task, a copied or off-topic expansion, an answer
not found in the segment, a duplicated distractor, an answer missing from the options.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from resources.teacher.rules_wording import draw, pick, reword

__all__ = [
    "AUGMENT_DRIFT_RATE",
    "AUGMENT_UNCHANGED_RATE",
    "MCQ_DUPLICATE_RATE",
    "MCQ_MISSING_ANSWER_RATE",
    "QA_UNGROUNDED_RATE",
    "RULES_AUGMENT_HANDLERS",
]

AUGMENT_UNCHANGED_RATE = 0.06
AUGMENT_DRIFT_RATE = 0.05
QA_UNGROUNDED_RATE = 0.1
MCQ_DUPLICATE_RATE = 0.1
MCQ_MISSING_ANSWER_RATE = 0.05


_FRAMES: Mapping[str, tuple[str, ...]] = {
    "paraphrase": ("{text}", "Here is what I need: {text}", "The task: {text}"),
    "formal": ("Please {lower}{end} Kindly ensure that the response is precise and complete.",
               "I would be grateful if you could {lower_q}"),
    "casual": ("Hey! Quick one: {lower}{end} Thanks a lot!", "So, here's the thing: {lower}{end} Cheers!"),
    "technical": ("Task specification: {text} Requirements: state any assumptions explicitly and use precise terminology.",
                  "Specification. Objective: {text} Constraints: follow the statement exactly."),
}
_UNRELATED_TASKS = (
    "Describe how to brew green tea in exactly four sentences.",
    "List three common mistakes people make when pruning fruit trees.",
    "Write a friendly email inviting a colleague to a board-game night.",
    "Explain how to repair a flat bicycle tyre to a beginner.",
)

# A small word-for-word French glossary: enough for the rules teacher's round trip to reword.
_FRENCH: dict[str, str] = {
    "the": "le", "a": "un", "of": "de", "and": "et", "in": "dans", "is": "est", "to": "à", "for": "pour",
    "with": "avec", "each": "chaque", "write": "écrivez", "returns": "renvoie", "that": "qui", "what": "quel",
    "how": "comment", "numbers": "nombres", "number": "nombre", "words": "mots", "explain": "expliquez",
}
# Back to English, where a word comes back other than it went (what makes a round trip reword).
_FROM_FRENCH: dict[str, str] = {**{v: k for k, v in _FRENCH.items()}, "renvoie": "gives back", "chaque": "every",
                                "écrivez": "compose", "expliquez": "clarify", "quel": "which", "comment": "in what way"}
_MARK = re.compile(r"^\[([a-z]{2,3})\] ")

_EXPANSION_FORMS = (
    "What is the most common mistake people make with {topic}, and how can it be avoided?",
    "How would you adapt {topic} for someone who has very little time?",
    "Give two alternatives to {topic}, with one advantage of each.",
    "What should a beginner know before attempting {topic}?",
)
_CLAUSE_END = re.compile(r"\b(?:who|that|which|while|because|when|so|if)\b|[,.;:?!]")

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_STOP = frozenset({
    "the", "a", "an", "of", "and", "or", "in", "on", "at", "to", "for", "with", "by", "from", "as", "is", "are",
    "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "which", "who", "what", "when",
    "where", "how", "why", "than", "then", "so", "not", "no", "can", "may", "will", "would", "could", "should"
})
_LEANS_ON_PREVIOUS = frozenset({
    "it", "its", "they", "their", "them", "this", "that", "these", "those", "then", "so", "he", "she", "his",
    "her", "there", "also", "both", "the", "such", "otherwise", "here"
})
_UNGROUNDED_ANSWER = "It is generally best to consult an expert before deciding."


def _fault(kind: str, text: str, seed: int) -> str | None:
    """A planted mistake: the text unchanged, or an unrelated task; None for a good answer."""
    roll = draw(seed, kind, "fault", text)
    if roll < AUGMENT_UNCHANGED_RATE:
        return text
    if roll < AUGMENT_UNCHANGED_RATE + AUGMENT_DRIFT_RATE:
        return pick(_UNRELATED_TASKS, seed, kind, "drift", text)
    return None


def _frame(style: str, text: str, seed: int) -> str:
    text = text.strip()
    body = text.rstrip(".?!")
    end = text[len(body):] or "."
    lower = body[0].lower() + body[1:] if body[:2].isalpha() and not body[:2].isupper() else body
    return pick(_FRAMES[style], seed, "frame", style, text).format(text=text, lower=lower, end=end, lower_q=lower + "?")


def _reorder(text: str) -> str:
    """A task of several sentences with its first sentence moved to the end, unless the second
    leans on it ("It returns ...", "Then ..."): the same statements in another order."""
    parts = _SENTENCE.split(text.strip())
    if len(parts) < 2 or parts[1].split()[0].lower() in _LEANS_ON_PREVIOUS:
        return text
    return " ".join([*parts[1:], parts[0]])


def _paraphrase(hints: Mapping[str, str], seed: int) -> tuple[str, str]:
    text = hints["text"]
    fault = _fault("paraphrase", text, seed)
    if fault is not None:
        return fault, "stop"
    return _frame("paraphrase", _reorder(reword(text, hints.get("protect", ""), seed)), seed), "stop"


def _style_transfer(hints: Mapping[str, str], seed: int) -> tuple[str, str]:
    text, style = hints["text"], hints["style"]
    fault = _fault(f"style-{style}", text, seed)
    return (fault if fault is not None else _frame(style, reword(text, hints.get("protect", ""), seed), seed)), "stop"


def _translate(hints: Mapping[str, str], seed: int) -> tuple[str, str]:
    text, language = hints["text"], hints["language"].strip()
    mark = _MARK.match(text)
    if language.lower() != "english":  # the way out: a glossary for French, the text kept otherwise
        code = language[:2].lower()
        if code != "fr":
            return f"[{code}] {text}", "stop"
        return "[fr] " + re.sub(r"[A-Za-z]+", lambda m: _glossary(m.group(0), _FRENCH), text), "stop"
    if mark is None:
        return text, "stop"  # already English
    source = text[mark.end():]
    fault = _fault("round-trip", source, seed)
    if fault is not None:
        return fault, "stop"
    english = re.sub(r"[^\W\d_]+", lambda m: _glossary(m.group(0), _FROM_FRENCH), source) if mark.group(1) == "fr" else source
    return _reorder(reword(english, hints.get("protect", ""), seed)), "stop"


def _glossary(word: str, table: Mapping[str, str]) -> str:
    new = table.get(word.lower())
    if new is None:
        return word
    return new[0].upper() + new[1:] if word[0].isupper() else new


def _seed_expansion(hints: Mapping[str, str], seed: int) -> tuple[str, str]:
    instruction = hints["instruction"]
    roll = draw(seed, "expand", "fault", instruction)
    if roll < AUGMENT_UNCHANGED_RATE:
        return instruction, "stop"
    if roll < AUGMENT_UNCHANGED_RATE + AUGMENT_DRIFT_RATE:
        return pick(_UNRELATED_TASKS, seed, "expand", "drift", instruction), "stop"
    words = instruction.split()[1:]  # after the leading verb: "Write", "Explain", ...
    clause = " ".join(words)
    cut = next((m.start() for m in _CLAUSE_END.finditer(clause) if len(clause[: m.start()].split()) >= 3), len(clause))
    topic = " ".join(clause[:cut].split()[:8]).strip(" ,.;:?!") or "this task"
    return pick(_EXPANSION_FORMS, seed, "expand", instruction).format(topic=topic), "stop"


# --- questions from documents -------------------------------------------------------------------

def _sentences(segment: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(" ".join(segment.split())) if len(s.split()) >= 5]


def _key_terms(sentence: str) -> str:
    """The sentence's two longest content words: what a question about it names."""
    words = sorted({w for w in _WORD.findall(sentence) if w.lower() not in _STOP}, key=lambda w: (-len(w), w))[:2]
    return " and ".join(w.lower() for w in words) or "this"


def _document_qa(hints: Mapping[str, str], seed: int) -> tuple[str, str]:
    segment, count, title = hints["segment"], int(hints.get("questions", "2")), hints.get("title", "the text")
    sentences = _sentences(segment)
    if not sentences:
        return "The segment is too short to ask about.", "stop"
    blocks = []
    for i, sentence in enumerate(sentences[:count]):
        answer = sentence
        if draw(seed, "qa-ungrounded", i, segment) < QA_UNGROUNDED_RATE:
            answer = _UNGROUNDED_ANSWER
        blocks.append(f'Question: In "{title}", what is said about {_key_terms(sentence)}?\nAnswer: {answer}')
    last = sentences[-1]
    blocks.append(f'Edge-case question: What catch, limit or exception does "{title}" point out about '
                  f"{_key_terms(last)}?\nAnswer: {last}")
    return "\n\n".join(blocks), "stop"


def _document_mcq(hints: Mapping[str, str], seed: int) -> tuple[str, str]:
    segment = hints["segment"]
    sentences = _sentences(segment)
    words = sorted({w for w in _WORD.findall(segment) if len(w) > 4 and w.lower() not in _STOP}, key=str.lower)
    if not sentences or len(words) < 4:
        return "The segment is too short for a multiple-choice item.", "stop"
    sentence = pick(sentences, seed, "mcq-sentence", segment)
    candidates = [w for w in _WORD.findall(sentence) if w in words]
    if not candidates:
        return "No word of the segment fits a blank.", "stop"
    answer = max(candidates, key=lambda w: (len(w), w))
    others = [w for w in words if w.lower() != answer.lower()]
    start = int(draw(seed, "mcq-distractors", segment) * len(others))
    distractors = [others[(start + 7 * k) % len(others)] for k in range(3)]
    if len(set(distractors)) < 3:
        distractors = others[:3]
    roll = draw(seed, "mcq-fault", segment)
    if roll < MCQ_DUPLICATE_RATE:
        distractors[2] = distractors[1]
    options = [answer, *distractors]
    if MCQ_DUPLICATE_RATE <= roll < MCQ_DUPLICATE_RATE + MCQ_MISSING_ANSWER_RATE:
        options[0] = others[-1] if others[-1] not in distractors else "none of these"
    order = sorted(range(4), key=lambda k: draw(seed, "mcq-order", k, segment))
    blank = re.sub(rf"\b{re.escape(answer)}\b", "_____", sentence, count=1)
    lines = [f'Question: Which word fills the blank in the text? "{blank}"']
    lines += [f"{'ABCD'[n]}) {options[k]}" for n, k in enumerate(order)]
    lines.append(f"Answer: {answer}")
    return "\n".join(lines), "stop"


RULES_AUGMENT_HANDLERS: Mapping[str, Callable[[Mapping[str, str], int], tuple[str, str]]] = {
    "paraphrase": _paraphrase,
    "style_transfer": _style_transfer,
    "translate": _translate,
    "seed_expansion": _seed_expansion,
    "document_qa": _document_qa,
    "document_mcq": _document_mcq,
}
