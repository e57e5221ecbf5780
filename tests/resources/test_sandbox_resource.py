"""The Dagster resource around the sandbox: config, lifecycle, delegation."""

from __future__ import annotations

import dagster as dg
import pytest

from resources.sandbox import Outcome
from resources.sandbox.resource import CodeSandbox

ADD = "def add(a, b):\n    return a + b\n"


def test_resource_runs_candidates_inside_an_asset() -> None:
    @dg.asset
    def verified(code_sandbox: CodeSandbox) -> dg.MaterializeResult:
        results = code_sandbox.run_many([(ADD, "assert add(1, 2) == 3"), (ADD, "assert add(1, 2) == 4")])
        single = code_sandbox.run_tests(ADD, "assert add(2, 2) == 4")
        info = code_sandbox.describe()
        return dg.MaterializeResult(
            metadata={
                "outcomes": [r.outcome.value for r in results] + [single.outcome.value],
                "isolation": info["isolation"],
                "cpu_seconds": info["limits"]["cpu_seconds"],
            }
        )

    resource = CodeSandbox(cpu_seconds=2, wall_seconds=4, workers=1)
    result = dg.materialize([verified], resources={"code_sandbox": resource})
    assert result.success
    metadata = result.asset_materializations_for_node("verified")[0].metadata
    assert metadata["outcomes"].value == ["passed", "test_failure", "passed"]
    assert metadata["isolation"].value in ("bwrap", "unshare", "rlimits")
    assert metadata["cpu_seconds"].value == 2


def test_resource_outside_a_run_starts_lazily_and_closes() -> None:
    resource = CodeSandbox(workers=1, wall_seconds=4, candidates_per_runner=2)
    try:
        assert resource.run_tests(ADD, "assert add(1, 1) == 3").outcome is Outcome.TEST_FAILURE
        assert resource.describe()["workers"] == 1
        assert resource.describe()["candidates_per_runner"] == 2
    finally:
        resource.close()
    assert resource._sandbox is None


def test_invalid_limits_are_rejected_with_the_field_name() -> None:
    with pytest.raises(ValueError, match="memory_mb"):
        CodeSandbox(memory_mb=1).limits  # noqa: B018 - building the limits validates them
