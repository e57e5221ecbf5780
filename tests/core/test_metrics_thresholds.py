"""Default thresholds: each gate's default is the documented one, with its source; public names match `__all__`."""

import inspect
import subprocess
import sys

import pytest

from synth_assets.core import metrics
from synth_assets.core.metrics import DEFAULT_THRESHOLDS, threshold_source
from synth_assets.core.metrics.thresholds import require_range
from synth_assets.core.mixing import MixConfig
from synth_assets.core.validation import validate_rows

GATE_DEFAULTS = [
    (metrics.check_refusal_rate, "max_rate", "refusal_max_rate"),
    (metrics.check_judge_scores, "min_median", "judge_min_median"),
    (metrics.check_judge_scores, "low_score", "judge_low_score"),
    (metrics.check_judge_scores, "max_low_fraction", "judge_max_low_fraction"),
    (metrics.check_pass_rate_per_domain, "floor", "pass_rate_floor"),
    (metrics.check_distinct_n, "min_distinct_2", "distinct_2_min"),
    (metrics.check_compression, "max_ratio", "compression_max_ratio"),
    (metrics.check_vendi, "min_score", "vendi_min"),
    (metrics.check_tail_coverage, "min_rows", "tail_min_rows"),
    (metrics.check_relative_diversity, "fraction", "relative_diversity_fraction"),
    (metrics.check_relative_diversity, "min_rows", "relative_diversity_min_rows"),
    (validate_rows, "min_len", "text_min_len"),
    (validate_rows, "max_len", "text_max_len"),
    (metrics.check_mix_ratio, "target", "mix_human_target"),
    (metrics.check_mix_ratio, "tolerance", "mix_tolerance"),
    (metrics.check_generation_cap, "max_generation", "max_generation"),
]


@pytest.mark.parametrize(("gate", "parameter", "name"), GATE_DEFAULTS)
def test_each_gate_default_is_the_documented_threshold(gate, parameter, name):
    assert inspect.signature(gate).parameters[parameter].default == DEFAULT_THRESHOLDS[name].value


def test_every_documented_threshold_is_used_by_a_gate_and_has_a_source():
    assert {name for _, _, name in GATE_DEFAULTS} == set(DEFAULT_THRESHOLDS)
    assert all(len(t.source) > 20 for t in DEFAULT_THRESHOLDS.values())
    assert "Shumailov" in DEFAULT_THRESHOLDS["max_generation"].source


def test_a_threshold_that_is_a_stage_setting_has_its_default_from_the_stage():
    # declared once, on MixConfig: change the mix's default and the gates' defaults follow
    assert DEFAULT_THRESHOLDS["mix_human_target"].value == MixConfig.human_fraction == 0.70
    assert DEFAULT_THRESHOLDS["max_generation"].value == MixConfig.max_generation
    assert "MixConfig.human_fraction" in DEFAULT_THRESHOLDS["mix_human_target"].source


def test_threshold_source_says_when_a_value_was_configured():
    assert threshold_source("mix_tolerance", 0.01) == DEFAULT_THRESHOLDS["mix_tolerance"].source
    assert threshold_source("mix_tolerance", 0.02).startswith("configured (default 0.01: ")


def test_require_range_names_the_parameter():
    require_range("x", 0.5, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"x must be \[0, 1\], got 2"):
        require_range("x", 2, 0.0, 1.0)
    with pytest.raises(ValueError, match="y must be >= 0"):
        require_range("y", float("nan"), 0.0)


def test_public_names_match_all():
    public = {name for name in dir(metrics) if not name.startswith("_") and not inspect.ismodule(getattr(metrics, name))}
    assert set(metrics.__all__) == public


def test_core_metrics_and_validation_import_gx_and_sklearn_only_when_used():
    # Each costs seconds to import; the import contract (pyproject.toml) already keeps Dagster out.
    code = (
        "import sys; import synth_assets.core.metrics, synth_assets.core.validation; "
        "bad = [m for m in ('great_expectations', 'sklearn') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
