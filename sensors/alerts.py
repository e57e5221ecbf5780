"""Alerts when a run fails, including a run stopped by a failed blocking quality gate.

A blocking asset check that fails with ERROR severity fails its step, so the run fails and
`run_failure_alert` sees it. Each alert is

- logged (error level) in the sensor's tick log,
- written to `<data>/alerts/run_failure_<run_id>.json` (the data folder is the `source_files`
  resource's), one file per failed run, and
- POSTed as JSON (`resources.webhook`) to `SYNTH_ALERT_WEBHOOK_URL` when that variable is set (timeout
  `SYNTH_ALERT_WEBHOOK_TIMEOUT` seconds, default 5, and at most two retries on a timeout, a
  connection error, 429 or 5xx). The payload has a `text` field, which Slack-style incoming
  webhooks display. A webhook that cannot be reached does not fail the sensor: the outcome is
  logged and written into the alert file, which is the record that always exists.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from resources.source_files import SourceFiles
from resources.webhook import DEFAULT_WEBHOOK_TIMEOUT_S, post_webhook

__all__ = [
    "WEBHOOK_TIMEOUT_ENV",
    "WEBHOOK_URL_ENV",
    "Alert",
    "FailedCheck",
    "alert_sensors",
    "failed_checks",
    "raised_error",
    "run_failure_alert",
    "send_alert",
    "step_errors",
    "write_alert",
]

WEBHOOK_URL_ENV = "SYNTH_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_ENV = "SYNTH_ALERT_WEBHOOK_TIMEOUT"
_SHOWN_CHECK_METADATA = ("value", "threshold", "threshold_source", "detail")
_MAX_TEXT = 500


@dataclass(frozen=True)
class FailedCheck:
    asset: str
    check: str
    severity: str
    blocking: bool
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # value, threshold, where it comes from, detail


@dataclass
class Alert:
    kind: str  # run_failure
    run_id: str
    job_name: str
    message: str
    created_at: str
    failed_steps: dict[str, str] = field(default_factory=dict)  # step key -> error message
    failed_checks: list[FailedCheck] = field(default_factory=list)
    webhook: dict[str, Any] | None = None  # what happened when it was POSTed

    @property
    def text(self) -> str:
        """One paragraph for a chat channel."""
        lines = [f"synth-factory: run {self.run_id} of job `{self.job_name}` failed. {self.message}"]
        lines += [f"- failed check {c.asset}/{c.check}: {c.metadata.get('detail') or c.description or c.severity}"
                  for c in self.failed_checks]
        lines += [f"- failed step {step}: {error}" for step, error in self.failed_steps.items()
                  if not any(step.endswith(c.check) for c in self.failed_checks)]
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, **{k: v for k, v in asdict(self).items() if k != "webhook"}}


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def failed_checks(
    instance: dg.DagsterInstance, run_id: str, shown: Sequence[str] | None = _SHOWN_CHECK_METADATA
) -> list[FailedCheck]:
    """The asset checks of a run that did not pass, with what they measured: the metadata entries
    named in `shown` (every entry when it is None), each cut to 500 characters."""
    records = instance.get_records_for_run(run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    found = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.asset_check_evaluation_data
        if evaluation.passed:
            continue
        metadata = {k: _short(getattr(v, "value", v)) for k, v in evaluation.metadata.items()
                    if shown is None or k in shown}
        found.append(FailedCheck(
            asset=evaluation.asset_key.to_user_string(), check=evaluation.check_name, severity=evaluation.severity.value,
            blocking=bool(evaluation.blocking), description=evaluation.description, metadata=metadata,
        ))
    return found


def write_alert(alert: Alert, folder: Path) -> Path:
    """`<folder>/run_failure_<run_id>.json`; written again (not duplicated) if the run is seen twice."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{alert.kind}_{alert.run_id}.json"
    record = {**alert.payload(), "webhook": alert.webhook}
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def send_alert(alert: Alert, folder: Path, log: Any, webhook_url: str | None = None,
               timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S) -> Path:
    """Log the alert, POST it when a webhook is configured, and write the alert file."""
    log.error(alert.text)
    if webhook_url:
        outcome = post_webhook(webhook_url, alert.payload(), timeout_s=timeout_s)
        alert.webhook = asdict(outcome)  # the URL itself is not written: it may hold a token
        if not outcome.delivered:
            log.error(f"alert webhook not delivered after {outcome.attempts} attempt(s): {outcome.error}")
    path = write_alert(alert, folder)
    log.info(f"alert written to {path}")
    return path


def raised_error(error: Any) -> Any:
    """The error a step raised, inside the errors Dagster wraps it in; not its own cause, whose
    message is usually less specific (a `WarehouseCorrupt` says how to recover, the DuckDB error
    under it does not). The root cause when every error in the chain is Dagster's."""
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return error


def step_errors(events: Sequence[Any]) -> dict[str, str]:
    """Step key -> the message of the error the step raised (`raised_error`)."""
    errors = {}
    for event in events:
        error = event.step_failure_data.error
        errors[str(event.step_key)] = _short(raised_error(error).message.strip() if error else event.message or "failed")
    return errors


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="A failed run (including one stopped by a failed blocking check) writes data/alerts/"
    "run_failure_<run_id>.json, logs it, and POSTs it to SYNTH_ALERT_WEBHOOK_URL when set.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, source_files: SourceFiles) -> None:
    run = context.dagster_run
    alert = Alert(
        kind="run_failure",
        run_id=run.run_id,
        job_name=run.job_name,
        message=_short(context.failure_event.message or "run failed"),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        failed_steps=step_errors(context.get_step_failure_events()),
        failed_checks=failed_checks(context.instance, run.run_id),
    )
    timeout_s = float(os.environ.get(WEBHOOK_TIMEOUT_ENV, DEFAULT_WEBHOOK_TIMEOUT_S))
    send_alert(alert, source_files.folder("alerts"), context.log, os.environ.get(WEBHOOK_URL_ENV), timeout_s)


alert_sensors = [run_failure_alert]
