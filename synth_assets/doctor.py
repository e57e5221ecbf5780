"""`synth doctor`, and the sandbox line of `synth run`'s summary: which isolation the code sandbox
gets on this machine, read from the sandbox resource the pipeline is configured with."""

from __future__ import annotations

import sys

__all__ = ["run_doctor", "sandbox_summary"]


def run_doctor() -> int:
    """Print what the pipeline's code sandbox gets here; 0 if it starts, 1 if the verification
    stage would fail."""
    from resources.sandbox.diagnose import diagnose, format_diagnosis
    from synth_assets.definitions import defs

    sandbox = defs.resources["sandbox"]
    diagnosis = diagnose(sandbox.isolation, sandbox.allow_no_namespaces)
    print(format_diagnosis(diagnosis))
    return 0 if diagnosis.ok else 1


def sandbox_summary(materializations) -> None:
    """One line per isolation the run's `verified_solutions` materializations were verified
    under; a warning, on stderr, for any without namespace isolation or weaker than bwrap."""
    seen: dict[str, str] = {}
    for materialization in materializations:
        metadata = materialization.metadata
        if "sandbox_isolation" in metadata:
            warning = metadata.get("sandbox_warning")
            seen[metadata["sandbox_isolation"].value] = warning.value if warning is not None else ""
    for isolation, warning in seen.items():
        print(f"code sandbox: isolation {isolation}")
        if warning:
            print(f"WARNING: {warning}", file=sys.stderr)
