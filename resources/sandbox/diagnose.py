"""Which isolation the code sandbox gets on this machine, and why: the sandbox part of
`synth doctor`. Each mode is started for real and given a small candidate; nothing is inferred
from the presence of a binary alone. Pure Python, no dagster.
"""

from __future__ import annotations

import os
import platform
import pwd
from dataclasses import dataclass, field

from . import _isolation
from ._config import SandboxError, SandboxLimits
from ._sandbox import Sandbox

__all__ = ["Diagnosis", "ModeReport", "diagnose", "format_diagnosis"]

_LIMITS = SandboxLimits(cpu_seconds=2, wall_seconds=10)
# A candidate and tests that need the standard library on both sides, as real ones do.
_PROBE = ("import random, heapq\ndef pick(seed):\n    return heapq.nsmallest(1, random.Random(seed).sample(range(9), 3))\n",
          "import random\nassert pick(1) == [min(random.Random(1).sample(range(9), 3))]\n")
_WHAT = {
    "bwrap": "namespaces for network, PIDs, mounts, IPC and UTS; only /usr and the Python install are visible",
    "unshare": "namespaces for network, PIDs, mounts; the host's files that any user may read are readable",
    "rlimits": "NO namespaces: rlimits, {uid} and an audit hook only (not a security boundary; needs the opt-in)",
}


@dataclass(frozen=True)
class ModeReport:
    """One isolation mode on this machine: whether it starts and runs a candidate, and the
    reason when it does not."""

    mode: str
    works: bool
    detail: str


@dataclass(frozen=True)
class Diagnosis:
    """What the sandbox as configured (`requested`, `allow_no_namespaces`) gets here: the mode
    in force and its warning, or the error the verification stage would fail with."""

    requested: str
    allow_no_namespaces: bool
    modes: list[ModeReport]
    facts: dict[str, str] = field(default_factory=dict)
    isolation: str | None = None
    warning: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the configured sandbox starts (with namespaces, or by the explicit opt-in)."""
        return self.error is None


def _try_mode(mode: str) -> ModeReport:
    reason = _isolation.unavailable(mode)
    if reason is not None:
        return ModeReport(mode, False, reason)
    try:
        with Sandbox(_LIMITS, workers=1, isolation=mode, allow_no_namespaces=True) as sandbox:
            result = sandbox.run_tests(*_PROBE)
    except SandboxError as exc:
        return ModeReport(mode, False, " ".join(str(exc).split())[:500])
    if not result.passed:
        return ModeReport(mode, False, f"starts, but a correct candidate did not pass: {result.outcome}: {result.message}")
    uid = "another uid" if os.geteuid() == 0 else "the verifier's own uid"
    return ModeReport(mode, True, _WHAT[mode].format(uid=uid))


def _facts() -> dict[str, str]:
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    facts = {"user": f"{user} (uid {uid}{', root' if uid == 0 else ''})",
             "kernel": f"{platform.system()} {platform.release()}",
             "bubblewrap": _isolation.bwrap_version() or "not installed"}
    facts.update(_isolation.userns_settings())
    return facts


def diagnose(isolation: str = "auto", allow_no_namespaces: bool = False) -> Diagnosis:
    """Start every mode, then the sandbox as configured, and say what it gets."""
    modes = [_try_mode(mode) for mode in ("bwrap", "unshare", "rlimits")]
    settings = {"requested": isolation, "allow_no_namespaces": allow_no_namespaces, "modes": modes, "facts": _facts()}
    try:
        with Sandbox(_LIMITS, workers=1, isolation=isolation, allow_no_namespaces=allow_no_namespaces) as sandbox:
            return Diagnosis(**settings, isolation=sandbox.isolation, warning=sandbox.warning)
    except SandboxError as exc:
        return Diagnosis(**settings, error=str(exc))


def format_diagnosis(diagnosis: Diagnosis) -> str:
    lines = ["Code sandbox on this machine:"]
    lines += [f"  {key}: {value}" for key, value in diagnosis.facts.items()]
    lines.append("")
    for report in diagnosis.modes:
        lines.append(f"  {report.mode:<8} {'works' if report.works else 'NO':<6} {report.detail}")
    lines.append("")
    opt_in = ", allow_no_namespaces" if _isolation.allowed_without_namespaces(diagnosis.allow_no_namespaces) else ""
    configured = f"The pipeline's sandbox (isolation: {diagnosis.requested}{opt_in})"
    if diagnosis.error is not None:
        lines.append(f"{configured} does NOT start: the verification stage fails with:")
        lines += ["  " + line for line in diagnosis.error.splitlines()]
    else:
        lines.append(f"{configured} runs with isolation {diagnosis.isolation}.")
        if diagnosis.warning:
            lines.append(f"WARNING: {diagnosis.warning}")
    return "\n".join(lines)
