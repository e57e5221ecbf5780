"""What `synth run` shows while it runs, and where the Dagster log goes.

`RunDisplay` is a Dagster logger for the runs `run_graph` starts. Every record the runs log goes
to a log file (Dagster's own format, DEBUG and up). From the same records it shows, on the
console, each run and each stage as it finishes (rows out and rows in, teacher requests, time),
warnings and errors as they happen, and for the stage at work a live bar of the progress its code
reports (`synth_assets.core.progress`: teacher calls, texts embedded) with the time left at that
pace. Only the runs' own events count: nothing is estimated from how long a stage took before.

On a terminal the bar is drawn with rich; anywhere else (CI, a pipe) the display prints plain
lines, one per stage finished, and no bar.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import dagster as dg
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from sensors.alerts import raised_error
from synth_assets.core.progress import progress_of
from synth_assets.graph_run import StartingRun
from synth_assets.run_report import run_label

__all__ = ["LOGGER_NAME", "RunDisplay"]

LOGGER_NAME = "synth_run"
_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"  # Dagster's console format
_STAGE_WIDTH = 30


@dataclass
class _Step:
    key: str
    started: float | None = None  # the time of its STEP_START record
    task: Any = None  # the bar's task while it runs
    rows: int | None = None
    rows_in: int | None = None
    teacher_requests: int | None = None
    teacher_cached: int | None = None
    check: Any = None  # the AssetCheckEvaluation of a check step


class RunDisplay:
    """Use as a context manager around `run_graph(..., loggers=display.loggers(),
    on_run_start=display.run_started)`."""

    def __init__(self, log_path: Path, live: bool, out: TextIO = sys.stdout):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._file = logging.FileHandler(log_path, encoding="utf-8")
        self._file.setFormatter(logging.Formatter(_FORMAT))
        self._out = _own_copy(out)
        self._console = Console(file=self._out, highlight=False, soft_wrap=True)
        # Dagster captures the process's stdout and stderr while a step runs (its compute logs):
        # the bar writes to its own copy of the stream and leaves sys.stdout alone.
        self._bar = Progress(
            SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(bar_width=12),
            TextColumn("{task.fields[counts]}", markup=False), TimeElapsedColumn(), _TimeLeft(),
            console=self._console, transient=True, redirect_stdout=False, redirect_stderr=False,
        ) if live else None
        self._run: StartingRun | None = None
        self._run_task: Any = None
        self._steps: dict[str, _Step] = {}

    def __enter__(self) -> RunDisplay:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._file.close()
        self._out.flush()
        if self._out is not sys.stdout and self._out is not sys.stderr:
            self._out.close()

    def loggers(self) -> dict[str, dg.LoggerDefinition]:
        handler = _Forward(self)

        @dg.logger(description="synth run: the Dagster log to a file, progress to the console")
        def synth_run(_context: dg.InitLoggerContext) -> logging.Logger:
            # A private logger, not registered globally: each run gets its own handler and nothing leaks between runs.
            log = logging.Logger("dagster", level=logging.DEBUG)  # noqa: LOG001
            log.addHandler(handler)
            return log

        return {LOGGER_NAME: synth_run}

    def run_started(self, run: StartingRun) -> None:
        self._run, self._steps = run, {}
        self._line(f"run {run.position} of {run.runs}: {run_label(run.partition_key)} "
                   f"({run.steps} step{'s' if run.steps != 1 else ''})")
        if self._bar is not None:
            if self._run_task is not None:
                self._bar.remove_task(self._run_task)
            self._run_task = self._bar.add_task(f"run {run.position}/{run.runs} {_where(run.partition_key)}",
                                                total=run.steps, counts=f"0/{run.steps} steps")

    # -- records ------------------------------------------------------------------------------

    def record(self, record: logging.LogRecord) -> None:
        self._file.handle(record)
        meta = getattr(record, "dagster_meta", None) or {}
        step_key = meta.get("step_key")
        event = meta.get("dagster_event")
        if event is None:
            progress = progress_of(record.__dict__)
            if progress is not None and step_key in self._steps:
                self._advance(self._steps[step_key], progress)
            elif record.levelno >= logging.WARNING:
                self._line(f"{record.levelname.lower()}: {_where(self._key())} {step_key or ''}: "
                           f"{meta.get('orig_message', record.getMessage())}")
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            self._start(str(step_key), record.created)
        elif kind == "ASSET_MATERIALIZATION" and step_key in self._steps:
            self._materialized(self._steps[step_key], event.event_specific_data.materialization.metadata)
        elif kind == "ASSET_CHECK_EVALUATION" and step_key in self._steps:
            self._steps[step_key].check = event.event_specific_data
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            step = self._steps.pop(str(step_key), None) or _Step(str(step_key))
            self._finish(step, kind, event, None if step.started is None else record.created - step.started)

    def _key(self) -> str | None:
        return self._run.partition_key if self._run else None

    def _start(self, key: str, at: float) -> None:
        step = self._steps[key] = _Step(key, at)
        if self._bar is not None:
            step.task = self._bar.add_task(key, total=None, counts="")  # the run's line above names the batch

    def _advance(self, step: _Step, progress: Any) -> None:
        if self._bar is None or step.task is None:
            return
        if progress.done == 0:  # a new piece of work in the stage: its own clock for the time left
            self._bar.reset(step.task, total=progress.total)
        self._bar.update(step.task, total=progress.total, completed=progress.done,
                         counts=f"{progress.done}/{progress.total} {progress.what}", measured=True)

    def _materialized(self, step: _Step, metadata: dict[str, Any]) -> None:
        def number(name: str) -> int | None:
            value = metadata.get(name)
            return None if value is None else int(getattr(value, "value", value))

        step.rows, step.rows_in = number("dagster/row_count"), number("rows_in")
        step.teacher_requests, step.teacher_cached = number("teacher/requests"), number("teacher/cache_hits")

    def _finish(self, step: _Step, kind: str, event: Any, seconds: float | None) -> None:
        if self._bar is not None:
            if step.task is not None:
                self._bar.remove_task(step.task)
            if self._run_task is not None and self._run is not None:
                self._bar.advance(self._run_task)
                done = int(self._bar.tasks[self._bar.task_ids.index(self._run_task)].completed)
                self._bar.update(self._run_task, counts=f"{done}/{self._run.steps} steps")
        took = "" if seconds is None else f"  {seconds:.1f} s"
        where = f"{_where(self._key()):<14} "
        if kind == "STEP_SKIPPED":
            self._line(f"{where}{step.key:<{_STAGE_WIDTH}} skipped: a step before it failed")
        elif step.check is not None:
            check = step.check
            verdict = "passed" if check.passed else (
                f"FAILED ({check.severity.value.lower()}{', blocking' if check.blocking else ''})")
            self._line(f"{where}{'check ' + check.check_name:<{_STAGE_WIDTH}} {verdict}{took}")
        elif kind == "STEP_FAILURE":
            error = event.event_specific_data.error
            self._line(f"{where}{step.key:<{_STAGE_WIDTH}} FAILED{took}: {_first_line(error)}")
        else:
            self._line(f"{where}{step.key:<{_STAGE_WIDTH}} {_counts(step)}{took}")

    def _line(self, text: str) -> None:
        if self._bar is not None:
            self._console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self._out, flush=True)


class _TimeLeft(TimeRemainingColumn):
    """The time left at the pace measured so far, only for work whose code reports its progress."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("measured"):
            return Text("")
        return Text.assemble("left ", super().render(task))


