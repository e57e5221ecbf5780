"""The offline `rules` teacher: NOT a language model.

It answers from fixed text rules and the `hints` a stage attaches to each request (the task's
reference solution, its answer, the operation asked for), so the whole graph runs on any laptop and
in CI with no model and no network. It is deterministic for a given seed and sample index, and it
makes mistakes on purpose, at fixed rates, so every filter downstream has real work to do:

- code: the reference solution, or a mutant of it (an operator swapped, an off-by-one);
- math: the worked solution with the right answer, or with slipped arithmetic;
- general: the reference response, a refusal, or a truncated answer;
- evolution: a rewritten task (one sentence added for the operation), sometimes the task unchanged
  or with the rewriting prompt's words left in, which the elimination rules must catch;
- judging: documented heuristic aspect scores as the rubric judge's JSON (see `_rubric_scores`),
  never a real judgment; a few replies are broken JSON on purpose, so the judge's validation and
  retry have work to do.

- tail filling: the task with one edge case or rare scenario of its domain added (`_TAIL_ADDITIONS`).

It comes as two models, one per role, so the offline graph has a judge that is not its generator:
`rule-based-v1` (`GENERATOR_MODEL`) answers every kind; `rule-judge-v1` (`JUDGE_MODEL`) only judges
(judge_rubric, judge_equal) and refuses to write anything else, as a separate judge model would.

Hint kinds (`hints["kind"]`): evolve, respond, solve, judge_equal, judge_rubric, self_instruct,
backtranslate, curate, tail_fill; and those of `rules_augment.py` (paraphrase, style_transfer,
translate, seed_expansion, document_qa, document_mcq).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

from resources.teacher.base import Completion, GenerationRequest, TeacherBackend
from resources.teacher.rules_augment import RULES_AUGMENT_HANDLERS
from resources.teacher.rules_wording import draw, pick, vary_answer

__all__ = ["RulesBackend"]

VERSION = "v1"
GENERATOR_MODEL = f"rule-based-{VERSION}"
JUDGE_MODEL = f"rule-judge-{VERSION}"
MODELS = (GENERATOR_MODEL, JUDGE_MODEL)
JUDGING_KINDS = frozenset({"judge_rubric", "judge_equal"})
REFUSAL = "I'm sorry, but I can't help with that request."

# Rates of planted mistakes; stated here so the README and tests can refer to them.
CODE_CORRECT_RATE = 0.55
MATH_CORRECT_RATE = 0.65
GENERAL_REFUSAL_RATE = 0.08
GENERAL_TRUNCATION_RATE = 0.06
EVOLVE_COPY_PROMPT_RATE = 0.05
EVOLVE_UNCHANGED_RATE = 0.05
RESPOND_SORRY_RATE = 0.04
RESPOND_STOPWORDS_RATE = 0.03
JUDGE_MALFORMED_RATE = 0.03  # per attempt: a judge reply cut off mid-JSON

_ADDITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "add_constraints": {
        "code": (
            "Do not import any modules.",
            "Keep the function body under 15 lines.",
            "Do not modify the arguments passed in.",
            "Include a docstring that describes the parameters and the return value.",
            "Avoid recursion.",
        ),
        "math": (
            "Show every intermediate step.",
            "State the final answer on its own line.",
            "Check the result before stating it.",
            "Do not use a calculator-style shortcut; show the arithmetic.",
        ),
        "general": (
            "Use no more than 120 words.",
            "Write for a reader who is twelve years old.",
            "Present the answer as a bulleted list.",
            "Include exactly one concrete example.",
            "Avoid technical jargon.",
        ),
    },
    "deepen": {
        "code": (
            "Also state the time complexity of your solution and why.",
            "Also explain which edge cases the function handles and how.",
        ),
        "math": (
            "Then explain why the method you used is valid.",
            "Then describe how the answer would change if the numbers doubled.",
        ),
        "general": (
            "Go beyond the obvious and address a common misconception.",
            "Explain the underlying reasons, not only the facts.",
        ),
    },
    "concretize": {
        "code": (
            "The function will run inside a data-cleaning script for a small library catalogue.",
            "The function is part of a command-line tool that a teacher uses to grade homework.",
        ),
        "math": (
            "This comes up while a family plans its monthly budget.",
            "A school club needs this figure for its yearly report.",
        ),
        "general": (
            "Frame the answer for a volunteer at a community garden.",
            "Frame the answer for a nurse starting night shifts.",
        ),
    },
    "increase_reasoning": {
        "code": ("Before writing code, list the steps of your approach.",),
        "math": ("Solve it in at least three explicit reasoning steps.",),
        "general": ("Reason through the question step by step before concluding.",),
    },
    "complicate_input": {
        "code": (
            "The input may be empty or contain repeated values; handle both.",
            "The input may be very large, so avoid quadratic work.",
        ),
        "math": ("Give the answer as a fraction in lowest terms if it is not a whole number.",),
        "general": ("Assume the reader has conflicting advice from two sources.",),
    },
}

_RARE_TOPICS: dict[str, tuple[str, ...]] = {
    "code": (
        "run-length encoding of DNA strings",
        "parsing Roman numerals on old clock faces",
        "scheduling bell-ringing changes",
        "checksums for library barcodes",
        "tide-table interpolation",
    ),
    "math": (
        "mixing paint in ratios for a mural",
        "the gear ratios of a vintage bicycle",
        "rationing water on a sailing trip",
        "the angles of a honeycomb cell",
        "beekeepers splitting a harvest",
    ),
    "general": (
        "caring for a sourdough starter while travelling",
        "restoring a wooden rowing boat",
        "organising a neighbourhood seed library",
        "learning to read a topographic map for hiking",
        "preserving family letters written on old paper",
    ),
}

# Tail filling (`core.tail_fill`): sentences that keep the task's contract (function, inputs, answer).
_TAIL_ADDITIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "edge_case": {
        "code": (
            "Make sure it also works when the input is empty.",
            "It must handle an input of exactly one element.",
            "Inputs may contain repeated or negative values; handle them.",
            "It must stay correct for very large inputs.",
            "Explain in a comment how the boundary cases are handled.",
        ),
        "math": (
            "Before answering, state what would happen if one of the quantities were zero.",
            "Check that the result is not negative and say why.",
            "Point out which step is easiest to get wrong.",
            "Say whether rounding is needed at any step.",
        ),
        "general": (
            "Address what to do when the usual advice does not apply.",
            "Cover the case where the reader has almost no time.",
            "Say what to do when two sources contradict each other.",
            "Include the rare case where the obvious approach fails.",
        ),
    },
    "rare_scenario": {
        "code": (
            "The function is used by a lighthouse keeper logging ship sightings.",
            "It runs on a weather buoy with little memory.",
            "A glass-blowing studio uses it to track kiln batches.",
            "It is part of a tool that catalogues antique typewriter keys.",
        ),
        "math": (
            "This comes up while a falconer plans feeding amounts.",
            "A harbour master needs this figure for the tide log.",
            "A bell foundry uses this to plan a casting.",
            "An orchid grower needs it for a greenhouse schedule.",
        ),
        "general": (
            "Frame it for a night-shift worker at a remote research station.",
            "Frame it for a volunteer restoring a canal lock.",
            "Frame it for someone living on a houseboat in winter.",
            "Frame it for a beekeeper moving hives at night.",
        ),
    },
}

_SELF_INSTRUCT_FORMS = (
    "Explain {topic} to someone who has never heard of it.",
    "Write a short step-by-step guide to {topic}.",
    "List three common mistakes people make with {topic}, and how to avoid each.",
    "Compare two different approaches to {topic} and recommend one.",
    "Write a friendly email inviting a colleague to learn about {topic} together.",
    "Describe {topic} in exactly four sentences.",
)
_SELF_INSTRUCT_TOPICS = (
    "budgeting for a first apartment", "pruning fruit trees", "writing unit tests",
    "training for a 10 km run", "choosing a bicycle helmet", "brewing green tea",
    "negotiating a salary", "keeping a reading journal", "repairing a flat tyre",
    "planning a vegetable bed", "backing up family photos", "learning sign language basics",
    "hosting a board-game night", "reducing food waste at home", "preparing for a job interview",
    "identifying birds by their songs", "insulating a drafty window", "teaching a child to swim",
)

_STOPWORDS_ONLY = "the and of to a in that it is was for on as with."

# A task with no reference answer (a Self-Instruct task, a seed expansion) gets one of these,
# about the task's own subject: general advice, never a task-specific fact.
_OPEN_ANSWERS = (
    "When it comes to {subject}, start with the part that matters most to you and keep the first attempt "
    "small. Note what worked and what did not, change one thing at a time, and after a week or two you "
    "will have a routine that suits your situation rather than someone else's.",
    "A practical way into {subject} is to split it into three steps: decide what a good result looks like, "
    "try the simplest version that could get there, and then review it honestly. Most trouble comes from "
    "skipping the first step, so write your goal down before anything else.",
    "The short version on {subject}: prepare before you begin, ask someone experienced when you are unsure, "
    "and expect the first try to be imperfect. Keep notes as you go, because the details you record now "
    "are the ones that save time on the next attempt.",
    "Think of {subject} as a habit rather than a single event. Set aside a regular moment for it, gather what "
    "you need in advance, and measure progress against where you started instead of against experts. "
    "Small, steady improvements add up faster than occasional bursts of effort.",
    "Begin {subject} by listing what you already know and what you still need to find out. Fill the gaps "
    "with one reliable source rather than many conflicting ones, try the approach on a modest scale, and "
    "adjust it once you can see how it behaves in practice.",
    "Most people who struggle with {subject} try to do everything at once. Pick a single goal, set a "
    "realistic deadline, and check in with yourself halfway. If something is not working, change the "
    "method before you abandon the goal.",
)
_ARTICLES = frozenset({"a", "an", "the"})
_QUESTION_WORDS = frozenset({
    "and", "for", "how", "why", "who", "can", "has", "are", "was", "not", "you", "its", "all", "any", "but", "one",
    "what", "which", "would", "could", "should", "write", "explain", "describe", "give", "list", "compare",
    "someone", "people", "make", "have", "that", "this", "with", "about", "your", "their", "from", "into",
    "there", "where", "when", "does", "most", "each", "exactly", "short", "guide",
})
_WORD = re.compile(r"[A-Za-z0-9']+")


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class RulesBackend(TeacherBackend):
    """Offline rule-based stand-in for a teacher model; see the module docstring."""

    name = "rules"
    cheap = True  # answers are recomputed in microseconds: no per-batch cache writes

    def __init__(self, model: str = GENERATOR_MODEL) -> None:
        if model not in MODELS:
            raise ValueError(f"the rules teacher's model must be one of {list(MODELS)} (empty: the role's default), "
                             f"got {model!r}")
        self._model = model
        self._handlers: dict[str, Callable[[Mapping[str, str], int], tuple[str, str]]] = {
            "evolve": self._evolve,
            "respond": self._respond,
            "solve": self._solve,
            "judge_equal": self._judge_equal,
            "judge_rubric": self._judge_rubric,
            "self_instruct": self._self_instruct,
            "backtranslate": self._backtranslate,
            "curate": self._curate,
            "tail_fill": self._tail_fill,
            **RULES_AUGMENT_HANDLERS,
        }

    @property
    def model(self) -> str:
        return self._model

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: GenerationRequest) -> list[Completion]:
        kind = request.hints.get("kind", "")
        handler = self._handlers.get(kind)
        if handler is None:
            raise ValueError(
                f"the rules teacher needs hints['kind'] in {sorted(self._handlers)}, got {kind!r}; "
                "it is not a language model and cannot answer free-form prompts"
            )
        if self._model == JUDGE_MODEL and kind not in JUDGING_KINDS:
            raise ValueError(f"the rules judge ({JUDGE_MODEL}) only judges ({sorted(JUDGING_KINDS)}), got kind "
                             f"{kind!r}; generation and answering use {GENERATOR_MODEL}")
        prompt_tokens = _tokens(request.prompt_text)
        completions = []
        for index in range(request.sampling.n):
            text, finish = handler(request.hints, request.sampling.seed + index)
            completions.append(Completion(text, finish, prompt_tokens, _tokens(text)))
        return completions

    # -- evolution ---------------------------------------------------------------------------

    def _evolve(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        instruction, operation, domain = hints["instruction"], hints["operation"], hints.get("domain", "general")
        fault = draw(seed, "evolve-fault", instruction, operation)
        if fault < EVOLVE_COPY_PROMPT_RATE:
            return f"#Rewritten Prompt#:\n{instruction}", "stop"
        if fault < EVOLVE_COPY_PROMPT_RATE + EVOLVE_UNCHANGED_RATE:
            return instruction, "stop"
        if operation == "breadth":
            topic = pick(_RARE_TOPICS.get(domain, _RARE_TOPICS["general"]), seed, "topic", instruction)
            return f"{instruction.rstrip()} Now pose the same kind of task about {topic}.", "stop"
        additions = _ADDITIONS[operation].get(domain, _ADDITIONS[operation]["general"])
        return f"{instruction.rstrip()} {pick(additions, seed, operation, instruction)}", "stop"

    def _tail_fill(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        instruction, operation, domain = hints["instruction"], hints["operation"], hints.get("domain", "general")
        additions = _TAIL_ADDITIONS[operation].get(domain, _TAIL_ADDITIONS[operation]["general"])
        return f"{instruction.rstrip()} {pick(additions, seed, 'tail', operation, instruction)}", "stop"

    def _respond(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        fault = draw(seed, "respond-fault", hints.get("instruction", ""))
        if fault < RESPOND_SORRY_RATE:
            return "Sorry, I cannot do that.", "stop"
        if fault < RESPOND_SORRY_RATE + RESPOND_STOPWORDS_RATE:
            return _STOPWORDS_ONLY, "stop"
        return self._solve(hints, seed)

    def _judge_equal(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        first = set(_WORD.findall(hints["first"].lower()))
        second = set(_WORD.findall(hints["second"].lower()))
        jaccard = len(first & second) / max(1, len(first | second))
        return ("Equal" if jaccard >= 0.95 else "Not Equal"), "stop"

    # -- solving -----------------------------------------------------------------------------

    def _solve(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        domain = hints.get("domain", "general")
        key = hints.get("instruction", "")
        if domain == "code":
            return self._solve_code(hints.get("solution", ""), seed, key), "stop"
        if domain == "math":
            return self._solve_math(hints, seed, key), "stop"
        roll = draw(seed, "general", key)
        if roll < GENERAL_REFUSAL_RATE:
            return REFUSAL, "stop"
        reference = hints.get("solution")
        response = vary_answer(reference, key) if reference else _open_answer(key)
        if roll < GENERAL_REFUSAL_RATE + GENERAL_TRUNCATION_RATE:
            words = response.split()
            return " ".join(words[: max(3, len(words) // 3)]), "length"
        return response, "stop"

    def _solve_code(self, solution: str, seed: int, key: str) -> str:
        solution = _strip_fence(solution)
        if not solution:
            return "```python\ndef solution(*args):\n    raise NotImplementedError\n```"
        mutants = _code_mutants(solution)
        if mutants and draw(seed, "code", key) >= CODE_CORRECT_RATE:
            solution = pick(mutants, seed, "mutant", key)
        return f"```python\n{solution.rstrip()}\n```"

    def _solve_math(self, hints: Mapping[str, str], seed: int, key: str) -> str:
        answer = hints.get("answer", "")
        worked = vary_answer(hints.get("solution", ""), key) or "Working through the arithmetic step by step."
        if not answer:  # no reference: a stable answer per task, so the samples mostly agree
            answer = str(int(draw("answer", key) * 90) + 10)
        if draw(seed, "math", key) >= MATH_CORRECT_RATE:
            slipped = _slip(answer, seed)
            worked, answer = worked.replace(answer, slipped), slipped
        return f"{worked.strip()}\nAnswer: {answer}"

    def _judge_rubric(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        instruction, response = hints.get("instruction", ""), hints.get("response", "")
        reply = json.dumps({"rationale": "Heuristic scores from the rules teacher (not a model's judgment).",
                            **_rubric_scores(instruction, response)})
        if draw(seed, "judge-malformed", hints.get("attempt", "1"), instruction, response) < JUDGE_MALFORMED_RATE:
            return reply[: len(reply) // 2], "stop"  # cut off mid-object: not valid JSON
        return reply, "stop"

    # -- Self-Instruct and backtranslation ---------------------------------------------------

    def _self_instruct(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        start = int(hints.get("next_number", "9"))
        tasks = [
            pick(_SELF_INSTRUCT_FORMS, seed, "form", i, hints.get("examples", "")).format(
                topic=pick(_SELF_INSTRUCT_TOPICS, seed, "topic", i, hints.get("examples", ""))
            )
            for i in range(3)
        ]
        return "\n".join(f"Task {start + i}: {task}" for i, task in enumerate(tasks)), "stop"

    def _backtranslate(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        segment = hints["segment"]
        first_sentence = re.split(r"(?<=[.!?])\s", segment.strip(), maxsplit=1)[0]
        topic = hints.get("title", "this topic").strip().rstrip(".").lower()
        clause = " ".join(first_sentence.split()[:10]).rstrip(",.;:").lower()
        return f"Write a short explanation about {topic}, starting from the point that {clause}.", "stop"

    def _curate(self, hints: Mapping[str, str], seed: int) -> tuple[str, str]:
        words = len(hints.get("response", "").split())
        score = 5 if 40 <= words <= 250 else 4 if 25 <= words <= 400 else 2
        return f"Rated by the rules teacher's length heuristic.\nScore: {score}", "stop"


def _open_answer(instruction: str) -> str:
    """An answer to a task without a reference: one of `_OPEN_ANSWERS`, about the task's subject
    (`_subject`), in this task's own wording."""
    return vary_answer(pick(_OPEN_ANSWERS, "open-answer", instruction).format(subject=_subject(instruction)), instruction)


