"""`CodeSandbox`: the Dagster resource around `Sandbox`. The only module of this package that
imports dagster; the config fields are the limits, the worker count, the isolation mode, the
explicit opt-in to running without namespace isolation, and how many candidates with the same
tests share a test runner process."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from pydantic import PrivateAttr

from ._config import SandboxLimits, SandboxResult
from ._sandbox import Sandbox

__all__ = ["CodeSandbox"]

_DEFAULTS = SandboxLimits()


class CodeSandbox(dg.ConfigurableResource):
    """Runs model-written code against its tests in the sandbox (docs/sandbox.md).

    The workers start in `setup_for_execution` and stop in `teardown_after_execution`; used
    outside a run (a script, a test), they start on first use and stop with `close()`.
    """

    cpu_seconds: int = _DEFAULTS.cpu_seconds
    wall_seconds: float = _DEFAULTS.wall_seconds
    memory_mb: int = _DEFAULTS.memory_mb
    max_processes: int = _DEFAULTS.max_processes
    max_file_mb: int = _DEFAULTS.max_file_mb
    max_output_kb: int = _DEFAULTS.max_output_kb
    workers: int | None = None  # one per CPU this process may run on
    isolation: str = "auto"  # auto: bwrap, else unshare; never rlimits without the opt-in below
    # The explicit opt-in to isolation "rlimits" (no namespaces: not a security boundary). Also
    # granted by the environment variable SYNTH_SANDBOX_ALLOW_NO_NAMESPACES=1 (docs/sandbox.md).
    allow_no_namespaces: bool = False
    candidates_per_runner: int = 4

    _sandbox: Sandbox | None = PrivateAttr(default=None)

    @property
    def limits(self) -> SandboxLimits:
        return SandboxLimits(
            cpu_seconds=self.cpu_seconds,
            wall_seconds=self.wall_seconds,
            memory_mb=self.memory_mb,
            max_processes=self.max_processes,
            max_file_mb=self.max_file_mb,
            max_output_kb=self.max_output_kb,
        )

    def _start(self) -> Sandbox:
        return Sandbox(self.limits, workers=self.workers, isolation=self.isolation,
                       candidates_per_runner=self.candidates_per_runner,
                       allow_no_namespaces=self.allow_no_namespaces)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._sandbox = self._start()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.close()

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = self._start()
        return self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def run_tests(self, code: str, tests: str) -> SandboxResult:
        return self.sandbox.run_tests(code, tests)

    def run_many(self, jobs: Sequence[tuple[str, str]]) -> list[SandboxResult]:
        return self.sandbox.run_many(jobs)

    def describe(self) -> dict:
        return self.sandbox.describe()
