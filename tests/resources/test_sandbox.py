"""The code sandbox on honest candidates: passes, failures and their messages, limits, modes.

Every test here runs the real sandbox (no mocks). Hostile candidates are in test_sandbox_security.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import resources.sandbox as sandbox_pkg
from resources.sandbox import (
    Outcome,
    Sandbox,
    SandboxError,
    SandboxLimits,
    SandboxResult,
)
from tests.resources.sandbox_modes import MODES, start_or_skip

REPO = Path(__file__).resolve().parents[2]
LIMITS = SandboxLimits(cpu_seconds=2, wall_seconds=5)

ADD = "def add(a, b):\n    return a + b\n"
ADD_TESTS = "assert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\n"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(LIMITS, workers=2) as sb:
        yield sb


# --- honest candidates pass ---------------------------------------------------------------------

PASSING = {
    "functions": (ADD, ADD_TESTS),
    "class_with_state": (
        ("class Stack:\n"
        "    def __init__(self):\n        self.items = []\n"
        "    def push(self, x):\n        self.items.append(x)\n"
        "    def pop(self):\n        return self.items.pop()\n"
        "    def __len__(self):\n        return len(self.items)\n"),
        ("s = Stack()\ns.push(1)\ns.push(2)\nassert len(s) == 2\nassert s.pop() == 2\n"
        "assert isinstance(s, Stack)\nassert s.items == [1]\n"),
    ),
    "generator": ("def squares(n):\n    for i in range(n):\n        yield i * i\n",
                  "assert list(squares(4)) == [0, 1, 4, 9]\nassert sum(squares(3)) == 5\n"),
    "own_exception": (
        ("class InvalidInput(ValueError):\n    pass\n"
        "def root(x):\n    if x < 0:\n        raise InvalidInput('negative')\n    return x ** 0.5\n"),
        ("try:\n    root(-1)\n    assert False\nexcept InvalidInput as e:\n    assert str(e) == 'negative'\n"
        "try:\n    root(-4)\nexcept ValueError:\n    pass\nassert root(4) == 2.0\n"),
    ),
    "builtin_exception": ("def first(xs):\n    return xs[0]\n",
                          "try:\n    first([])\n    assert False\nexcept IndexError:\n    pass\n"),
    "in_place_mutation": ("def sort_in_place(xs):\n    xs.sort()\n",
                          "xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]\n"),
    "callbacks": ("def apply(f, xs):\n    return [f(x) for x in xs]\n",
                  "assert apply(lambda x: x + 1, [1, 2]) == [2, 3]\nassert apply(str, [7]) == ['7']\n"),
    "rich_values": (
        ("from fractions import Fraction\nfrom collections import Counter\n"
        "def stats(xs):\n    return {'n': len(xs), 'half': Fraction(len(xs), 2), 'set': set(xs),\n"
        "            'pair': (min(xs), max(xs)), 'big': 2 ** 200, 'counts': Counter(xs), 'raw': b'ab'}\n"),
        ("from fractions import Fraction\nr = stats([1, 1, 2])\nassert r['n'] == 3\n"
        "assert r['half'] == Fraction(3, 2)\nassert r['set'] == {1, 2}\nassert r['pair'] == (1, 2)\n"
        "assert r['big'] == 2 ** 200\nassert r['counts'].most_common(1) == [(1, 2)]\nassert r['raw'] == b'ab'\n"),
    ),
    "module_import_in_candidate": ("import math\ndef area(r):\n    return math.pi * r * r\n",
                                   "assert math.isclose(area(1), 3.14159, rel_tol=1e-4)\n"),
    "humaneval_style": (ADD, "def check(candidate):\n    assert candidate(2, 3) == 5\n\ncheck(add)\n"),
    "loop_of_asserts": (ADD, "for a, b, c in [(1, 2, 3), (2, 2, 4)]:\n    assert add(a, b) == c\n"),
    "numpy": ("import numpy as np\ndef double(xs):\n    return np.asarray(xs) * 2\n",
              "import numpy as np\nassert (double([1, 2]) == np.array([2, 4])).all()\n"),
    "big_global_table": ("TABLE = list(range(1_500_000))\ndef get(i):\n    return TABLE[i]\n",
                         "assert get(5) == 5\nassert TABLE[7] == 7\nassert len(TABLE) == 1_500_000\n"),
    "prints_a_little": ("def add(a, b):\n    print('adding', a, b)\n    return a + b\n", "assert add(1, 2) == 3\n"),
    "uses_its_temp_dir": (
        ("import os, tempfile\ndef roundtrip(s):\n"
        "    with open('note.txt', 'w') as fh:\n        fh.write(s)\n"
        "    with tempfile.NamedTemporaryFile('w+', delete=True) as t:\n        t.write(s)\n"
        "    return open(os.path.join(os.getcwd(), 'note.txt')).read()\n"),
        "assert roundtrip('hi') == 'hi'\n",
    ),
}


@pytest.mark.parametrize("code,tests", list(PASSING.values()), ids=list(PASSING))
def test_correct_candidate_passes(sandbox: Sandbox, code: str, tests: str) -> None:
    result = sandbox.run_tests(code, tests)
    assert result.outcome is Outcome.PASSED, result.message
    assert result.passed
    assert result.tests_run == result.tests_total > 0


# --- failures and their messages ----------------------------------------------------------------


def test_wrong_answer_is_a_test_failure_naming_the_assert(sandbox: Sandbox) -> None:
    result = sandbox.run_tests("def add(a, b):\n    return a - b\n", "assert add(0, 0) == 0\nassert add(1, 2) == 3\n")
    assert result.outcome is Outcome.TEST_FAILURE
    assert not result.passed
    assert result.message == "line 2: assert add(1, 2) == 3"
    assert (result.tests_run, result.tests_total) == (1, 2)


def test_failing_assert_inside_a_helper_is_named(sandbox: Sandbox) -> None:
    tests = "def check(candidate):\n    assert candidate(1, 1) == 2\n    assert candidate(2, 2) == 5\n\ncheck(add)\n"
    result = sandbox.run_tests(ADD, tests)
    assert result.outcome is Outcome.TEST_FAILURE
    assert result.message == "line 3: assert candidate(2, 2) == 5"


def test_exception_in_a_test_names_the_line_and_the_exception(sandbox: Sandbox) -> None:
    result = sandbox.run_tests("def inverse(x):\n    return 1 / x\n", "assert inverse(2) == 0.5\nassert inverse(0) == 0\n")
    assert result.outcome is Outcome.TEST_FAILURE
    assert result.message == "line 2: assert inverse(0) == 0 -> ZeroDivisionError: division by zero"


def test_assert_message_is_kept(sandbox: Sandbox) -> None:
    result = sandbox.run_tests(ADD, "assert add(1, 1) == 3, 'one plus one'\n")
    assert result.message == "line 1: assert add(1, 1) == 3, 'one plus one' (AssertionError: one plus one)"


def test_missing_function_is_a_test_failure(sandbox: Sandbox) -> None:
    result = sandbox.run_tests("def plus(a, b):\n    return a + b\n", ADD_TESTS)
    assert result.outcome is Outcome.TEST_FAILURE
    assert "NameError" in result.message


def test_candidate_syntax_error(sandbox: Sandbox) -> None:
    result = sandbox.run_tests("def add(a, b)\n    return a + b\n", ADD_TESTS)
    assert result.outcome is Outcome.SYNTAX_ERROR
    assert "SyntaxError" in result.message and "line 1" in result.message
    assert result.tests_total == 3 and result.tests_run == 0


def test_candidate_indentation_error(sandbox: Sandbox) -> None:
    result = sandbox.run_tests("def add(a, b):\nreturn a + b\n", ADD_TESTS)
    assert result.outcome is Outcome.SYNTAX_ERROR
    assert "IndentationError" in result.message


def test_tests_syntax_error(sandbox: Sandbox) -> None:
    result = sandbox.run_tests(ADD, "assert add(1, 2) ==\n")
    assert result.outcome is Outcome.SYNTAX_ERROR
    assert result.message.startswith("tests do not compile")


def test_candidate_raising_at_import_crashes(sandbox: Sandbox) -> None:
    result = sandbox.run_tests("import not_a_real_module\n", ADD_TESTS)
    assert result.outcome is Outcome.CRASH
    assert "ModuleNotFoundError" in result.message


def test_tests_without_an_assert_never_pass(sandbox: Sandbox) -> None:
    result = sandbox.run_tests(ADD, "add(1, 2)\n")
    assert result.outcome is Outcome.TEST_FAILURE
    assert result.message == "tests contain no assert statement"


def test_comparison_with_a_candidate_object_is_not_delegated(sandbox: Sandbox) -> None:
    """A candidate object never decides whether it equals a value the test wrote."""
    code = "class Point:\n    def __init__(self, x):\n        self.x = x\n    def __eq__(self, other):\n        return True\n"
    result = sandbox.run_tests(code, "assert Point(1) == 1\n")
    assert result.outcome is Outcome.TEST_FAILURE
    between_candidates = sandbox.run_tests(code, "assert Point(1) == Point(2)\n")
    assert between_candidates.passed


def test_run_many_keeps_order_and_classifies_each(sandbox: Sandbox) -> None:
    jobs = [
        (ADD, ADD_TESTS),
        ("def add(a, b):\n    return 0\n", ADD_TESTS),
        ("def add(a, b) return 0\n", ADD_TESTS),
    ] * 5
    results = sandbox.run_many(jobs)
    assert [r.outcome for r in results] == [Outcome.PASSED, Outcome.TEST_FAILURE, Outcome.SYNTAX_ERROR] * 5
    assert all(isinstance(r, SandboxResult) and r.duration_s > 0 for r in results)
    assert sandbox.run_many([]) == []


# --- candidates with the same tests share a test runner process -------------------------------

PID_TESTS = "import os\nassert add(1, 2) == 3\nassert False, os.getpid()\n"


def _runner_pids(results: list[SandboxResult]) -> list[str]:
    """The pid of the process A that ran each candidate (the last assert's message)."""
    return [r.message.rsplit("AssertionError: ", 1)[1].rstrip(")") for r in results]


def test_candidates_with_the_same_tests_share_a_runner_four_at_a_time(sandbox: Sandbox) -> None:
    results = sandbox.run_many([(ADD, PID_TESTS)] * 8 + [(ADD, PID_TESTS + "# other tests\n")] * 2)
    assert all(r.outcome is Outcome.TEST_FAILURE and r.tests_run == 1 for r in results), results
    pids = _runner_pids(results)
    assert len(set(pids[0:4])) == 1 and len(set(pids[4:8])) == 1
    assert pids[8] == pids[9]  # the other tests: a group of their own


def test_one_candidate_per_runner_when_asked() -> None:
    with Sandbox(LIMITS, workers=1, candidates_per_runner=1) as sb:
        pids = _runner_pids(sb.run_many([(ADD, PID_TESTS)] * 4))
        assert sb.describe()["candidates_per_runner"] == 1
    assert len(set(pids)) == 4


def test_each_candidate_in_a_shared_runner_starts_from_fresh_tests(sandbox: Sandbox) -> None:
    """Globals the tests set for one candidate are gone for the next, and each candidate gets
    its own verdict whatever its neighbours did."""
    tests = "assert 'seen' not in globals()\nseen = add(1, 2)\nassert seen == 3\n"
    wrong = "def add(a, b):\n    return 0\n"
    raises = "def add(a, b):\n    raise ValueError('no')\n"
    results = sandbox.run_many([(ADD, tests), (wrong, tests), (raises, tests), (ADD, tests)])
    assert [r.outcome for r in results] == [Outcome.PASSED, Outcome.TEST_FAILURE, Outcome.TEST_FAILURE, Outcome.PASSED]
    assert "ValueError: no" in results[2].message


def test_the_cpu_limit_is_per_candidate_in_a_shared_runner() -> None:
    """Tests that spend 0.6 s of CPU each pass for four candidates in one runner process with a
    1 s limit (RLIMIT_CPU counts the process, so the runner moves it on before each), and tests
    that spin forever still time out."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6:\n    pass\nassert add(1, 2) == 3\n"
    spin = "assert add(1, 2) == 3\nwhile True:\n    pass\n"
    with Sandbox(SandboxLimits(cpu_seconds=1, wall_seconds=5), workers=1) as sb:
        burned = sb.run_many([(ADD, burn)] * 4)
        spun = sb.run_many([(ADD, spin)] * 2)
    assert all(r.passed for r in burned), burned
    assert [r.outcome for r in spun] == [Outcome.TIMEOUT] * 2
    assert all("CPU time limit exceeded by the tests" in r.message for r in spun), spun


def test_a_runner_that_dies_hands_the_rest_of_its_group_to_a_fresh_one() -> None:
    """A candidate that sleeps past the wall clock takes its runner with it; the candidates after
    it in the group still get their own verdicts."""
    sleepy = "import time\ndef add(a, b):\n    time.sleep(30)\n"
    with Sandbox(SandboxLimits(cpu_seconds=1, wall_seconds=1), workers=1) as sb:
        results = sb.run_many([(ADD, ADD_TESTS), (sleepy, ADD_TESTS), (ADD, ADD_TESTS), (ADD, ADD_TESTS)])
    assert [r.outcome for r in results] == [Outcome.PASSED, Outcome.TIMEOUT, Outcome.PASSED, Outcome.PASSED]


def test_a_runner_whose_tests_start_a_thread_serves_no_one_else(sandbox: Sandbox) -> None:
    tests = "import os, threading\nthreading.Thread(target=lambda: None).start()\nassert add(1, 2) == 3\nassert False, os.getpid()\n"
    pids = _runner_pids(sandbox.run_many([(ADD, tests)] * 3))
    assert len(set(pids)) == 3  # one group, one worker: the two left each got a fresh runner


def test_oversized_candidate_is_refused_without_running(sandbox: Sandbox) -> None:
    result = sandbox.run_tests("x = 1\n" * 300_000, ADD_TESTS)
    assert result.outcome is Outcome.FORBIDDEN
    assert "larger than" in result.message


def test_arguments_must_be_strings(sandbox: Sandbox) -> None:
    with pytest.raises(TypeError, match="must be str"):
        sandbox.run_tests(b"def f(): pass", "assert True")  # type: ignore[arg-type]


# --- limits and configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "field,value",
    [
        ("cpu_seconds", 0),
        ("cpu_seconds", 1.5),
        ("cpu_seconds", True),
        ("wall_seconds", 0),
        ("wall_seconds", -1.0),
        ("wall_seconds", "10"),
        ("memory_mb", 64),
        ("max_processes", 0),
        ("max_file_mb", 0),
        ("max_output_kb", 0),
    ],
)
def test_limits_are_validated(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SandboxLimits(**{field: value})


def test_default_limits() -> None:
    limits = SandboxLimits()
    assert (limits.cpu_seconds, limits.wall_seconds, limits.memory_mb, limits.max_output_kb) == (5, 10.0, 512, 64)


def test_sandbox_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="workers"):
        Sandbox(workers=0)
    with pytest.raises(ValueError, match="isolation"):
        Sandbox(isolation="docker")
    with pytest.raises(TypeError, match="limits"):
        Sandbox(limits={"cpu_seconds": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="candidates_per_runner"):
        Sandbox(candidates_per_runner=0)


def test_describe_names_the_isolation_and_every_limit(sandbox: Sandbox) -> None:
    info = sandbox.describe()
    assert info["isolation"] == sandbox.isolation
    assert info["isolation"] in ("bwrap", "unshare", "rlimits")
    assert info["requested_isolation"] == "auto"
    assert info["limits"]["cpu_seconds"] == 2 and info["limits"]["wall_seconds"] == 5
    for field in ("cpu_seconds", "wall_seconds", "memory_mb", "max_file_mb", "max_output_kb", "max_processes"):
        assert field in info["enforced_by"]
    assert "network" in info["enforced_by"] or any("network" in note for note in info["not_enforced"])
    assert info["not_enforced"], "describe() must say what is not enforced"


def test_closed_sandbox_refuses_work() -> None:
    sb = Sandbox(LIMITS, workers=1)
    sb.close()
    sb.close()  # idempotent
    with pytest.raises(SandboxError, match="closed"):
        sb.run_tests(ADD, ADD_TESTS)


def test_exported_members() -> None:
    assert set(sandbox_pkg.__all__) == {"Outcome", "Sandbox", "SandboxError", "SandboxLimits", "SandboxResult"}
    assert [o.value for o in Outcome] == [
        "passed", "syntax_error", "test_failure", "timeout", "memory", "forbidden", "crash",
    ]


# --- every isolation mode that works on this machine --------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_isolation_mode(mode: str) -> None:
    with start_or_skip(mode, SandboxLimits(cpu_seconds=1, wall_seconds=3), workers=1) as sb:
        assert sb.isolation == mode
        assert sb.describe()["isolation"] == mode
        assert sb.describe()["namespaces"] is (mode != "rlimits")
        assert sb.run_tests(ADD, ADD_TESTS).passed
        assert sb.run_tests("def add(a, b):\n    return 1\n", ADD_TESTS).outcome is Outcome.TEST_FAILURE
        net = sb.run_tests("import socket\nsocket.socket().connect(('127.0.0.1', 9))\n", ADD_TESTS)
        assert net.outcome is Outcome.FORBIDDEN
        loop = sb.run_tests("def add(a, b):\n    while True:\n        pass\n", ADD_TESTS)
        assert loop.outcome is Outcome.TIMEOUT
        assert sb.run_tests(ADD, ADD_TESTS).passed
        # A module the candidate imports (not preloaded anywhere) is usable, and the tests can
        # use it by the candidate's name for it.
        dice = sb.run_tests("import random\ndef roll(seed):\n    return random.Random(seed).randint(1, 6)\n",
                            "assert 1 <= roll(3) <= 6\nassert random.Random(3).randint(1, 6) == roll(3)\n")
        assert dice.passed, dice.message
        # Every honest case passes in every mode (numpy, tempfile, collections, a big table...).
        results = sb.run_many(list(PASSING.values()))
        assert {name: r.message for name, r in zip(PASSING, results, strict=True) if not r.passed} == {}


def test_a_worker_killed_from_outside_is_replaced() -> None:
    """If a fork server dies (the OOM killer, an operator), the job in flight fails as CRASH and
    the next one runs on a fresh worker."""
    import signal

    with Sandbox(LIMITS, workers=1) as sb:
        assert sb.run_tests(ADD, ADD_TESTS).passed
        os.kill(sb._workers[0].candidate.proc.pid, signal.SIGKILL)
        failed = sb.run_tests(ADD, ADD_TESTS)
        assert failed.outcome is Outcome.CRASH
        assert "sandbox worker failed" in failed.message
        assert sb.run_tests(ADD, ADD_TESTS).passed
