"""The human review loop: sample the mix for a person, read their decisions, apply them.

1. `sample_for_review` picks a stratified sample of the synthetic rows of the mix (10% of every
   domain x technique stratum, rounded half up, at least one row per stratum), and
   `sample_judged_for_review` a sample of every row the judge scored, kept or not, across the
   score range (per domain and whole score: `judged_fraction`, at least `min_per_score_bin` rows),
   so the decisions can calibrate the judge's threshold (`core.judge_calibration`). Which rows is
   decided by a hash of `(seed, row id)`, so the sample does not depend on row order. The queue
   does not show the score or whether the row was kept: the reviewer judges the row, not the judge.
2. A person copies lines from `review_queue.jsonl` into `decisions.jsonl` and fills in `decision`
   (`accept`, `reject` or `edit`), `corrected_response` for an edit, and `reviewer_note`.
3. `read_decisions` reads that file; a line it cannot use is quarantined with its line and field.
4. `apply_decisions` removes rejected rows and replaces edited ones with a new row whose parent is
   the original (`operation = "edited_by_human"`), so `synth trace` still reaches the seed.

Every row of the mix passed the automatic gates, so a reviewer's `accept` is agreement with them:
`agreement_summary` counts how often people agreed (an edit is partial agreement).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from synth_assets.core.ingest import QuarantinedLine
from synth_assets.core.input_rules import Problem
from synth_assets.core.rows import RejectReason, derived_row, reject_row

__all__ = [
    "DECISIONS_FILE",
    "DECISION_FIELDS",
    "EDIT_OPERATION",
    "QUEUE_FIELDS",
    "QUEUE_FILE",
    "REVIEW_DECISION_COLUMNS",
    "AgreementScoring",
    "AgreementSummary",
    "Decision",
    "DecisionsRead",
    "ReviewOutcome",
    "ReviewSampling",
    "agreement_summary",
    "apply_decisions",
    "edited_row",
    "queue_record",
    "read_decisions",
    "sample_for_review",
    "sample_judged_for_review",
    "write_queue",
]

EDIT_OPERATION = "edited_by_human"
# The review folder's files: the queue the pipeline writes, and the decisions a person writes.
QUEUE_FILE = "review_queue.jsonl"
DECISIONS_FILE = "decisions.jsonl"


class Decision(StrEnum):
    UNDECIDED = ""
    ACCEPT = "accept"
    REJECT = "reject"
    EDIT = "edit"


# What a reviewer sees and edits, in file order.
QUEUE_FIELDS = ("id", "domain", "technique", "instruction", "response", "decision", "corrected_response", "reviewer_note")
DECISION_FIELDS = ("decision", "corrected_response", "reviewer_note")

# The `review_decisions` table: one row per usable decided line, joined with the mix.
REVIEW_DECISION_COLUMNS: dict[str, str] = {
    "id": "VARCHAR",
    "decision": "VARCHAR",
    "corrected_response": "VARCHAR",
    "reviewer_note": "VARCHAR",
    "in_mix": "BOOLEAN",  # False: the id is not in the mix (the filters removed it, or a re-run changed it)
    "judged": "BOOLEAN",  # the id is a row the judge scored (kept or not): the decision can calibrate it
    "judge_score": "DOUBLE",  # the judge's score of that row; NULL when the judge did not score it
    "origin": "VARCHAR",
    "domain": "VARCHAR",
    "technique": "VARCHAR",
    "source_file": "VARCHAR",
    "source_line": "INTEGER",
}


@dataclass(frozen=True)
class ReviewSampling:
    """How much of the synthetic part of the mix to show a person; how much of the judged rows
    (kept or not), per domain and whole judge score, with a floor per score so the ends of the
    range are seen too; and the seed that picks the rows."""

    fraction: float = 0.10
    judged_fraction: float = 0.10
    min_per_score_bin: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        if not 0 <= self.judged_fraction <= 1:
            raise ValueError(f"judged_fraction must be in [0, 1], got {self.judged_fraction}")
        if self.min_per_score_bin < 0:
            raise ValueError(f"min_per_score_bin must be >= 0, got {self.min_per_score_bin}")


def _rank(seed: int, row_id_: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{row_id_}".encode()).hexdigest()


def _stratum_size(rows: int, fraction: float) -> int:
    """`fraction` of the stratum rounded half up, at least one row, at most all of them."""
    return min(rows, max(1, math.floor(rows * fraction + 0.5)))


def sample_for_review(rows: Iterable[Mapping[str, Any]], sampling: ReviewSampling) -> list[dict[str, Any]]:
    """The synthetic rows to review: per (domain, technique), the rows with the lowest
    hash of (seed, id). Sorted by domain, technique and id so the file reads in groups."""
    strata: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("origin") == "synthetic":
            strata.setdefault((str(row["domain"]), str(row["technique"])), []).append(row)
    picked: list[dict[str, Any]] = []
    for key in sorted(strata):
        members = sorted(strata[key], key=lambda r: _rank(sampling.seed, str(r["id"])))
        picked += [dict(r) for r in members[: _stratum_size(len(members), sampling.fraction)]]
    return sorted(picked, key=lambda r: (str(r["domain"]), str(r["technique"]), str(r["id"])))


def sample_judged_for_review(
    rows: Iterable[Mapping[str, Any]], sampling: ReviewSampling, exclude: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """Rows the judge scored (kept or rejected), not in `exclude`: per (domain, whole score), the
    `judged_fraction` rounded half up but at least `min_per_score_bin`, with the lowest hash of
    (seed, id); none when `judged_fraction` is 0. Sorted by domain, technique and id."""
    if sampling.judged_fraction == 0:
        return []
    skip = set(exclude)
    strata: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
    for row in rows:
        score = row.get("judge_score")
        if str(row["id"]) not in skip and score is not None and score == score:  # NaN: not scored
            strata.setdefault((str(row["domain"]), math.floor(float(score))), []).append(row)
    picked: list[dict[str, Any]] = []
    for key in sorted(strata):
        members = sorted(strata[key], key=lambda r: _rank(sampling.seed, str(r["id"])))
        size = min(len(members), max(sampling.min_per_score_bin, math.floor(len(members) * sampling.judged_fraction + 0.5)))
        picked += [dict(r) for r in members[:size]]
    return sorted(picked, key=lambda r: (str(r["domain"]), str(r["technique"]), str(r["id"])))


def queue_record(row: Mapping[str, Any]) -> dict[str, str]:
    """One line of `review_queue.jsonl`: the row, and empty fields for the reviewer."""
    return {
        "id": str(row["id"]),
        "domain": str(row["domain"]),
        "technique": str(row["technique"]),
        "instruction": str(row["instruction"]),
        "response": str(row["response"]),
        **dict.fromkeys(DECISION_FIELDS, ""),
    }


def write_queue(rows: Iterable[Mapping[str, Any]], path: Path) -> int:
    """Write the queue as JSONL (one object a line, UTF-8, readable non-ASCII); return the lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [queue_record(row) for row in rows]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return len(records)


