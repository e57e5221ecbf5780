"""What `synth review` says: the reviewers' agreement with the gates or, until there is one, what
to do next (where the queue is, what a decision line looks like, which command reads it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from resources.warehouse import Warehouse
from synth_assets.core.review import DECISIONS_FILE, QUEUE_FILE, AgreementScoring, agreement_summary, read_decisions

__all__ = ["APPLY_REVIEW_COMMAND", "ReviewReport", "review_report"]

# Reads decisions.jsonl and rebuilds what depends on it, without running the rest of the graph.
APPLY_REVIEW_COMMAND = ("synth run --select review_decisions,reviewed_training_set,judge_calibration,"
                        "training_set_export,dataset_card")


@dataclass(frozen=True)
class ReviewReport:
    text: str
    has_agreement: bool  # False in every empty state: no run, no decisions, or only stale ones


def review_report(
    warehouse: Warehouse, review_folder: Path, edit_credit: float = AgreementScoring.edit_credit
) -> ReviewReport:
    """`edit_credit` is the one `review_decisions` ran with, so the figure is the one the card shows."""
    queue, decisions_file = review_folder / QUEUE_FILE, review_folder / DECISIONS_FILE
    queued = _queue_ids(queue)
    if not queued and not warehouse.table_exists("mixed_training_set"):
        return ReviewReport(
            f"No review yet: the graph has not built a training set here, so there is no review queue.\n"
            f"Run `synth run`: it writes a sample of the mix to review to {queue}.\n\n"
            + _how_to(decisions_file, None), False)
    if not queued:
        return ReviewReport(
            f"No review queue at {queue} (or it is empty: the mix may have no synthetic rows).\n"
            f"Build it with `synth run --select review_queue`, then:\n\n" + _how_to(decisions_file, None), False)
    table = warehouse.read_table("review_decisions") if warehouse.table_exists("review_decisions") else None
    in_file = read_decisions(decisions_file)
    read = 0 if table is None else len(table)
    if len(in_file.decisions) != read or (table is not None and set(table["id"]) != {d["id"] for d in in_file.decisions}):
        return ReviewReport(
            f"{decisions_file} has {len(in_file.decisions)} decided lines, but the warehouse holds {read} "
            f"(the file changed since it was last read).\nRead it with `{APPLY_REVIEW_COMMAND}` "
            "(or turn on review_decisions_sensor), then run `synth review` again.", False)
    summary = agreement_summary(table.to_dict("records"), edit_credit) if table is not None else None
    # Decisions on judged rows the filter kept out of the mix calibrate the judge; they are not stale.
    calibrating = 0 if table is None or "judged" not in table else int(
        (~table["in_mix"].astype(bool) & table["judged"].fillna(False).astype(bool)).sum())
    if summary is None or not summary.decided:
        stale = read - (summary.decided if summary else 0) - calibrating
        if stale:
            state = (f"None of the {stale} decisions in {decisions_file} is on a row still in the mix (a later run "
                     "changed the mix), so none is applied. Review rows of the current queue instead.\n")
        elif calibrating:
            state = (f"The {calibrating} decisions in {decisions_file} are all on judged rows outside the mix: they "
                     "calibrate the judge threshold (judge_calibration), but say nothing yet about the mix.\n")
        else:
            state = (f"Nothing decided yet: {decisions_file} "
                     + ("does not exist." if not decisions_file.exists() else "has no line with a decision.") + "\n")
        state += "".join(f"  line {bad.source_line} cannot be used ({bad.reason})\n"
                         for bad in in_file.quarantined[:5])
        return ReviewReport(f"{len(queued)} rows are queued for review in {queue}.\n{state}\n"
                            + _how_to(decisions_file, queued[0]), False)
    lines = [f"{summary.decided} decided: {summary.accepted} accepted, {summary.rejected} rejected, "
             f"{summary.edited} edited ({read - summary.decided - calibrating} more no longer in the mix, "
             f"{calibrating} on judged rows outside the mix, for the judge's calibration)",
             f"agreement with the gates: {summary.agreement:.1%} (accepted only: {summary.strict_agreement:.1%})"]
    return ReviewReport("\n".join(lines), True)


def _queue_ids(queue: Path) -> list[str]:
    if not queue.exists():
        return []
    return [json.loads(line)["id"] for line in queue.read_text(encoding="utf-8").splitlines() if line.strip()]


def _how_to(decisions_file: Path, example_id: str | None) -> str:
    example = json.dumps({"id": example_id or "ID FROM THE QUEUE", "decision": "accept",
                          "corrected_response": "", "reviewer_note": ""})
    return (
        f"To review: copy lines of the queue into {decisions_file} (the pipeline never writes that file) "
        "and set \"decision\" in each:\n"
        "  accept  the row is fine as it is\n"
        "  reject  the row must leave the training set (say why in \"reviewer_note\")\n"
        "  edit    put the whole corrected answer in \"corrected_response\"\n"
        "One JSON object a line, one line per id; only \"id\" and \"decision\" are required, e.g.\n"
        f"  {example}\n"
        f"Then run `{APPLY_REVIEW_COMMAND}` (or turn on review_decisions_sensor) and `synth review` again.\n"
        "docs/operations.md#the-human-review-loop has the whole loop."
    )
