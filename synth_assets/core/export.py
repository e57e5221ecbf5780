"""The training set in the chat format trainers read: a `messages` list per row; the preference
pairs in TRL's conversational preference format (`prompt`, `chosen`, `rejected` message lists)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synth_assets.core.values import plain

__all__ = [
    "PREFERENCE_EXPORT",
    "PREFERENCE_FIELDS",
    "PROVENANCE_FIELDS",
    "ExportConfig",
    "to_chat_record",
    "to_preference_record",
    "write_jsonl",
    "write_parquet",
    "write_preference_parquet",
]

PROVENANCE_FIELDS = ("id", "parent_id", "root_id", "origin", "generation", "technique", "operation",
                     "teacher", "template_version", "domain", "category", "seed_batch", "attributes")

# The preference export's file name (`.jsonl` and `.parquet` under data/exports), and the provenance
# each pair keeps beside its messages: both sides' ids, verdicts, scores and makers.
PREFERENCE_EXPORT = "preference_pairs"
_PREFERENCE_TYPES = {"generation": pa.int64(), "chosen_score": pa.float64(), "rejected_score": pa.float64(),
                     "score_margin": pa.float64()}
PREFERENCE_FIELDS = ("id", "root_id", "prompt_id", "prompt_origin", "prompt_technique", "generation", "domain",
                     "category", "seed_batch", "operation", "chosen_id", "teacher", "chosen_verifier", "chosen_score",
                     "rejected_id", "rejected_teacher", "rejected_verifier", "rejected_reason", "rejected_score",
                     "score_margin", "judge_model")


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


def to_preference_record(pair: Mapping[str, Any]) -> dict[str, Any]:
    """`{"prompt": [user], "chosen": [assistant], "rejected": [assistant], ...provenance}`: TRL's
    conversational preference format, as its DPOTrainer reads it. `operation` says what decided the
    preference (verifier or judge); `teacher` made the chosen answer, `rejected_teacher` the other."""
    return {
        "prompt": [{"role": "user", "content": pair["instruction"]}],
        "chosen": [{"role": "assistant", "content": pair["response"]}],
        "rejected": [{"role": "assistant", "content": pair["rejected_response"]}],
        **{name: plain(pair.get(name)) for name in PREFERENCE_FIELDS},
    }


def write_preference_parquet(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    messages = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    fields = [pa.field(name, messages) for name in ("prompt", "chosen", "rejected")]
    fields += [pa.field(name, _PREFERENCE_TYPES.get(name, pa.string())) for name in PREFERENCE_FIELDS]
    pq.write_table(pa.Table.from_pylist(list(records), schema=pa.schema(fields)), path)
