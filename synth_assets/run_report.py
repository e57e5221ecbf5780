"""What `synth run` says about what went wrong: a table of the checks that failed (check, asset,
severity, value, threshold and the check's own message), the errors of the steps that raised
(without the traceback unless asked), and the runs that failed, with their ids for `synth ui`.

Everything comes from the runs' own events in the instance, as `run_failure_alert` reads them, so
a check that says more in its description or metadata says it here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import dagster as dg
from tabulate import tabulate

from sensors.alerts import FailedCheck, failed_checks, raised_error
from synth_assets.assets.checks import THRESHOLDS_KEY
from synth_assets.graph_run import GraphRun

__all__ = ["RunFailures", "collect_failures", "format_failures", "run_label"]

_TABLE_COLUMNS = ("value", "threshold")  # metadata with a column of its own
_IN_MESSAGE = ("detail", THRESHOLDS_KEY)  # metadata a gate's message already says
_MESSAGE_WIDTH = 60
_METADATA_LINES = 8  # a markdown table of offenders is cut to its first lines; the UI has it all


@dataclass(frozen=True)
class FailedRun:
    run_id: str
    batch: str | None  # the seed batch (partition) it ran; None for the run that unions them
    failed_steps: list[str]


@dataclass(frozen=True)
class StepError:
    run_id: str
    step: str
    message: str  # what the step raised
    traceback: str  # the whole chain, shown with --verbose


@dataclass(frozen=True)
class RunFailures:
    checks: list[FailedCheck]
    errors: list[StepError]  # steps that raised, not counting checks that only failed
    failed_runs: list[FailedRun]
    succeeded: int
    not_started: list[str | None]  # batches of the planned runs left out after a failure


def collect_failures(outcome: GraphRun, instance: dg.DagsterInstance) -> RunFailures:
    checks: list[FailedCheck] = []
    errors: list[StepError] = []
    failed_runs: list[FailedRun] = []
    for result in outcome.results:
        run_id = result.run_id
        graph = result.job_def.asset_layer.asset_graph
        found = [c if c.description else replace(c, description=_defined_description(graph, c))
                 for c in failed_checks(instance, run_id, shown=None)]
        checks += found
        check_steps = {f"{c.asset}_{c.check}" for c in found}
        failures = [e for e in result.all_events if e.is_step_failure or e.is_resource_init_failure]
        for event in failures:
            error = _error_of(event)
            if event.step_key in check_steps or error is None:
                continue
            raised = raised_error(error)
            errors.append(StepError(run_id, _step_of(event), f"{raised.cls_name}: {raised.message.strip()}",
                                    error.to_string()))
        if not result.success:
            failed_runs.append(FailedRun(run_id, result.dagster_run.tags.get("dagster/partition"),
                                         list(dict.fromkeys(_step_of(e) for e in failures))))
    return RunFailures(checks, errors, failed_runs, sum(r.success for r in outcome.results),
                       [planned.partition_key for planned in outcome.skipped])


def _error_of(event: dg.DagsterEvent):
    """The error of a failed step, or of a resource that failed to start (the sandbox without
    namespace isolation, say): that failure has no step failure of its own."""
    return event.step_failure_data.error if event.is_step_failure else event.engine_event_data.error


def _step_of(event: dg.DagsterEvent) -> str:
    return str(event.step_key) if event.step_key else "starting the resources"


def _defined_description(graph, check: FailedCheck) -> str | None:
    """The description the check was defined with, for a result that gave none of its own."""
    key = dg.AssetCheckKey(dg.AssetKey.from_user_string(check.asset), check.check)
    return graph.get_check_spec(key).description if key in graph.asset_check_keys else None


def format_failures(failures: RunFailures, verbose: bool = False) -> str:
    """The report, or "" when every run succeeded and every check passed."""
    blocks = []
    if failures.checks:
        blocks.append("Failed checks:\n" + _checks_table(failures.checks) + _other_metadata(failures.checks))
    for error in failures.errors:
        blocks.append(f"Step {error.step} (run {error.run_id}) failed:\n"
                      + (error.traceback if verbose else _indent(error.message)))
    if failures.failed_runs:
        lines = [f"Failed runs ({failures.succeeded} other run(s) succeeded); open `synth ui`, Runs, and "
                 "search for the id to see a run's log and events:"]
        lines += [f"  {run.run_id}  {run_label(run.batch)}: failed at {', '.join(run.failed_steps) or 'a step'}"
                  for run in failures.failed_runs]
        if failures.not_started:
            lines.append("Not started after it: " + ", ".join(run_label(batch) for batch in failures.not_started))
        if not verbose and failures.errors:
            lines.append("(`synth run --verbose` prints the tracebacks and the Dagster log on the console)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _checks_table(checks: list[FailedCheck]) -> str:
    rows = [[c.check, c.asset, c.severity.lower() + (", blocking" if c.blocking else ""),
             *(c.metadata.get(name, "-") for name in _TABLE_COLUMNS), _message(c)] for c in checks]
    return tabulate(rows, headers=["check", "asset", "severity", *_TABLE_COLUMNS, "message"],
                    maxcolwidths=[None, None, None, 12, 12, _MESSAGE_WIDTH], disable_numparse=True)


def _message(check: FailedCheck) -> str:
    detail = check.metadata.get("detail")
    if check.description and detail and detail.rstrip(".") in check.description:
        detail = None  # the check's message already holds it (a gate's message starts with its detail)
    parts = [check.description, detail]
    return "; ".join(p for p in parts if p) or "(the check gave no message)"


def _other_metadata(checks: list[FailedCheck]) -> str:
    lines = []
    for check in checks:
        extra = {k: v for k, v in check.metadata.items() if k not in (*_TABLE_COLUMNS, *_IN_MESSAGE)}
        if extra:
            lines.append(f"{check.check} on {check.asset}:")
            lines += [f"  {key}: {_block(value)}" for key, value in extra.items()]
    return "\n\n" + "\n".join(lines) if lines else ""


def _block(value: str) -> str:
    rows = str(value).splitlines() or [""]
    shown = rows[:_METADATA_LINES] + ([f"… {len(rows) - _METADATA_LINES} more lines in the UI"]
                                      if len(rows) > _METADATA_LINES else [])
    return shown[0] if len(shown) == 1 else "\n" + "\n".join(f"    {row}" for row in shown)


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def run_label(batch: str | None) -> str:
    """What a run of `run_graph` makes, by its seed batch (None: the run that unions them)."""
    return f"seed batch {batch}" if batch else "the union of the batches (corpus, mix, review, export)"
