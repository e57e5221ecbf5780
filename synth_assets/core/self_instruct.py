"""Self-Instruct (Wang et al. 2022): the generation prompt, the parser for its output, and the filters.

A prompt shows the teacher 8 numbered tasks (6 written by people, 2 generated earlier when there
are any) and ends with ``Task 9:``; the teacher continues the list. Each new task must pass every
filter below before it joins the task pool. `filter_instruction` applies them in this order, cheap
text checks first and the ROUGE-L comparison against the pool last, and reports the first failure:

1. `is_within_length`: 4 to 150 words (`too_short`, `too_long`);
2. `starts_with_punctuation`: the first character is ASCII punctuation;
3. `starts_with_non_ascii`: the first character is not ASCII;
4. `starts_with_write_a_program`: it opens with "Write a program" (any case);
5. `has_banned_keyword`: it names something a text-only model cannot see or do (image, graph, ...);
6. `is_novel`: the highest ROUGE-L F against the pool is above 0.7 (`not_novel`).

Every rule sees the text with surrounding whitespace stripped.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterable, Sequence

from synth_assets.core.rouge import NoveltyIndex
from synth_assets.core.rows import RejectReason
from synth_assets.core.templates import load_template
from synth_assets.core.text import shorten
from synth_assets.core.verdict import Verdict

__all__ = [
    "BANNED_KEYWORDS",
    "SELF_INSTRUCT_TEMPLATE",
    "filter_instruction",
    "filter_instructions",
    "find_banned_keyword",
    "has_banned_keyword",
    "is_novel",
    "is_within_length",
    "parse_generated_tasks",
    "render_prompt",
    "sample_in_context_tasks",
    "starts_with_non_ascii",
    "starts_with_punctuation",
    "starts_with_write_a_program",
]

SELF_INSTRUCT_TEMPLATE = "self_instruct"  # templates/self_instruct.txt: fields {tasks}, {next_number}

# From the paper's filter: tasks a language model cannot carry out with text alone. Plurals are
# the same keyword; matching is case-insensitive and on whole words ("mapping" does not match).
BANNED_KEYWORDS = (
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "go to",
)
_BANNED_RE = re.compile(
    r"\b(" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in BANNED_KEYWORDS) + r")\b", re.IGNORECASE
)

# --- the filters: one line of the paper each ---------------------------------------------------


def is_within_length(text: str, min_words: int = 4, max_words: int = 150) -> bool:
    """True when the text has `min_words` to `max_words` whitespace-separated words."""
    return min_words <= len(text.split()) <= max_words


def find_banned_keyword(text: str) -> str | None:
    """The first banned keyword the text contains as a whole word, lower-cased, or None."""
    match = _BANNED_RE.search(text)
    return None if match is None else " ".join(match.group(1).lower().split())


def has_banned_keyword(text: str) -> bool:
    """True when the text contains one of `BANNED_KEYWORDS` as a whole word, in any case."""
    return find_banned_keyword(text) is not None


def starts_with_punctuation(text: str) -> bool:
    """True when the first non-space character is ASCII punctuation (``string.punctuation``)."""
    stripped = text.strip()
    return bool(stripped) and stripped[0] in string.punctuation


def starts_with_non_ascii(text: str) -> bool:
    """True when the first non-space character is not ASCII."""
    stripped = text.strip()
    return bool(stripped) and not stripped[0].isascii()


def starts_with_write_a_program(text: str) -> bool:
    """True when the text opens with "Write a program", in any case."""
    return " ".join(text.split()[:3]).lower() == "write a program"


def is_novel(text: str, index: NoveltyIndex, threshold: float = 0.7) -> bool:
    """True unless the text's highest ROUGE-L F against the pool is above `threshold`."""
    return index.max_rouge_l(text)[0] <= threshold


# --- applying them ------------------------------------------------------------------------------


def filter_instruction(
    text: str,
    index: NoveltyIndex,
    *,
    min_words: int = 4,
    max_words: int = 150,
    threshold: float = 0.7,
) -> Verdict:
    """Apply the filters in the order of the module docstring; the first that fails decides.

    The index is only read; `filter_instructions` adds the tasks it keeps.
    """
    text = text.strip()
    n_words = len(text.split())
    if not is_within_length(text, min_words, max_words):
        reason = RejectReason.TOO_SHORT if n_words < min_words else RejectReason.TOO_LONG
        return Verdict(False, reason, f"{n_words} words, allowed {min_words} to {max_words}", float(n_words))
    if starts_with_punctuation(text):
        return Verdict(False, RejectReason.STARTS_WITH_PUNCTUATION, f"starts with {text[0]!r}")
    if starts_with_non_ascii(text):
        return Verdict(False, RejectReason.STARTS_NON_ASCII, f"starts with {text[0]!r}")
    if starts_with_write_a_program(text):
        return Verdict(False, RejectReason.STARTS_WRITE_A_PROGRAM, "starts with 'Write a program'")
    keyword = find_banned_keyword(text)
    if keyword is not None:
        return Verdict(False, RejectReason.BANNED_KEYWORD, f"contains {keyword!r}")
    score, most_similar = index.max_rouge_l(text)
    if score > threshold:
        detail = f"ROUGE-L {score:.3f} > {threshold} against: {shorten(most_similar or '')}"
        return Verdict(False, RejectReason.NOT_NOVEL, detail, score)
    return Verdict(True, None, f"max ROUGE-L {score:.3f}", score)


