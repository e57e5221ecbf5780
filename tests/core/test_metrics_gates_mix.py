"""Mix gates: for each, a mix that passes and one that fails, with the figure reported."""

import math

import pandas as pd
import pytest

from synth_assets.core.metrics import DEFAULT_THRESHOLDS
from synth_assets.core.metrics.gates import (
    check_generation_cap,
    check_mix_ratio,
    check_provenance,
)


def _mix(counts):
    """counts: {(domain, origin): rows}"""
    rows = [{"domain": d, "origin": o} for (d, o), n in counts.items() for _ in range(n)]
    frame = pd.DataFrame(rows)
    frame.insert(0, "id", [f"m{i}" for i in range(len(frame))])
    return frame


# --- mix ratio ---


def test_mix_ratio_passes_at_exactly_one_point_from_the_target():
    result = check_mix_ratio(_mix({("code", "human"): 69, ("code", "synthetic"): 31}))
    assert result.passed
    assert result.value == 0.69 and result.threshold == 0.70
    assert result.detail == "human fraction 0.690 (69 human of 100 rows) is 1.0 points from the target 0.70 (tolerance 1.0)"
    assert result.source == DEFAULT_THRESHOLDS["mix_human_target"].source


def test_mix_ratio_fails_beyond_the_tolerance():
    result = check_mix_ratio(_mix({("code", "human"): 683, ("code", "synthetic"): 317}))
    assert not result.passed
    assert result.value == 0.683
    assert result.extra["deviation"] == pytest.approx(0.017)
    assert result.detail.startswith(
        "human fraction 0.683 (683 human of 1000 rows) is 1.7 points from the target 0.70 (tolerance 1.0). "
    )
    assert "the corpus runs short of human rows" in result.detail  # below the target: too few human rows
    assert result.offenders["scope"].tolist() == ["overall"]


def test_mix_ratio_says_which_part_ran_short():
    too_human = check_mix_ratio(_mix({("code", "human"): 90, ("code", "synthetic"): 10}), target=0.7)
    assert "runs short of synthetic rows" in too_human.detail and "Add synthetic rows" in too_human.detail
    too_synthetic = check_mix_ratio(_mix({("code", "human"): 50, ("code", "synthetic"): 50}), target=0.7)
    assert "runs short of human rows" in too_synthetic.detail and "Add human rows" in too_synthetic.detail


def test_mix_ratio_checks_each_domain_with_a_target():
    mix = _mix(
        {("code", "human"): 6, ("code", "synthetic"): 4, ("math", "human"): 8, ("math", "synthetic"): 2}
    )
    result = check_mix_ratio(mix, per_domain_targets={"code": 0.6, "math": 0.8})
    assert result.passed and result.value == 0.7
    assert result.extra["human_fraction_code"] == 0.6 and result.extra["human_fraction_math"] == 0.8

    failing = check_mix_ratio(mix, per_domain_targets={"code": 0.7, "math": 0.8, "general": 0.5})
    assert not failing.passed
    assert failing.value == 0.7  # overall is on target; the domains are not
    assert failing.offenders["scope"].tolist() == ["general", "code"]  # no rows first, then 10 points off
    assert ("2 domain(s) are out: 'general' has no rows (target 0.50), 'code' 0.600 (6 human of 10, target 0.70)"
            in failing.detail)


def test_mix_ratio_validates_its_targets():
    with pytest.raises(ValueError, match=r"per_domain_targets\['code'\] must be"):
        check_mix_ratio(_mix({("code", "human"): 1}), per_domain_targets={"code": 70})


# --- provenance ---


def _provenance_mix():
    return pd.DataFrame(
        {
            "id": ["h1", "s1", "s2", "s3", "s4"],
            "origin": ["human", "synthetic", "synthetic", None, "synthetic"],
            "generation": [0, 1, None, 1, 1],
            "root_id": ["h1", "seed-a", "seed-a", "seed-b", "seed-zzz"],
        }
    )


def test_provenance_passes_when_every_row_resolves():
    mix = _provenance_mix().iloc[:2]
    result = check_provenance(mix, {"h1", "seed-a"})
    assert result.passed and result.value == 0.0 and result.threshold == 0.0
    assert result.detail == "all 2 rows have an origin, a generation and a root_id that resolves"


def test_provenance_fails_and_gives_each_row_its_reason():
    result = check_provenance(
        _provenance_mix().assign(root_id=["h1", "seed-a", "seed-a", "seed-b", None]),
        {"h1", "seed-a", "seed-b"},
    )
    assert not result.passed and result.value == 3.0
    assert result.offenders[["id", "reason"]].to_dict("records") == [
        {"id": "s2", "reason": "no_generation"},
        {"id": "s3", "reason": "no_origin"},
        {"id": "s4", "reason": "no_root_id"},
    ]
    unknown = check_provenance(_provenance_mix().iloc[[0, 4]], {"h1"})
    assert unknown.offenders["reason"].tolist() == ["unknown_root_id"]
    assert unknown.detail.startswith(
        "1 of 2 rows cannot be traced to a seed, document or human row (1 unknown_root_id), e.g. s4. "
    )
    assert "re-run the graph from its inputs" in unknown.detail


# --- generation cap ---


def _generations(origins, generations):
    return pd.DataFrame(
        {
            "id": [f"g{i}" for i in range(len(origins))],
            "origin": origins,
            "generation": generations,
            "technique": "evol_instruct",
            "parent_id": "p",
            "root_id": "r",
        }
    )


def test_generation_cap_passes_at_the_cap():
    result = check_generation_cap(_generations(["human", "synthetic", "synthetic"], [0, 1, 1]))
    assert result.passed and result.value == 1.0 and result.threshold == 1.0
    assert result.source == DEFAULT_THRESHOLDS["max_generation"].source


def test_generation_cap_fails_on_synthetic_rows_above_it():
    result = check_generation_cap(
        _generations(["human", "synthetic", "synthetic", "synthetic"], [5, 2, 1, 3])
    )
    assert not result.passed
    assert result.value == 3.0  # the human row's generation does not count
    assert result.offenders[["id", "generation"]].to_dict("records") == [
        {"id": "g3", "generation": 3},
        {"id": "g1", "generation": 2},
    ]
    assert result.detail.startswith("2 of 3 synthetic rows are above generation 1 (highest 3), e.g. g3, g1. ")
    assert "built with a max_generation no higher than this cap" in result.detail


def test_generation_cap_without_synthetic_rows_passes_with_a_note():
    result = check_generation_cap(_generations(["human"], [0]))
    assert result.passed and math.isnan(result.value)
