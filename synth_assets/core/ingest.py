"""Reading the input JSONL files: good lines become rows, bad lines are quarantined, none is lost.

Every problem of a line is reported, with the file, the line number and the field, e.g.
`data/seeds/code.jsonl:12: field 'tests': does not compile: invalid syntax (line 2); field
'category': required field is missing`. What makes a line good is in `core.input_rules`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth_assets.core.input_rules import InputLimits, Problem, Validator
from synth_assets.core.rows import root_row

__all__ = [
    "QuarantinedLine",
    "ReadResult",
    "document_row",
    "human_row",
    "read_jsonl_dir",
    "read_jsonl_files",
    "seed_row",
]

# The quarantine keeps this much of a bad line; the whole line stays in its file.
RAW_CHARS = 10_000
_DEFAULT_LIMITS = InputLimits()


@dataclass(frozen=True)
class QuarantinedLine:
    """An input line that did not become a row, with every problem found on it."""

    source_file: str
    source_line: int
    problems: tuple[Problem, ...]
    raw: str

    @property
    def field(self) -> str:
        """The fields with a problem, comma-separated ("" when only the whole line is bad)."""
        return ", ".join(dict.fromkeys(p.field for p in self.problems if p.field))

    @property
    def reason(self) -> str:
        """Every problem, `field 'name': why`, separated by "; "."""
        return "; ".join(map(str, self.problems))

    def __str__(self) -> str:
        return f"{self.source_file}:{self.source_line}: {self.reason}"

    def as_row(self) -> dict[str, Any]:
        """The line as a row of the `quarantine` table (without its stage)."""
        return {"source_file": self.source_file, "source_line": self.source_line, "field": self.field,
                "reason": self.reason, "raw": self.raw}


@dataclass(frozen=True)
class ReadResult:
    rows: list[dict[str, Any]]  # each with `_file` and `_line` added
    quarantined: list[QuarantinedLine]


def read_jsonl_dir(directory: Path, validate: Validator, limits: InputLimits = _DEFAULT_LIMITS) -> ReadResult:
    """Read every `*.jsonl` under `directory` (sorted, so ids and order are stable)."""
    return read_jsonl_files(sorted(Path(directory).glob("*.jsonl")), validate, limits)


def read_jsonl_files(
    paths: Iterable[Path],
    validate: Validator,
    limits: InputLimits = _DEFAULT_LIMITS,
    taken_ids: Mapping[str, str] | None = None,
) -> ReadResult:
    """Read JSONL files in order. A line with any problem `validate` finds is quarantined with all
    of them; so is a line whose id repeats an earlier good line's, or one of `taken_ids` (id ->
    where it is used)."""
    rows: list[dict[str, Any]] = []
    bad: list[QuarantinedLine] = []
    seen_ids: dict[str, str] = dict(taken_ids or {})
    for path in paths:
        name = str(path)
        for number, raw_bytes in enumerate(path.read_bytes().splitlines(), start=1):
            if not raw_bytes.strip():
                continue
            record, problems = _parse_line(raw_bytes)
            if record is not None:
                problems = validate(record, limits)
                key = str(record.get("id"))
                if key in seen_ids and not any(p.field == "id" for p in problems):
                    problems.append(Problem("id", f"duplicate id {key!r}, first seen at {seen_ids[key]}"))
            if problems:
                bad.append(QuarantinedLine(name, number, tuple(problems), _kept_raw(raw_bytes)))
                continue
            seen_ids[key] = f"{name}:{number}"
            rows.append({**record, "_file": name, "_line": number})
    return ReadResult(rows, bad)


def _parse_line(raw_bytes: bytes) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The line's JSON object, or the problem that makes the whole line unreadable."""
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem("", f"invalid UTF-8 at byte {exc.start}")]
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem("", f"invalid JSON: {exc.msg} at column {exc.colno}")]
    except RecursionError:
        return None, [Problem("", "invalid JSON: nested too deeply")]
    if not isinstance(record, dict):
        return None, [Problem("", f"expected a JSON object, got {_json_kind(record)}")]
    return record, []


def _json_kind(value: object) -> str:
    return {list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(type(value), "a number")


def _kept_raw(raw_bytes: bytes) -> str:
    raw = raw_bytes.decode("utf-8", errors="replace")
    if len(raw) <= RAW_CHARS:
        return raw
    return raw[:RAW_CHARS] + f"… ({len(raw) - RAW_CHARS:,} more characters in the file)"


def seed_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A seed as a provenance row. Its `response` is the reference: code, worked solution or answer."""
    return root_row(
        "seed", str(record["id"]), record["instruction"], record.get("solution") or record.get("response"),
        origin=record.get("origin") or "human", generation=int(record.get("generation") or 0),
        teacher=None, template_version=None, domain=record["domain"], category=str(record["category"]),
        entry_point=record.get("entry_point"), tests=record.get("tests"),
        reference_answer=None if record.get("answer") is None else str(record["answer"]),
        source_file=record["_file"], source_line=record["_line"],
    )


def human_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A human instruction/response pair as a root row: generation 0, origin `human`."""
    return root_row("human", str(record["id"]), record["instruction"], record["response"], domain=record["domain"],
                    category=str(record["category"]), source_file=record["_file"], source_line=record["_line"])


def document_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A document as a root row: `instruction` holds its title, `response` its text."""
    return root_row("document", str(record["id"]), record["title"], record["text"], domain=record["domain"],
                    category="document", source_file=record["_file"], source_line=record["_line"])
