"""Calibrating the judge threshold on review decisions: a reviewer file whose decisions follow a
known threshold is recovered; the precision floor, the minimum number of decisions, edits, the
intervals, and which threshold decides a row of the next run."""

from __future__ import annotations

import pytest

from synth_assets.core.judge_calibration import (
    CALIBRATED,
    HUMAN_REVIEW,
    NO_THRESHOLD_PRECISE_ENOUGH,
    TOO_FEW_DECISIONS,
    CalibrationConfig,
    JudgeThresholds,
    agreement,
    calibrate,
    fit_threshold,
)


def _decisions(domain: str, follows: float, scores=range(1, 11), per_score: int = 4, flip: frozenset = frozenset()):
    """A reviewer who accepts a row exactly when its judge score is at least `follows`; the
    (score, copy) pairs in `flip` get the other decision (a reviewer's noise)."""
    rows = []
    for score in scores:
        for copy in range(per_score):
            accept = (score >= follows) != ((score, copy) in flip)
            rows.append({"id": f"{domain}-{score}-{copy}", "domain": domain, "judge_score": float(score),
                         "decision": "accept" if accept else "reject"})
    return rows


def test_a_reviewer_following_a_known_threshold_is_recovered_per_domain():
    decisions = _decisions("general", follows=8) + _decisions("code", follows=4)
    fits = {f.domain: f for f in calibrate(decisions, 6.0, CalibrationConfig(min_decisions=20))}
    assert fits["general"].status == fits["code"].status == CALIBRATED
    assert (fits["general"].threshold, fits["code"].threshold) == (8.0, 4.0)
    assert fits["general"].agreement == fits["code"].agreement == 1.0
    # The default (6) keeps scores 6 and 7 that this reviewer rejects: 8 of 40 decisions disagree.
    assert fits["general"].agreement_default == pytest.approx(32 / 40)
    assert fits["code"].agreement_default == pytest.approx(32 / 40)
    assert (fits["general"].decisions, fits["general"].accepted, fits["general"].rejected) == (40, 12, 28)


def test_noise_far_from_the_threshold_does_not_move_it_and_the_intervals_cover_it():
    flips = frozenset({(2, 0), (10, 1), (3, 2)})
    fit, = calibrate(_decisions("general", follows=7, flip=flips), 6.0, CalibrationConfig())
    assert fit.threshold == 7.0
    assert fit.agreement == pytest.approx(37 / 40)
    low, high = fit.agreement_ci
    assert low < 37 / 40 < high < 1  # Wilson: inside (0, 1), around the estimate
    t_low, t_high = fit.threshold_ci
    assert t_low <= 7.0 <= t_high


def test_the_same_decisions_and_seed_give_the_same_interval():
    decisions = _decisions("general", follows=7, flip=frozenset({(6, 0), (7, 1), (8, 2)}))
    first = calibrate(decisions, 6.0, CalibrationConfig(seed=3))[0].threshold_ci
    again = calibrate(list(reversed(decisions)), 6.0, CalibrationConfig(seed=3))[0].threshold_ci
    assert first == again


def test_the_precision_floor_rules_out_a_more_agreeable_but_looser_threshold():
    # Scores 1-5 rejected; 6 and 7 accepted 3 times in 4; 8-10 always accepted.
    pairs = [(float(s), s >= 8 or (s in (6, 7) and i < 3)) for s in range(1, 11) for i in range(4)]
    # 6 agrees on 38 of 40 with precision 18/20 = 0.9; 8 on 34 of 40 with precision 1.
    assert agreement(pairs, 6.0) == pytest.approx(38 / 40) and agreement(pairs, 8.0) == pytest.approx(34 / 40)
    assert fit_threshold(pairs, 6.0, min_precision=0.8) == 6.0
    assert fit_threshold(pairs, 6.0, min_precision=0.95) == 8.0
    assert fit_threshold([(float(s), s <= 2) for s in range(1, 11)], 6.0, min_precision=0.9) is None


def test_ties_go_to_the_threshold_nearest_the_default():
    # Every reviewed row scores 8 or 9 and is accepted: any threshold up to 8 agrees fully.
    pairs = [(8.0, True), (9.0, True), (9.0, True)]
    assert fit_threshold(pairs, 6.0, 0.8) == 6.0
    assert fit_threshold(pairs, 7.5, 0.8) == 7.5


def test_too_few_decisions_or_no_precise_threshold_keep_the_default():
    few = calibrate(_decisions("general", follows=8, per_score=1), 6.0, CalibrationConfig(min_decisions=20))[0]
    assert (few.status, few.threshold, few.decisions) == (TOO_FEW_DECISIONS, 6.0, 10)
    assert few.agreement == few.agreement_default == pytest.approx(8 / 10)
    picky = [{"domain": "general", "judge_score": float(s), "decision": "accept" if i == 0 else "reject"}
             for s in range(1, 11) for i in range(4)]
    none = calibrate(picky, 6.0, CalibrationConfig(min_precision=0.5))[0]
    assert (none.status, none.threshold) == (NO_THRESHOLD_PRECISE_ENOUGH, 6.0)
    assert none.precision == pytest.approx(0.25)


def test_edits_count_as_the_config_says_and_unscored_rows_are_left_out():
    decisions = [{"domain": "general", "judge_score": 9.0, "decision": "edit"},
                 {"domain": "general", "judge_score": 2.0, "decision": "reject"},
                 {"domain": "general", "judge_score": None, "decision": "accept"},
                 {"domain": "math", "judge_score": float("nan"), "decision": "accept"}]
    accept = calibrate(decisions, 6.0, CalibrationConfig(min_decisions=1, bootstrap_samples=0))
    assert [(f.domain, f.decisions, f.accepted) for f in accept] == [("general", 2, 1)]
    assert accept[0].threshold_ci is None
    skip = calibrate(decisions, 6.0, CalibrationConfig(min_decisions=1, edits_as="skip"))
    assert skip[0].decisions == 1
    assert calibrate(decisions, 6.0, CalibrationConfig(min_decisions=1, edits_as="reject"))[0].accepted == 0


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="min_precision"):
        CalibrationConfig(min_precision=1.5)
    with pytest.raises(ValueError, match="edits_as"):
        CalibrationConfig(edits_as="maybe")
    with pytest.raises(ValueError, match="min_decisions"):
        CalibrationConfig(min_decisions=0)


def test_agreement_of_nothing_is_none():
    assert agreement([], 6.0) is None


def test_the_next_run_decides_reviewed_rows_by_their_reviewer_and_the_rest_by_their_domain():
    fits = [{"domain": "general", "status": CALIBRATED, "threshold": 8.0, "decisions": 40},
            {"domain": "code", "status": TOO_FEW_DECISIONS, "threshold": 6.0, "decisions": 3}]
    thresholds = JudgeThresholds.from_calibration(6.0, fits, reviewed={"seen-low": True, "seen-high": False})
    unreviewed = thresholds.decide("new", "general", 7.0)
    assert (unreviewed.keep, unreviewed.threshold, unreviewed.source) == (False, 8.0, "calibrated from 40 decisions")
    assert thresholds.decide("new", "code", 7.0).source == "default"  # too few decisions: not calibrated
    assert thresholds.decide("new", "code", 7.0).keep
    assert thresholds.decide("seen-low", "general", 2.0) == thresholds.decide("seen-low", "code", 2.0)
    assert (thresholds.decide("seen-low", "general", 2.0).keep, thresholds.decide("seen-high", "general", 10.0).keep,
            thresholds.decide("seen-high", "general", 10.0).source) == (True, False, HUMAN_REVIEW)
