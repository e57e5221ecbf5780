"""Glue every asset shares: rows to typed frames, stage metadata, and teacher calls with stats."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd

from resources.teacher.resource import TeacherResource, TeacherStats
from resources.warehouse import RowReplacement, Warehouse
from synth_assets.core.requests import Completion, GenerationRequest
from synth_assets.core.schema import QUARANTINE_COLUMNS, REJECT_COLUMNS, TABLE_COLUMNS, empty_frame
from synth_assets.core.text import shorten

__all__ = ["FOLLOWS_UPSTREAM", "WAREHOUSE_POOL", "RecordingTeacher", "frame", "read_batch", "reject_samples", "stage_metadata", "write_stage"]

WAREHOUSE_POOL = "warehouse"
# Declarative automation for every derived asset: when an upstream asset (or partition) changes
# and the upstream blocking checks passed, this one follows. Acted on only while the
# `follow_upstream` sensor is on (shipped stopped; docs/operations.md).
FOLLOWS_UPSTREAM = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
_PREVIEW_ROWS = 5
_PREVIEW_CHARS = 80


def frame(rows: Iterable[Mapping[str, Any]], columns: Mapping[str, str]) -> pd.DataFrame:
    """Rows as a DataFrame holding exactly the table's columns (absent ones are NULL)."""
    rows = list(rows)
    if not rows:
        return empty_frame(columns)
    return pd.DataFrame([{col: row.get(col) for col in columns} for row in rows], columns=list(columns))


def write_stage(
    warehouse: Warehouse,
    table: str,
    rows: Iterable[Mapping[str, Any]],
    rejected: Iterable[Mapping[str, Any]] = (),
    quarantined: Iterable[Mapping[str, Any]] = (),
    batch: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replace the stage's table and its rows in `rejects` (and `quarantine`); return both frames.

    With a seed `batch` (a partitioned stage), every row is stamped with it and only that batch's
    rows are replaced, the stage's table, rejects and quarantine in one transaction (a crash leaves
    the batch's old rows or its new ones, never half): the other batches' rows stay as they were."""
    out = frame(rows, TABLE_COLUMNS[table])
    rejects = frame(rejected, REJECT_COLUMNS)
    quarantine = frame(quarantined, QUARANTINE_COLUMNS)
    if batch is None:
        warehouse.write_table(table, out, TABLE_COLUMNS[table])
        warehouse.replace_stage_rows("rejects", table, rejects, REJECT_COLUMNS)
        warehouse.replace_stage_rows("quarantine", table, quarantine, QUARANTINE_COLUMNS)
        return out, rejects
    out, rejects, quarantine = (f.assign(seed_batch=batch) for f in (out, rejects, quarantine))
    warehouse.replace_many([
        RowReplacement(table, out, TABLE_COLUMNS[table], {"seed_batch": batch}),
        RowReplacement("rejects", rejects.assign(stage=table), REJECT_COLUMNS, {"stage": table, "seed_batch": batch}),
        RowReplacement("quarantine", quarantine.assign(stage=table), QUARANTINE_COLUMNS,
                       {"stage": table, "seed_batch": batch}),
    ])
    return out, rejects


def read_batch(warehouse: Warehouse, table: str, batch: str) -> pd.DataFrame:
    """The rows of one seed batch in a partitioned stage's table (none if the table is not there yet)."""
    if not warehouse.table_exists(table):
        return empty_frame(TABLE_COLUMNS[table])
    return warehouse.read_table(table, "WHERE seed_batch = ?", [batch])


def stage_metadata(
    out: pd.DataFrame, rejects: pd.DataFrame, rows_in: int, quarantined: int = 0, **extra: Any
) -> dict[str, Any]:
    """Row counts, drops by reason, and a markdown preview: what every stage reports."""
    reasons = Counter(rejects["reason"]) if not rejects.empty else Counter()
    metadata: dict[str, Any] = {
        "dagster/row_count": len(out),
        "rows_in": rows_in,
        "rows_dropped": int(sum(reasons.values())),
        "rows_quarantined": quarantined,
        "dropped_by_reason": dg.MetadataValue.md(_reason_table(reasons)),
        "preview": dg.MetadataValue.md(_preview(out)),
    }
    metadata.update({f"dropped/{reason}": count for reason, count in sorted(reasons.items())})
    metadata.update(extra)
    return metadata


def reject_samples(rejects: pd.DataFrame, per_reason: int = 3) -> str:
    """A few rejected rows of each reason, with what the rule saw: for a user checking a rule."""
    if rejects.empty:
        return "Nothing rejected."
    lines = ["| reason | instruction | detail |", "| --- | --- | --- |"]
    for reason, group in rejects.groupby("reason"):
        for row in group.head(per_reason).itertuples():
            lines.append(f"| {reason} | {_cell(str(row.instruction))} | {_cell(str(row.detail or ''))} |")
    return "\n".join(lines)


def _reason_table(reasons: Counter) -> str:
    if not reasons:
        return "Nothing dropped."
    lines = ["| reason | rows |", "| --- | ---: |"]
    lines += [f"| {reason} | {count} |" for reason, count in reasons.most_common()]
    return "\n".join(lines)


def _preview(out: pd.DataFrame) -> str:
    if out.empty:
        return "(empty table)"
    columns = [c for c in ("id", "origin", "generation", "technique", "operation", "domain", "instruction", "response") if c in out]
    sample = out[columns].head(_PREVIEW_ROWS).astype(str)
    for col in ("instruction", "response"):
        if col in sample:
            sample[col] = sample[col].map(_cell)
    return sample.to_markdown(index=False)


def _cell(text: str) -> str:
    """A text as one markdown table cell: one line, shortened, pipes escaped."""
    return shorten(text, _PREVIEW_CHARS, "…").replace("|", "\\|")


class RecordingTeacher:
    """Calls the teacher and adds up its stats over every call a stage makes."""

    def __init__(self, teacher: TeacherResource):
        self._teacher = teacher
        self._stats: list[TeacherStats] = []

    @property
    def teacher_id(self) -> str:
        return self._teacher.teacher_id

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        batch = self._teacher.generate(requests)
        self._stats.append(batch.stats)
        return batch.completions

    def metadata(self) -> dict[str, Any]:
        total = TeacherStats(
            requests=sum(s.requests for s in self._stats),
            cache_hits=sum(s.cache_hits for s in self._stats),
            cache_misses=sum(s.cache_misses for s in self._stats),
            prompt_tokens=sum(s.prompt_tokens for s in self._stats),
            completion_tokens=sum(s.completion_tokens for s in self._stats),
            seconds=sum(s.seconds for s in self._stats),
        )
        return {"teacher": self._teacher.describe(), "teacher_role": self._teacher.role, **total.as_metadata()}
