"""The sandbox's value types: limits in, results out. Pure Python, no dagster."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Outcome", "SandboxError", "SandboxLimits", "SandboxResult"]


class SandboxError(Exception):
    """The sandbox itself could not run (no isolation mechanism, a worker would not start).

    A candidate never raises this: whatever a candidate does ends as a `SandboxResult`.
    """


class Outcome(StrEnum):
    """How one candidate's run ended. Only `PASSED` is a pass."""

    PASSED = "passed"
    SYNTAX_ERROR = "syntax_error"  # the candidate (or the tests) does not compile
    TEST_FAILURE = "test_failure"  # an assert failed, or a test raised
    TIMEOUT = "timeout"  # wall-clock or CPU limit
    MEMORY = "memory"  # MemoryError / address-space limit
    FORBIDDEN = "forbidden"  # a blocked operation: network, writes outside the temp dir, limits...
    CRASH = "crash"  # anything else: a signal, an exit before the verdict, a broken protocol


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _check_number(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
        raise ValueError(f"{name} must be a number in ({low}, {high}], got {value!r}")


@dataclass(frozen=True)
class SandboxLimits:
    """What one candidate may use. Every field is enforced by the kernel (rlimits, namespaces)
    or by the supervising server process, never by code running next to the candidate.

    cpu_seconds is whole seconds (RLIMIT_CPU has one-second granularity); max_processes counts
    processes and threads of the candidate together (RLIMIT_NPROC counts both).
    """

    cpu_seconds: int = 5
    wall_seconds: float = 10.0
    memory_mb: int = 512
    max_processes: int = 32
    max_file_mb: int = 16
    max_output_kb: int = 64

    def __post_init__(self) -> None:
        _check_int("cpu_seconds", self.cpu_seconds, 1, 3600)
        _check_number("wall_seconds", self.wall_seconds, 0, 3600)
        _check_int("memory_mb", self.memory_mb, 128, 1 << 20)
        _check_int("max_processes", self.max_processes, 1, 4096)
        _check_int("max_file_mb", self.max_file_mb, 1, 1 << 20)
        _check_int("max_output_kb", self.max_output_kb, 1, 1 << 20)

    @property
    def scratch_mb(self) -> int:
        """Size of the private tmpfs that holds a worker's temp dirs (bwrap and unshare modes)."""
        return max(64, 4 * self.max_file_mb)


@dataclass(frozen=True)
class SandboxResult:
    """The verdict on one candidate.

    `tests_run` counts the test statements that completed before the run ended (all of them for
    a pass); `tests_total` is how many test statements the tests hold (0 when they never parsed).
    `message` is short: the failing assert's line, the exception, or the limit that was hit.
    """

    outcome: Outcome
    message: str
    duration_s: float
    tests_run: int
    tests_total: int

    @property
    def passed(self) -> bool:
        return self.outcome is Outcome.PASSED