# --- reading the reviewer's file ----------------------------------------------------------------


@dataclass(frozen=True)
class DecisionsRead:
    decisions: list[dict[str, Any]]  # id, decision, corrected_response, reviewer_note, source_file/line
    quarantined: list[QuarantinedLine]
    undecided: int  # usable lines whose decision is still empty


def read_decisions(path: Path) -> DecisionsRead:
    """The decided lines of `decisions.jsonl`; a missing file means nothing decided yet.

    A line is quarantined (with its line number and every field at fault) when it is not a JSON object, has no
    id, repeats an earlier id, has a decision other than accept/reject/edit, or is an edit
    without a corrected response.
    """
    path = Path(path)
    if not path.exists():
        return DecisionsRead([], [], 0)
    decisions: list[dict[str, Any]] = []
    bad: list[QuarantinedLine] = []
    first_seen: dict[str, int] = {}
    undecided = 0
    for number, raw_bytes in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw_bytes.strip():
            continue
        raw = raw_bytes.decode("utf-8", errors="replace")
        problems, record = _parse_decision(raw_bytes)
        if not problems and record["id"] in first_seen:
            problems = [("id", f"duplicate id {record['id']!r}, first decided at line {first_seen[record['id']]}")]
        if problems:
            bad.append(QuarantinedLine(str(path), number, tuple(Problem(*p) for p in problems), raw))
            continue
        first_seen[record["id"]] = number
        if record["decision"] == Decision.UNDECIDED:
            undecided += 1
            continue
        decisions.append({**record, "source_file": str(path), "source_line": number})
    return DecisionsRead(decisions, bad, undecided)


