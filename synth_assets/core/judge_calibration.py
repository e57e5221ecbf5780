"""The judge's keep threshold, calibrated on people: fit it per domain to the review decisions, and
say which threshold decides each judged row of the next run.

A reviewer's decision on a judged row is a label: `accept` means "keep it", `reject` "drop it"
(an `edit` counts as `edits_as` says). The judge keeps a row when its score is at least the
threshold t, so t agrees with a decision when (score >= t) equals the label.

The criterion, per domain with at least `min_decisions` reviewed judged rows: among the candidate
thresholds (every score a reviewed row has, and the default), the one with the highest agreement
with the reviewers whose precision (the share of rows it keeps that reviewers accepted) is at least
`min_precision`; ties go to the threshold nearest the default, then to the lower one (it keeps more).
With fewer decisions, or when no threshold reaches the precision, the domain keeps the default.

Each fit reports the number reviewed, the agreement of the default and of the fitted threshold on
those rows (in-sample: the fitted one was chosen on them), a Wilson interval for the fitted
agreement, and a percentile bootstrap interval for the threshold itself (`bootstrap_samples`
resamples of the decisions, refitted, seeded: the same decisions give the same interval).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = [
    "CALIBRATED",
    "CALIBRATION_COLUMNS",
    "EDITS_AS",
    "HUMAN_REVIEW",
    "NO_THRESHOLD_PRECISE_ENOUGH",
    "TOO_FEW_DECISIONS",
    "CalibrationConfig",
    "DomainCalibration",
    "JudgeThresholds",
    "ThresholdDecision",
    "agreement",
    "calibrate",
    "fit_threshold",
    "labelled_scores",
    "precision",
]

CALIBRATED = "calibrated"
TOO_FEW_DECISIONS = "too_few_decisions"
NO_THRESHOLD_PRECISE_ENOUGH = "no_threshold_precise_enough"
EDITS_AS = ("accept", "reject", "skip")
DEFAULT_SOURCE = "default"
HUMAN_REVIEW = "human review"

# The `judge_calibration` table: one row per domain with reviewed judged rows.
CALIBRATION_COLUMNS: dict[str, str] = {
    "domain": "VARCHAR",
    "status": "VARCHAR",  # calibrated | too_few_decisions | no_threshold_precise_enough
    "default_threshold": "DOUBLE",
    "threshold": "DOUBLE",  # the fitted threshold; the default unless status is calibrated
    "decisions": "INTEGER",  # reviewed judged rows of the domain the fit used
    "accepted": "INTEGER",
    "rejected": "INTEGER",
    "agreement_default": "DOUBLE",
    "agreement": "DOUBLE",
    "agreement_ci_low": "DOUBLE",
    "agreement_ci_high": "DOUBLE",
    "precision": "DOUBLE",
    "threshold_ci_low": "DOUBLE",
    "threshold_ci_high": "DOUBLE",
}


@dataclass(frozen=True)
class CalibrationConfig:
    """How review decisions set the judge threshold of a domain (the criterion is in the module docstring)."""

    min_decisions: int = 20
    min_precision: float = 0.8
    edits_as: str = "accept"  # an edited row was worth keeping; "reject" or "skip" read it otherwise
    confidence: float = 0.95
    bootstrap_samples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.min_decisions < 1:
            raise ValueError(f"CalibrationConfig.min_decisions must be >= 1, got {self.min_decisions}")
        if not 0 <= self.min_precision <= 1:
            raise ValueError(f"CalibrationConfig.min_precision must be in [0, 1], got {self.min_precision}")
        if self.edits_as not in EDITS_AS:
            raise ValueError(f"CalibrationConfig.edits_as must be one of {EDITS_AS}, got {self.edits_as!r}")
        if not 0 < self.confidence < 1:
            raise ValueError(f"CalibrationConfig.confidence must be in (0, 1), got {self.confidence}")
        if self.bootstrap_samples < 0:
            raise ValueError(f"CalibrationConfig.bootstrap_samples must be >= 0, got {self.bootstrap_samples}")


def labelled_scores(decisions: Iterable[Mapping[str, Any]], edits_as: str = "accept") -> dict[str, list[tuple[float, bool]]]:
    """(judge score, reviewer kept it) per domain, from decision rows that carry a judge score."""
    by_domain: dict[str, list[tuple[float, bool]]] = {}
    for d in decisions:
        score = d.get("judge_score")
        if score is None or score != score:  # NaN from a DataFrame: the row was not judged
            continue
        decision = d["decision"]
        if decision == "edit":
            if edits_as == "skip":
                continue
            decision = edits_as
        by_domain.setdefault(str(d["domain"]), []).append((float(score), decision == "accept"))
    return dict(sorted(by_domain.items()))


def agreement(pairs: Iterable[tuple[float, bool]], threshold: float) -> float | None:
    """The share of decisions the threshold agrees with; None with no decisions."""
    pairs = list(pairs)
    return sum((s >= threshold) == keep for s, keep in pairs) / len(pairs) if pairs else None


def precision(pairs: Iterable[tuple[float, bool]], threshold: float) -> float | None:
    """Of the reviewed rows the threshold keeps, the share reviewers accepted; None when it keeps none."""
    kept = [keep for s, keep in pairs if s >= threshold]
    return sum(kept) / len(kept) if kept else None


def fit_threshold(pairs: Iterable[tuple[float, bool]], default: float, min_precision: float) -> float | None:
    """The threshold the module docstring's criterion picks; None when none reaches `min_precision`."""
    pairs = list(pairs)
    if not pairs:
        return None
    scores = np.array([s for s, _ in pairs], dtype=float)
    labels = np.array([k for _, k in pairs], dtype=bool)
    return _fit(scores, labels, default, min_precision)


