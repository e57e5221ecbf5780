"""The decision a rule makes about one item: keep it, or reject it with a reason."""

from __future__ import annotations

from dataclasses import dataclass

from synth_assets.core.rows import RejectReason

__all__ = ["Verdict"]


@dataclass(frozen=True)
class Verdict:
    """Whether an item is kept and, when it is not, the rule that rejected it.

    `detail` says what the rule saw (the keyword found, the most similar task); `score` is the
    number the decision was measured on, where there is one (ROUGE-L F, a judge score).
    """

    keep: bool
    reason: RejectReason | None = None
    detail: str = ""
    score: float | None = None

    def __post_init__(self) -> None:
        if self.keep != (self.reason is None):
            raise ValueError(f"a verdict has a reason exactly when it rejects (keep={self.keep}, reason={self.reason})")
