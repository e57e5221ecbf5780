"""Error-and-correction pairs: a failed attempt, what the verifier said, and a passing answer.

For a task where the k candidates include one a real check failed (unit tests, the reference
answer) and one it passed, the pair teaches a model to read feedback and repair: the instruction
holds the task, the failed attempt and the verifier's message; the response is the verified
answer. Both halves are real outputs of the teacher and the verdicts are real, so nothing here
is invented; the pair is made only when the failure carries a message worth reading.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from synth_assets.core.rows import RejectReason, derived_row
from synth_assets.core.templates import load_template

__all__ = ["CORRECTABLE", "correction_pairs"]

TEMPLATE = "error_correction"
# Failures a real check found and described: a wrong program or a wrong final answer. Truncation,
# refusals, missing code and judge scores say nothing a repair could use.
CORRECTABLE = frozenset({
    RejectReason.TEST_FAILURE, RejectReason.SYNTAX_ERROR, RejectReason.CRASH, RejectReason.TIMEOUT,
    RejectReason.WRONG_ANSWER,
})
_MESSAGE_CHARS = 500
_FROM_PASSING = ("root_id", "origin", "generation", "round", "teacher", "domain", "category", "entry_point", "tests",
                 "reference_answer", "verified", "verifier", "judge_score")


def correction_pairs(kept: Iterable[Mapping[str, Any]], rejected: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One pair per task that has a correctable failure and a candidate a real check passed:
    its first failed candidate (by sample index) with the kept answer."""
    template = load_template(TEMPLATE)
    passing = {row["parent_id"]: row for row in kept if row.get("verified") is True}
    failures: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rejected:
        if row.get("reason") in CORRECTABLE and row["parent_id"] in passing:
            failures[row["parent_id"]].append(row)
    pairs = []
    for task, failed_rows in sorted(failures.items()):
        failed = min(failed_rows, key=lambda r: (r.get("sample_index") or 0, r["id"]))
        good = passing[task]
        message = " ".join(str(failed.get("detail") or failed["reason"]).split())[:_MESSAGE_CHARS]
        instruction = template.render(instruction=failed["instruction"], failed_response=failed["response"] or "",
                                      verifier_message=f"{failed['reason']}: {message}")
        # The pair keeps the passing answer's provenance (its generation, teacher and verdict); its
        # parent is the failed attempt, so a trace shows both.
        pairs.append(derived_row(
            failed, "error_correction", good["id"], **{key: good.get(key) for key in _FROM_PASSING},
            technique="error_correction", operation=str(failed["reason"]), template_version=template.version,
            instruction=instruction, response=good["response"],
            verdict_detail=f"corrects {failed['id']} ({failed['reason']}) with {good['id']}, which passed",
        ))
    return pairs
