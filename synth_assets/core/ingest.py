"""Reading the input JSONL files: good lines become rows, bad lines are quarantined, none is lost.

Every problem is reported with the file, the line number and the field, e.g.
`data/seeds/code.jsonl:12 field 'tests': required for domain 'code'`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synth_assets.core.rows import root_row
from synth_assets.core.schema import DOMAINS, ORIGINS

__all__ = [
    "BENCHMARK_FIELDS",
    "DOCUMENT_FIELDS",
    "HUMAN_FIELDS",
    "QuarantinedLine",
    "ReadResult",
    "SEED_FIELDS",
    "document_row",
    "human_row",
    "read_jsonl_dir",
    "read_jsonl_files",
    "seed_row",
    "validate_seed",
]

SEED_FIELDS = ("id", "domain", "category", "instruction")
HUMAN_FIELDS = ("id", "domain", "category", "instruction", "response")
DOCUMENT_FIELDS = ("id", "title", "domain", "text")
BENCHMARK_FIELDS = ("id", "question", "answer")


@dataclass(frozen=True)
class QuarantinedLine:
    source_file: str
    source_line: int
    field: str  # "" when the whole line is bad
    reason: str
    raw: str

    def __str__(self) -> str:
        where = f"{self.source_file}:{self.source_line}"
        return f"{where} field {self.field!r}: {self.reason}" if self.field else f"{where}: {self.reason}"


@dataclass(frozen=True)
class ReadResult:
    rows: list[dict[str, Any]]  # each with `_file` and `_line` added
    quarantined: list[QuarantinedLine]


# A validator returns (field, reason) for the first problem of a record, or None.
Validator = Callable[[Mapping[str, Any]], tuple[str, str] | None]


def read_jsonl_dir(directory: Path, required: Iterable[str], validate: Validator | None = None) -> ReadResult:
    """Read every `*.jsonl` under `directory` (sorted, so ids and order are stable)."""
    return read_jsonl_files(sorted(Path(directory).glob("*.jsonl")), required, validate)


def read_jsonl_files(
    paths: Iterable[Path],
    required: Iterable[str],
    validate: Validator | None = None,
    taken_ids: Mapping[str, str] | None = None,
) -> ReadResult:
    """Read JSONL files in order; a line whose id repeats an earlier line's, or one of
    `taken_ids` (id -> where it is used), is quarantined as a duplicate."""
    required = tuple(required)
    rows: list[dict[str, Any]] = []
    bad: list[QuarantinedLine] = []
    seen_ids: dict[str, str] = dict(taken_ids or {})
    for path in paths:
        name = str(path)
        for number, raw_bytes in enumerate(path.read_bytes().splitlines(), start=1):
            raw = raw_bytes.decode("utf-8", errors="replace")
            if not raw_bytes.strip():
                continue
            problem, record = _parse_line(raw_bytes, required, validate)
            if problem is None:
                key = str(record["id"])
                if key in seen_ids:
                    problem = ("id", f"duplicate id {key!r}, first seen at {seen_ids[key]}")
                else:
                    seen_ids[key] = f"{name}:{number}"
            if problem is not None:
                bad.append(QuarantinedLine(name, number, problem[0], problem[1], raw))
                continue
            rows.append({**record, "_file": name, "_line": number})
    return ReadResult(rows, bad)


def _parse_line(
    raw_bytes: bytes, required: tuple[str, ...], validate: Validator | None
) -> tuple[tuple[str, str] | None, dict[str, Any]]:
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ("", f"invalid UTF-8 at byte {exc.start}"), {}
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        return ("", f"invalid JSON: {exc.msg} at column {exc.colno}"), {}
    if not isinstance(record, dict):
        return ("", f"expected a JSON object, got {type(record).__name__}"), {}
    for field in required:
        value = record.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            return (field, "required field is missing or empty"), {}
        if not isinstance(value, str | int):
            return (field, f"expected text, got {type(value).__name__}"), {}
    if "domain" in record and record["domain"] not in DOMAINS:
        return ("domain", f"must be one of {list(DOMAINS)}, got {record['domain']!r}"), {}
    if validate is not None and (problem := validate(record)) is not None:
        return problem, {}
    return None, record


def validate_seed(record: Mapping[str, Any]) -> tuple[str, str] | None:
    """What each domain needs so its candidates can be verified."""
    needs = {"code": ("entry_point", "solution", "tests"), "math": ("answer",)}.get(record["domain"], ())
    for field in needs:
        value = record.get(field)
        if not isinstance(value, str | int) or not str(value).strip():
            return field, f"required for domain {record['domain']!r}"
    origin = record.get("origin", "human")
    if origin not in ORIGINS:
        return "origin", f"must be one of {list(ORIGINS)}, got {origin!r}"
    generation = record.get("generation", 0)
    if not isinstance(generation, int) or generation < 0:
        return "generation", f"must be an integer >= 0, got {generation!r}"
    if origin == "human" and generation != 0:
        return "generation", "human rows are generation 0"
    return None


def seed_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A seed as a provenance row. Its `response` is the reference: code, worked solution or answer."""
    return root_row(
        "seed", str(record["id"]), record["instruction"], record.get("solution") or record.get("response"),
        origin=record.get("origin", "human"), generation=int(record.get("generation", 0)),
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