def _subject(instruction: str) -> str:
    """The task's longest run of content words (articles may sit inside one): "pruning fruit trees"
    in "What is the most common mistake people make with pruning fruit trees?"."""
    runs: list[list[str]] = [[]]
    for word in _WORD.findall(instruction):
        lower = word.lower()
        content = len(word) >= 3 and lower not in _QUESTION_WORDS and lower not in _ARTICLES
        if content or (lower in _ARTICLES and runs[-1]):
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    best = max((_strip_articles(run) for run in runs), key=len)
    return " ".join(best).lower() or "this task"


def _strip_articles(run: list[str]) -> list[str]:
    while run and run[-1].lower() in _ARTICLES:
        run = run[:-1]
    return run


def _rubric_scores(instruction: str, response: str) -> dict[str, int]:
    """The rubric's five aspects (1-5) from surface features, in the judge template's order:
    a refusal or empty answer scores 1 on correctness, relevance and completeness;
    relevance: the share of the instruction's content words (over 3 letters) the answer covers;
    completeness: length (40-400 words 5, 20+ 4, 8+ 2, else 1); coherence: 5 when it ends a
    sentence or a code block, else 3; correctness: 3, +1 for covering at least 30% of the content
    words, +1 for a code block when code is asked for or 20+ words otherwise; difficulty: one point
    per 12 words of instruction, 1 to 5."""
    difficulty = 1 + min(4, len(instruction.split()) // 12)
    coherence = 5 if response.rstrip().endswith((".", "!", "?", "```", ")")) else 3
    if not response.strip() or re.search(r"\b(sorry|i can(no|')t help)\b", response, re.I):
        return {"correctness": 1, "relevance": 1, "coherence": coherence, "completeness": 1, "difficulty": difficulty}
    words = len(response.split())
    content = {w for w in _WORD.findall(instruction.lower()) if len(w) > 3}
    covered = len(content & set(_WORD.findall(response.lower()))) / max(1, len(content))
    restated = bool(instruction.strip()) and instruction.strip() in response
    wants_code = "function" in instruction.lower() or "python" in instruction.lower()
    correctness = 3 + (covered >= 0.3) + (("```" in response) if wants_code else words >= 20) - 2 * restated
    return {
        "correctness": int(correctness),
        "relevance": 1 + round(min(1.0, covered * 2) * 4),
        "coherence": coherence,
        "completeness": 5 if 40 <= words <= 400 else 4 if words >= 20 else 2 if words >= 8 else 1,
        "difficulty": difficulty,
    }


_MUTATIONS = (
    ("<=", "<"), (">=", ">"), (" < ", " <= "), (" > ", " >= "), ("==", "!="), ("!=", "=="),
    (" + 1", ""), (" - 1", ""), (" + ", " - "), (" - ", " + "), ("[1:]", "[2:]"), (" and ", " or "),
    ("True", "False"), ("range(1, ", "range(2, "), ("max(", "min("), ("min(", "max("),
)


def _code_mutants(solution: str) -> list[str]:
    """Single-edit mutants: the first occurrence of one operator swapped. Only the body is touched."""
    header, _, body = solution.partition("\n")
    mutants = []
    for old, new in _MUTATIONS:
        if old in body:
            mutant = header + "\n" + body.replace(old, new, 1)
            if mutant != solution:
                mutants.append(mutant)
    return mutants


def _strip_fence(text: str) -> str:
    match = re.search(r"```(?:python)?\n(.*?)```", text, re.S)
    return match.group(1) if match else text


def _slip(answer: str, seed: int) -> str:
    """A plausible arithmetic slip: off by one or a few, a factor of ten, an inverted fraction."""
    text = answer.strip()
    percent = text.endswith("%")
    core = text.rstrip("%").strip()
    try:
        value = Fraction(core)
    except (ValueError, ZeroDivisionError):
        return text + "0"
    kind = int(draw(seed, "slip", text) * 3)
    if kind == 0:
        wrong = value + 1
    elif kind == 1:
        wrong = value * 10 if value != 0 else Fraction(1)
    else:
        wrong = 1 / value if value not in (0, 1, -1) else value + 2
    if wrong.denominator == 1:
        rendered = str(wrong.numerator)
    elif "/" in core:
        rendered = f"{wrong.numerator}/{wrong.denominator}"
    else:
        rendered = f"{float(wrong):g}"
    return rendered + ("%" if percent else "")