def _fit(scores: np.ndarray, labels: np.ndarray, default: float, min_precision: float) -> float | None:
    candidates = np.union1d(scores, [default])
    keeps = scores[None, :] >= candidates[:, None]  # candidate x decision
    agree = (keeps == labels[None, :]).mean(axis=1)
    kept = keeps.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = np.where(kept > 0, (keeps & labels[None, :]).sum(axis=1) / np.maximum(kept, 1), np.nan)
    feasible = np.nan_to_num(prec, nan=-1.0) >= min_precision
    if not feasible.any():
        return None
    # Highest agreement, then nearest the default, then the lower threshold.
    order = np.lexsort((candidates, np.abs(candidates - default), -agree))
    best = next(i for i in order if feasible[i])
    return float(candidates[best])


@dataclass(frozen=True)
class DomainCalibration:
    domain: str
    status: str
    default_threshold: float
    threshold: float
    decisions: int
    accepted: int
    rejected: int
    agreement_default: float | None
    agreement: float | None
    agreement_ci: tuple[float, float] | None = None
    precision: float | None = None
    threshold_ci: tuple[float, float] | None = None

    def as_row(self) -> dict[str, Any]:
        low, high = self.agreement_ci or (None, None)
        t_low, t_high = self.threshold_ci or (None, None)
        return {"domain": self.domain, "status": self.status, "default_threshold": self.default_threshold,
                "threshold": self.threshold, "decisions": self.decisions, "accepted": self.accepted,
                "rejected": self.rejected, "agreement_default": self.agreement_default, "agreement": self.agreement,
                "agreement_ci_low": low, "agreement_ci_high": high, "precision": self.precision,
                "threshold_ci_low": t_low, "threshold_ci_high": t_high}


