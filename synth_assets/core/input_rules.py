"""What an input line must hold to become a row: one validator per kind of input (seed, human
pair, document, benchmark item), each returning every problem of a record, not the first.

The rules, each stated once:
- a required field is present, not null and not empty;
- a field holds what it is documented to hold: text (ids and categories may be numbers, a math
  answer may be a number), never a list, an object, true/false or null where text belongs;
- no text is longer than the limit (`InputLimits`): a 10 MB instruction stops here, before the
  stages that would spend minutes and gigabytes on it, and the corpus gate never sees it;
- `domain` is one of `DOMAINS`; a seed's `origin` and `generation` are consistent;
- a code seed's `solution` and `tests` compile, the solution defines `entry_point`, and code that
  runs when the tests run refers to it (tests that never call the function, such as a `check`
  function nothing calls, pass any answer). This is `compile()` and the
  syntax tree only: nothing from an input file is run outside the sandbox;
- a math seed's `answer` is one the math checker can parse (`verify.math.reference_problem`, the
  checker's own definition), so its candidates can be checked at all.
"""

from __future__ import annotations

import ast
import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from synth_assets.core.schema import DOMAINS, MAX_TEXT_CHARS, ORIGINS
from synth_assets.core.verify.math import reference_problem

__all__ = [
    "LIMIT_VARIABLES",
    "MAX_DOCUMENT_CHARS",
    "InputLimits",
    "Problem",
    "Validator",
    "benchmark_problems",
    "code_problems",
    "document_problems",
    "human_problems",
    "seed_problems",
]

