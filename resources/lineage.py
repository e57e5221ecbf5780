"""Following a row back to its seed, with every decision taken on the way (`synth trace`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from resources.warehouse import Warehouse
from synth_assets.core.values import is_missing, plain

__all__ = ["TraceStep", "explain_drop", "format_trace", "trace_row"]

# Tables that hold rows by id, downstream first: where a row was kept.
STAGE_TABLES = (
    "preference_pairs",
    "reviewed_training_set",
    "mixed_training_set",
    "deduplicated_corpus",
    "tail_fill",
    "tail_fill_instructions",
    "correction_pairs",
    "verified_solutions",
    "candidate_solutions",
    "self_instruct_tasks",
    "augmented_instructions",
    "backtranslated_pairs",
    "document_qa_pairs",
    "evolved_instructions",
    "seeds",
    "human_reference",
    "documents",
)
_SHOWN = ("origin", "generation", "technique", "operation", "round", "teacher", "template_version", "domain",
          "category", "instruction", "response", "source_file", "source_line", "source_key", "verifier",
          "verdict_detail", "judge_score", "judge_aspects", "judge_model", "task_pass_rate", "task_pass_at_k",
          "sample_index")


@dataclass
class TraceStep:
    id: str
    parent_id: str | None
    kept_in: list[str]  # stage tables holding the row
    row: dict[str, Any]
    decisions: list[dict[str, Any]] = field(default_factory=list)  # rejects of this row, by stage
    siblings: list[dict[str, Any]] = field(default_factory=list)  # other candidates of the same task


def trace_row(warehouse: Warehouse, row_id: str) -> list[TraceStep]:
    """The chain from `row_id` up to its root; empty when the id is unknown. One read-only
    connection for the whole chain (opening the warehouse per lookup cost more than the lookups)."""
    if not warehouse.exists():
        return []
    with warehouse.connect(read_only=True) as con:
        existing = {name for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()").fetchall()}
        tables = [t for t in (*STAGE_TABLES, "rejects") if t in existing]
        chain: list[TraceStep] = []
        current: str | None = row_id
        seen: set[str] = set()
        while current and current not in seen:
            seen.add(current)
            step = _step(con, tables, current)
            if step is None:
                break
            chain.append(step)
            current = step.parent_id
    return chain


def _step(con: duckdb.DuckDBPyConnection, tables: list[str], row_id: str) -> TraceStep | None:
    kept_in, row = [], {}
    # Which tables hold the id, in one query; then whole rows from those few only (a row of every
    # table, read into pandas one by one, made a trace cost tens of queries per step).
    stages = [t for t in tables if t != "rejects"]
    holding = {name for (name,) in con.execute(
        " UNION ALL ".join(f"SELECT '{t}' FROM \"{t}\" WHERE id = $1" for t in stages), [row_id]).fetchall()
    } if stages else set()
    for table in stages:
        if table not in holding:
            continue
        found = con.execute(f'SELECT * FROM "{table}" WHERE id = ?', [row_id]).df()
        if not found.empty:
            kept_in.append(table)
            row = {**found.iloc[0].to_dict(), **row}  # downstream tables win: they know the verdicts
    decisions = []
    if "rejects" in tables:
        rejected = con.execute("SELECT * FROM rejects WHERE id = ?", [row_id]).df()
        decisions = [_clean(r) for r in rejected[["stage", "reason", "detail", "related_id", "score"]].to_dict("records")]
        if not row and not rejected.empty:
            row = rejected.iloc[0].to_dict()
    if not row:
        return None
    siblings = []
    if row.get("sample_index") is not None and "rejects" in tables and "candidate_solutions" in tables:
        others = con.execute(
            "SELECT c.id, c.sample_index, r.reason, r.detail FROM candidate_solutions c "
            "LEFT JOIN rejects r ON r.id = c.id AND r.stage = 'verified_solutions' "
            "WHERE c.parent_id = ? AND c.id <> ? ORDER BY c.sample_index",
            [row["parent_id"], row_id],
        ).df()
        siblings = [_clean(r) for r in others.to_dict("records")]
    parent = row.get("parent_id")
    return TraceStep(
        id=row_id,
        parent_id=None if is_missing(parent) else parent,
        kept_in=kept_in,
        row={k: plain(row[k]) for k in _SHOWN if k in row and not is_missing(row[k])},
        decisions=decisions,
        siblings=siblings,
    )


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in record.items() if not is_missing(v)}


def format_trace(chain: list[TraceStep], width: int = 100) -> str:
    """The chain as text, downstream first, one block per row."""
    if not chain:
        return "No row with that id in the warehouse."
    lines = []
    for depth, step in enumerate(chain):
        row = step.row
        lines.append(f"{'  ' * depth}{'└─ ' if depth else ''}{step.id}  [{row.get('origin', '?')}, generation "
                     f"{row.get('generation', '?')}, {row.get('technique', '?')}/{row.get('operation', '?')}]")
        pad = "  " * depth + ("   " if depth else "")
        lines.append(f"{pad}kept in: {', '.join(step.kept_in) or '(no stage: dropped)'}")
        for key in ("teacher", "template_version", "domain", "category", "round", "source_file", "source_line",
                    "source_key", "verifier", "verdict_detail", "judge_score", "judge_aspects", "judge_model",
                    "task_pass_rate"):
            if key in row:
                lines.append(f"{pad}{key}: {row[key]}")
        for key in ("instruction", "response"):
            if key in row:
                text = " ".join(str(row[key]).split())
                lines.append(f"{pad}{key}: {text[:width]}{'…' if len(text) > width else ''}")
        for decision in step.decisions:
            lines.append(f"{pad}DROPPED at {decision['stage']}: {decision['reason']}"
                         f"{' (' + decision['detail'] + ')' if decision.get('detail') else ''}"
                         f"{' -> ' + decision['related_id'] if decision.get('related_id') else ''}")
        for sibling in step.siblings:
            verdict = sibling.get("reason", "passed, kept")
            lines.append(f"{pad}sibling {sibling['id']} (sample {sibling['sample_index']}): {verdict}"
                         f"{' - ' + sibling['detail'][:width] if sibling.get('detail') else ''}")
    return "\n".join(lines)


def trace_as_dicts(chain: list[TraceStep]) -> list[dict[str, Any]]:
    return [asdict(step) for step in chain]


def explain_drop(chain: list[TraceStep]) -> str:
    """Why a row is not in the training set: the stage and rule that dropped it, in one paragraph."""
    if not chain:
        return "No row with that id in the warehouse."
    row = chain[0]
    if "mixed_training_set" in row.kept_in:
        return f"{row.id} was not dropped: it is in mixed_training_set."
    if not row.decisions:
        furthest = row.kept_in[0] if row.kept_in else "no stage"
        return (f"{row.id} was not dropped by a rule; it stops at {furthest} "
                "(an instruction becomes training data through its answers: trace those).")
    lines = []
    for decision in row.decisions:
        lines.append(f"{row.id} was dropped at {decision['stage']} by rule '{decision['reason']}'"
                     + (f": {decision['detail']}" if decision.get("detail") else "")
                     + (f" (kept instead / matched: {decision['related_id']})" if decision.get("related_id") else ""))
    return "\n".join(lines)
