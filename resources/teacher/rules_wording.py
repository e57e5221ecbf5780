"""Wording for the offline `rules` teacher: deterministic draws and phrase-table rewording. NOT a model.

A language model words each answer afresh; the rules teacher answers from a task's reference text.
Answered verbatim, every rewording or evolution of a seed would reach the mix with its seed's answer
word for word, which no sampled teacher does, and the diversity gates would measure the stand-in's
copying instead of the pipeline. So `vary_answer` rewords an answer's prose per task, with a phrase
table of safe synonyms: two tasks get two wordings of the same content, and one task gets the same
wording every time (the answer's facts, numbers and code are never touched).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

__all__ = ["draw", "pick", "reword", "vary_answer"]


def draw(*parts: object) -> float:
    """A deterministic number in [0, 1) from the given parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick(options: Sequence[str], *parts: object) -> str:
    return options[int(draw(*parts) * len(options))]


# Phrase -> rewordings; matched case-insensitively at word boundaries. No type names (list, int,
# str, dict) and no words a code task's contract depends on.
INSTRUCTION_PHRASES: dict[str, tuple[str, ...]] = {
    "write a python function": ("create a Python function", "code a Python function"),
    "write": ("compose", "produce"),
    "implement": ("build", "code up"),
    "what is": ("find", "work out"),
    "how many": ("what number of",),
    "compute": ("work out", "calculate"),
    "calculate": ("work out", "determine"),
    "evaluate": ("work out", "find the value of"),
    "returns": ("gives back", "outputs"),
    "return": ("give back", "output"),
    "each": ("every",),
    "explain": ("describe", "clarify"),
    "summarize": ("sum up", "condense"),
    "short": ("brief", "concise"),
    "around": ("about", "roughly"),
    "using": ("with", "by means of"),
    "only": ("solely", "just"),
    "before": ("prior to",),
    "after": ("following",),
    "largest": ("biggest", "greatest"),
    "smallest": ("least",),
    "first": ("initial",),
    "give": ("provide", "offer"),
    "sorted": ("ordered",),
    "ascending": ("increasing",),
    "descending": ("decreasing",),
    "should": ("ought to",),
    "describe": ("outline", "portray"),
    "about": ("on", "regarding"),
    "help": ("assist",),
    "need": ("require",),
    "find": ("determine", "identify"),
    "show": ("demonstrate",),
    "many": ("numerous",),
    "buys": ("purchases",),
    "buy": ("purchase",),
    "costs": ("is priced at",),
    "that": ("which",),
    "takes": ("accepts",),
    "contains": ("holds",),
    "the result": ("the outcome",),
    "same": ("identical",),
    "different": ("distinct",),
    "whether": ("if",),
    "make": ("produce",),
    "keep": ("retain",),
    "counts": ("tallies",),
    "use": ("employ",),
    "very": ("really",),
    "want": ("wish",),
    "also": ("additionally",),
    "simplest form": ("lowest terms",),
    "lowest terms": ("simplest form",),
    "express": ("state",),
    "total": ("overall",),
    "how much": ("what amount",),
    "example": ("instance",),
    "briefly": ("concisely",),
    "paragraph": ("passage",),
    "passage": ("text",),
    "appear": ("occur",),
    "appears": ("occurs",),
    "handle": ("deal with",),
    "every": ("each",),
    "ignoring": ("disregarding",),
    "otherwise": ("in every other case",),
    "into": ("to",),
    "when": ("whenever",),
    "between": ("among",),
    "people": ("folks",),
    "simple": ("plain",),
    "several": ("a number of",),
    "small": ("little",),
    "large": ("big",),
}


