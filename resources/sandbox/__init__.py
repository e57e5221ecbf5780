"""The code sandbox: run model-written Python against assert-style tests, and survive it.

    from resources.sandbox import Sandbox, SandboxLimits

    with Sandbox(SandboxLimits(cpu_seconds=5)) as sandbox:
        result = sandbox.run_tests("def add(a, b): return a + b", "assert add(1, 2) == 3")
        assert result.passed

See docs/sandbox.md for the threat model and what enforces each limit. The Dagster resource is
`resources.sandbox.resource.CodeSandbox` (this package itself never imports dagster).
"""

from ._config import Outcome, SandboxError, SandboxLimits, SandboxResult
from ._sandbox import Sandbox

__all__ = ["Outcome", "Sandbox", "SandboxError", "SandboxLimits", "SandboxResult"]