def _own_copy(out: TextIO) -> TextIO:
    """A stream on a duplicate of `out`'s file descriptor, which Dagster's capture of the real one
    does not reach; `out` itself when it has no descriptor."""
    try:
        descriptor = out.fileno()
    except (AttributeError, OSError, ValueError):
        return out
    out.flush()
    return os.fdopen(os.dup(descriptor), "w", buffering=1, encoding=getattr(out, "encoding", None) or "utf-8")


class _Forward(logging.Handler):
    def __init__(self, display: RunDisplay):
        super().__init__(level=logging.DEBUG)
        self._display = display

    def emit(self, record: logging.LogRecord) -> None:
        self._display.record(record)


def _counts(step: _Step) -> str:
    parts = []
    if step.rows is not None:
        parts.append(f"{step.rows} rows" + (f" ({step.rows_in} in)" if step.rows_in is not None else ""))
    if step.teacher_requests:
        parts.append(f"teacher {step.teacher_requests} requests ({step.teacher_cached or 0} cached)")
    return ", ".join(parts) or "done"


def _first_line(error: Any) -> str:
    if error is None:
        return "failed"
    raised = raised_error(error)
    lines = raised.message.strip().splitlines()
    return f"{raised.cls_name}: {lines[0] if lines else ''}"


def _where(batch: str | None) -> str:
    return f"[{batch}]" if batch else "[all batches]"
