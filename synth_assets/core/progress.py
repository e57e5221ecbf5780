"""Progress of long work inside a stage (teacher calls, texts embedded), as data a log record
carries: code that does the work logs a line with `Progress(...).log_extra()` as the record's
`extra`, and whatever displays the run (`synth run`) reads it back with `progress_of`. In the
Dagster log it is an ordinary line; nothing is guessed from the time a stage usually takes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["PROGRESS_FIELD", "Progress", "progress_of"]

PROGRESS_FIELD = "synth_progress"


@dataclass(frozen=True)
class Progress:
    what: str  # what is counted, plural: "teacher calls", "texts embedded"
    done: int
    total: int

    def __post_init__(self) -> None:
        if not 0 <= self.done <= self.total:
            raise ValueError(f"progress needs 0 <= done <= total, got {self.done} of {self.total}")

    def log_extra(self) -> dict[str, dict[str, Any]]:
        """The `extra` of a logging call that carries this progress."""
        return {PROGRESS_FIELD: asdict(self)}


def progress_of(attributes: Mapping[str, Any]) -> Progress | None:
    """The progress a log record carries (pass `record.__dict__`), or None."""
    found = attributes.get(PROGRESS_FIELD)
    return Progress(**found) if isinstance(found, Mapping) else None
