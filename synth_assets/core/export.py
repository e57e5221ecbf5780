"""The training set in the chat format trainers read: a `messages` list per row."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synth_assets.core.values import plain

__all__ = ["PROVENANCE_FIELDS", "ExportConfig", "to_chat_record", "write_jsonl", "write_parquet"]

PROVENANCE_FIELDS = ("id", "parent_id", "root_id", "origin", "generation", "technique", "operation",
                     "teacher", "template_version", "domain", "category", "seed_batch", "attributes")


@dataclass(frozen=True)
class ExportConfig:
    """The export's file name (`<name>.jsonl` and `<name>.parquet`), and whether each record keeps
    its provenance columns (the dataset card needs them)."""

    name: str = "training_set"
    include_provenance: bool = True

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"ExportConfig.name must be a plain file name, got {self.name!r}")


def to_chat_record(row: Mapping[str, Any], provenance: bool = True) -> dict[str, Any]:
    """`{"messages": [user, assistant], ...provenance}`, as TRL's SFTTrainer expects."""
    record: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": row["instruction"]},
            {"role": "assistant", "content": row["response"]},
        ]
    }
    if provenance:
        record.update({name: plain(row.get(name)) for name in PROVENANCE_FIELDS})
    return record


def write_jsonl(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_parquet(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    messages = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    fields = [pa.field("messages", messages)]
    if records and "id" in records[0]:
        fields += [pa.field(name, pa.int64() if name == "generation" else pa.string()) for name in PROVENANCE_FIELDS]
    pq.write_table(pa.Table.from_pylist(list(records), schema=pa.schema(fields)), path)