def calibrate(
    decisions: Iterable[Mapping[str, Any]], default_threshold: float, config: CalibrationConfig
) -> list[DomainCalibration]:
    """One `DomainCalibration` per domain with reviewed judged rows (`judge_score` set), by domain."""
    # Imported here: scipy.stats takes 1.3 s to import, which every step process and CLI command
    # would pay at start-up for a function only the calibration step calls.
    from scipy.stats import binomtest

    fits = []
    for domain, pairs in labelled_scores(decisions, config.edits_as).items():
        accepted = sum(keep for _, keep in pairs)
        before = agreement(pairs, default_threshold)
        # What a domain keeps when it is not calibrated: the default, and its agreement.
        kept_default = DomainCalibration(domain, TOO_FEW_DECISIONS, default_threshold, default_threshold, len(pairs),
                                         accepted, len(pairs) - accepted, before, before)
        if len(pairs) < config.min_decisions:
            fits.append(kept_default)
            continue
        fitted = fit_threshold(pairs, default_threshold, config.min_precision)
        if fitted is None:
            fits.append(replace(kept_default, status=NO_THRESHOLD_PRECISE_ENOUGH,
                                precision=precision(pairs, default_threshold)))
            continue
        agreed = sum((s >= fitted) == keep for s, keep in pairs)
        interval = binomtest(agreed, len(pairs)).proportion_ci(confidence_level=config.confidence, method="wilson")
        fits.append(replace(
            kept_default, status=CALIBRATED, threshold=fitted, agreement=agreed / len(pairs),
            agreement_ci=(float(interval.low), float(interval.high)), precision=precision(pairs, fitted),
            threshold_ci=_bootstrap_interval(pairs, default_threshold, config),
        ))
    return fits


def _bootstrap_interval(
    pairs: list[tuple[float, bool]], default: float, config: CalibrationConfig
) -> tuple[float, float] | None:
    """The percentile interval of the threshold refitted on resampled decisions (the resamples no
    threshold fits are left out); None without resamples."""
    if config.bootstrap_samples == 0:
        return None
    rng = np.random.default_rng(config.seed)
    scores = np.array([s for s, _ in pairs], dtype=float)
    labels = np.array([k for _, k in pairs], dtype=bool)
    fitted = []
    for _ in range(config.bootstrap_samples):
        pick = rng.integers(0, len(pairs), len(pairs))
        value = _fit(scores[pick], labels[pick], default, config.min_precision)
        if value is not None:
            fitted.append(value)
    if not fitted:
        return None
    tail = (1 - config.confidence) / 2 * 100
    low, high = np.percentile(fitted, [tail, 100 - tail])
    return float(low), float(high)


# --- applying thresholds ------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdDecision:
    """What decided one judged row: keep or not, the threshold (None for a person's decision), and
    where the decision came from (`default`, `calibrated from N decisions`, `human review`)."""

    keep: bool
    threshold: float | None
    source: str


@dataclass(frozen=True)
class JudgeThresholds:
    """The thresholds a run applies to judged rows: the default, a calibrated one per domain (with
    the number of decisions it was fitted on), and the rows a person decided (id -> kept)."""

    default: float
    calibrated: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    reviewed: Mapping[str, bool] = field(default_factory=dict)

    @classmethod
    def from_calibration(
        cls, default: float, rows: Iterable[Mapping[str, Any]], reviewed: Mapping[str, bool] | None = None
    ) -> JudgeThresholds:
        """Thresholds from `judge_calibration` rows: only a domain whose status is calibrated moves."""
        calibrated = {str(r["domain"]): (float(r["threshold"]), int(r["decisions"]))
                      for r in rows if r["status"] == CALIBRATED}
        return cls(default, calibrated, dict(reviewed or {}))

    def decide(self, row_id: str, domain: str, score: float) -> ThresholdDecision:
        """A reviewed row keeps its reviewer's decision; the unreviewed rest meet their domain's threshold."""
        if row_id in self.reviewed:
            return ThresholdDecision(self.reviewed[row_id], None, HUMAN_REVIEW)
        if domain in self.calibrated:
            threshold, decisions = self.calibrated[domain]
            return ThresholdDecision(score >= threshold, threshold, f"calibrated from {decisions} decisions")
        return ThresholdDecision(score >= self.default, self.default, DEFAULT_SOURCE)