# A document is cut into segments, so it may be much longer than one row's text; above a million
# characters (a long book) it is more likely a dump than prose, and splitting it is not free.
MAX_DOCUMENT_CHARS = 1_000_000
# The environment variable that sets each limit for a deployment (read in `synth_assets.definitions`).
LIMIT_VARIABLES = {"max_text_chars": "SYNTH_MAX_TEXT_CHARS", "max_document_chars": "SYNTH_MAX_DOCUMENT_CHARS"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input line: the field (empty when the whole line is bad) and why."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"field {self.field!r}: {self.reason}" if self.field else self.reason


@dataclass(frozen=True)
class InputLimits:
    """The longest text an input field may hold, in characters: the `source_files` resource's settings,
    which `LIMIT_VARIABLES` set for a deployment."""

    max_text_chars: int = MAX_TEXT_CHARS
    max_document_chars: int = MAX_DOCUMENT_CHARS

    def __post_init__(self) -> None:
        for name in ("max_text_chars", "max_document_chars"):
            if getattr(self, name) < 1:
                raise ValueError(f"InputLimits.{name} must be >= 1, got {getattr(self, name)}")


Validator = Callable[[Mapping[str, Any], InputLimits], list[Problem]]

_TEXT = (str,)
_KEY = (str, int)  # ids and categories may be written as numbers
_ANSWER = (str, int, float)  # "answer": 42


@dataclass(frozen=True)
class _Field:
    types: tuple[type, ...] = _TEXT
    required: bool = True
    document: bool = False  # held to max_document_chars instead of max_text_chars


_SEED = {
    "id": _Field(_KEY), "domain": _Field(), "category": _Field(_KEY), "instruction": _Field(),
    "entry_point": _Field(required=False), "solution": _Field(required=False), "tests": _Field(required=False),
    "answer": _Field(_ANSWER, required=False), "response": _Field(required=False), "origin": _Field(required=False),
}
_HUMAN = {"id": _Field(_KEY), "domain": _Field(), "category": _Field(_KEY), "instruction": _Field(),
          "response": _Field()}
_DOCUMENT = {"id": _Field(_KEY), "title": _Field(), "domain": _Field(), "text": _Field(document=True)}
_BENCHMARK = {"id": _Field(_KEY), "question": _Field(), "answer": _Field(_ANSWER), "domain": _Field(required=False)}
# What a seed of each domain needs so its candidates can be verified.
_NEEDED_BY_DOMAIN = {"code": ("entry_point", "solution", "tests"), "math": ("answer",)}


def seed_problems(record: Mapping[str, Any], limits: InputLimits) -> list[Problem]:
    """Every problem of a seed task (data/README.md "seeds")."""
    problems = _field_problems(record, _SEED, limits)
    domain = record.get("domain")
    needed = _NEEDED_BY_DOMAIN.get(domain, ()) if isinstance(domain, str) else ()
    problems += [Problem(name, f"required for domain {domain!r}") for name in needed if _is_blank(record.get(name))]
    bad = {p.field for p in problems}
    if domain == "code" and not bad & {"entry_point", "solution", "tests"}:
        problems += code_problems(record["entry_point"], record["solution"], record["tests"])
    if domain == "math" and "answer" not in bad and (reason := reference_problem(str(record["answer"]))):
        problems.append(Problem("answer", reason))
    return problems + _lineage_problems(record, bad)


def human_problems(record: Mapping[str, Any], limits: InputLimits) -> list[Problem]:
    """Every problem of a human instruction/response pair."""
    return _field_problems(record, _HUMAN, limits)


def document_problems(record: Mapping[str, Any], limits: InputLimits) -> list[Problem]:
    """Every problem of a document; its `text` is held to `max_document_chars`."""
    return _field_problems(record, _DOCUMENT, limits)


def benchmark_problems(record: Mapping[str, Any], limits: InputLimits) -> list[Problem]:
    """Every problem of a held-out benchmark item."""
    return _field_problems(record, _BENCHMARK, limits)


def code_problems(entry_point: str, solution: str, tests: str) -> list[Problem]:
    """A code seed's contract, checked by compiling and reading the syntax tree, never by running:
    the solution and the tests compile, the solution defines `entry_point`, the tests call it."""
    problems = []
    if not entry_point.isidentifier() or keyword.iskeyword(entry_point):
        problems.append(Problem("entry_point", f"{entry_point!r} is not a Python function name"))
    solution_tree = _compiled("solution", solution, problems)
    tests_tree = _compiled("tests", tests, problems)
    if problems:
        return problems
    if entry_point not in _module_level_names(solution_tree):
        problems.append(Problem("solution", f"does not define entry_point {entry_point!r} at module level"))
    if not _runs_into(tests_tree, entry_point):
        problems.append(Problem("tests", f"never call entry_point {entry_point!r} (no code that runs refers to it), "
                                         "so they would pass any answer"))
    return problems


def _runs_into(tree: ast.Module, name: str) -> bool:
    """Whether code that runs when the tests run refers to `name`: the module-level statements (and
    classes, whose methods a test framework calls), and the bodies of the module's functions that
    this code refers to, followed through. A `def check(candidate): ...` that nothing calls, or
    pytest-style `def test_...` functions, never run in the sandbox."""
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    pending: list[ast.AST] = [n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    for function in functions.values():  # decorators and default values run when the module does
        pending += [*function.decorator_list, *function.args.defaults,
                    *(d for d in function.args.kw_defaults if d is not None)]
    followed: set[str] = set()
    while pending:
        for node in ast.walk(pending.pop()):
            if not isinstance(node, ast.Name):
                continue
            if node.id == name:
                return True
            if node.id in functions and node.id not in followed:
                followed.add(node.id)
                pending += functions[node.id].body
    return False


def _compiled(name: str, source: str, problems: list[Problem]) -> ast.Module | None:
    """The syntax tree of `source` if `compile()` accepts it (which also catches what the parser
    lets through, such as `return` outside a function); else a problem is added."""
    try:
        compile(source, f"<{name}>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        problems.append(Problem(name, f"does not compile: {exc.msg}{where}"))
        return None
    except ValueError as exc:  # null bytes in the source
        problems.append(Problem(name, f"does not compile: {exc}"))
        return None
    except (RecursionError, MemoryError):
        problems.append(Problem(name, "does not compile: nested too deeply for the Python compiler"))
        return None
    return ast.parse(source)


# Nodes whose names belong to their own scope, not the module's.
_OWN_SCOPE = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _module_level_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level (defs, classes, assignments, imports), including
    inside `if`, `try`, `with` and loops, but not inside functions, classes or comprehensions."""
    names: set[str] = set()
    pending: list[ast.AST] = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue
        if isinstance(node, _OWN_SCOPE):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).partition(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return names


def _lineage_problems(record: Mapping[str, Any], bad: set[str]) -> list[Problem]:
    """A seed recycled from an earlier synthetic set says so; human seeds are generation 0."""
    problems = []
    origin = record.get("origin") or "human"  # absent or null: a human seed
    if "origin" not in bad and origin not in ORIGINS:
        problems.append(Problem("origin", f"must be one of {list(ORIGINS)}, got {origin!r}"))
    generation = 0 if record.get("generation") is None else record["generation"]
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        problems.append(Problem("generation", f"must be a whole number >= 0, got {generation!r}"))
    elif origin == "human" and generation != 0:
        problems.append(Problem("generation", "human rows are generation 0"))
    return problems


def _field_problems(record: Mapping[str, Any], fields: Mapping[str, _Field], limits: InputLimits) -> list[Problem]:
    """Presence, type and size of every field, and a known domain."""
    problems = []
    for name, rule in fields.items():
        if name not in record or record[name] is None:
            if rule.required:
                problems.append(Problem(name, "required field is missing" if name not in record else
                                        "required field is null"))
            continue
        value = record[name]
        if isinstance(value, bool) or not isinstance(value, rule.types):
            problems.append(Problem(name, f"expected {_expected(rule.types)}, got {_json_type(value)}"))
            continue
        text = str(value)
        limit = limits.max_document_chars if rule.document else limits.max_text_chars
        if rule.required and not text.strip():
            problems.append(Problem(name, "required field is empty"))
        elif len(text) > limit:
            variable = LIMIT_VARIABLES["max_document_chars" if rule.document else "max_text_chars"]
            problems.append(Problem(name, f"{len(text):,} characters, over the limit of {limit:,} ({variable})"))
    domain = record.get("domain")
    if isinstance(domain, str) and domain.strip() and domain not in DOMAINS:
        problems.append(Problem("domain", f"must be one of {list(DOMAINS)}, got {domain!r}"))
    return problems


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _expected(types: tuple[type, ...]) -> str:
    if types == _TEXT:
        return "text"
    return "text or a number" if float in types else "text or a whole number"


def _json_type(value: object) -> str:
    """What a JSON value is, in JSON's words."""
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