def _parse_decision(raw_bytes: bytes) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(every problem of the line, field by field; the decision when there is none). A line that
    is not a JSON object has that one problem: it has no fields to check."""
    try:
        record = json.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return [("", f"invalid UTF-8 at byte {exc.start}")], {}
    except json.JSONDecodeError as exc:
        return [("", f"invalid JSON: {exc.msg} at column {exc.colno}")], {}
    if not isinstance(record, dict):
        return [("", f"expected a JSON object, got {type(record).__name__}")], {}
    problems = []
    if not isinstance(record.get("id"), str) or not record["id"].strip():
        problems.append(("id", "required field is missing or empty"))
    texts = {name for name in DECISION_FIELDS if isinstance(record.get(name, ""), str)}
    problems += [(name, f"expected text, got {type(record[name]).__name__}")
                 for name in DECISION_FIELDS if name not in texts]
    decision = record.get("decision", "").strip().lower() if "decision" in texts else None
    if decision is not None and decision not in set(Decision):
        problems.append(("decision", f"must be one of accept, reject, edit or empty, got {record['decision']!r}"))
    corrected = record.get("corrected_response", "") if "corrected_response" in texts else None
    if decision == Decision.EDIT and corrected is not None and not corrected.strip():
        problems.append(("corrected_response", "an edit needs the corrected response"))
    if problems:
        return problems, {}
    return [], {
        "id": record["id"].strip(),
        "decision": decision,
        "corrected_response": corrected if decision == Decision.EDIT else None,
        "reviewer_note": record.get("reviewer_note", "") or None,
    }


# --- applying decisions to the mix --------------------------------------------------------------


@dataclass(frozen=True)
class ReviewOutcome:
    kept: list[dict[str, Any]]  # the mix minus rejected rows, edited rows replaced
    rejected: list[dict[str, Any]]  # rejected rows with reason `human_rejected`, for `rejects`
    edited: int
    not_in_mix: int  # decisions whose id the mix no longer has


def edited_row(row: Mapping[str, Any], corrected: str, note: str | None) -> dict[str, Any]:
    """A reviewer's edit as a new row derived from `row`: new id, `row` as its parent, the same
    root, origin, generation and technique; the verifier's verdict no longer applies."""
    # A person's edit is not a teacher's generation: origin and generation stay the parent's.
    return derived_row(
        row, EDIT_OPERATION, corrected, inherit=row.keys(), origin=row["origin"], generation=row["generation"],
        operation=EDIT_OPERATION, response=corrected, verified=None, verifier="human_review",
        verdict_detail=f"edited by a reviewer{': ' + note if note else ''}", judge_score=None,
    )


def apply_decisions(mix: Sequence[Mapping[str, Any]], decisions: Iterable[Mapping[str, Any]]) -> ReviewOutcome:
    """Rejected rows leave, edited rows are replaced by their edit, the rest stay in order."""
    by_id = {str(d["id"]): d for d in decisions}
    mix_ids = {str(row["id"]) for row in mix}
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    edited = 0
    for row in mix:
        decision = by_id.get(str(row["id"]))
        verdict = decision["decision"] if decision else Decision.ACCEPT
        note = (decision or {}).get("reviewer_note") or None
        if verdict == Decision.REJECT:
            rejected.append(reject_row(row, RejectReason.HUMAN_REJECTED, note or "rejected in human review"))
        elif verdict == Decision.EDIT:
            kept.append(edited_row(row, str(decision["corrected_response"]), note))
            edited += 1
        else:
            kept.append(dict(row))
    return ReviewOutcome(kept, rejected, edited, sum(1 for i in by_id if i not in mix_ids))


# --- agreement with the automatic gates ---------------------------------------------------------


@dataclass(frozen=True)
class AgreementScoring:
    """How a decision counts as agreement with the gates: an accept 1, a reject 0, an edit
    `edit_credit` (the row was worth keeping, but not as the gates let it through)."""

    edit_credit: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.edit_credit <= 1:
            raise ValueError(f"edit_credit must be in [0, 1], got {self.edit_credit}")


@dataclass(frozen=True)
class AgreementSummary:
    """How often reviewers agreed with the gates, over decisions on rows that are in the mix.

    `agreement` = (accepted + edit_credit x edited) / decided; `strict_agreement` = accepted /
    decided. Both are None when nothing is decided, which is not the same as no agreement.
    """

    decided: int
    accepted: int
    rejected: int
    edited: int
    edit_credit: float
    by_stratum: dict[tuple[str, str], Counter] = field(default_factory=dict)

    @property
    def agreement(self) -> float | None:
        return (self.accepted + self.edit_credit * self.edited) / self.decided if self.decided else None

    @property
    def strict_agreement(self) -> float | None:
        return self.accepted / self.decided if self.decided else None


def agreement_summary(
    decisions: Iterable[Mapping[str, Any]], edit_credit: float = AgreementScoring.edit_credit
) -> AgreementSummary:
    """Count decisions on rows in the mix (`in_mix` true), overall and per (domain, technique)."""
    AgreementScoring(edit_credit)  # validates it
    total: Counter = Counter()
    by_stratum: dict[tuple[str, str], Counter] = {}
    for d in decisions:
        if not d.get("in_mix", True):
            continue
        total[d["decision"]] += 1
        by_stratum.setdefault((str(d.get("domain")), str(d.get("technique"))), Counter())[d["decision"]] += 1
    return AgreementSummary(
        decided=sum(total.values()),
        accepted=total[Decision.ACCEPT],
        rejected=total[Decision.REJECT],
        edited=total[Decision.EDIT],
        edit_credit=edit_credit,
        by_stratum=dict(sorted(by_stratum.items())),
    )