def _phrase_pattern(table: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    """Any phrase of `table`, case-insensitive, the longest first, as a whole word outside
    identifiers, backticks and calls."""
    phrases = "|".join(sorted(map(re.escape, table), key=len, reverse=True))
    return re.compile(r"(?<![\w`])(" + phrases + r")(?![\w`(])", re.IGNORECASE)


_INSTRUCTION_PHRASE = _phrase_pattern(INSTRUCTION_PHRASES)
_CODE_SPAN = re.compile(r"`[^`]*`")
_FENCE = re.compile(r"```.*?(?:```|$)", re.S)

# Answer prose -> synonyms that read right wherever the phrase stands: no word that is also a noun
# or verb of another sense ("use", "help", "check", "start", "need"), none that changes its
# neighbours' grammar ("many of", "allows you to", "as soon as", "next time"). Numbers, names
# and code are never in it, so a reworded worked solution keeps its arithmetic and its answer.
ANSWER_PHRASES: dict[str, tuple[str, ...]] = {
    "so much": ("very much", "a great deal"),
    "really": ("truly", "genuinely"),
    "especially": ("particularly", "above all"),
    "easily": ("readily", "with ease"),
    "quickly": ("swiftly", "fast"),
    "often": ("frequently", "regularly"),
    "usually": ("typically", "generally"),
    "important": ("essential", "key"),
    "helpful": ("useful", "handy"),
    "choose": ("pick", "select"),
    "avoid": ("steer clear of", "stay away from"),
    "also": ("additionally",),
    "however": ("that said", "even so"),
    "because": ("since", "as"),
    "keeps": ("retains", "holds"),
    "make sure": ("ensure", "be sure"),
    "ensure": ("make sure",),
    "each other": ("one another",),
    "simple": ("straightforward", "plain"),
    "easy": ("simple", "effortless"),
    "finally": ("lastly", "in the end"),
    "for example": ("for instance",),
    "people": ("individuals", "folks"),
    "whole": ("entire", "complete"),
    "entire": ("whole",),
    "almost": ("nearly", "close to"),
    "nearly": ("almost",),
    "maybe": ("perhaps", "possibly"),
    "perhaps": ("maybe", "possibly"),
    "probably": ("likely", "most likely"),
    "quite": ("rather", "fairly"),
    "slowly": ("gradually", "bit by bit"),
    "carefully": ("with care", "attentively"),
    "rather than": ("instead of",),
    "instead of": ("rather than",),
    "in order to": ("to", "so as to"),
    "therefore": ("so", "hence", "thus"),
    "thus": ("therefore", "hence"),
    "which means": ("meaning", "so"),
    "different": ("distinct",),
    "happy": ("glad", "pleased"),
    "typical": ("usual", "common"),
    "mistake": ("error", "slip"),
    "mistakes": ("errors", "slips"),
    "problem": ("issue", "difficulty"),
    "problems": ("issues", "difficulties"),
    "tips": ("pointers", "suggestions"),
    "because of": ("owing to", "due to"),
    "want": ("wish",),
    "think": ("believe", "reckon"),
    "buy": ("purchase",),
    "quick": ("speedy", "brisk"),
    "nice": ("pleasant", "lovely"),
    "enjoy": ("savour", "relish"),
    "keep in mind": ("remember", "bear in mind"),
    "a lot of": ("plenty of", "lots of"),
    "lots of": ("plenty of", "a lot of"),
    "plenty of": ("lots of",),
    "a few": ("some",),
    "regularly": ("routinely", "often"),
    "immediately": ("at once", "right away"),
    "completely": ("fully", "entirely"),
    "entirely": ("wholly", "completely"),
    "small": ("little", "modest"),
    "large": ("big", "sizeable"),
    "big": ("large", "sizeable"),
    "huge": ("enormous", "vast"),
    "tiny": ("minuscule", "very small"),
    "method": ("approach", "technique"),
    "simply": ("just", "merely"),
    "difficult": ("hard", "tricky"),
    "idea": ("notion", "thought"),
    "ideas": ("notions", "thoughts"),
    "fast": ("quick", "rapid"),
    "actually": ("in fact", "in reality"),
    "sometimes": ("at times", "now and then"),
    "certainly": ("surely", "definitely"),
    "clearly": ("plainly", "evidently"),
    "extremely": ("exceedingly", "highly"),
    "beautiful": ("lovely", "gorgeous"),
    "lovely": ("delightful", "charming"),
    "delicious": ("tasty", "flavourful"),
    "wonderful": ("marvellous", "splendid"),
    "suggest": ("recommend", "propose"),
    "recommend": ("suggest", "advise"),
    "perfect": ("ideal", "flawless"),
    "mostly": ("largely", "chiefly"),
    "mainly": ("chiefly", "largely"),
    "rarely": ("seldom", "hardly ever"),
    "roughly": ("approximately", "about"),
    "approximately": ("roughly", "about"),
    "additional": ("extra", "further"),
    "extra": ("additional",),
}
_ANSWER_PHRASE = _phrase_pattern(ANSWER_PHRASES)


def _substitute(pattern: re.Pattern[str], text: str, protected: list[tuple[int, int]], protect: str,
                choose: Callable[[str, int], str]) -> str:
    def replace(match: re.Match[str]) -> str:
        phrase = match.group(0)
        if any(a <= match.start() < b for a, b in protected) or (protect and phrase == protect):
            return phrase
        new = choose(phrase, match.start())
        return new[0].upper() + new[1:] if phrase[0].isupper() else new

    return pattern.sub(replace, text)


def reword(text: str, protect: str, seed: int) -> str:
    """`text` with the instruction phrase table's rewordings, outside code spans, identifiers and
    `protect` (a code task's entry point): how the rules teacher paraphrases a task."""
    protected = [m.span() for m in _CODE_SPAN.finditer(text)]
    return _substitute(_INSTRUCTION_PHRASE, text, protected, protect,
                       lambda phrase, at: pick(INSTRUCTION_PHRASES[phrase.lower()], seed, "reword", phrase, at))


def vary_answer(text: str, *key: object) -> str:
    """`text`'s prose in this task's own wording: each phrase of `ANSWER_PHRASES` kept or swapped
    for a synonym by a draw on `key` (the task), outside code blocks and backticked spans."""
    protected = [m.span() for m in _FENCE.finditer(text)] + [m.span() for m in _CODE_SPAN.finditer(text)]
    return _substitute(_ANSWER_PHRASE, text, protected, "",
                       lambda phrase, at: pick((phrase, *ANSWER_PHRASES[phrase.lower()]), *key, "answer", phrase.lower(), at))
