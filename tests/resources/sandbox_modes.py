"""Starting the sandbox in one isolation mode for a test: skipped where the mode is not available
on this machine, except bwrap where SYNTH_TEST_REQUIRE_BWRAP=1 (CI installs bubblewrap and sets it,
so that the acceptance tests run in bwrap mode there, never skip)."""

from __future__ import annotations

import os

import pytest

from resources.sandbox import Sandbox, SandboxError, SandboxLimits
from resources.sandbox._isolation import unavailable

REQUIRE_BWRAP_ENV = "SYNTH_TEST_REQUIRE_BWRAP"
MODES = ["bwrap", "unshare", "rlimits"]


def bwrap_required() -> bool:
    return os.environ.get(REQUIRE_BWRAP_ENV, "") == "1"


def start_or_skip(mode: str, limits: SandboxLimits = SandboxLimits(), **kwargs) -> Sandbox:  # noqa: B008
    """A sandbox in `mode` (rlimits with its explicit opt-in), or a skip saying why not."""
    reason = unavailable(mode)
    if reason is None:
        try:
            return Sandbox(limits, isolation=mode, allow_no_namespaces=mode == "rlimits", **kwargs)
        except SandboxError as exc:
            reason = str(exc)
    if mode == "bwrap" and bwrap_required():
        pytest.fail(f"bwrap is required here ({REQUIRE_BWRAP_ENV}=1) but does not start: {reason}")
    pytest.skip(f"{mode} is not available on this machine: {reason}")
