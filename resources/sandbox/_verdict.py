"""From the two servers' reports to one `SandboxResult`.

Only a verdict line carrying this run's nonce, written by the test runner (process A), can make a
pass. Everything the candidate's side reports can only make a result worse.
"""

from __future__ import annotations

import json
import signal

from ._config import Outcome, SandboxLimits, SandboxResult

EXIT_RUNTIME_MEMORY = 72  # mirrors _runtime.candidate.EXIT_RUNTIME_MEMORY
# The kinds of refusal the candidate side reports (see _runtime.policy and _runtime.candidate).
REFUSAL_KINDS = frozenset(
    {"filesystem", "network", "signal", "processes", "program", "module", "introspection",
     "file size", "permission"}
)
_MAX_MESSAGE = 300


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


class RunnerEvents:
    """Progress, violations and the verdict read from process A's pipe."""

    def __init__(self, text: str, nonce: str) -> None:
        self.total = 0
        self.ran = 0
        self.verdict: dict | None = None
        self.violations: list[str] = []
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if not isinstance(event, dict):
                continue
            if "verdict" in event:
                if event.get("nonce") == nonce and isinstance(event["verdict"], dict):
                    self.verdict = event["verdict"]
            elif "violation" in event:
                self.violations.append(str(event["violation"]))
            else:
                self.total = _count(event.get("total"), self.total)
                self.ran = _count(event.get("ran"), self.ran)
        if self.verdict is not None:
            self.total = _count(self.verdict.get("tests_total"), self.total)
            self.ran = _count(self.verdict.get("tests_run"), self.ran)


def _count(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _cpu_exhausted(report: dict, limits: SandboxLimits) -> bool:
    sig = report.get("signal")
    return sig == signal.SIGXCPU or (sig == signal.SIGKILL and report.get("killed") is None
                                     and report.get("cpu", 0.0) >= limits.cpu_seconds - 0.05)


def decide(runner: dict, candidate: dict, nonce: str, limits: SandboxLimits, duration: float) -> SandboxResult:
    events = RunnerEvents(runner.get("events", ""), nonce)

    def result(outcome: Outcome, message: str) -> SandboxResult:
        return SandboxResult(outcome, _short(message), duration, events.ran, events.total)

    for report, who in ((runner, "test runner"), (candidate, "candidate")):
        if report.get("error"):
            last = report["error"].strip().splitlines()[-1:] or ["?"]
            return result(Outcome.CRASH, f"sandbox server for the {who} failed: {last[0]}")

    # 1. Whatever the candidate was refused makes the run FORBIDDEN, passing tests or not.
    if candidate.get("killed") == "output":
        return result(Outcome.FORBIDDEN, f"output limit exceeded ({limits.max_output_kb} KiB)")
    refusals = [line.split("\t", 1) for line in candidate.get("events", "").splitlines() if line.strip()]
    if refusals:
        kind, detail = (refusals[0] + [""])[:2]
        if kind not in REFUSAL_KINDS:
            return result(Outcome.FORBIDDEN, "candidate wrote to the sandbox's event channel")
        return result(Outcome.FORBIDDEN, f"{kind}: {detail}")
    if candidate.get("signal") == signal.SIGXFSZ:
        return result(Outcome.FORBIDDEN, f"file size limit exceeded ({limits.max_file_mb} MiB)")
    timed_out = candidate.get("killed") == "wall" or _cpu_exhausted(candidate, limits)
    if candidate.get("leftovers") and not timed_out:
        left = candidate["leftovers"]
        return result(Outcome.FORBIDDEN, f"candidate left {len(left)} process(es) running: {', '.join(left)}")
    if events.violations:
        return result(Outcome.FORBIDDEN, f"tests: {events.violations[0]}")

    # 2. A verdict from the runner, written after the tests ran.
    verdict = events.verdict
    if verdict is not None and verdict.get("outcome") != "lost":
        try:
            outcome = Outcome(verdict.get("outcome"))
        except ValueError:
            return result(Outcome.CRASH, "test runner wrote an unknown outcome")
        return result(outcome, str(verdict.get("message", "")))

    # 3. No verdict, or the runner lost the candidate: the processes' fates decide.
    if runner.get("killed") == "wall" or candidate.get("killed") == "wall":
        return result(Outcome.TIMEOUT, f"wall time limit exceeded ({limits.wall_seconds:g} s)")
    if _cpu_exhausted(candidate, limits):
        return result(Outcome.TIMEOUT, f"CPU time limit exceeded ({limits.cpu_seconds} s)")
    if _cpu_exhausted(runner, limits):
        return result(Outcome.TIMEOUT, f"CPU time limit exceeded by the tests ({limits.cpu_seconds} s)")
    if runner.get("killed") == "output":
        return result(Outcome.FORBIDDEN, f"tests printed more than {limits.max_output_kb} KiB")
    if verdict is not None:  # "lost": process B ended while the tests were running
        where = str(verdict.get("message", "")).removeprefix("candidate process ended during ")
        if candidate.get("exit") == EXIT_RUNTIME_MEMORY:
            return result(Outcome.MEMORY, f"candidate ran out of memory during {where}")
        if candidate.get("signal") is not None:
            return result(Outcome.CRASH, f"candidate killed by {_signal_name(candidate['signal'])} during {where}")
        return result(Outcome.CRASH, f"candidate exited with status {candidate.get('exit')} during {where}")
    if runner.get("signal") is not None:
        status = f"killed by {_signal_name(runner['signal'])}"
    else:
        status = f"exit status {runner.get('exit')}"
    tail = runner.get("out_tail", "").strip().splitlines()[-1:] or [""]
    return result(Outcome.CRASH, f"test runner ended without a verdict ({status}) {tail[0]}".strip())