def filter_instructions(
    texts: Iterable[str],
    index: NoveltyIndex,
    *,
    min_words: int = 4,
    max_words: int = 150,
    threshold: float = 0.7,
) -> list[Verdict]:
    """Filter tasks in order, adding each kept one to the index so later ones are compared to it.

    This is the paper's loop: a batch cannot smuggle in two near-copies of one new task.
    """
    verdicts = []
    for text in texts:
        verdict = filter_instruction(text, index, min_words=min_words, max_words=max_words, threshold=threshold)
        if verdict.keep:
            index.add(text.strip())
        verdicts.append(verdict)
    return verdicts


# --- the prompt and its output ------------------------------------------------------------------


def sample_in_context_tasks(
    human_tasks: Sequence[str],
    machine_tasks: Sequence[str],
    rng_seed: int | str,
    *,
    n_human: int = 6,
    n_machine: int = 2,
) -> list[str]:
    """Pick the in-context tasks: `n_machine` generated ones when there are that many, human ones to
    fill up to ``n_human + n_machine``, shuffled. The same seed gives the same pick.
    """
    if n_human < 0 or n_machine < 0:
        raise ValueError(f"n_human ({n_human}) and n_machine ({n_machine}) must be >= 0")
    rng = random.Random(f"self_instruct:{rng_seed}")
    machine = rng.sample(list(machine_tasks), min(n_machine, len(machine_tasks)))
    needed_human = n_human + n_machine - len(machine)
    if len(human_tasks) < needed_human:
        raise ValueError(
            f"human_tasks has {len(human_tasks)} tasks; the prompt needs {needed_human} "
            f"({n_human} human + {n_machine - len(machine)} to stand in for missing machine tasks)"
        )
    tasks = rng.sample(list(human_tasks), needed_human) + machine
    rng.shuffle(tasks)
    return tasks


def _one_line(task: str) -> str:
    # The list format needs one task per line; the paper also drops a trailing colon.
    return " ".join(task.split()).rstrip(":").strip()


def render_prompt(tasks: Sequence[str]) -> str:
    """The Self-Instruct prompt listing `tasks` as Task 1..n and ending with ``Task n+1:``."""
    listed = "\n".join(f"Task {i}: {_one_line(task)}" for i, task in enumerate(tasks, start=1))
    return load_template(SELF_INSTRUCT_TEMPLATE).render(tasks=listed, next_number=str(len(tasks) + 1))


# "Task 10:", "**Task 10.**", "10.", "10)", "## Task 10 -" at the start of a line.
_TASK_MARKER = re.compile(
    r"^[ \t>#*_]*(?:task[ \t]*)?\d+[ \t]*[*_]*[ \t]*[:.)\-](?=[\s*_]|$)[*_]*[ \t]*", re.IGNORECASE | re.MULTILINE
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def _clean_task(chunk: str) -> str:
    chunk = _BLANK_LINE.split(chunk.strip(), maxsplit=1)[0]  # text after a blank line is chatter
    chunk = " ".join(chunk.split())
    for wrapper in ("**", "__"):  # list formatting; quotes are part of the task
        if len(chunk) > 2 * len(wrapper) and chunk.startswith(wrapper) and chunk.endswith(wrapper):
            chunk = chunk[len(wrapper) : -len(wrapper)].strip()
    return chunk


def parse_generated_tasks(text: str, *, truncated: bool = False) -> list[str]:
    """The tasks in the teacher's continuation of a prompt that ends with ``Task 9:``.

    Text before the first task marker is the rest of Task 9 (a chat model that restates
    ``Task 9:`` leaves it empty). Markers may be ``Task n:``, ``n.``, ``n)``, with markdown around
    them. Each task is cut at its first blank line and its whitespace is collapsed; empty ones are
    dropped. Pass ``truncated=True`` when generation stopped at the token limit: the last task may
    be cut off mid-sentence and is dropped.
    """
    starts = [match.span() for match in _TASK_MARKER.finditer(text)]
    bounds = [0, *[start for start, _ in starts]]
    content_starts = [0, *[end for _, end in starts]]
    tasks = []
    for i, content_start in enumerate(content_starts):
        end = bounds[i + 1] if i + 1 < len(bounds) else len(text)
        tasks.append(_clean_task(text[content_start:end]))
    tasks = [task for task in tasks if task]
    if truncated and tasks:
        tasks.pop()
    return tasks
