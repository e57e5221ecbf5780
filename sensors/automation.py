"""Declarative automation: derived assets follow their upstream assets on their own.

Every derived asset carries `AutomationCondition.eager() & all_deps_blocking_checks_passed()`
(`synth_assets/assets/common.py`): it is requested when an upstream asset or partition was updated
and no upstream blocking check failed, and never while an upstream asset is missing or running.
This sensor evaluates those conditions. It ships stopped, like every sensor here: turn it on in the
UI (Automation -> `follow_upstream`) with `dagster-daemon` running; the UI shows each asset's
condition and why it did or did not fire on every tick.
"""

from __future__ import annotations

import dagster as dg

from sensors.runs import REFRESH_TAG
from synth_assets.assets.collapse_lab import COLLAPSE_LAB_GROUP

__all__ = ["follow_upstream"]

follow_upstream = dg.AutomationConditionSensorDefinition(
    "follow_upstream",
    target=dg.AssetSelection.all() - dg.AssetSelection.groups(COLLAPSE_LAB_GROUP),
    default_status=dg.DefaultSensorStatus.STOPPED,
    run_tags={REFRESH_TAG: "follow_upstream"},
    description="Materializes derived assets when their upstream assets change and the upstream blocking checks "
    "passed (the eager condition on each asset).",
)
